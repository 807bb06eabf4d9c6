/**
 * What the upstream says a request cost the operator (OpenRouter's `usage.cost`, in US dollars) beside what
 * its client was charged: counted by model for every license (an unlimited one's costs the operator too),
 * and a request that cost more than it was charged, at the operator's rate, is counted and logged, so a loss
 * from what nothing here prices (a cache write, an image, a provider the price ceiling did not hold back) is
 * seen the day it happens, not on the invoice.
 */
import type { Services } from '../../gateway/plugin.ts';
import { MICRO, toCredits } from '../../licensing/money.ts';
import { requestsBelowCost, upstreamCostByModel } from '../../licensing/metrics.ts';

export interface UpstreamCostReport {
  requestId: string;
  model: string;
  usd: number;
  /** Micro-credits the client was charged for the usage; `undefined` for a license not charged (unlimited). */
  charged: number | undefined;
}

/** `creditsPerUsd` is the operator's rate, when billing knows it (a catalogue): then losses are told apart. */
export function upstreamCostWatch(services: Services, creditsPerUsd: number | undefined) {
  const costs = upstreamCostByModel(services.metrics);
  const belowCost = requestsBelowCost(services.metrics);
  return (report: UpstreamCostReport): void => {
    costs.inc({ model: report.model }, report.usd);
    if (creditsPerUsd === undefined || report.charged === undefined) return;
    const cost = Math.ceil(report.usd * creditsPerUsd * MICRO);
    // A micro-credit of slack: the charge is rounded up, and so is the cost.
    if (cost <= report.charged + 1) return;
    belowCost.inc({ model: report.model });
    services.log.warn(
      {
        requestId: report.requestId,
        model: report.model,
        charged: toCredits(report.charged),
        upstreamCost: toCredits(cost),
      },
      'a request cost more upstream than its client was charged',
    );
  };
}
