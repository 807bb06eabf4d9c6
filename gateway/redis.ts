/**
 * Redis connections as every part of the gateway wants them (the shared store, shared rate limits): they fail
 * fast while Redis is down (no queue of commands waiting for it), reconnect by themselves, and give up on a
 * command Redis does not answer in time.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/** One Redis, or a Redis Cluster: the commands the gateway uses are the same on both. */
export type RedisConnection = Redis | Cluster;

/** How long a command may wait for Redis's answer before its request fails (503) rather than stalls. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

export interface RedisTarget {
  /** A Redis URL; for a Cluster, one or more of its nodes' URLs, comma-separated. */
  url: string;
  cluster?: boolean;
}

/** Where the environment says Redis is: REDIS_URL, a Cluster when REDIS_CLUSTER=true. */
export function redisTarget(env: NodeJS.ProcessEnv): RedisTarget | undefined {
  if (!env.REDIS_URL) return undefined;
  return { url: env.REDIS_URL, cluster: env.REDIS_CLUSTER === 'true' };
}

export function redisClient(
  target: RedisTarget,
  log: Logger,
  options: { commandTimeoutMs?: number } = {},
): RedisConnection {
  const behaviour: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: () => 200,
    ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
  };
  const client = target.cluster
    ? new Cluster(clusterNodes(target.url), {
        enableOfflineQueue: false,
        lazyConnect: true,
        clusterRetryStrategy: () => 200,
        redisOptions: { ...behaviour, ...credentials(target.url) },
      })
    : new Redis(target.url, behaviour);
  client.on('error', (error: Error) => log.warn({ error: error.message }, 'redis connection error'));
  return client;
}

function clusterNodes(urls: string): ClusterNode[] {
  return urls
    .split(',')
    .map((text) => new URL(text.trim()))
    .map((url) => ({ host: url.hostname, port: Number(url.port || 6379) }));
}

/** The user, password and TLS of the first node's URL: a Cluster's nodes share them. */
function credentials(urls: string): RedisOptions {
  const first = new URL(urls.split(',')[0]!.trim());
  return {
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The command time-out the environment names (`REDIS_COMMAND_TIMEOUT_MS`), else the default. */
export function commandTimeoutMs(env: NodeJS.ProcessEnv): number {
  return Number(env.REDIS_COMMAND_TIMEOUT_MS) || DEFAULT_COMMAND_TIMEOUT_MS;
}
