/** What a recharge or deduct shares: the license it names, its Idempotency-Key, and how its result answers. */
import type { Context } from '../../gateway/context.ts';
import { GatewayError, badRequest, notFound } from '../../gateway/errors.ts';
import { MAX_BALANCE, toCredits } from '../../licensing/money.ts';
import {
  IDEMPOTENCY_TTL_MS,
  type ChangeResult,
  type License,
  type LicenseStore,
} from '../../licensing/types.ts';
import { email, fingerprint, requiredString, type Body } from './input.ts';
import type { licenseInfo } from './views.ts';

/** `license_key` or `email` names the license of a recharge or deduct. */
export async function target(store: LicenseStore, body: Body): Promise<License> {
  if (body.license_key !== undefined) {
    const license = await store.get(requiredString(body, 'license_key'));
    if (!license) throw notFound('license not found');
    return license;
  }
  const license = await store.findByEmail(email(body));
  if (!license) throw notFound('no license for this email');
  return license;
}

export function idempotency(ctx: Context, action: string, body: Body) {
  const key = ctx.header('idempotency-key');
  if (key === undefined) return {};
  if (key.length === 0 || key.length > 200)
    throw badRequest('Idempotency-Key must be 1 to 200 characters', 'INVALID_FIELD');
  return { idempotency: { key, fingerprint: fingerprint(action, body), ttlMs: IDEMPOTENCY_TTL_MS } };
}

/** The license and the balance of the first answer (a replay answers as the first time did). */
export function settled(result: ChangeResult): { license: License; balance: number } {
  switch (result.status) {
    case 'ok':
    case 'replayed':
      return { license: result.license, balance: result.entry?.balanceAfter ?? result.license.credits };
    case 'idempotency_conflict':
      throw new GatewayError(
        422,
        'IDEMPOTENCY_CONFLICT',
        'this Idempotency-Key was used with a different request',
      );
    case 'revoked':
      throw new GatewayError(403, 'REVOKED', 'license is revoked');
    case 'not_found':
      throw notFound('license not found');
    case 'balance_limit':
      throw badRequest(`a balance may not exceed ${toCredits(MAX_BALANCE)} credits`, 'BALANCE_LIMIT');
    default:
      throw new GatewayError(409, 'CONFLICT', `change refused: ${result.status}`);
  }
}

export function pick(info: ReturnType<typeof licenseInfo>) {
  return {
    license_key: info.license_key,
    email: info.email,
    credits: info.credits,
    last_updated_at: info.last_updated_at,
  };
}
