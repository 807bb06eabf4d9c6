/**
 * The request body as billing reads it, checked before anything is held or forwarded: every refusal is a
 * 400 that names the field.
 */
import { isJsonObject } from '../../gateway/context.ts';
import { badRequest } from '../../gateway/errors.ts';
import type { LimitFields } from './budget.ts';

export interface ChatMessage {
  role?: unknown;
  content?: unknown;
}

export interface ChatBody extends LimitFields {
  model: string;
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: Record<string, unknown>;
  tools?: unknown;
}

/** A field asks for something unless absent, null or an empty list (as clients send `plugins: []`). */
const asked = (value: unknown) =>
  value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);

/**
 * Fields by which an upstream picks another model than the one named: OpenRouter's fallback list and route
 * answer with any model of the list, priced as that one. The request is held, charged and allowed for the
 * model it names, so it may name only that one.
 */
const OTHER_MODELS = ['models', 'route'] as const;

/**
 * What makes the upstream charge beyond the listed price of tokens: OpenRouter's plugins (web search, by the
 * result, up to the `max_results` the client sets; document parsing by the page), web_search_options, a
 * model named `…:online` (the web plugin) or `…:nitro` (which admits priority endpoints at their rates),
 * whatever else its name says, and a service tier dearer than the default. Nothing here prices them, and
 * what is priced nowhere is not served.
 */
const UNPRICED_FIELDS = ['plugins', 'web_search_options'] as const;
const UNPRICED_MODEL = /:(online|nitro)(:|$)/;
const LISTED_PRICE_TIERS = new Set(['auto', 'default', 'flex']);
const BEYOND = 'which costs beyond the listed price of tokens, the only price here';

function refuseUnpriced(value: Record<string, unknown> & { model: string }): void {
  if (UNPRICED_MODEL.test(value.model))
    throw badRequest(
      `model ${value.model} asks for web search or priority serving, ${BEYOND}`,
      'INVALID_PARAMETER',
    );
  for (const name of UNPRICED_FIELDS)
    if (asked(value[name])) throw badRequest(`${name} is not accepted here, ${BEYOND}`, 'INVALID_PARAMETER');
  const tier = value.service_tier;
  if (asked(tier) && !LISTED_PRICE_TIERS.has(String(tier)))
    throw badRequest(
      `service_tier ${JSON.stringify(tier)} is not accepted here, ${BEYOND} (auto, default or flex are)`,
      'INVALID_PARAMETER',
    );
}

/** Any billed body (chat or embeddings): a JSON object that names one model, the one it is billed for. */
export function checkModelBody(value: unknown): Record<string, unknown> & { model: string } {
  if (!isJsonObject(value)) throw badRequest('request body must be a JSON object', 'INVALID_BODY');
  if (typeof value.model !== 'string' || value.model === '')
    throw badRequest('model is required (a model name)', 'MISSING_MODEL');
  for (const name of OTHER_MODELS)
    if (asked(value[name]))
      throw badRequest(
        `${name} is not accepted here: a request names one model, the one it is billed for`,
        'INVALID_PARAMETER',
      );
  return value as Record<string, unknown> & { model: string };
}

export function checkChatBody(json: unknown): ChatBody {
  const value = checkModelBody(json);
  const { messages } = value;
  if (!Array.isArray(messages))
    throw badRequest('messages is required: an array of message objects', 'INVALID_MESSAGES');
  const index = messages.findIndex((message) => !isJsonObject(message));
  if (index !== -1) throw badRequest(`messages[${index}] must be an object`, 'INVALID_MESSAGES');
  refuseUnpriced(value);
  // A stream asked for in any other way would be answered as one by a lenient upstream, without the usage
  // the gateway asks streams for, and charged on an estimate.
  if (value.stream !== undefined && value.stream !== null && typeof value.stream !== 'boolean')
    throw badRequest('stream must be true or false', 'INVALID_PARAMETER');
  if (
    value.stream_options !== undefined &&
    value.stream_options !== null &&
    !isJsonObject(value.stream_options)
  )
    throw badRequest('stream_options must be an object', 'INVALID_PARAMETER');
  return value as unknown as ChatBody;
}
