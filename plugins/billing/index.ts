/**
 * Usage billing: reserve before forwarding (a hold sized from max_tokens), settle on the upstream's usage
 * after the answer (one `usage` ledger entry), release on failure. The balance never goes negative, also
 * under concurrency; a client that leaves mid-stream pays for what was delivered (estimated).
 */
import { randomUUID } from 'node:crypto';
import { ContextKey, type Context } from '../../gateway/context.ts';
import { badRequest } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { isUnencoded } from '../../gateway/proxy/decode.ts';
import { mailer } from '../../licensing/mail/resource.ts';
import { lowBalanceMail } from '../../licensing/mail/templates.ts';
import { MICRO, toCredits } from '../../licensing/money.ts';
import { creditsCharged } from '../../licensing/metrics.ts';
import { licenseStore } from '../../licensing/resource.ts';
import { insufficientCredits, licenseRevoked } from '../../licensing/refusals.ts';
import { LICENSE } from '../license/index.ts';
import { completionBudget, type LimitFields } from './budget.ts';
import { PriceTable, priceSchema, type Price, type PriceConfig } from './prices.ts';
import { UsageEventRemover } from './usage-event.ts';
import { textWeight, tokensOf } from './estimate.ts';
import { UsageReader } from './usage.ts';

export interface BillingConfig {
  prices: PriceConfig[];
  /**
   * Completion tokens reserved when the request names no max_tokens (or max_completion_tokens); it then goes
   * upstream as the request's max_tokens, so no answer costs more than its hold.
   */
  default_max_tokens: number;
  /** A usage charge that takes the balance below this (credits) mails the owner once; 0 turns it off. */
  low_balance_threshold: number;
}

interface Bill {
  key: string;
  /** Unique to this request (`nextHoldId`), unlike its id: a client's X-Request-Id, which two may share. */
  holdId: string;
  /** The request body, parsed once by the context and shared. */
  body: ChatBody;
  email: string;
  model: string;
  price: Price;
  promptEstimate: number;
  reader?: UsageReader;
  /** The request names no completion limit: the default goes upstream. */
  defaultLimit: boolean;
  /** The stream carries a usage event only because billing asked for it: the client does not get it. */
  removeUsageEvent?: boolean;
}

const BILL = new ContextKey<Bill>('billing.bill');

/**
 * Hold ids unique across requests, processes and restarts: an edge sends its hold id to the central instance
 * as the idempotency key of the charge, so a shared one would make a second request's charge a replay.
 */
const HOLD_RUN = randomUUID();
let holdSequence = 0;
const nextHoldId = () => `${HOLD_RUN}:${++holdSequence}`;

interface ChatBody extends LimitFields {
  model?: unknown;
  messages?: { content?: unknown }[];
  stream?: unknown;
  stream_options?: Record<string, unknown>;
  tools?: unknown;
}

export const billingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['prices'],
  properties: {
    prices: priceSchema,
    default_max_tokens: { type: 'integer', minimum: 1, default: 4096 },
    low_balance_threshold: { type: 'number', minimum: 0, default: 1 },
  },
};

