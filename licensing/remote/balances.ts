/**
 * What an edge gateway knows of each license's balance, so it refuses a request the balance cannot cover
 * before forwarding it, as a local store's hold does. The central instance keeps no holds for edges; the edge
 * takes each balance from the central's own answers (a verification, a charge) and holds against it what its
 * requests in flight may cost. Before refusing, it asks the central again: a recharge is never refused on a
 * stale figure. A stale figure can only admit: a balance spent elsewhere lets this edge's next request
 * through, which then pays what is left, and the answer to its charge tells the edge.
 */
import { growingLru } from '../../gateway/lru.ts';
import type { HoldRequest, HoldResult } from '../types.ts';

interface Known {
  /** Micro-credits, as the central instance last said. */
  credits: number;
  /** What this edge's requests in flight may still cost. */
  held: number;
}

export class EdgeBalances {
  private readonly known = growingLru<string, Known>({ entries: 50_000 });
  private readonly holds = new Map<string, { key: string; amount: number }>();

  /** The balance the central instance gave in an answer just now. */
  learn(key: string, credits: number): void {
    const known = this.known.get(key);
    if (known) known.credits = credits;
    else this.known.set(key, { credits, held: 0 });
  }

  /** A charge or refund this edge made, when the central's answer gives no balance. */
  change(key: string, amount: number): void {
    const known = this.known.get(key);
    if (known) known.credits += amount;
  }

  /** The balance last known, with this edge's own charges since. */
  credits(key: string): number | undefined {
    return this.known.get(key)?.credits;
  }

  /**
   * Holds the amount when the known balance covers it; `fresh` asks the central for the balance and is tried
   * before a refusal (and when nothing is known).
   */
  async hold(request: HoldRequest, fresh: () => Promise<number | undefined>): Promise<HoldResult> {
    if (!this.covers(request)) {
      const credits = await fresh();
      if (credits === undefined) return 'not_found';
      this.learn(request.key, credits);
      if (!this.covers(request)) return 'insufficient';
    }
    this.known.get(request.key)!.held += request.amount;
    const hold = this.holds.get(request.holdId);
    if (hold) hold.amount += request.amount;
    else this.holds.set(request.holdId, { key: request.key, amount: request.amount });
    return 'ok';
  }

  /** The request is over: what it held is free again. */
  release(holdId: string): void {
    const hold = this.holds.get(holdId);
    if (!hold) return;
    this.holds.delete(holdId);
    const known = this.known.get(hold.key);
    if (known) known.held -= hold.amount;
  }

  private covers(request: HoldRequest): boolean {
    const known = this.known.get(request.key);
    return known !== undefined && known.credits - known.held >= request.amount;
  }
}
