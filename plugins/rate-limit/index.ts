/**
 * Fixed-window rate limit per client address (or per license key, read as the license plugin reads it: a
 * key not known to be a license counts against the address), so keys and emails cannot be guessed by brute
 * force. Counters live in an lru-cache of this process, or in Redis (REDIS_URL) so that
 * every gateway instance counts against one limit. With `counts: unauthorized` only requests answered 401
 * stay counted (wrong admin tokens): each is counted as it comes, so that guesses sent at once meet the
 * limit too, and forgiven when it is answered otherwise.
 */
import { growingLru } from '../../gateway/lru.ts';
import { ContextKey, type Context } from '../../gateway/context.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { keyVerdicts, presentedKey } from '../../licensing/credentials.ts';
import { commandTimeoutMs, redisClient, redisTarget, type RedisConnection } from '../../gateway/redis.ts';

export interface RateLimitConfig {
  /** Requests allowed per window. */
  limit: number;
  window_s: number;
  /** What is counted: the client address, or the license key the client sent. */
  by: 'ip' | 'license';
  /** Counter namespace: routes with the same name share their counters. */
  name: string;
  /** Every request, or only those answered 401. */
  counts: 'requests' | 'unauthorized';
}

interface Window {
  start: number;
  count: number;
}

/** Where a request was counted, to forgive it there. */
interface Counted {
  subject: string;
  start: number;
  /** In Redis, or in this process (also while Redis is unreachable). */
  shared: boolean;
}
const COUNTED = new ContextKey<Counted>('rate-limit.counted');

/** Counts one request in its window's key, which expires with the window: one script, one round trip. */
const COUNT_SCRIPT = `local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`;
/** Takes a request back out of its window, unless the window has ended (its key gone with it). */
const FORGIVE_SCRIPT = `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
return 0`;

type CountingConnection = RedisConnection & {
  cradleRateCount(key: string, windowMs: number): Promise<number>;
  cradleRateForgive(key: string): Promise<number>;
};

export default definePlugin<RateLimitConfig>({
  name: 'rate-limit',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'integer', minimum: 1, default: 60 },
      window_s: { type: 'integer', minimum: 1, default: 60 },
      by: { enum: ['ip', 'license'], default: 'ip' },
      name: { type: 'string', default: 'default' },
      counts: { enum: ['requests', 'unauthorized'], default: 'requests' },
    },
  },
  async create(config, services) {
    const windows = services.resources.get(`rate-limit:${config.name}`, () => ({
      cache: growingLru<string, Window>({ entries: 100_000 }),
    })).cache;
    const target = redisTarget(services.env);
    const sharedResource = target
      ? services.resources.get('rate-limit:redis', () => {
          const client = redisClient(target, services.log, {
            commandTimeoutMs: commandTimeoutMs(services.env),
          }) as CountingConnection;
          client.defineCommand('cradleRateCount', { numberOfKeys: 1, lua: COUNT_SCRIPT });
          client.defineCommand('cradleRateForgive', { numberOfKeys: 1, lua: FORGIVE_SCRIPT });
          const ready = client
            .connect()
            .catch((error: Error) =>
              services.log.warn(
                { error: error.message },
                'rate-limit: redis not reachable; counting locally',
              ),
            );
          return { client, ready, close: () => client.disconnect() };
        })
      : undefined;
    await sharedResource?.ready;
    const shared = sharedResource?.client;
    const windowMs = config.window_s * 1000;
    const verdicts = keyVerdicts(services);
    /** Counts in Redis; while Redis is unreachable the local counter stands in (limits stay, just per instance). */
    const sharedKey = (subject: string, start: number) => `cradle:rl:${config.name}:${subject}:${start}`;
    const countShared = async (subject: string, now: number): Promise<Window | undefined> => {
      const start = now - (now % windowMs);
      try {
        return { start, count: await shared!.cradleRateCount(sharedKey(subject, start), windowMs) };
      } catch {
        return undefined;
      }
    };
    /** Counts in this process: also the stand-in while Redis is unreachable. */
    const countLocal = (subject: string, now: number): Window => {
      let window = windows.get(subject);
      if (!window || now - window.start >= windowMs) {
        window = { start: now, count: 0 };
        windows.set(subject, window);
      }
      window.count++;
      return window;
    };
    const check = (ctx: Context, window: Window, limit: number, now: number): void => {
      ctx.responseHeaders['x-ratelimit-limit'] = String(limit);
      ctx.responseHeaders['x-ratelimit-remaining'] = String(Math.max(0, limit - window.count));
      if (window.count > limit) {
        const retryAfter = Math.ceil((window.start + windowMs - now) / 1000);
        throw new GatewayError(429, 'RATE_LIMITED', `too many requests; retry in ${retryAfter} s`, {
          headers: { 'retry-after': String(retryAfter) },
        });
      }
    };
    return {
      async onRequest(ctx) {
        const key = config.by === 'license' ? presentedKey(ctx) : undefined;
        // A key counts for itself once it is known to be a license; a made-up one counts against the address.
        const known = key === undefined ? undefined : verdicts.known.get(key);
        const subject = known ? `key:${key}` : `ip:${ctx.clientIp}`;
        // A license with a rate of its own is held to it, over this window.
        const own = known?.ratePerMinute;
        const limit = own ? Math.max(1, Math.round((own * config.window_s) / 60)) : config.limit;
        const now = services.clock.now();
        const sharedWindow = shared ? await countShared(subject, now) : undefined;
        const window = sharedWindow ?? countLocal(subject, now);
        if (config.counts === 'unauthorized')
          ctx.set(COUNTED, { subject, start: window.start, shared: sharedWindow !== undefined });
        check(ctx, window, limit, now);
      },
      async onFinish(ctx, outcome) {
        const counted = ctx.get(COUNTED);
        if (!counted || outcome.status === 401) return;
        if (counted.shared) {
          // Lost (Redis unreachable), the request stays counted until its window ends: no cause to fail it.
          await shared!.cradleRateForgive(sharedKey(counted.subject, counted.start)).catch(() => 0);
          return;
        }
        const local = windows.get(counted.subject);
        if (local?.start === counted.start) local.count--;
      },
    };
  },
});
