/**
 * What OpenRouter's error statuses mean to the gateway's clients, where they differ from what the same status
 * means on the gateway's routes. Used by `openrouter` and by `balancer` for its OpenRouter members.
 */
import type { UpstreamTarget } from '../gateway/plugin.ts';

/**
 * OpenRouter's 403 refuses the request itself (its moderation flagged the input, a guardrail blocked it): a
 * 400 with OpenRouter's words, as OpenAI answers a refused input. Passed on as it came, it would read as the
 * gateway's 403, a revoked license.
 */
export const OPENROUTER_ERROR_STATUSES: UpstreamTarget['errorStatuses'] = {
  403: { status: 400, code: 'UPSTREAM_REFUSED' },
};
