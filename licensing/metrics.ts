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
