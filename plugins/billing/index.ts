/**
 * Usage billing: reserve before forwarding (a hold sized from max_tokens), settle on the upstream's usage
 * after the answer (one `usage` ledger entry), release on failure. The balance never goes negative, also
 * under concurrency; a client that leaves mid-stream pays for what was delivered (estimated).
 */
import { ContextKey } from '../../gateway/context.ts';
import { badRequest } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { isEventStream } from '../../gateway/content-type.ts';
import { isUnencoded } from './decode.ts';
import { warnIfLow } from '../../licensing/mail/resource.ts';
import { MICRO, toCredits } from '../../licensing/money.ts';
import { creditsCharged } from '../../licensing/metrics.ts';
import { RequestCharge, type ChargePart } from '../../licensing/request-charge.ts';
import { licenseStore } from '../../licensing/resource.ts';
import { ANSWER_FAILED, LICENSE, PRICE_CEILING, USAGE } from '../keys.ts';
import { billedRequest, REQUEST_KINDS, type BilledRequest, type RequestKind } from './request-kinds.ts';
import { catalogueSchema, modelPrices, usdCeiling, type CatalogueConfig } from '../../licensing/catalogue.ts';
import { PriceTable, priceSchema, type Price, type PriceConfig } from '../../licensing/prices.ts';
import { UsageEventRemover } from './usage-event.ts';
import { UsageReader } from './usage.ts';
import { upstreamCostWatch } from './upstream-cost.ts';
import { licensingRefusal } from '../refusals.ts';

export interface BillingConfig {
  /** What the route serves: chat completions, or embeddings (only their input is billed). */
  kind: RequestKind;
  prices: PriceConfig[];
  /** OpenRouter's published prices × a markup, for models `prices` does not name. */
  catalogue?: CatalogueConfig;
  /**
   * Completion tokens reserved when the request names no max_tokens (or max_completion_tokens); it then goes
   * upstream as the request's max_tokens, so no answer costs more than its hold.
   */
  default_max_tokens: number;
  /** A charge that takes the balance below this (credits) mails the owner once; 0 turns it off. */
  low_balance_threshold: number;
  /**
   * How long a request's hold outlives a gateway that died before settling it (shared stores); a live
   * request renews its hold every half of it, however long it runs.
   */
  hold_ttl_s: number;
}

interface Bill {
  /** This plugin's share of the request's charge, at the model's price; none for an unlimited license. */
  charge?: { part: ChargePart; price: Price };
  model: string;
  promptEstimate: number;
  reader?: UsageReader;
  /** The request names no completion limit: the default goes upstream. */
  defaultLimit: boolean;
  /** The stream carries a usage event only because billing asked for it: the client does not get it. */
  removeUsageEvent?: boolean;
}

const BILL = new ContextKey<Bill>('billing.bill');

export const billingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['prices'],
  properties: {
    kind: { enum: REQUEST_KINDS, default: 'chat' },
    prices: priceSchema,
    catalogue: catalogueSchema,
    default_max_tokens: { type: 'integer', minimum: 1, default: 4096 },
    low_balance_threshold: { type: 'number', minimum: 0, default: 1 },
    hold_ttl_s: { type: 'integer', minimum: 1, default: 180 },
  },
};

