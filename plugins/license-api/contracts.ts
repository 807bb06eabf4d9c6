/**
 * What each action of the license API takes, as JSON Schemas: the gateway refuses a request that does not
 * fit them (naming the field) before the action runs, and the OpenAPI document is written from them. The
 * actions still read the values themselves (an amount's decimals, an email's case).
 */
import type { JsonSchema, RouteContract } from '../../gateway/input.ts';
import { DEVICE_ID_MAX_LENGTH } from '../../licensing/credentials.ts';
import { ENTRY_FIELDS } from '../../licensing/entry-fields.ts';
import { EMAIL } from './input.ts';

const text = (description: string): JsonSchema => ({
  type: 'string',
  minLength: 1,
  maxLength: 200,
  description,
});
// Spaces around an address are forgiven, as the action trims them.
const email: JsonSchema = {
  type: 'string',
  pattern: `^\\s*${EMAIL.source.slice(1, -1)}\\s*$`,
  description: 'an email address',
};
const amount: JsonSchema = {
  type: ['number', 'string'],
  description: 'a positive number with at most 6 decimals',
};
const licenseKey = text('a license key, e.g. CRDL-XXXX-XXXX-XXXX-XXXX');
const page = (maximum: number): JsonSchema => ({
  limit: { type: 'integer', minimum: 1, maximum, description: `an integer from 1 to ${maximum}` },
  offset: { type: 'integer', minimum: 0, description: 'a whole number, 0 or more' },
});

/** The details of a ledger entry an edge gateway records with its charge, as the ledger declares them. */
const entryDetails: Record<string, JsonSchema> = Object.fromEntries(
  ENTRY_FIELDS.filter((field) => field.input).map((field) => [
    field.api,
    field.type === 'string'
      ? text(
          field.api === 'reference'
            ? 'a note of at most 200 characters'
            : 'a string of at most 200 characters',
        )
      : field.type === 'integer'
        ? { type: 'integer', minimum: 0, maximum: 100_000_000, description: 'an integer from 0 to 100000000' }
        : { type: 'boolean', description: 'true or false' },
  ]),
);

/** A recharge or deduct names its license by `license_key` or by `email`. */
const change = (summary: string, extra: Record<string, JsonSchema> = {}): RouteContract => ({
  summary,
  body: {
    type: 'object',
    required: ['amount'],
    description: 'names the license by license_key or by email',
    properties: {
      email,
      license_key: licenseKey,
      amount,
      ...entryDetails,
      ...extra,
    },
  },
});

export const LICENSE_API_CONTRACTS = {
  verify: {
    summary: 'Checks a license for a device, binding the device while the license has room for it',
    body: {
      type: 'object',
      required: ['license_key', 'device_id'],
      properties: {
        license_key: licenseKey,
        device_id: {
          ...text(`a device id of at most ${DEVICE_ID_MAX_LENGTH} characters`),
          maxLength: DEVICE_ID_MAX_LENGTH,
        },
      },
    },
  },
  balance: { summary: "An email's license and balance (the key masked without the admin token)" },
  generate: {
    summary: 'Creates a license for an email (one active license per email)',
    body: {
      type: 'object',
      required: ['email'],
      properties: {
        email,
        credits: { ...amount, description: 'a positive number of credits, at most 6 decimals, or 0' },
        max_devices: { type: 'integer', minimum: 1, maximum: 100, description: 'an integer from 1 to 100' },
      },
    },
  },
  revoke: { summary: 'Revokes a license: its requests are refused on every instance at once' },
  info: { summary: "A license's balance, credits held for requests in flight, devices and status" },
  recharge: change('Adds credits to a license (Idempotency-Key: a replay changes nothing)'),
  deduct: change('Takes credits from a license; 402 and nothing taken when the balance is short', {
    kind: { enum: ['deduct', 'daily_charge', 'usage'], description: 'deduct, daily_charge or usage' },
  }),
  ledger: {
    summary: "A license's ledger, newest first",
    query: {
      type: 'object',
      properties: {
        limit: page(1000).limit,
        before: { type: 'integer', description: 'an entry id: the page ends before it' },
        format: {
          enum: ['json', 'csv'],
          description: 'json, or csv: a page, whose X-Next-Cursor header names the next (as `next`)',
        },
      },
    },
    alsoAnswers: ['text/csv'],
  },
  reset_devices: { summary: "Forgets a license's devices, so new ones can bind" },
  limits: {
    summary: "Sets a license's own limits (a field left out or null: no such limit)",
    body: {
      type: 'object',
      properties: {
        models: {
          type: ['array', 'null'],
          items: { type: 'string', minLength: 1, maxLength: 200 },
          maxItems: 100,
          description: 'a list of model globs it may call, e.g. ["openai/*"]',
        },
        rate_limit_per_minute: {
          type: ['integer', 'null'],
          minimum: 1,
          maximum: 100000,
          description: 'requests a minute, an integer from 1 to 100000',
        },
      },
    },
  },
  list: { summary: 'Licenses, page by page', query: { type: 'object', properties: page(1000) } },
  send_email: {
    summary: 'Mails a license key to its owner',
    body: { type: 'object', required: ['email'], properties: { email } },
  },
  daily_charge: {
    summary: "Takes a day's charge once a day, for edge gateways (LICENSE_API_URL)",
    body: {
      type: 'object',
      required: ['license_key', 'day', 'amount'],
      properties: {
        license_key: licenseKey,
        day: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'a calendar day, YYYY-MM-DD' },
        amount,
        ...entryDetails,
      },
    },
  },
} satisfies Record<string, RouteContract>;
