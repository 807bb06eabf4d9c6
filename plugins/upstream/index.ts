/** Proxies to one fixed upstream URL: the simplest upstream plugin, and the proxy-only chain of the bench. */
import { definePlugin, idleTimeoutSchema, type UpstreamTarget } from '../../gateway/plugin.ts';

export interface UpstreamConfig {
  url: string;
  name?: string;
  headers: Record<string, string>;
  timeout_ms?: number;
  idle_timeout_ms: number;
}

export default definePlugin<UpstreamConfig>({
  name: 'upstream',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string', pattern: '^https?://' },
      name: { type: 'string' },
      headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
      timeout_ms: { type: 'integer', minimum: 1 },
      idle_timeout_ms: idleTimeoutSchema,
    },
  },
  create(config) {
    const url = new URL(config.url);
    const target: UpstreamTarget = {
      name: config.name ?? url.host,
      url,
      headers: config.headers,
      ...(config.timeout_ms ? { timeoutMs: config.timeout_ms } : {}),
      idleTimeoutMs: config.idle_timeout_ms,
    };
    return {
      onUpstream(_ctx, upstream) {
        upstream.target = target;
      },
    };
  },
});
