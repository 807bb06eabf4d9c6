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

export class EdgeBalances {
  /** Micro-credits of each license, as the central instance last said, with this edge's charges since. */
  private readonly known = growingLru<string, number>({ entries: 50_000 });
  /**
   * What this edge's requests in flight may still cost, by license: apart from the balances, which may be
   * forgotten (an edge in front of more licenses than it keeps), while a hold is never forgotten.
   */
  private readonly held = new Map<string, number>();
  private readonly holds = new Map<string, { key: string; amount: number }>();

  /** The balance the central instance gave in an answer just now. */
  learn(key: string, credits: number): void {
    this.known.set(key, credits);
  }

  /** A charge or refund this edge made, when the central's answer gives no balance. */
  change(key: string, amount: number): void {
    const credits = this.known.get(key);
    if (credits !== undefined) this.known.set(key, credits + amount);
  }

  /** The balance last known, with this edge's own charges since. */
  credits(key: string): number | undefined {
    return this.known.get(key);
  }

  /**
   * Holds the amount when the known balance covers it; `fresh` asks the central for the balance and is tried
   * before a refusal (and when nothing is known).
   */
  async hold(request: HoldRequest, fresh: () => Promise<number | undefined>): Promise<HoldResult> {
    // Nothing to hold (a free model's request, its day paid) is always covered: it need not ask the central.
    if (request.amount === 0) return 'ok';
    if (!this.covers(request)) {
      const credits = await fresh();
      if (credits === undefined) return 'not_found';
      this.learn(request.key, credits);
      if (!this.covers(request)) return 'insufficient';
    }
    this.held.set(request.key, (this.held.get(request.key) ?? 0) + request.amount);
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
    const left = (this.held.get(hold.key) ?? 0) - hold.amount;
    if (left > 0) this.held.set(hold.key, left);
    else this.held.delete(hold.key);
  }

  private covers(request: HoldRequest): boolean {
    const credits = this.known.get(request.key);
    return credits !== undefined && credits - (this.held.get(request.key) ?? 0) >= request.amount;
  }
}
