/**
 * Selection strategies: each a small unit that picks one of the members it is given (the pool has
 * already left out unavailable ones), or nothing when given none.
 */
import type { Member, Pool } from '../pool.ts';

export type Strategy = (candidates: Member[], pool: Pool) => Member | undefined;

/** In turn, one after the other. */
export const roundRobin: Strategy = (candidates, pool) => {
  if (candidates.length === 0) return undefined;
  return candidates[pool.cursor++ % candidates.length];
};

/** Smooth weighted round-robin (as nginx): proportional to weight, never in bursts. */
export const weighted: Strategy = (candidates) => {
  let total = 0;
  let best: Member | undefined;
  for (const member of candidates) {
    member.currentWeight += member.weight;
    total += member.weight;
    if (!best || member.currentWeight > best.currentWeight) best = member;
  }
  if (best) best.currentWeight -= total;
  return best;
};

/** The member with the fewest requests in flight (ties in turn). */
export const leastInFlight: Strategy = (candidates, pool) => {
  const least = Math.min(...candidates.map((m) => m.inFlight));
  return roundRobin(
    candidates.filter((m) => m.inFlight === least),
    pool,
  );
};

/** The member answering fastest lately; members not yet measured are tried first. */
export const latencyAware: Strategy = (candidates, pool) => {
  const unmeasured = candidates.filter((m) => m.latencyMs === 0);
  if (unmeasured.length > 0) return roundRobin(unmeasured, pool);
  return candidates.reduce<Member | undefined>(
    (best, m) => (!best || m.latencyMs < best.latencyMs ? m : best),
    undefined,
  );
};

export const strategies = {
  'round-robin': roundRobin,
  weighted,
  'least-in-flight': leastInFlight,
  latency: latencyAware,
} satisfies Record<string, Strategy>;

export type StrategyName = keyof typeof strategies;
