/** Query-string values of the operator API, refused (400) naming the parameter when they are not what it takes. */
import type { Context } from '../../gateway/context.ts';
import { badRequest } from '../../gateway/errors.ts';

/** A whole number from the query string within bounds; absent is undefined, anything else a 400. */
export function whole(ctx: Context, name: string, bounds: { min: number; max: number }): number | undefined {
  const text = ctx.query.get(name);
  if (text === null) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < bounds.min || value > bounds.max)
    throw badRequest(`${name} must be a whole number from ${bounds.min} to ${bounds.max}`, 'INVALID_FIELD');
  return value;
}

/** A time from the query string (ISO 8601); absent is undefined, anything else a 400. */
export function time(ctx: Context, name: string): number | undefined {
  const text = ctx.query.get(name);
  if (text === null) return undefined;
  const value = Date.parse(text);
  if (Number.isNaN(value))
    throw badRequest(`${name} must be a time, e.g. 2026-12-06T08:00:00Z`, 'INVALID_FIELD');
  return value;
}
