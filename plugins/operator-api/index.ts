/**
 * What an operator looks up and mends beyond licenses (those are the license API's): payments credited, the
 * request log and its statistics, and the mail outbox with a retry for a mail given up. One `action` per route; put `admin-auth` before it.
 */
import { badRequest, GatewayError, notFound } from '../../gateway/errors.ts';
import type { Context } from '../../gateway/context.ts';
import { definePlugin, type Answer } from '../../gateway/plugin.ts';
import { MAIL_STATES, type MailState } from '../../licensing/mail/outbox.ts';
import { mailer } from '../../licensing/mail/resource.ts';
import { licenseStore } from '../../licensing/resource.ts';
import { licensingRefusal } from '../refusals.ts';
import { OPERATOR_API_CONTRACTS } from './contracts.ts';
import { whole } from './params.ts';
import { requestsAnswer, statsAnswer } from './requests.ts';
import { mailView, paymentView } from './views.ts';

const ACTIONS = ['payments', 'mail_list', 'mail_retry', 'requests', 'stats'] as const;
type Action = (typeof ACTIONS)[number];

/** `limit` (1–1000) and `offset` from the query string. */
function page(ctx: Context, defaultLimit: number): { limit: number; offset: number } {
  return {
    limit: whole(ctx, 'limit', { min: 1, max: 1000 }) ?? defaultLimit,
    offset: whole(ctx, 'offset', { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? 0,
  };
}

export default definePlugin<{ action: Action }>({
  name: 'operator-api',
  mapError: licensingRefusal,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['action'],
    properties: { action: { enum: ACTIONS } },
  },
  create(config, services) {
    const handlers: Record<Action, (ctx: Context) => Promise<Answer>> = {
      async payments(ctx) {
        const store = await licenseStore(services).store();
        const payments = await store.payments(page(ctx, 50));
        return { body: { success: true, payments: payments.map(paymentView) } };
      },
      async mail_list(ctx) {
        const state = ctx.query.get('state') ?? 'dead';
        if (!(MAIL_STATES as readonly string[]).includes(state))
          throw badRequest(`state must be one of ${MAIL_STATES.join(', ')}`, 'INVALID_FIELD');
        const { limit, offset } = page(ctx, 50);
        const mails = await mailer(services).outbox.list(state as MailState);
        return { body: { success: true, mails: mails.slice(offset, offset + limit).map(mailView) } };
      },
      requests: async (ctx) => requestsAnswer(ctx, services, await licenseStore(services).store()),
      stats: (ctx) => statsAnswer(ctx, services),
      async mail_retry(ctx) {
        const result = await mailer(services).retry(ctx.params.id ?? '');
        if (result.status === 'not_found') throw notFound('no mail with this id');
        if (result.status === 'not_dead')
          throw new GatewayError(409, 'NOT_DEAD', 'only a mail given up can be retried; this one is not');
        if (result.status === 'failed')
          throw new GatewayError(502, 'MAIL_FAILED', `the mail could not be sent: ${result.error}`);
        return { body: { success: true, message: 'mail sent' } };
      },
    };
    const handler = handlers[config.action];
    return { contract: OPERATOR_API_CONTRACTS[config.action], onRequest: (ctx) => handler(ctx) };
  },
});
