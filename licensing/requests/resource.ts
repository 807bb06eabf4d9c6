/**
 * The process's one request log, on the store the gateway runs on (Redis when REDIS_URL is set, else SQLite
 * in DATA_DIR), kept REQUEST_LOG_DAYS (30) days; statistics bucketed by hour and day in TIMEZONE.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Services } from '../../gateway/plugin.ts';
import { commandTimeoutMs, redisClient, redisTarget } from '../../gateway/redis.ts';
import { bucketsIn, type Buckets } from '../time.ts';
import { batchedLog, type RequestLog } from './log.ts';
import { RedisRequests } from './redis.ts';
import { sqliteThread } from './sqlite-thread.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The time zone of the statistics' buckets and how long records are kept, as the environment says. */
export function requestLogSettings(env: NodeJS.ProcessEnv): {
  timeZone: string;
  buckets: Buckets;
  retentionMs: number;
} {
  const timeZone = env.TIMEZONE || 'Asia/Shanghai';
  return {
    timeZone,
    buckets: bucketsIn(timeZone),
    retentionMs: (Number(env.REQUEST_LOG_DAYS) || 30) * DAY_MS,
  };
}

export function requestLog(services: Services): RequestLog {
  return services.resources.get('request-log', () => {
    const { env, clock } = services;
    const { timeZone, buckets, retentionMs } = requestLogSettings(env);
    const batching = {
      now: () => clock.now(),
      onError: (error: unknown) =>
        services.log.warn({ err: error }, 'request log: records could not be stored and were dropped'),
    };
    const target = redisTarget(env);
    if (target) {
      const redis = redisClient(target, services.log, { commandTimeoutMs: commandTimeoutMs(env) });
      redis
        .connect()
        .catch((error: Error) =>
          services.log.warn({ error: error.message }, 'request log: redis not reachable'),
        );
      const store = new RedisRequests({ redis, buckets, retentionMs, onClose: () => redis.disconnect() });
      return batchedLog(store, batching);
    }
    const dir = resolve(env.DATA_DIR || './data');
    mkdirSync(dir, { recursive: true });
    return batchedLog(sqliteThread({ dir, timeZone, retentionMs }), batching);
  });
}
