/**
 * Model prices from YAML, in credits per million tokens (plus an optional fee per request). The first
 * entry whose glob matches the model wins; `*` is the default. Costs are integer micro-credits, rounded up.
 */
import { globToRegExp } from '../gateway/glob.ts';
import { MICRO, toCredits } from './money.ts';

export interface PriceConfig {
  /** Glob over the model name: `*` any run of characters, `?` one. */
  model: string;
  input: number;
  output: number;
  request?: number;
}

export const priceSchema = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['model', 'input', 'output'],
    properties: {
      model: { type: 'string', minLength: 1 },
      input: { type: 'number', minimum: 0 },
      output: { type: 'number', minimum: 0 },
      request: { type: 'number', minimum: 0, default: 0 },
    },
  },
};

export interface Price {
  glob: string;
  pattern: RegExp;
  /** Micro-credits per million tokens, as integers so costs are exact. */
  inputPerMillion: number;
  outputPerMillion: number;
  requestFee: number;
}

const toMicro = (credits: number) => Math.round(credits * MICRO);

/** A price as YAML (or the catalogue) states it, in exact micro-credits. */
export function toPrice(config: PriceConfig): Price {
  return {
    glob: config.model,
    pattern: globToRegExp(config.model),
    inputPerMillion: toMicro(config.input),
    outputPerMillion: toMicro(config.output),
    requestFee: toMicro(config.request ?? 0),
  };
}

export class PriceTable {
  readonly prices: Price[];

  constructor(configs: readonly PriceConfig[]) {
    this.prices = configs.map(toPrice);
  }

  find(model: string): Price | undefined {
    return this.prices.find((p) => p.pattern.test(model));
  }

  /** cost = prompt × input + completion × output (+ fee), in micro-credits, rounded up. */
  static cost(price: Price, usage: { promptTokens: number; completionTokens: number }): number {
    const perMillion =
      usage.promptTokens * price.inputPerMillion + usage.completionTokens * price.outputPerMillion;
    return Math.ceil(perMillion / 1_000_000) + price.requestFee;
  }

  /** The public view: `GET /api/v1/pricing`. */
  view() {
    return this.prices.map((p) => ({ model: p.glob, ...priceView(p) }));
  }
}

/** A price as the API shows it: credits per million tokens, and per request. */
export function priceView(price: Price) {
  return {
    input_per_million_tokens: toCredits(price.inputPerMillion),
    output_per_million_tokens: toCredits(price.outputPerMillion),
    per_request: toCredits(price.requestFee),
  };
}