export default definePlugin<BillingConfig>({
  name: 'billing',
  schema: billingSchema,
  create(config, services) {
    const table = new PriceTable(config.prices);
    const lowBalance = Math.round(config.low_balance_threshold * MICRO);
    const resource = licenseStore(services);
    // Bound once: a labelled increment hashes its labels on every call.
    const usageCharged = creditsCharged(services.metrics).labels({ kind: 'usage' });
    return {
      async onRequest(ctx) {
        const license = ctx.get(LICENSE);
        if (!license || license.unlimited) return;
        const body = await ctx.json<ChatBody>();
        if (typeof body.model !== 'string' || body.model === '')
          throw badRequest('model is required', 'MISSING_MODEL');
        const price = table.find(body.model);
        if (!price) throw badRequest(`no price for model ${body.model}`, 'UNKNOWN_MODEL');
        const budget = completionBudget(body, config.default_max_tokens);
        let promptWeight = 0;
        // Text content by its text; content parts (text, images) by their JSON.
        for (const message of body.messages ?? []) {
          const content = message?.content ?? '';
          promptWeight += textWeight(typeof content === 'string' ? content : JSON.stringify(content));
        }
        // Tool definitions are read by the model as part of the prompt.
        if (body.tools !== undefined) promptWeight += textWeight(JSON.stringify(body.tools));
        const promptEstimate = tokensOf(promptWeight);
        const reserve = PriceTable.cost(price, {
          promptTokens: promptEstimate,
          completionTokens: budget.tokens,
        });
        const store = resource.opened ?? (await resource.store());
        const holdId = nextHoldId();
        const result = await store.hold({ key: license.key, holdId, amount: reserve });
        if (result === 'insufficient') {
          throw insufficientCredits(
            `insufficient credits: this request may cost up to ${toCredits(reserve)} credits`,
          );
        }
        if (result !== 'ok') throw licenseRevoked();
        ctx.set(BILL, {
          key: license.key,
          holdId,
          body,
          email: license.email,
          model: body.model,
          price,
          promptEstimate,
          defaultLimit: budget.defaulted,
        });
      },
      onUpstream(ctx, upstream) {
        const bill = ctx.get(BILL);
        if (!bill) return;
        const { body } = bill;
        // Usage is read from the answer's bytes: a compressed answer (a CDN gzips for a client that accepts
        // it) would leave it unreadable and the charge a guess.
        upstream.headers['accept-encoding'] = 'identity';
        if (bill.defaultLimit) setMember(ctx, body, 'max_tokens', config.default_max_tokens);
        if (body.stream === true && body.stream_options?.include_usage !== true) {
          // Streams carry usage only when asked: the final chunk then holds it.
          bill.removeUsageEvent = true;
          setMember(ctx, body, 'stream_options', { ...body.stream_options, include_usage: true });
        }
      },
      onResponse(ctx, response) {
        const bill = ctx.get(BILL);
        if (!bill || response.status >= 400) return;
        const sse = String(response.headers['content-type'] ?? '').startsWith('text/event-stream');
        // An upstream may compress though asked not to: the reader then decodes the answer, and its bytes are
        // no events to take one out of.
        const coding = response.headers['content-encoding'];
        bill.reader = new UsageReader({ kind: sse ? 'sse' : 'json', contentEncoding: coding });
        response.observe(bill.reader.observer);
        if (sse && bill.removeUsageEvent && isUnencoded(coding)) response.rewrite(new UsageEventRemover());
      },
      async onFinish(ctx, outcome) {
        const bill = ctx.get(BILL);
        if (!bill) return;
        const store = resource.opened ?? (await resource.store());
        const delivered =
          outcome.upstream !== undefined && outcome.upstream.status < 400 && bill.reader !== undefined;
        if (!delivered) {
          await store.settle({ key: bill.key, holdId: bill.holdId, cost: 0, kind: 'usage' });
          return;
        }
        const usage = bill.reader!.usage(bill.promptEstimate);
        const cost = PriceTable.cost(bill.price, usage);
        const entry = await store.settle({
          key: bill.key,
          holdId: bill.holdId,
          cost,
          kind: 'usage',
          details: {
            requestId: ctx.id,
            model: bill.model,
            promptTokens: usage.promptTokens,
            completionTokens: usage.completionTokens,
            estimated: usage.estimated,
          },
        });
        if (!entry) return;
        usageCharged.inc(-entry.amount);
        const crossed = entry.balanceAfter < lowBalance && entry.balanceAfter - entry.amount >= lowBalance;
        if (crossed && bill.email)
          mailer(services).send(lowBalanceMail({ email: bill.email, balance: entry.balanceAfter }));
      },
    };
  },
});

/**
 * Sets a member of the request body that goes upstream: one the client did not send is spliced in front of
 * its bytes (no new serialisation); one it sent (null, or another value) is replaced in the parsed body.
 */
function setMember(ctx: Context, body: ChatBody, name: keyof ChatBody, value: unknown): void {
  if (Object.hasOwn(body, name)) {
    (body as Record<string, unknown>)[name] = value;
    ctx.jsonChanged();
  } else {
    ctx.addJsonMember(name, value);
  }
}
