/** Metrics the money plugins share: one definition each, whichever plugin registers it first. */
import type { Metrics } from '../gateway/metrics.ts';

/** Micro-credits charged (refunds counted apart), by ledger kind. */
export const creditsCharged = (metrics: Metrics) =>
  metrics.counter(
    'cradle_credits_charged_micro_total',
    'Micro-credits charged (refunds counted apart), by kind',
    ['kind'],
  );

/** License checks (verify API and proxied requests) by result code. */
export const licenseChecks = (metrics: Metrics) =>
  metrics.counter('cradle_license_checks_total', 'License checks by result', ['result']);

/** Tokens of charged requests by model and kind (prompt, completion). */
export const tokensByModel = (metrics: Metrics) =>
  metrics.counter(
    'cradle_tokens_total',
    'Tokens of charged requests by model and kind (prompt, completion)',
    ['model', 'kind'],
  );

/** Micro-credits charged for usage, by model. */
export const creditsByModel = (metrics: Metrics) =>
  metrics.counter('cradle_model_credits_micro_total', 'Micro-credits charged for usage, by model', ['model']);

/** What upstreams say they charged (OpenRouter's `usage.cost`), in US dollars, by model. */
export const upstreamCostByModel = (metrics: Metrics) =>
  metrics.counter(
    'cradle_model_upstream_cost_usd_total',
    'US dollars the upstream says it charged (OpenRouter usage.cost), by model',
    ['model'],
  );

/** Requests whose upstream charged more than the client was charged for them, at the operator's rate. */
export const requestsBelowCost = (metrics: Metrics) =>
  metrics.counter(
    'cradle_requests_below_cost_total',
    'Requests the upstream charged more for than their client was charged, by model',
    ['model'],
  );
