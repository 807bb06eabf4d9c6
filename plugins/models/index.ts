/**
 * `GET /v1/models`: every model a client can call here, in OpenAI's list shape with each one's price in
 * credits: the models named in YAML, OpenRouter's catalogue (its published prices × the markup, unless YAML
 * prices the model), and the aliases, priced as what they stand for. Served from the catalogue's last good
 * copy while OpenRouter cannot be reached.
 */
import { definePlugin } from '../../gateway/plugin.ts';
import { catalogueSchema, modelPrices, type CatalogueConfig } from '../../licensing/catalogue.ts';
import { priceSchema, priceView, type Price, type PriceConfig } from '../../licensing/prices.ts';

export interface ModelsConfig {
  models: string[];
  owned_by: string;
  /** Billing's prices (the shipped config shares one list), shown with the models they price. */
  prices?: PriceConfig[];
  catalogue?: CatalogueConfig;
  /** Billing's aliases: a name clients may send → the model it stands for. */
  aliases: Record<string, string>;
}

export default definePlugin<ModelsConfig>({
  name: 'models',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      models: { type: 'array', items: { type: 'string' }, default: [] },
      owned_by: { type: 'string', default: 'cradle' },
      prices: priceSchema,
      catalogue: catalogueSchema,
      aliases: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    },
  },
  create(config, services) {
    const pricing = modelPrices(services, { prices: config.prices ?? [], catalogue: config.catalogue });
    return {
      contract: { summary: 'The models a client can call, each with its price in credits' },
      async onRequest() {
        await pricing.ready();
        const prices = new Map<string, Price | undefined>();
        for (const id of config.models) prices.set(id, pricing.priceOf(id));
        for (const model of pricing.listed())
          if (!prices.has(model.id)) prices.set(model.id, pricing.priceOf(model.id));
        for (const [alias, target] of Object.entries(config.aliases))
          prices.set(alias, pricing.priceOf(target));
        // With prices to go by, a model without one is not offered: it would be refused.
        const offered = [...prices].filter(([, price]) => price || (!config.prices && !config.catalogue));
        const data = offered.map(([id, price]) => ({
          id,
          object: 'model',
          created: 0,
          owned_by: config.owned_by,
          ...(price ? { pricing: { unit: 'credits', ...priceView(price) } } : {}),
        }));
        return { body: { object: 'list', data } };
      },
    };
  },
});
