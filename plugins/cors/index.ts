/**
 * CORS from an allow-list (`ALLOWED_ORIGINS`). Put it first in a chain: it answers preflights itself,
 * before any credential check could refuse them.
 */
import { definePlugin } from '../../gateway/plugin.ts';

export interface CorsConfig {
  /** Allowed origins: a list, or one comma-separated string; `*` allows any origin. */
  origins: string | string[];
  methods: string[];
  headers: string[];
  max_age_s: number;
}

export default definePlugin<CorsConfig>({
  name: 'cors',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      origins: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], default: '' },
      methods: { type: 'array', items: { type: 'string' }, default: ['GET', 'POST', 'OPTIONS'] },
      headers: {
        type: 'array',
        items: { type: 'string' },
        default: [
          'Content-Type',
          'Authorization',
          'X-License-Key',
          'X-Device-Id',
          'X-Admin-Token',
          'Idempotency-Key',
        ],
      },
      max_age_s: { type: 'integer', minimum: 0, default: 600 },
    },
  },
  create(config) {
    const list = (Array.isArray(config.origins) ? config.origins : config.origins.split(','))
      .map((o) => o.trim().replace(/\/$/, ''))
      .filter(Boolean);
    const anyOrigin = list.includes('*');
    const allowed = new Set(list);
    const preflightHeaders = {
      'access-control-allow-methods': config.methods.join(', '),
      'access-control-allow-headers': config.headers.join(', '),
      'access-control-max-age': String(config.max_age_s),
    };
    return {
      onRequest(ctx) {
        const origin = ctx.header('origin');
        const preflight =
          ctx.method === 'OPTIONS' && ctx.header('access-control-request-method') !== undefined;
        if (origin) ctx.responseHeaders['vary'] = 'Origin';
        const ok = origin !== undefined && (anyOrigin || allowed.has(origin));
        if (ok) {
          ctx.responseHeaders['access-control-allow-origin'] = anyOrigin ? '*' : origin;
          ctx.responseHeaders['access-control-expose-headers'] = 'X-Request-Id';
        }
        if (preflight) return { status: 204, headers: ok ? preflightHeaders : {} };
      },
      onResponse(_ctx, response) {
        // An upstream's CORS headers are its policy for its own origin (often `*`): the browser must read
        // the gateway's alone, or an origin this list refuses would be let in by the upstream's.
        for (const name in response.headers)
          if (name.startsWith('access-control-')) delete response.headers[name];
      },
    };
  },
});
