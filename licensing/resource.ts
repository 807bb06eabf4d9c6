/**
 * The process's one license store, shared by every plugin that needs it and kept across config reloads:
 * another instance's license API when LICENSE_API_URL is set (split deployment), Redis when REDIS_URL
 * is set, else the embedded store in DATA_DIR.
 */
import { resolve } from 'node:path';
import type { Services } from '../gateway/plugin.ts';
import type { Resource } from '../gateway/resources.ts';
import { commandTimeoutMs, redisTarget } from '../gateway/redis.ts';
import { EmbeddedStore } from './embedded/store.ts';
import { storeUnavailable } from './errors.ts';
import type { LicenseStore } from './types.ts';

export interface StoreResource extends Resource {
  /** Resolves to the open store; rejects (503) when it could not be opened. */
  store(): Promise<LicenseStore>;
}

export function licenseStore(services: Services): StoreResource {
  return services.resources.get('license-store', () => {
    const opening = openFromEnv(services);
    // One promise for every caller: a request asks for the store twice or more.
    const ready = opening.catch((error: unknown) => {
      services.log.error({ err: error }, 'license store unavailable');
      throw storeUnavailable(`license store unavailable: ${(error as Error).message}`, error);
    });
    return {
      store: () => ready,
      checkHealth: async () => (await opening).checkHealth(),
      close: async () => (await opening.catch(() => undefined))?.close(),
    };
  });
}

async function openFromEnv(services: Services): Promise<LicenseStore> {
  const { env, log } = services;
  if (env.LICENSE_API_URL) {
    const { RemoteStore } = await import('./remote/store.ts');
    return new RemoteStore({
      url: env.LICENSE_API_URL,
      adminToken: (env.LICENSE_ADMIN_TOKEN ?? '').split(',')[0]!.trim(),
      log,
      ...(Number(env.LICENSE_REVOCATION_S) > 0
        ? { revocationMs: Number(env.LICENSE_REVOCATION_S) * 1000 }
        : {}),
    });
  }
  const redis = redisTarget(env);
  if (redis) {
    const { RedisStore } = await import('./redis/store.ts');
    return RedisStore.open({
      ...redis,
      log,
      clock: services.clock,
      commandTimeoutMs: commandTimeoutMs(env),
    });
  }
  return EmbeddedStore.open({
    dir: resolve(env.DATA_DIR || './data'),
    encryptionKey: env.DATA_ENCRYPTION_KEY || undefined,
    log,
    clock: services.clock,
  });
}
