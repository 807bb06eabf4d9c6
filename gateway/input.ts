/**
 * A route's input as its plugins declare it (`PluginInstance.contract`): the JSON Schemas that both refuse a
 * request that does not fit them and describe the route in the OpenAPI document. A refusal is a 400 that
 * names the field: "`name` must be `description`", the schema's own words for what the field holds.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Context } from './context.ts';
import { badRequest } from './errors.ts';

export type JsonSchema = Record<string, unknown>;

/** What a plugin's route takes. `body` and `query` are checked before the plugin sees the request. */
export interface RouteContract {
  /** What the route does; the plugin that answers the route says it. */
  summary?: string;
  body?: JsonSchema;
  /** Each parameter is text on the wire; the schema's types are read from it (`limit=50` is 50). */
  query?: JsonSchema;
  /** The route needs the admin token, or (`optional`) answers more with it. */
  admin?: boolean | 'optional';
  /** Answers other than JSON, by content type (`text/csv` when `format=csv`). */
  alsoAnswers?: string[];
}

const ajv = new Ajv({ allErrors: false, strict: false });
const ajvQuery = new Ajv({ allErrors: false, strict: false, coerceTypes: true });

function refusal(error: ErrorObject, schema: JsonSchema): Error {
  const name =
    error.keyword === 'required'
      ? (error.params as { missingProperty: string }).missingProperty
      : error.instancePath.slice(1).replaceAll('/', '.') || 'the body';
  if (error.keyword === 'required') return badRequest(`${name} is required`, 'MISSING_FIELD');
  const property = (schema.properties as Record<string, JsonSchema> | undefined)?.[name.split('.')[0]!];
  const description = typeof property?.description === 'string' ? property.description : error.message;
  return badRequest(`${name} must be ${description}`, 'INVALID_FIELD');
}

/** Checks a request against a contract's body and query schemas; throws the 400 of the first misfit. */
export function contractCheck(contract: RouteContract): ((ctx: Context) => Promise<void>) | undefined {
  const { body, query } = contract;
  if (!body && !query) return undefined;
  const checkBody: ValidateFunction | undefined = body && ajv.compile(body);
  const checkQuery: ValidateFunction | undefined = query && ajvQuery.compile(query);
  return async (ctx) => {
    if (checkQuery && !checkQuery(Object.fromEntries(ctx.query)))
      throw refusal(checkQuery.errors![0]!, query!);
    if (checkBody && !checkBody(await ctx.json())) throw refusal(checkBody.errors![0]!, body!);
  };
}
