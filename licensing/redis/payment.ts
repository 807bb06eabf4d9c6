/**
 * A payment on Redis, credited once ever. The trade number is claimed globally first (its own key, `SET NX`,
 * which a Cluster serves), naming the license it credits, before any license is made; the credit then
 * records it on that license in the same script as the balance (CHANGE). A retry after a crash between the
 * two finds the claim and finishes the credit, once; a replay after the license was revoked finds it
 * credited and changes nothing. Each credited payment is then listed for the operator (`payments`).
 */
import type { RedisConnection } from '../../gateway/redis.ts';
import type {
  LedgerEntry,
  License,
  LicenseStore,
  PaymentRecord,
  PaymentRequest,
  PaymentResult,
} from '../types.ts';
import { tag } from './connection.ts';

/** A payment's trade number, claimed for the license it credits. */
const tradeKey = (tradeNo: string) => `cradle:trade:${tradeNo}`;
/** Credited payments for the operator: trade numbers by time, and each one's record (one hash slot). */
const PAYMENTS_BY_TIME = '{cradle:payments}:by-time';
const PAYMENTS = '{cradle:payments}:records';

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

/** Trade claims and the payment list on Redis; `call` makes a Redis failure the store's 503. */
export class RedisPayments implements TradeClaims {
  constructor(
    private readonly redis: RedisConnection,
    private readonly call: <T>(run: () => Promise<T>) => Promise<T>,
    private readonly read: (key: string) => Promise<License | undefined>,
  ) {}

  async claim(tradeNo: string, key: string): Promise<{ key: string; claimed: boolean }> {
    const claimed = await this.call(() => this.redis.set(tradeKey(tradeNo), key, 'NX'));
    if (claimed) return { key, claimed: true };
    return { key: (await this.call(() => this.redis.get(tradeKey(tradeNo)))) ?? key, claimed: false };
  }

  async reassign(tradeNo: string, key: string): Promise<void> {
    await this.call(() => this.redis.set(tradeKey(tradeNo), key));
  }

  async credited(tradeNo: string, key: string): Promise<boolean> {
    return (await this.call(() => this.redis.exists(`${tag(key)}:trade:${tradeNo}`))) === 1;
  }

  record(tradeNo: string, key: string): Promise<void> {
    return this.call(async () => {
      const entryJson = await this.redis.get(`${tag(key)}:trade:${tradeNo}`);
      const license = await this.read(key);
      // A trade credited before payments were listed holds no entry: it stays in the ledger only.
      if (!entryJson?.startsWith('{') || !license) return;
      const entry = JSON.parse(entryJson) as LedgerEntry;
      const payment: PaymentRecord = {
        tradeNo,
        key,
        email: license.email,
        credits: entry.amount,
        time: entry.time,
        entryId: entry.id,
      };
      await this.redis
        .multi()
        .zadd(PAYMENTS_BY_TIME, Date.parse(entry.time), tradeNo)
        .hset(PAYMENTS, tradeNo, JSON.stringify(payment))
        .exec();
    });
  }

  list(options: { limit: number; offset: number }): Promise<PaymentRecord[]> {
    return this.call(async () => {
      const { offset, limit } = options;
      const tradeNos = await this.redis.zrevrange(PAYMENTS_BY_TIME, offset, offset + limit - 1);
      if (tradeNos.length === 0) return [];
      const records = await this.redis.hmget(PAYMENTS, ...tradeNos);
      return records.flatMap((json) => (json ? [JSON.parse(json) as PaymentRecord] : []));
    });
  }
}
