/** The store's Redis connection, its scripts defined (see gateway/redis.ts for how connections behave). */
import { redisClient, type RedisConnection, type RedisTarget } from '../../gateway/redis.ts';
import type { Logger } from 'pino';
import type { DailyResult, EntryDetails, HoldResult, License, LicenseLimits, VerifyCode } from '../types.ts';
import {
  BIND,
  CHANGE,
  CREATE,
  DAILY,
  HOLD,
  READ,
  RELEASE_EMAIL,
  SET_FIELD,
  SETTLE,
  SWAP_EMAIL,
} from './scripts.ts';

/**
 * An entry's details as the end of the JSON object the Lua scripts write (`,"model":"x",…`; '' for none):
 * the scripts write id, time, kind, amount and balance, which only they know.
 */
export function detailsJson(details: EntryDetails | undefined): string {
  const json = JSON.stringify(details ?? {});
  return json === '{}' ? '' : `,${json.slice(1, -1)}`;
}

/** A license's keys share its hash tag: one slot of a Cluster, so one script can change them together. */
export const tag = (key: string) => `{lic:${key}}`;

/** A license's open holds (id → `amount:expiry`), and their ids by expiry; `k` is the license's tag. */
export const holdKeys = (k: string) => ({ holds: `${k}:holds`, byExpiry: `${k}:holds-by-expiry` });

export type Scripted = RedisConnection & {
  cradleChange(...args: string[]): Promise<[string, string, number, number]>;
  cradleCreate(...args: string[]): Promise<[string, string]>;
  cradleSwapEmail(...args: string[]): Promise<number>;
  cradleBind(...args: string[]): Promise<VerifyCode>;
  cradleSetField(...args: string[]): Promise<number>;
  cradleReleaseEmail(...args: string[]): Promise<number>;
  cradleRead(...args: string[]): Promise<string[]>;
  cradleHold(...args: string[]): Promise<HoldResult>;
  cradleSettle(...args: string[]): Promise<[string, string, number]>;
  cradleDaily(...args: string[]): Promise<DailyResult>;
};

export function scriptedClient(
  target: RedisTarget,
  log: Logger,
  options: { commandTimeoutMs: number },
): Scripted {
  const redis = redisClient(target, log, options) as Scripted;
  redis.defineCommand('cradleChange', { numberOfKeys: 7, lua: CHANGE });
  redis.defineCommand('cradleCreate', { numberOfKeys: 3, lua: CREATE });
  redis.defineCommand('cradleSwapEmail', { numberOfKeys: 1, lua: SWAP_EMAIL });
  redis.defineCommand('cradleBind', { numberOfKeys: 1, lua: BIND });
  redis.defineCommand('cradleSetField', { numberOfKeys: 1, lua: SET_FIELD });
  redis.defineCommand('cradleReleaseEmail', { numberOfKeys: 1, lua: RELEASE_EMAIL });
  redis.defineCommand('cradleRead', { numberOfKeys: 3, lua: READ });
  redis.defineCommand('cradleHold', { numberOfKeys: 4, lua: HOLD });
  redis.defineCommand('cradleSettle', { numberOfKeys: 6, lua: SETTLE });
  redis.defineCommand('cradleDaily', { numberOfKeys: 6, lua: DAILY });
  return redis;
}

/**
 * A license as it stands (undefined when there is none): its hash, read by READ, which first drops the
 * holds of a process that died once their time is up.
 */
export async function readLicense(redis: Scripted, key: string, now: number): Promise<License | undefined> {
  const k = tag(key);
  const { holds, byExpiry } = holdKeys(k);
  const flat = await redis.cradleRead(k, holds, byExpiry, String(now));
  const h: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  if (!h.email) return undefined;
  return {
    key,
    email: h.email,
    credits: Number(h.credits),
    held: Number(h.held),
    status: h.status as License['status'],
    issuedAt: h.issued_at!,
    lastUpdatedAt: h.last_updated_at!,
    devices: JSON.parse(h.devices ?? '[]') as string[],
    maxDevices: Number(h.max_devices),
    unlimited: h.unlimited === '1',
    ...(h.limits ? { limits: JSON.parse(h.limits) as LicenseLimits } : {}),
  };
}

/** A license's limits as its hash keeps them: JSON, or empty for none. */
export function limitsText(limits: LicenseLimits): string {
  const { models, ratePerMinute } = limits;
  const kept = { ...(models ? { models } : {}), ...(ratePerMinute ? { ratePerMinute } : {}) };
  return Object.keys(kept).length > 0 ? JSON.stringify(kept) : '';
}
