/** Redis connections of the store: fail fast while Redis is down, reconnect by themselves, scripts defined. */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DailyResult, HoldResult, License, VerifyCode } from '../types.ts';
import {
  BIND,
  CHANGE,
  CLAIM_EMAIL,
  CREATE,
  DAILY,
  HOLD,
  RELEASE_EMAIL,
  SET_FIELD,
  SETTLE,
} from './scripts.ts';

export type Scripted = Redis & {
  cradleChange(...args: string[]): Promise<[string, string, number, number]>;
  cradleCreate(...args: string[]): Promise<[string, string]>;
  cradleClaimEmail(...args: string[]): Promise<string>;
  cradleBind(...args: string[]): Promise<VerifyCode>;
  cradleSetField(...args: string[]): Promise<number>;
  cradleReleaseEmail(...args: string[]): Promise<number>;
  cradleHold(...args: string[]): Promise<HoldResult>;
  cradleSettle(...args: string[]): Promise<[string, string, number]>;
  cradleDaily(...args: string[]): Promise<DailyResult>;
};

/** How long a command may wait for Redis's answer before its request fails (503) rather than stalls. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

export function plainClient(url: string, log: Logger, options: { commandTimeoutMs?: number } = {}): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: () => 200,
    ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
  });
  client.on('error', (error: Error) => log.warn({ error: error.message }, 'redis connection error'));
  return client;
}

export function scriptedClient(url: string, log: Logger, options: { commandTimeoutMs: number }): Scripted {
  const redis = plainClient(url, log, options) as Scripted;
  redis.defineCommand('cradleChange', { numberOfKeys: 5, lua: CHANGE });
  redis.defineCommand('cradleCreate', { numberOfKeys: 3, lua: CREATE });
  redis.defineCommand('cradleClaimEmail', { numberOfKeys: 1, lua: CLAIM_EMAIL });
  redis.defineCommand('cradleBind', { numberOfKeys: 1, lua: BIND });
  redis.defineCommand('cradleSetField', { numberOfKeys: 1, lua: SET_FIELD });
  redis.defineCommand('cradleReleaseEmail', { numberOfKeys: 1, lua: RELEASE_EMAIL });
  redis.defineCommand('cradleHold', { numberOfKeys: 3, lua: HOLD });
  redis.defineCommand('cradleSettle', { numberOfKeys: 5, lua: SETTLE });
  redis.defineCommand('cradleDaily', { numberOfKeys: 4, lua: DAILY });
  return redis;
}

/** A license hash as the store's License (undefined when the hash does not exist). */
export function toLicense(key: string, h: Record<string, string>): License | undefined {
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
  };
}
