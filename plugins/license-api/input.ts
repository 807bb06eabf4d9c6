/** Reading the license API's JSON bodies: every refusal names the field that is wrong. */
import { createHash } from 'node:crypto';
import { badRequest } from '../../gateway/errors.ts';
import { normalizeEmail } from '../../licensing/keys.ts';
import { parseAmount } from '../../licensing/money.ts';
import { ENTRY_FIELDS } from '../../licensing/entry-fields.ts';
import type { EntryDetails } from '../../licensing/types.ts';

export type Body = Record<string, unknown>;

export function asObject(value: unknown): Body {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw badRequest('request body must be a JSON object');
  return value as Body;
}

export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function email(body: Body, field = 'email'): string {
  const value = body[field];
  if (typeof value !== 'string' || !EMAIL.test(value.trim()))
    throw badRequest(`${field} must be an email address`, 'INVALID_EMAIL');
  return normalizeEmail(value);
}

export function requiredString(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value.trim() === '' || value.length > 200) {
    throw badRequest(`${field} is required (a non-empty string)`, 'MISSING_FIELD');
  }
  return value.trim();
}

export function optionalInteger(
  body: Body,
  field: string,
  options: { min: number; max: number },
): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < options.min || value > options.max) {
    throw badRequest(`${field} must be an integer from ${options.min} to ${options.max}`, 'INVALID_FIELD');
  }
  return value;
}

function optionalString(body: Body, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > 200)
    throw badRequest(`${field} must be a string of at most 200 characters`, 'INVALID_FIELD');
  return value;
}

/** The fields of a ledger entry an edge gateway records through `deduct`, as given (ENTRY_FIELDS). */
export function entryDetails(body: Body): EntryDetails {
  const details: Record<string, unknown> = {};
  for (const field of ENTRY_FIELDS) {
    if (!field.input) continue;
    const value =
      field.type === 'string'
        ? optionalString(body, field.api)
        : field.type === 'integer'
          ? optionalInteger(body, field.api, { min: 0, max: 100_000_000 })
          : optionalBoolean(body, field.api);
    if (value !== undefined) details[field.name] = value;
  }
  return details as EntryDetails;
}

function optionalBoolean(body: Body, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`${field} must be true or false`, 'INVALID_FIELD');
  return value;
}

export interface NewLicenseInput {
  email: string;
  /** Micro-credits. */
  credits: number;
  maxDevices: number;
}

/**
 * A new license's fields (`email`, `credits`, `max_devices`), checked alike for the admin API and the CLI.
 * Fields left out take the defaults.
 */
export function newLicenseInput(
  body: Body,
  defaults: { credits: number; maxDevices: number },
): NewLicenseInput {
  const credits =
    body.credits === undefined
      ? defaults.credits
      : body.credits === 0 || body.credits === '0'
        ? 0
        : parseAmount(body.credits, 'credits');
  return {
    email: email(body),
    credits,
    maxDevices: optionalInteger(body, 'max_devices', { min: 1, max: 100 }) ?? defaults.maxDevices,
  };
}

/** What makes two requests with one Idempotency-Key "the same request". */
export function fingerprint(action: string, body: Body): string {
  const canonical = JSON.stringify(
    Object.keys(body)
      .sort()
      .map((k) => [k, body[k]]),
  );
  return createHash('sha256').update(`${action}\n${canonical}`).digest('hex');
}
