/**
 * Charges that must be made though their request is over (a usage settle, a daily refund) are tried again
 * while the store cannot take them, instead of being dropped with the answer already delivered.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Waits before each new attempt: about ten minutes in all, long enough for a store to restart. */
export const CHARGE_RETRY_DELAYS_MS: readonly number[] = [
  100, 400, 1_000, 3_000, 10_000, 30_000, 60_000, 120_000, 360_000,
];

export interface RetryOptions {
  delaysMs: readonly number[];
  /** Only a failure that left the store unchanged (or one whose repeat changes nothing) may be tried again. */
  retryable(error: unknown): boolean;
  /** The store is closing: no new attempt. */
  stopped(): boolean;
  onRetry(error: unknown, attempt: number): void;
}

export async function retried<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      const delay = options.delaysMs[tries];
      if (delay === undefined || options.stopped() || !options.retryable(error)) throw error;
      options.onRetry(error, tries + 1);
      // Unreferenced: a waiting retry does not keep a stopping process alive.
      await sleep(delay, undefined, { ref: false });
    }
  }
}
