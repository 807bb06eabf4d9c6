/**
 * `GET /api/v1/pricing` (public): model prices and the daily charge, so clients can show the cost; and the
 * completion limit billing applies to a request that names none, so a client knows why such an answer stops.
 */
import { definePlugin } from '../../gateway/plugin.ts';
import { parseAmount, toCredits } from '../../licensing/money.ts';
import { catalogueSchema, type CatalogueConfig } from '../../licensing/catalogue.ts';
import { PriceTable, priceSchema, type PriceConfig } from '../../licensing/prices.ts';

export interface PricingConfig {
  prices: PriceConfig[];
  /** Billing's catalogue: how models the prices do not name are priced. */
  catalogue?: CatalogueConfig;
  daily_charge: number | string;
  timezone: string;
  /** Billing's `default_max_tokens`, shown when given (the shipped config shares one value). */
  default_max_tokens?: number;
}

export default definePlugin<PricingConfig>({
  name: 'pricing',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['prices'],
    properties: {
      prices: priceSchema,
      catalogue: catalogueSchema,
      daily_charge: { anyOf: [{ type: 'number' }, { type: 'string' }], default: 0.33 },
      timezone: { type: 'string', default: 'Asia/Shanghai' },
      default_max_tokens: { type: 'integer', minimum: 1 },
    },
  },
  create(config) {
    const body = {
      success: true,
      unit: 'credits per million tokens',
      daily_charge: toCredits(parseAmount(config.daily_charge, 'pricing.daily_charge')),
      timezone: config.timezone,
      models: new PriceTable(config.prices).view(),
      ...(config.catalogue && {
        other_models: {
          priced_as: "OpenRouter's published price in US dollars × credits_per_usd × markup",
          credits_per_usd: config.catalogue.credits_per_usd,
          markup: config.catalogue.markup,
          listed_at: '/v1/models',
        },
      }),
      ...(config.default_max_tokens !== undefined && { default_max_tokens: config.default_max_tokens }),
    };
    return { onRequest: () => ({ body }) };
  },
});
