/**
 * Redis connections as every part of the gateway wants them (the shared store, shared rate limits): they fail
 * fast while Redis is down (no queue of commands waiting for it), reconnect by themselves, and give up on a
 * command Redis does not answer in time.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** How long a command may wait for Redis's answer before its request fails (503) rather than stalls. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

export function redisClient(url: string, log: Logger, options: { commandTimeoutMs?: number } = {}): Redis {
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

/** The command time-out the environment names (`REDIS_COMMAND_TIMEOUT_MS`), else the default. */
export function commandTimeoutMs(env: NodeJS.ProcessEnv): number {
  return Number(env.REDIS_COMMAND_TIMEOUT_MS) || DEFAULT_COMMAND_TIMEOUT_MS;
}
