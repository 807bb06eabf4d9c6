/**
 * The OpenRouter upstream: the server's key injected (never the client's), attribution headers set, and a
 * billed request's price ceiling sent as `provider.max_price`.
 */
import type { Context } from '../../gateway/context.ts';
import { badRequest, unavailable } from '../../gateway/errors.ts';
import { definePlugin, idleTimeoutSchema, type UpstreamTarget } from '../../gateway/plugin.ts';
import type { UsdCeiling } from '../../licensing/catalogue.ts';
import { PRICE_CEILING } from '../keys.ts';

export interface OpenRouterConfig {
  base_url: string;
  /** The endpoint under the base URL: chat completions, or embeddings. */
  path: string;
  api_key: string;
  /** OpenRouter's attribution headers (HTTP-Referer, X-Title). */
  referer: string;
  title: string;
  timeout_ms: number;
  idle_timeout_ms: number;
}

export default definePlugin<OpenRouterConfig>({
  name: 'openrouter',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      base_url: { type: 'string', pattern: '^https?://', default: 'https://openrouter.ai/api/v1' },
      path: { type: 'string', pattern: '^/', default: '/chat/completions' },
      api_key: { type: 'string', default: '' },
      referer: { type: 'string', default: 'https://github.com/cradle-gateway' },
      title: { type: 'string', default: 'Cradle Gateway' },
      timeout_ms: { type: 'integer', minimum: 1, default: 120000 },
      idle_timeout_ms: idleTimeoutSchema,
    },
  },
  create(config) {
    const target: UpstreamTarget = {
      name: 'openrouter',
      url: new URL(`${config.base_url.replace(/\/$/, '')}${config.path}`),
      headers: {
        authorization: `Bearer ${config.api_key}`,
        'http-referer': config.referer,
        'x-title': config.title,
      },
      timeoutMs: config.timeout_ms,
      idleTimeoutMs: config.idle_timeout_ms,
    };
    return {
      async onUpstream(ctx, upstream) {
        if (upstream.target) return;
        if (!config.api_key)
          throw unavailable(
            'OpenRouter is not configured: set OPENROUTER_API_KEY',
            'UPSTREAM_NOT_CONFIGURED',
          );
        upstream.target = target;
        const ceiling = ctx.get(PRICE_CEILING);
        if (ceiling) await sendCeiling(ctx, ceiling);
      },
    };
  },
});

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * OpenRouter picks a provider of the model by its own measure (a faster one may cost more than the listed
 * price), or as the client's `provider` preferences say (an order, a sort by throughput): any of them may
 * charge more than the client pays. `max_price` keeps it to providers within what the client pays; a lower
 * ceiling of the client's own stands, and its other preferences go on as sent.
 */
async function sendCeiling(ctx: Context, ceiling: UsdCeiling): Promise<void> {
  const body = await ctx.json<{ provider?: unknown }>();
  const provider = body.provider ?? {};
  if (!isObject(provider)) throw badRequest('provider must be an object', 'INVALID_PARAMETER');
  const asked = provider.max_price ?? {};
  if (!isObject(asked)) throw badRequest('provider.max_price must be an object', 'INVALID_PARAMETER');
  const lower = (name: keyof UsdCeiling) => {
    const value = asked[name];
    const own =
      typeof value === 'number' || (typeof value === 'string' && value.trim() !== '') ? Number(value) : NaN;
    return own >= 0 && own < ceiling[name] ? own : ceiling[name];
  };
  const maxPrice = { prompt: lower('prompt'), completion: lower('completion'), request: lower('request') };
  body.provider = { ...provider, max_price: { ...asked, ...maxPrice } };
  ctx.jsonChanged();
}
