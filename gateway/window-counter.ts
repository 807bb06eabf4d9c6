/**
 * Counts per subject (a client address, a license key) in fixed windows, for the limits that refuse past a
 * count: in this process, or in Redis (REDIS_URL) so that every gateway instance counts against one limit.
 * While Redis is unreachable this process's count stands in: limits stay, just per instance.
 */
import type { Services } from './plugin.ts';
import { growingLru } from './lru.ts';
import { commandTimeoutMs, redisClient, redisTarget, type RedisConnection } from './redis.ts';

/** A limit as YAML states it: `limit` counts in a window of `window_s` seconds. */
export interface WindowLimit {
  limit: number;
  window_s: number;
}

/** The schema of a `WindowLimit`'s fields, with a plugin's defaults. */
export const windowLimitProperties = (defaults: WindowLimit) => ({
  limit: { type: 'integer', minimum: 1, default: defaults.limit },
  window_s: { type: 'integer', minimum: 1, default: defaults.window_s },
});

export interface Window {
  start: number;
  count: number;
}

export interface WindowCounter {
  /** Adds `by` to the subject's count in the window of `now` (0 only reads it), and returns that window. */
  add(subject: string, now: number, by: 0 | 1): Promise<Window>;
}

/** Adds to (or reads) a window's key, which expires with the window: one script, one round trip. */
const ADD_SCRIPT = `if ARGV[2] == '0' then return tonumber(redis.call('GET', KEYS[1]) or '0') end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`;

type CountingConnection = RedisConnection & {
  cradleWindowAdd(key: string, windowMs: number, by: 0 | 1): Promise<number>;
};

/** The process's one Redis connection for counters, shared by every counter and kept across reloads. */
async function sharedConnection(services: Services): Promise<CountingConnection | undefined> {
  const target = redisTarget(services.env);
  if (!target) return undefined;
  const shared = services.resources.get('window-counter:redis', () => {
    const client = redisClient(target, services.log, {
      commandTimeoutMs: commandTimeoutMs(services.env),
    }) as CountingConnection;
    client.defineCommand('cradleWindowAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
    const ready = client
      .connect()
      .catch((error: Error) =>
        services.log.warn({ error: error.message }, 'counters: redis not reachable; counting locally'),
      );
    return { client, ready, close: () => client.disconnect() };
  });
  await shared.ready;
  return shared.client;
}

/** Counters named alike (two routes' limits of one name) share their counts. */
export async function windowCounter(
  services: Services,
  options: { name: string; windowMs: number },
): Promise<WindowCounter> {
  const { name, windowMs } = options;
  const windows = services.resources.get(`window-counter:${name}`, () => ({
    cache: growingLru<string, Window>({ entries: 100_000 }),
  })).cache;
  const shared = await sharedConnection(services);
  const addLocal = (subject: string, now: number, by: 0 | 1): Window => {
    let window = windows.get(subject);
    if (!window || now - window.start >= windowMs) {
      window = { start: now, count: 0 };
      if (by === 0) return window;
      windows.set(subject, window);
    }
    window.count += by;
    return window;
  };
  const addShared = async (subject: string, now: number, by: 0 | 1): Promise<Window | undefined> => {
    const start = now - (now % windowMs);
    try {
      return {
        start,
        count: await shared!.cradleWindowAdd(`cradle:rl:${name}:${subject}:${start}`, windowMs, by),
      };
    } catch {
      return undefined;
    }
  };
  return {
    async add(subject, now, by) {
      const window = shared ? await addShared(subject, now, by) : undefined;
      return window ?? addLocal(subject, now, by);
    },
  };
}
