/**
 * OpenRouter's catalogue: its models with their published prices (`GET <base_url>/models`), fetched when first
 * needed and again every so often in the background. While OpenRouter cannot be reached the last good copy
 * serves, so a model that appeared today is listed and billed today, and an outage changes nothing.
 * Prices become credits per million tokens at the operator's rate and markup (`priceOf`).
 */
import type { Services } from '../gateway/plugin.ts';
import { PriceTable, toPrice, type Price, type PriceConfig } from './prices.ts';

export interface CatalogueConfig {
  base_url: string;
  /** Credits a US dollar of OpenRouter's price is worth, before the markup. */
  credits_per_usd: number;
  /** What the operator charges over OpenRouter's price: 1.2 is 20 % more. */
  markup: number;
  refresh_s: number;
  /** While there is no copy at all (OpenRouter was down when first asked), asked again this soon. */
  retry_s: number;
}

export const catalogueSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['base_url'],
  properties: {
    base_url: { type: 'string', pattern: '^https?://' },
    credits_per_usd: { type: 'number', exclusiveMinimum: 0, default: 1 },
    markup: { type: 'number', minimum: 1, default: 1 },
    refresh_s: { type: 'number', minimum: 1, default: 3600 },
    retry_s: { type: 'number', minimum: 1, default: 30 },
  },
};

/** A model as OpenRouter lists it: US dollars per token and per request. */
export interface ListedModel {
  id: string;
  name?: string;
  contextLength?: number;
  usdPerPromptToken: number;
  usdPerCompletionToken: number;
  usdPerRequest: number;
}

const FETCH_TIMEOUT_MS = 10_000;

export class Catalogue {
  private models = new Map<string, ListedModel>();
  private first: Promise<void> | undefined;
  private lastAttempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly log: Services['log'],
  ) {}

  /**
   * Resolves once a first copy is in, or could not be had. Without any copy, a model it would price is
   * refused, so the catalogue is asked again after `retry_s` rather than at the next hourly refresh.
   */
  ready(config: Pick<CatalogueConfig, 'refresh_s' | 'retry_s'>): Promise<void> {
    if (!this.timer) {
      this.timer = setInterval(() => void this.refresh(), config.refresh_s * 1000);
      this.timer.unref();
    }
    const stale = Date.now() - this.lastAttempt >= config.retry_s * 1000;
    if (this.first && this.models.size === 0 && stale) this.first = this.refresh();
    return (this.first ??= this.refresh());
  }

  list(): ListedModel[] {
    return [...this.models.values()];
  }

  get(id: string): ListedModel | undefined {
    return this.models.get(id);
  }

  async refresh(): Promise<void> {
    this.lastAttempt = Date.now();
    try {
      const res = await fetch(`${this.url}/models`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`answered ${res.status}`);
      const listed = listedModels(await res.json());
      if (listed.length === 0) throw new Error('listed no model with a price');
      this.models = new Map(listed.map((model) => [model.id, model]));
    } catch (error) {
      this.log.warn(
        { error: (error as Error).message, models: this.models.size },
        'OpenRouter catalogue not refreshed; the last good copy serves',
      );
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** The models of an answer of `/models` that carry a price; others cannot be billed, so are not offered. */
function listedModels(answer: unknown): ListedModel[] {
  const data = (answer as { data?: unknown }).data;
  if (!Array.isArray(data)) throw new Error('answered no model list');
  const models: ListedModel[] = [];
  for (const item of data as Record<string, unknown>[]) {
    const pricing = (item?.pricing ?? {}) as Record<string, unknown>;
    const prompt = Number(pricing.prompt);
    const completion = Number(pricing.completion);
    const request = Number(pricing.request ?? 0);
    const priced = [prompt, completion, request].every((n) => Number.isFinite(n) && n >= 0);
    if (typeof item?.id !== 'string' || !priced) continue;
    models.push({
      id: item.id,
      ...(typeof item.name === 'string' ? { name: item.name } : {}),
      ...(typeof item.context_length === 'number' ? { contextLength: item.context_length } : {}),
      usdPerPromptToken: prompt,
      usdPerCompletionToken: completion,
      usdPerRequest: request,
    });
  }
  return models;
}

/** A listed model's price in credits (per million tokens, and per request) at the operator's rate and markup. */
export function priceOf(model: ListedModel, config: CatalogueConfig): PriceConfig {
  const credits = (usd: number) => usd * config.credits_per_usd * config.markup;
  return {
    model: model.id,
    input: credits(model.usdPerPromptToken * 1_000_000),
    output: credits(model.usdPerCompletionToken * 1_000_000),
    request: credits(model.usdPerRequest),
  };
}

/**
 * Prices of listed models at the operator's rate and markup, each converted once per copy of the catalogue
 * (a refresh brings new entries): billing asks for one on every request.
 */
function listedPrices(config: CatalogueConfig): (model: ListedModel) => Price {
  const prices = new WeakMap<ListedModel, Price>();
  return (model) => {
    let price = prices.get(model);
    if (!price) prices.set(model, (price = toPrice(priceOf(model, config))));
    return price;
  };
}

/** The process's one catalogue of a base URL, shared by the plugins that price and list models. */
export function catalogueOf(services: Services, config: CatalogueConfig): Catalogue {
  const url = config.base_url.replace(/\/$/, '');
  return services.resources.get(`catalogue:${url}`, () => new Catalogue(url, services.log));
}

/** How the gateway prices a model: YAML's price first (its first matching glob), then the catalogue's. */
export interface ModelPrices {
  /** Resolves once the catalogue has a first copy, or could not have one; at once without a catalogue. */
  ready(): Promise<void>;
  /** The model's price now; undefined for a model priced nowhere (which is not served). */
  priceOf(model: string): Price | undefined;
  /** The catalogue's models; none without a catalogue. */
  listed(): ListedModel[];
}

export function modelPrices(
  services: Services,
  options: { prices: readonly PriceConfig[]; catalogue?: CatalogueConfig },
): ModelPrices {
  const table = new PriceTable(options.prices);
  const config = options.catalogue;
  if (!config)
    return { ready: async () => undefined, priceOf: (model) => table.find(model), listed: () => [] };
  const catalogue = catalogueOf(services, config);
  const converted = listedPrices(config);
  return {
    ready: () => catalogue.ready(config),
    priceOf(model) {
      const listed = catalogue.get(model);
      return table.find(model) ?? (listed && converted(listed));
    },
    listed: () => catalogue.list(),
  };
}

/** The most an upstream may charge in US dollars: per million prompt and completion tokens, and per request. */
export interface UsdCeiling {
  prompt: number;
  completion: number;
  request: number;
}

/**
 * A price the client pays, in US dollars at the operator's rate: what OpenRouter may charge for the request
 * without serving it at a loss. Rounded up, with half a micro-credit for the rounding of the price itself, so
 * a provider at exactly the listed price stays within it when the markup is 1.
 */
export function usdCeiling(price: Price, creditsPerUsd: number): UsdCeiling {
  const usd = (micro: number) => Math.ceil((micro + 0.5) / creditsPerUsd) / 1_000_000;
  return {
    prompt: usd(price.inputPerMillion),
    completion: usd(price.outputPerMillion),
    request: usd(price.requestFee),
  };
}
