/**
 * One paid request's money life, shared by the plugins that take part in it (daily-charge, billing): each
 * holds its part under the request's one hold before forwarding, and reports what the request earned when it
 * finishes; the request settles once, in one atomic store step, when the last part has reported. So a day's
 * charge is taken with the settle of the day's first request that succeeds, and a request refused or failed
 * leaves no ledger entry at all.
 */
import { randomUUID } from 'node:crypto';
import { ContextKey, type Context } from '../gateway/context.ts';
import type { Outcome } from '../gateway/plugin.ts';
import { insufficientCredits, licenseRevoked } from './errors.ts';
import type { DayCharge, EntryDetails, License, LicenseStore, SettleResult } from './types.ts';

/**
 * Hold ids unique across requests, processes and restarts: an edge sends its hold id to the central instance
 * as the idempotency key of the charge, so a shared one would make a second request's charge a replay.
 */
const HOLD_RUN = randomUUID();
let holdSequence = 0;

const CHARGE = new ContextKey<RequestCharge>('licensing.request-charge');

/** What a part charges for a request that succeeded (usage): micro-credits and the entry's details. */
export interface PartCharge {
  cost: number;
  details: EntryDetails;
}

/** A request succeeded when the upstream answered below 400: it owes its usage and its day's charge. */
const succeeded = (outcome: Outcome) => outcome.upstream !== undefined && outcome.upstream.status < 400;

export interface HoldOptions {
  day?: DayCharge;
  ttlMs?: number;
  refusal: () => string;
}

/** One plugin's share of a request's charge. */
export class ChargePart {
  private reported = false;

  constructor(
    private readonly charge: RequestCharge,
    private readonly onSettled: ((result: SettleResult) => void) | undefined,
  ) {}

  /**
   * Adds to the request's hold; refuses (402, 403) when the balance cannot cover it with the parts before,
   * with the words `refusal` makes (only then).
   */
  hold(amount: number, options: HoldOptions): Promise<void> {
    return this.charge.hold(amount, options);
  }

  /**
   * How the request ended, and what this part charges if it succeeded; the last part's report settles the
   * request (its promise ends with the settle).
   */
  report(outcome: Outcome, charge?: PartCharge): Promise<void> | undefined {
    return this.end(succeeded(outcome), charge);
  }

  /**
   * The request failed though its upstream answered below 400 (an error in place of the answer): the request
   * is charged nothing, not even its day, whatever the other parts report.
   */
  reportFailure(): Promise<void> | undefined {
    return this.end(false, undefined);
  }

  private end(success: boolean, charge: PartCharge | undefined): Promise<void> | undefined {
    if (this.reported) return undefined;
    this.reported = true;
    return this.charge.report(success, charge);
  }

  settled(result: SettleResult): void {
    this.onSettled?.(result);
  }
}

export class RequestCharge {
  readonly holdId = `${HOLD_RUN}:${++holdSequence}`;
  private readonly parts: ChargePart[] = [];
  private reports = 0;
  private day: DayCharge | undefined;
  /** A part reported a failure: the request owes nothing. */
  private failed = false;
  private cost = 0;
  private details: EntryDetails | undefined;
  /** Renews the hold while the request runs (`keepHeld`). */
  private renewal: NodeJS.Timeout | undefined;
  result: SettleResult | undefined;

  private constructor(
    private readonly ctx: Context,
    readonly license: License,
    private readonly store: LicenseStore,
  ) {}

  /**
   * Joins the request's charge (made by the first part to join), before any hold: a part that joined reports
   * when the request finishes, whatever happened, so the hold is always ended.
   */
  static join(
    ctx: Context,
    options: { license: License; store: LicenseStore; onSettled?: (result: SettleResult) => void },
  ): ChargePart {
    let charge = ctx.get(CHARGE);
    if (!charge) {
      charge = new RequestCharge(ctx, options.license, options.store);
      ctx.set(CHARGE, charge);
    }
    const part = new ChargePart(charge, options.onSettled);
    charge.parts.push(part);
    return part;
  }

  async hold(amount: number, options: HoldOptions): Promise<void> {
    if (options.day) this.day = options.day;
    const result = await this.store.hold({
      key: this.license.key,
      holdId: this.holdId,
      amount,
      ...(options.day ? { day: options.day } : {}),
      ...(options.ttlMs ? { ttlMs: options.ttlMs } : {}),
    });
    if (result === 'insufficient') throw insufficientCredits(options.refusal());
    if (result !== 'ok') throw licenseRevoked();
    if (options.ttlMs && this.store.holdsExpire) this.keepHeld(options.ttlMs);
  }

  /**
   * A hold's time bounds how long it outlives a process that died (shared stores), not how long a request
   * may run: while this one runs, its hold is renewed (a hold of nothing more, under the same id) every half
   * of that time, so a stream longer than it keeps its credits reserved.
   */
  private keepHeld(ttlMs: number): void {
    if (this.renewal) return;
    const renew = { key: this.license.key, holdId: this.holdId, amount: 0, ttlMs };
    this.renewal = setInterval(() => {
      // A renewal lost (the store unreachable) leaves the hold to its time, as before; the next may succeed.
      this.store.hold(renew).catch(() => undefined);
    }, ttlMs / 2);
    this.renewal.unref();
  }

  report(success: boolean, charge: PartCharge | undefined): Promise<void> | undefined {
    if (!success) this.failed = true;
    else if (charge) {
      this.cost += charge.cost;
      this.details = { ...this.details, ...charge.details };
    }
    if (++this.reports < this.parts.length) return undefined;
    return this.settle();
  }

  private async settle(): Promise<void> {
    clearInterval(this.renewal);
    const result = await this.store.settle({
      key: this.license.key,
      holdId: this.holdId,
      cost: this.failed ? 0 : this.cost,
      kind: 'usage',
      details: { requestId: this.ctx.id, ...this.details },
      ...(this.day && !this.failed ? { day: this.day } : {}),
    });
    this.result = result;
    for (const part of this.parts) part.settled(result);
  }
}

/** What the request was charged, once its charge is settled (after the charging plugins' onFinish). */
export function settledCharge(ctx: Context): SettleResult | undefined {
  return ctx.get(CHARGE)?.result;
}
