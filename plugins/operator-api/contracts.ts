/**
 * What each action of the operator API takes, as JSON Schemas of its query string: checked before the
 * action runs, and the OpenAPI document is written from them.
 */
import type { JsonSchema, RouteContract } from '../../gateway/input.ts';
import { MAIL_STATES } from '../../licensing/mail/outbox.ts';
import { STAT_DIMENSIONS } from '../../licensing/requests/log.ts';

const whole = (minimum: number, maximum = Number.MAX_SAFE_INTEGER): JsonSchema => ({
  type: 'integer',
  minimum,
  maximum,
  description: `a whole number from ${minimum} to ${maximum}`,
});
const instant = { type: 'string', description: 'a time, e.g. 2026-12-06T08:00:00Z' };
const bucket = {
  type: 'string',
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2})?$',
  description: 'a bucket: an hour (2026-12-06T08) or a day (2026-12-06) in TIMEZONE',
};
const query = (properties: Record<string, JsonSchema>): JsonSchema => ({ type: 'object', properties });

export const OPERATOR_API_CONTRACTS = {
  payments: {
    summary: 'Payments credited, newest first',
    query: query({ limit: whole(1, 1000), offset: whole(0) }),
  },
  mail_list: {
    summary: "This instance's mail outbox, by state",
    query: query({
      state: { enum: [...MAIL_STATES], description: MAIL_STATES.join(', ') },
      limit: whole(1, 1000),
      offset: whole(0),
    }),
  },
  mail_retry: { summary: 'Sends a mail that was given up again, now' },
  requests: {
    summary: 'The request log, newest first, filtered; a cursor (`before`) pages on',
    query: query({
      email: { type: 'string', description: "an email: that license's requests" },
      license: { type: 'string', description: 'a license key' },
      model: { type: 'string', description: 'a model name' },
      upstream: { type: 'string', description: 'an upstream: openrouter or a Space' },
      status: whole(0, 599),
      from: instant,
      to: instant,
      limit: whole(1, 1000),
      before: whole(1),
      format: {
        enum: ['json', 'csv'],
        description: 'json, or csv: a page, whose X-Next-Cursor header names the next (as `next`)',
      },
    }),
    alsoAnswers: ['text/csv'],
  },
  stats: {
    summary: 'Requests, errors, tokens, credits and latency per hour or day, by model, license or upstream',
    query: query({
      period: { enum: ['hour', 'day'], description: 'hour or day' },
      dimension: { enum: [...STAT_DIMENSIONS], description: STAT_DIMENSIONS.join(', ') },
      from: bucket,
      to: bucket,
    }),
  },
} satisfies Record<string, RouteContract>;
