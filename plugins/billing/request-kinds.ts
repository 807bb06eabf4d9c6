/**
 * What billing reads from a request of each kind it bills, checked before anything is held or forwarded:
 * the model, the prompt's estimated tokens (charged when the upstream reports no usage), and the most the
 * answer may cost, which the hold covers.
 */
import { badRequest } from '../../gateway/errors.ts';
import { completionBudget } from './budget.ts';
import { checkChatBody, checkModelBody, type ChatBody } from './chat-body.ts';
import { ONE_TOKEN, textWeight, tokensOf } from './estimate.ts';

export const REQUEST_KINDS = ['chat', 'embeddings'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export interface BilledRequest {
  /** The parsed body, shared with the context: billing may add a completion limit or ask for usage. */
  body: Partial<ChatBody> & { model: string };
  promptEstimate: number;
  /** Tokens the hold covers: the most the answer may cost. */
  hold: { promptTokens: number; completionTokens: number };
  /** The request names no completion limit: the default must go upstream, or an answer could outgrow its hold. */
  defaultLimit: boolean;
}

export function billedRequest(kind: RequestKind, json: unknown, defaultMaxTokens: number): BilledRequest {
  return kind === 'chat' ? chat(json, defaultMaxTokens) : embeddings(json);
}

function chat(json: unknown, defaultMaxTokens: number): BilledRequest {
  const body = checkChatBody(json);
  const budget = completionBudget(body, defaultMaxTokens);
  const promptEstimate = tokensOf(promptWeight(body));
  return {
    body,
    promptEstimate,
    hold: { promptTokens: promptEstimate, completionTokens: budget.tokens },
    defaultLimit: budget.defaulted,
  };
}

/** The prompt's weight in estimate units: text content by its text, content parts (images) by their JSON. */
function promptWeight(body: ChatBody): number {
  let weight = 0;
  for (const message of body.messages) {
    const content = message.content ?? '';
    weight += textWeight(typeof content === 'string' ? content : JSON.stringify(content));
  }
  // Tool definitions are read by the model as part of the prompt.
  if (body.tools !== undefined) weight += textWeight(JSON.stringify(body.tools));
  return weight;
}

/**
 * `POST /v1/embeddings`: `input` is a text, texts, or token ids. Only the input is billed; its hold counts a
 * token per byte of text (no tokenizer makes more), so the charge never outgrows it.
 */
function embeddings(json: unknown): BilledRequest {
  const body = checkModelBody(json);
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  let weight = 0;
  let bound = 0;
  for (const [i, input] of inputs.entries()) {
    if (typeof input === 'string') {
      weight += textWeight(input);
      bound += Buffer.byteLength(input);
    } else if (typeof input === 'number' && Number.isSafeInteger(input)) {
      weight += ONE_TOKEN;
      bound += 1;
    } else if (Array.isArray(input) && input.every((token) => Number.isSafeInteger(token))) {
      weight += ONE_TOKEN * input.length;
      bound += input.length;
    } else {
      throw badRequest(
        `input${Array.isArray(body.input) ? `[${i}]` : ''} must be a text or token ids`,
        'INVALID_INPUT',
      );
    }
  }
  const promptEstimate = tokensOf(weight);
  return {
    body,
    promptEstimate,
    hold: { promptTokens: Math.max(bound, promptEstimate), completionTokens: 0 },
    defaultLimit: false,
  };
}
