/**
 * OpenRouter's `provider` preferences with a billed request's price ceiling as `max_price`. OpenRouter picks
 * a provider of the model by its own measure (a faster one may cost more than the listed price), or as the
 * client's preferences say (an order, a sort by throughput): any of them may charge more than the client
 * pays. The ceiling keeps it to providers within what the client pays; a lower one of the client's own
 * stands, and its other preferences go on as sent. Used by `openrouter` and by `balancer` members that are
 * OpenRouter.
 */
import { isJsonObject } from '../gateway/context.ts';
import { badRequest } from '../gateway/errors.ts';
import type { UsdCeiling } from '../licensing/catalogue.ts';

/** The client's `provider` (absent, or an object; 400 otherwise) with the ceiling in its `max_price`. */
export function providerWithCeiling(provider: unknown, ceiling: UsdCeiling): Record<string, unknown> {
  const asked = provider ?? {};
  if (!isJsonObject(asked)) throw badRequest('provider must be an object', 'INVALID_PARAMETER');
  const askedMax = asked.max_price ?? {};
  if (!isJsonObject(askedMax)) throw badRequest('provider.max_price must be an object', 'INVALID_PARAMETER');
  const lower = (name: keyof UsdCeiling) => {
    const value = askedMax[name];
    const own =
      typeof value === 'number' || (typeof value === 'string' && value.trim() !== '') ? Number(value) : NaN;
    return own >= 0 && own < ceiling[name] ? own : ceiling[name];
  };
  const maxPrice = { prompt: lower('prompt'), completion: lower('completion'), request: lower('request') };
  return { ...asked, max_price: { ...askedMax, ...maxPrice } };
}
