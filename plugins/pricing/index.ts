/** `GET /api/v1/pricing` (public): model prices and the daily charge, so clients can show the cost. */
import { definePlugin } from '../../gateway/plugin.ts';
import { parseAmount, toCredits } from '../../licensing/money.ts';
import { PriceTable, priceSchema, type PriceConfig } from '../billing/prices.ts';

export interface PricingConfig {
  prices: PriceConfig[];
  daily_charge: number | string;
  timezone: string;
}

export default definePlugin<PricingConfig>({
  name: 'pricing',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['prices'],
    properties: {
      prices: priceSchema,
      daily_charge: { anyOf: [{ type: 'number' }, { type: 'string' }], default: 0.33 },
      timezone: { type: 'string', default: 'Asia/Shanghai' },
    },
  },
  create(config) {
    const body = {
      success: true,
      unit: 'credits per million tokens',
      daily_charge: toCredits(parseAmount(config.daily_charge, 'pricing.daily_charge')),
      timezone: config.timezone,
      models: new PriceTable(config.prices).view(),
    };
    return { onRequest: () => ({ body }) };
  },
});
