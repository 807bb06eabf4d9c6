/**
 * Fixed-window rate limit per client address (or per license key, read as the license plugin reads it: a
 * key not known to be a license counts against the address), so keys and emails cannot be guessed by brute
 * force. Counted in this process, or in Redis (REDIS_URL) so that every gateway instance counts against one
 * limit (`gateway/window-counter.ts`).
 */
import { addressSubject } from '../../gateway/client-address.ts';
import { pastLimit } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { windowCounter, windowLimitProperties, type WindowLimit } from '../../gateway/window-counter.ts';
import { keyVerdicts, presentedKey } from '../../licensing/credentials.ts';

/** `limit`: requests allowed per window. */
export interface RateLimitConfig extends WindowLimit {
  /** What is counted: the client address, or the license key the client sent. */
  by: 'ip' | 'license';
  /** Counter namespace: routes with the same name share their counters. */
  name: string;
}

export default definePlugin<RateLimitConfig>({
  name: 'rate-limit',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...windowLimitProperties({ limit: 60, window_s: 60 }),
      by: { enum: ['ip', 'license'], default: 'ip' },
      name: { type: 'string', default: 'default' },
    },
  },
  async create(config, services) {
    const windowMs = config.window_s * 1000;
    const counter = await windowCounter(services, { name: config.name, windowMs });
    const verdicts = keyVerdicts(services);
    return {
      async onRequest(ctx) {
        const key = config.by === 'license' ? presentedKey(ctx) : undefined;
        // A key counts for itself once it is known to be a license; a made-up one counts against the address.
        const known = key === undefined ? undefined : verdicts.known.get(key);
        const subject = known ? `key:${key}` : `ip:${addressSubject(ctx.clientIp)}`;
        // A license with a rate of its own is held to it, over this window.
        const own = known?.ratePerMinute;
        const limit = own ? Math.max(1, Math.round((own * config.window_s) / 60)) : config.limit;
        const now = services.clock.now();
        const window = await counter.add(subject, now, 1);
        ctx.responseHeaders['x-ratelimit-limit'] = String(limit);
        ctx.responseHeaders['x-ratelimit-remaining'] = String(Math.max(0, limit - window.count));
        if (window.count > limit) throw pastLimit(window.start + windowMs - now);
      },
    };
  },
});
