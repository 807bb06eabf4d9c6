/**
 * License check of proxied requests: `X-License-Key` (or `Authorization: Bearer <key>`) and `X-Device-Id`.
 * 401 missing or unknown, 403 revoked or device over the limit. Valid checks are cached briefly; a
 * revocation anywhere drops the cached copy at once. The client's credentials never go upstream.
 */
import { growingLru } from '../../gateway/lru.ts';
import { badRequest, GatewayError } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import type { Context } from '../../gateway/context.ts';
import { DEVICE_ID_MAX_LENGTH, keyVerdicts, presentedKey } from '../../licensing/credentials.ts';
import { allowsModel } from '../../licensing/limits.ts';
import { licenseChecks } from '../../licensing/metrics.ts';
import { licenseStore } from '../../licensing/resource.ts';
import { licenseRevoked } from '../../licensing/errors.ts';
import type { License } from '../../licensing/types.ts';

import { LICENSE } from '../keys.ts';
import { modelOutside } from '../named-models.ts';
import { licensingRefusal } from '../refusals.ts';

export interface LicenseConfig {
  cache_ttl_s: number;
}

const REFUSALS = {
  NOT_FOUND: () => new GatewayError(401, 'INVALID_LICENSE', 'license key not found'),
  REVOKED: licenseRevoked,
  DEVICE_LIMIT: () =>
    new GatewayError(
      403,
      'DEVICE_NOT_ALLOWED',
      'this device is not allowed: the license is bound to other devices',
    ),
};

export default definePlugin<LicenseConfig>({
  name: 'license',
  mapError: licensingRefusal,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { cache_ttl_s: { type: 'number', minimum: 0, default: 30 } },
  },
  create(config, services) {
    const resource = licenseStore(services);
    const checks = licenseChecks(services.metrics);
    // One cache per process, shared by every route and kept across reloads, so invalidation reaches all.
    const cacheTtl = Math.max(1, config.cache_ttl_s * 1000);
    const cache = services.resources.get('license-cache', () => {
      const ttl = cacheTtl;
      // The clock is read at most every 100 ms (a tenth of a short TTL): lru-cache's default reads it, and
      // arms a timer, every millisecond.
      const lru = growingLru<string, License>({
        entries: 50_000,
        ttl,
        ttlResolution: Math.min(100, Math.floor(ttl / 10)),
      });
      void resource.store().then(
        (store) =>
          store.onInvalidate((key) => {
            for (const cached of lru.keys()) if (cached.startsWith(`${key}\n`)) lru.delete(cached);
          }),
        () => undefined,
      );
      return { lru };
    }).lru;
    const verdicts = keyVerdicts(services);
    /** The license goes on with the request, unless its own limits leave out the model asked for. */
    const admit = async (ctx: Context, license: License): Promise<void> => {
      const { limits } = license;
      if (limits?.models) {
        const outside = modelOutside(await ctx.json(), (model) => allowsModel(limits, model));
        if (outside)
          throw new GatewayError(
            403,
            'MODEL_NOT_ALLOWED',
            `this license may call ${limits.models.join(', ')}; not ${JSON.stringify(outside.model ?? null)}`,
          );
      }
      ctx.set(LICENSE, license);
    };
    return {
      async onRequest(ctx) {
        const key = presentedKey(ctx);
        const device = ctx.header('x-device-id');
        if (!key || !device) {
          checks.inc({ result: 'MISSING' });
          throw new GatewayError(
            401,
            'MISSING_CREDENTIALS',
            'send your license key (X-License-Key or Authorization: Bearer) and X-Device-Id',
          );
        }
        if (device.length > DEVICE_ID_MAX_LENGTH)
          throw badRequest(
            `X-Device-Id must be at most ${DEVICE_ID_MAX_LENGTH} characters`,
            'INVALID_DEVICE_ID',
          );
        if (verdicts.unknown.has(key)) {
          checks.inc({ result: 'NOT_FOUND' });
          throw REFUSALS.NOT_FOUND();
        }
        const cacheKey = `${key}\n${device}`;
        const cached = cache.get(cacheKey);
        if (cached) return admit(ctx, cached);
        const store = await resource.store();
        const verdict = await store.verify(key, device);
        checks.inc({ result: verdict.code });
        if (verdict.code === 'NOT_FOUND') verdicts.unknown.set(key, true);
        else verdicts.known.set(key, { ratePerMinute: verdict.license?.limits?.ratePerMinute });
        if (verdict.code !== 'VALID') throw REFUSALS[verdict.code]();
        // A store that cannot tell this process of a revocation bounds how long a verdict is trusted.
        const ttl = store.verdictTtlMs === undefined ? undefined : Math.min(store.verdictTtlMs, cacheTtl);
        cache.set(cacheKey, verdict.license!, ttl === undefined ? undefined : { ttl });
        return admit(ctx, verdict.license!);
      },
      onUpstream(_ctx, upstream) {
        upstream.headers['authorization'] = undefined;
        upstream.headers['x-license-key'] = undefined;
        upstream.headers['x-device-id'] = undefined;
        upstream.headers['x-admin-token'] = undefined;
      },
    };
  },
});
