/**
 * The OpenRouter upstream: the server's key injected (never the client's), attribution headers set, a
 * billed request's price ceiling sent as `provider.max_price`, and what OpenRouter charged the operator
 * taken out of the usage clients see, unless `pass_cost`.
 */
import { unavailable } from '../../gateway/errors.ts';
import { definePlugin, idleTimeoutSchema, type UpstreamTarget } from '../../gateway/plugin.ts';
import { PRICE_CEILING } from '../keys.ts';
import { OPENROUTER_ERROR_STATUSES } from '../openrouter-errors.ts';
import { withoutOperatorCost } from '../operator-cost.ts';
import { providerWithCeiling } from '../price-ceiling.ts';

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
  /** Let clients read OpenRouter's `usage.cost` (what the request cost the operator, in US dollars). */
  pass_cost: boolean;
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
      pass_cost: { type: 'boolean', default: false },
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
      errorStatuses: OPENROUTER_ERROR_STATUSES,
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
        if (!ceiling) return;
        const body = await ctx.json<{ provider?: unknown }>();
        body.provider = providerWithCeiling(body.provider, ceiling);
        ctx.jsonChanged();
      },
      onResponse(_ctx, response) {
        // Its own target answered, not one an earlier plugin chose.
        if (!config.pass_cost && response.target === target) withoutOperatorCost(response);
      },
    };
  },
});