export default definePlugin<BillingConfig>({
  name: 'billing',
  mapError: licensingRefusal,
  schema: billingSchema,
  create(config, services) {
    const pricing = modelPrices(services, config);
    /** Only a model YAML does not price waits for the catalogue's first copy. */
    const priceFor = async (model: string): Promise<Price | undefined> => {
      const price = pricing.priceOf(model);
      if (price) return price;
      await pricing.ready();
      return pricing.priceOf(model);
    };
    const lowBalance = Math.round(config.low_balance_threshold * MICRO);
    const resource = licenseStore(services);
    // Bound once: a labelled increment hashes its labels on every call.
    const usageCharged = creditsCharged(services.metrics).labels({ kind: 'usage' });
    const watchCost = upstreamCostWatch(services, config.catalogue?.credits_per_usd);
    return {
      async onRequest(ctx) {
        const license = ctx.get(LICENSE);
        if (!license) return;
        // Checked for every license, unlimited ones too: a malformed body is never forwarded.
        const request = billedRequest(config.kind, await ctx.json(), config.default_max_tokens);
        const { body } = request;
        const read = { model: body.model, promptEstimate: request.promptEstimate };
        // An unlimited license's usage is read, for the request log and the upstream's cost, never charged.
        if (license.unlimited) return ctx.set(BILL, { ...read, defaultLimit: false });
        const price = await priceFor(body.model);
        // Never served for free: a model nobody priced is refused before it costs the operator anything.
        if (!price)
          throw badRequest(
            `model ${body.model} has no price here, so it is not served (see /v1/models)`,
            'UNKNOWN_MODEL',
          );
        if (config.catalogue) ctx.set(PRICE_CEILING, usdCeiling(price, config.catalogue.credits_per_usd));
        const reserve = PriceTable.cost(price, request.hold);
        const store = await resource.store();
        const part = RequestCharge.join(ctx, {
          license,
          store,
          onSettled: (result) => {
            if (result.usage) usageCharged.inc(-result.usage.amount);
            const debits = [result.daily, result.usage];
            warnIfLow(services, { email: license.email, debits, threshold: lowBalance });
          },
        });
        ctx.set(BILL, { ...read, charge: { part, price }, defaultLimit: request.defaultLimit });
        await part.hold(reserve, {
          ttlMs: config.hold_ttl_s * 1000,
          refusal: () => `insufficient credits: this request may cost up to ${toCredits(reserve)} credits`,
        });
      },
      async onUpstream(ctx, upstream) {
        const bill = ctx.get(BILL);
        if (!bill) return;
        // Parsed already, and checked (onRequest): the same object every plugin changes.
        const body = await ctx.json<BilledRequest['body']>();
        // Usage is read from the answer's bytes: a compressed answer (a CDN gzips for a client that accepts
        // it) would leave it unreadable and the charge a guess.
        upstream.headers['accept-encoding'] = 'identity';
        if (bill.defaultLimit) {
          body.max_tokens = config.default_max_tokens;
          ctx.jsonChanged();
        }
        if (body.stream === true && body.stream_options?.include_usage !== true) {
          // Streams carry usage only when asked: the final chunk then holds it.
          bill.removeUsageEvent = true;
          body.stream_options = { ...body.stream_options, include_usage: true };
          ctx.jsonChanged();
        }
      },
      onResponse(ctx, response) {
        const bill = ctx.get(BILL);
        if (!bill || response.status >= 400) return;
        const sse = isEventStream(response.headers['content-type']);
        // An upstream may compress though asked not to: the reader then decodes the answer, and its bytes are
        // no events to take one out of.
        const coding = response.headers['content-encoding'];
        bill.reader = new UsageReader({ kind: sse ? 'sse' : 'json', contentEncoding: coding });
        response.observe(bill.reader.observer);
        if (sse && bill.removeUsageEvent && isUnencoded(coding)) response.rewrite(new UsageEventRemover());
      },
      onFinish(ctx, outcome) {
        const bill = ctx.get(BILL);
        if (!bill) return;
        const { charge, model, reader } = bill;
        // A reader is attached to every answer below 400: without one there is no usage to charge.
        if (!reader) return charge?.part.report(outcome);
        const { upstreamCostUsd, ...used } = reader.usage(bill.promptEstimate);
        const failure = reader.failure();
        // Nothing for an error in place of an answer; no charge at all for an unlimited license.
        const cost = charge && (failure === undefined ? PriceTable.cost(charge.price, used) : 0);
        if (upstreamCostUsd !== undefined)
          watchCost({ requestId: ctx.id, model, usd: upstreamCostUsd, charged: cost });
        if (failure !== undefined) {
          ctx.set(ANSWER_FAILED, failure);
          ctx.log.warn(
            { said: failure },
            'the upstream answered an error in place of an answer: not charged',
          );
          return charge?.part.reportFailure();
        }
        const { firstWrittenAt } = reader;
        const firstToken = firstWrittenAt === undefined ? {} : { firstTokenAt: firstWrittenAt };
        ctx.set(USAGE, { model, ...used, ...firstToken });
        return charge?.part.report(outcome, { cost: cost ?? 0, details: { model, ...used } });
      },
    };
  },
});
