/**
 * A request's charge on Redis, each step one Lua script on one license's keys: the hold before forwarding,
 * the settle once the request is over (the day's charge and the usage together), and an edge's daily charge.
 */
import type { Logger } from 'pino';
import { retried } from '../retry.ts';
import { isoTime } from '../time.ts';
import type {
  DailyRequest,
  DailyResult,
  HoldRequest,
  HoldResult,
  LedgerEntry,
  SettleRequest,
  SettleResult,
} from '../types.ts';
import { dailyDetails } from '../types.ts';
import { detailsJson, holdKeys, tag, type Scripted } from './connection.ts';

/** A hold whose request names no time: past this a crashed instance's holds free themselves. */
const DEFAULT_HOLD_TTL_MS = 5 * 60 * 1000;
/** How ioredis (no offline queue) refuses a command while disconnected, from one Redis or a Cluster: unsent. */
const NOT_SENT = ["Stream isn't writeable", "Cluster isn't ready"];

export interface ChargesOptions {
  redis: Scripted;
  clock: { now(): number };
  log: Logger;
  /** Waits before each new attempt of a settle while Redis is unreachable. */
  retryDelaysMs: readonly number[];
  /** Runs a command as the store runs every one: a Redis failure is a 503, never a wrong answer. */
  call<T>(run: () => Promise<T>): Promise<T>;
  /** The store is closed: a settle waiting for Redis stops trying. */
  stopped(): boolean;
}

export class RedisCharges {
  constructor(private readonly options: ChargesOptions) {}

  private now(): string {
    return isoTime(this.options.clock.now());
  }

  /**
   * A charge made though its request is over (a settle): while Redis is unreachable the command is never
   * sent, and it is tried again until Redis is back (about ten minutes at most). A command sent whose answer
   * was lost is not repeated: it may have run, and a settle runs once.
   */
  private untilSent<T>(run: () => Promise<T>): Promise<T> {
    const { call, retryDelaysMs, stopped, log } = this.options;
    return call(() =>
      retried(run, {
        delaysMs: retryDelaysMs,
        retryable: (error) => NOT_SENT.some((text) => (error as Error).message.startsWith(text)),
        stopped,
        onRetry: (error, attempt) =>
          log.warn({ attempt, err: error }, 'redis unreachable for a charge; retrying'),
      }),
    );
  }

  hold(request: HoldRequest): Promise<HoldResult> {
    const { redis, clock, call } = this.options;
    const k = tag(request.key);
    const { holds, byExpiry } = holdKeys(k);
    return call(() =>
      redis.cradleHold(
        k,
        holds,
        `${k}:daily`,
        byExpiry,
        request.holdId,
        String(request.amount),
        String(clock.now()),
        String(request.ttlMs ?? DEFAULT_HOLD_TTL_MS),
        request.day?.day ?? '',
        String(request.day?.amount ?? 0),
      ),
    );
  }

  settle(request: SettleRequest): Promise<SettleResult> {
    const { redis } = this.options;
    const k = tag(request.key);
    const { day } = request;
    const { holds, byExpiry } = holdKeys(k);
    return this.untilSent(async () => {
      const [daily, usage, dayPaid] = await redis.cradleSettle(
        k,
        holds,
        `${k}:ledger`,
        `${k}:seq`,
        `${k}:daily`,
        byExpiry,
        request.holdId,
        String(Math.max(0, Math.round(request.cost))),
        request.kind,
        this.now(),
        detailsJson(request.details),
        day?.day ?? '',
        String(day?.amount ?? 0),
        day ? detailsJson(dailyDetails(day.day, request.details?.requestId)) : '',
      );
      return {
        ...(daily ? { daily: JSON.parse(daily) as LedgerEntry } : {}),
        ...(usage ? { usage: JSON.parse(usage) as LedgerEntry } : {}),
        ...(day ? { dayPaid: dayPaid === 1 } : {}),
      };
    });
  }

  dailyCharge(request: DailyRequest): Promise<DailyResult> {
    const { redis, clock, call } = this.options;
    const k = tag(request.key);
    const { holds, byExpiry } = holdKeys(k);
    return call(() =>
      redis.cradleDaily(
        k,
        `${k}:daily`,
        `${k}:ledger`,
        `${k}:seq`,
        holds,
        byExpiry,
        request.day,
        String(request.amount),
        this.now(),
        detailsJson({ ...dailyDetails(request.day, undefined), ...request.details }),
        String(clock.now()),
      ),
    );
  }
}
