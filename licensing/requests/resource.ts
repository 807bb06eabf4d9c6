/**
 * The process's one request log, on the store the gateway runs on (Redis when REDIS_URL is set, else SQLite
 * in DATA_DIR), kept REQUEST_LOG_DAYS (30) days; statistics bucketed by hour and day in TIMEZONE.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Services } from '../../gateway/plugin.ts';
import { commandTimeoutMs, redisClient, redisTarget } from '../../gateway/redis.ts';
import { bucketsIn, type Buckets } from '../time.ts';
import type { RequestLog } from './log.ts';
import { RedisRequestLog } from './redis.ts';
import { SqliteRequestLog } from './sqlite.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The time zone of the statistics' buckets and how long records are kept, as the environment says. */
export function requestLogSettings(env: NodeJS.ProcessEnv): { buckets: Buckets; retentionMs: number } {
  return {
    buckets: bucketsIn(env.TIMEZONE || 'Asia/Shanghai'),
    retentionMs: (Number(env.REQUEST_LOG_DAYS) || 30) * DAY_MS,
  };
}

export function requestLog(services: Services): RequestLog {
  return services.resources.get('request-log', () => {
    const { env, clock } = services;
    const { buckets, retentionMs } = requestLogSettings(env);
    const now = () => clock.now();
    const onError = (error: unknown) =>
      services.log.warn({ err: error }, 'request log: records could not be stored and were dropped');
    const target = redisTarget(env);
    if (target) {
      const redis = redisClient(target, services.log, { commandTimeoutMs: commandTimeoutMs(env) });
      redis
        .connect()
        .catch((error: Error) =>
          services.log.warn({ error: error.message }, 'request log: redis not reachable'),
        );
      return new RedisRequestLog({
        redis,
        buckets,
        retentionMs,
        now,
        onError,
        onClose: () => redis.disconnect(),
      });
    }
    const dir = resolve(env.DATA_DIR || './data');
    mkdirSync(dir, { recursive: true });
    return new SqliteRequestLog({ dir, buckets, retentionMs, now, onError });
  });
}
