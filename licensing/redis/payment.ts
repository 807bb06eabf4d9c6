/**
 * A payment on Redis, credited once ever. The trade number is claimed globally first (its own key, `SET NX`,
 * which a Cluster serves), naming the license it credits, before any license is made; the credit then
 * records it on that license in the same script as the balance (CHANGE). A retry after a crash between the
 * two finds the claim and finishes the credit, once; a replay after the license was revoked finds it
 * credited and changes nothing. Each credited payment is then listed for the operator (`payments`).
 */
import type { LicenseStore, PaymentRequest, PaymentResult } from '../types.ts';

/** What the payment needs of the Redis store beyond the store contract. */
export interface TradeClaims {
  /** Claims the trade number for `key`: the key that holds the claim, and whether it is this one. */
  claim(tradeNo: string, key: string): Promise<{ key: string; claimed: boolean }>;
  /** Moves the claim to another license (the email's, made meanwhile by another payment). */
  reassign(tradeNo: string, key: string): Promise<void>;
  /** Whether the license's credit with this trade number was made. */
  credited(tradeNo: string, key: string): Promise<boolean>;
  /** Lists the credited payment where the operator looks payments up; again is harmless. */
  record(tradeNo: string, key: string): Promise<void>;
}

export async function payOnRedis(
  store: LicenseStore,
  claims: TradeClaims,
  request: PaymentRequest,
): Promise<PaymentResult> {
  const current = await store.findByEmail(request.email);
  const candidate = current?.status === 'active' ? current.key : request.newLicense.key;
  const holder = await claims.claim(request.tradeNo, candidate);
  let { key } = holder;
  if (!holder.claimed && (await claims.credited(request.tradeNo, key))) {
    // A replay: the first delivery may have stopped between its credit and its record.
    await claims.record(request.tradeNo, key);
    return { status: 'duplicate' };
  }
  let created = false;
  if (!(await isMade(store, key, request.email))) {
    const made = await store.create({
      key,
      email: request.email,
      credits: 0,
      maxDevices: request.newLicense.maxDevices,
      unlimited: false,
    });
    created = made.status === 'ok';
    if (!created) {
      key = made.license.key;
      await claims.reassign(request.tradeNo, key);
    }
  }
  const result = await store.change({
    key,
    amount: request.credits,
    kind: 'payment',
    tradeNo: request.tradeNo,
    ...(request.details ? { details: request.details } : {}),
  });
  if (result.status === 'duplicate' || result.status === 'balance_limit') return { status: result.status };
  if (result.status !== 'ok') throw new Error(`payment could not be credited: ${result.status}`);
  await claims.record(request.tradeNo, key);
  return { status: 'credited', license: result.license, created, entry: result.entry };
}

/**
 * Whether the license is made: written and named by its email. A crash between the two (the store writes a
 * license before it claims its email) leaves it written only; making it again finishes it.
 */
async function isMade(store: LicenseStore, key: string, email: string): Promise<boolean> {
  const license = await store.get(key);
  if (!license) return false;
  if (license.status !== 'active') return true;
  return (await store.findByEmail(email))?.key === key;
}
