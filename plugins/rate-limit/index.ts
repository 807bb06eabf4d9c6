/**
 * Fixed-window rate limit per client address (or per license key), so keys and emails cannot be
 * guessed by brute force. Counters live in an lru-cache of this process.
 */
import { LRUCache } from 'lru-cache';
import { GatewayError } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';

export interface RateLimitConfig {
  /** Requests allowed per window. */
  limit: number;
  window_s: number;
  /** What is counted: the client address, or the license key the client sent. */
  by: 'ip' | 'license';
  /** Counter namespace: routes with the same name share their counters. */
  name: string;
}

interface Window {
  start: number;
  count: number;
}

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
    },
  },
  create(config, services) {
    const windows = services.resources.get(`rate-limit:${config.name}`, () => ({
      cache: new LRUCache<string, Window>({ max: 100_000 }),
    })).cache;
    const windowMs = config.window_s * 1000;
    return {
      onRequest(ctx) {
        const subject =
          config.by === 'license'
            ? (ctx.header('x-license-key') ?? ctx.header('authorization') ?? ctx.clientIp)
            : ctx.clientIp;
        const now = services.clock.now();
        let window = windows.get(subject);
        if (!window || now - window.start >= windowMs) {
          window = { start: now, count: 0 };
          windows.set(subject, window);
        }
        window.count++;
        ctx.responseHeaders['x-ratelimit-limit'] = String(config.limit);
        ctx.responseHeaders['x-ratelimit-remaining'] = String(Math.max(0, config.limit - window.count));
        if (window.count > config.limit) {
          const retryAfter = Math.ceil((window.start + windowMs - now) / 1000);
          throw new GatewayError(429, 'RATE_LIMITED', `too many requests; retry in ${retryAfter} s`, {
            headers: { 'retry-after': String(retryAfter) },
          });
        }
      },
    };
  },
});
