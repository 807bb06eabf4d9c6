/**
 * How many completion tokens a chat request may make the upstream produce, so its hold covers the most its
 * answer can cost: the limit it names (or the configured default) for each of its `n` choices.
 */
import { badRequest } from '../../gateway/errors.ts';

export interface LimitFields {
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  n?: unknown;
}

export interface CompletionBudget {
  /** Completion tokens the hold covers: every choice at its limit. */
  tokens: number;
  /** The request names no limit: the default must go upstream, or an answer could outgrow its hold. */
  defaulted: boolean;
}

/** A positive integer field, or undefined when absent or null (as OpenAI reads them); 400 otherwise. */
function positiveInteger(body: LimitFields, name: keyof LimitFields): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw badRequest(`${name} must be a positive integer`, 'INVALID_PARAMETER');
  return value;
}

export function completionBudget(body: LimitFields, defaultLimit: number): CompletionBudget {
  const maxTokens = positiveInteger(body, 'max_tokens');
  const maxCompletionTokens = positiveInteger(body, 'max_completion_tokens');
  const choices = positiveInteger(body, 'n') ?? 1;
  // Both named: an upstream may honour either one, so the larger bounds the answer.
  const limit = Math.max(maxTokens ?? 0, maxCompletionTokens ?? 0);
  const defaulted = limit === 0;
  return { tokens: (defaulted ? defaultLimit : limit) * choices, defaulted };
}
