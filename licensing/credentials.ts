/**
 * The license key a request presents (`X-License-Key`, or `Authorization: Bearer`), read one way everywhere
 * it is used, and what this process has learnt of keys lately: which are licenses and which are not.
 */
import type { Context } from '../gateway/context.ts';
import { growingLru } from '../gateway/lru.ts';
import type { Services } from '../gateway/plugin.ts';

const BEARER = /^bearer\s+(\S+)\s*$/i;
/** A device id is kept on its license: a longer one is refused wherever it is presented. */
export const DEVICE_ID_MAX_LENGTH = 200;

export function presentedKey(ctx: Context): string | undefined {
  const header = ctx.header('x-license-key')?.trim();
  if (header) return header;
  return BEARER.exec(ctx.header('authorization') ?? '')?.[1];
}

/** What a rate limit needs of a key known to be a license: its own limit, if it has one. */
export interface KnownKey {
  ratePerMinute?: number;
}

export interface KeyVerdicts {
  /** Keys the store said are licenses: a rate limit counts requests against them. */
  known: { get(key: string): KnownKey | undefined; set(key: string, value: KnownKey): void };
  /** Keys the store said are not: refused without asking it again, and counted against the address. */
  unknown: { has(key: string): boolean; set(key: string, value: true): void; delete(key: string): void };
}

/** The process's one record of verdicts, shared by every route and kept across reloads. */
export function keyVerdicts(services: Services): KeyVerdicts {
  // The clock is read at most every 100 ms: lru-cache's default reads it, and arms a timer, every millisecond.
  return services.resources.get('license-key-verdicts', () => ({
    known: growingLru<string, KnownKey>({ entries: 100_000, ttl: 10 * 60_000, ttlResolution: 100 }),
    // Briefly: a key generated a moment ago must work within seconds.
    unknown: growingLru<string, true>({ entries: 100_000, ttl: 5_000, ttlResolution: 100 }),
  }));
}
