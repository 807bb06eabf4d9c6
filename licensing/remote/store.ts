/**
 * Split deployment (LICENSE_API_URL): an edge gateway keeps no licenses; it verifies and charges through
 * the license API of a central Cradle instance. Every usage charge carries an Idempotency-Key (its hold id,
 * unique to the request), so a retried call never charges twice; the daily charge is the central store's own
 * once-a-day mark.
 * There is no remote reserve: the edge holds against the balances the central's answers give it
 * (`balances.ts`), so a spent balance is refused before forwarding; a request admitted on a figure that was
 * spent elsewhere meanwhile pays what is left.
 */
import type { Logger } from 'pino';
import { LicensingError, storeUnavailable } from '../errors.ts';
import { detailsInApi } from '../entry-fields.ts';
import { limitsFrom, type LimitsView } from '../limits.ts';
import { MICRO, toCredits } from '../money.ts';
import { CHARGE_RETRY_DELAYS_MS, retried } from '../retry.ts';
import { isoTime } from '../time.ts';
import { EdgeBalances } from './balances.ts';
import type {
  DailyRequest,
  DailyResult,
  HoldRequest,
  HoldResult,
  LedgerEntry,
  License,
  LicenseStore,
  SettleRequest,
  SettleResult,
  DayCharge,
  VerifyCode,
} from '../types.ts';
import { dailyDetails } from '../types.ts';

/** A revocation on the central instance holds on every edge within this, by default. */
const DEFAULT_REVOCATION_MS = 5000;

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

export class RemoteStore implements LicenseStore {
  readonly kind = 'remote' as const;
  /** Holds are this edge's own (the central has none), and end with it. */
  readonly holdsExpire = false;
  private readonly base: string;

  constructor(options: {
    url: string;
    adminToken: string;
    timeoutMs?: number;
    /** Waits before each new attempt of a charge the central did not answer. */
    retryDelaysMs?: readonly number[];
    log?: Logger;
    /** How soon a revocation on the central holds here: a verification is trusted this long at most. */
    revocationMs?: number;
  }) {
    const url = options.url.replace(/\/$/, '');
    this.base = url.endsWith('/api/v1') ? url : `${url}/api/v1`;
    this.adminToken = options.adminToken;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retryDelaysMs = options.retryDelaysMs ?? CHARGE_RETRY_DELAYS_MS;
    this.log = options.log;
    this.verdictTtlMs = options.revocationMs ?? DEFAULT_REVOCATION_MS;
  }

  readonly verdictTtlMs: number;

  private readonly adminToken: string;
  private readonly timeoutMs: number;
  private readonly balances = new EdgeBalances();
  private readonly retryDelaysMs: readonly number[];
  private readonly log: Logger | undefined;
  private closed = false;

  private async call(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<Reply> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          'x-admin-token': this.adminToken,
          ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw storeUnavailable(`license API unreachable: ${(error as Error).message}`, error);
    }
    const parsed = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status >= 500) throw storeUnavailable(`license API answered ${response.status}`);
    return { status: response.status, body: parsed };
  }

  /**
   * A charge or refund the central must take though the request is over: a call that found the central
   * unreachable (or answered 5xx) is made again, with the same idempotency key, so a charge taken whose
   * answer was lost is not taken twice. Given up after the last delay, or when the store closes: the failure
   * is then logged with the request's id, for an operator to charge by hand.
   */
  private untilAnswered(
    path: string,
    body: Record<string, unknown>,
    idempotencyKey?: string,
  ): Promise<Reply> {
    return retried(() => this.call('POST', path, body, idempotencyKey), {
      delaysMs: this.retryDelaysMs,
      // `call` throws only when the central gave no answer.
      retryable: () => true,
      stopped: () => this.closed,
      onRetry: (error, attempt) =>
        this.log?.warn(
          { path, request: idempotencyKey, attempt, err: error },
          'license API call failed; retrying',
        ),
    });
  }

  async verify(key: string, deviceId: string): Promise<{ code: VerifyCode; license?: License }> {
    const { body } = await this.call('POST', '/license/verify', { license_key: key, device_id: deviceId });
    const code = body.code as VerifyCode;
    if (code !== 'VALID') return { code };
    return { code, license: this.known(edgeLicense(key, body)) };
  }

  async get(key: string): Promise<License | undefined> {
    const { status, body } = await this.call('GET', `/license/info/${encodeURIComponent(key)}`);
    if (status !== 200) return undefined;
    const info = body.license_info as Record<string, unknown>;
    return this.known(edgeLicense(key, info));
  }

  /** A license as the central just described it: its balance is what this edge holds against. */
  private known(license: License): License {
    this.balances.learn(license.key, license.credits);
    return license;
  }

  /** An edge cannot see the central's mark of the last day paid: the day's charge is held whenever asked. */
  hold(request: HoldRequest): Promise<HoldResult> {
    const amount = request.amount + (request.day?.amount ?? 0);
    return this.balances.hold({ ...request, amount }, async () => (await this.get(request.key))?.credits);
  }

  /**
   * The day's charge first (the central's mark makes it once a day, so a repeated call is harmless), then
   * the usage charge with the hold id as its idempotency key.
   */
  async settle(request: SettleRequest): Promise<SettleResult> {
    this.balances.release(request.holdId);
    const result: SettleResult = {};
    if (request.day) {
      const { paid, entry } = await this.settleDay(request, request.day);
      result.dayPaid = paid;
      if (entry) result.daily = entry;
    }
    const usage = await this.settleUsage(request);
    if (usage) result.usage = usage;
    return result;
  }

  private async settleDay(
    request: SettleRequest,
    day: DayCharge,
  ): Promise<{ paid: boolean; entry?: LedgerEntry }> {
    const body = dailyBody({ key: request.key, ...day, details: request.details });
    const { status, body: answer } = await this.untilAnswered('/license/daily-charge', body);
    if (status !== 200) return { paid: false };
    if (answer.result !== 'charged') return { paid: true };
    this.balances.change(request.key, -day.amount);
    const entry: LedgerEntry = {
      id: 0,
      time: isoTime(Date.now()),
      kind: 'daily_charge',
      amount: -day.amount,
      balanceAfter: this.balances.credits(request.key) ?? 0,
      ...dailyDetails(day.day, request.details?.requestId),
    };
    return { paid: true, entry };
  }

  private async settleUsage(request: SettleRequest): Promise<LedgerEntry | undefined> {
    if (request.cost <= 0) return undefined;
    const details = { license_key: request.key, kind: request.kind, ...detailsInApi(request.details) };
    const first = await this.untilAnswered(
      '/license/deduct',
      { ...details, amount: toCredits(request.cost) },
      request.holdId,
    );
    this.learnRemaining(request.key, first.body);
    if (first.status === 200) return remoteEntry(request, request.cost, first.body);
    const left = Math.round(Number(first.body.remaining_credits ?? 0) * MICRO);
    if (first.status !== 402 || left <= 0) return undefined;
    // Delivered already: it pays what is left, never more.
    const rest = await this.untilAnswered(
      '/license/deduct',
      { ...details, amount: toCredits(left) },
      `${request.holdId}:rest`,
    );
    this.learnRemaining(request.key, rest.body);
    return rest.status === 200 ? remoteEntry(request, left, rest.body) : undefined;
  }

  /** A deduction's answer carries the balance after it (or, refused, what was left). */
  private learnRemaining(key: string, body: Record<string, unknown>): void {
    if (body.remaining_credits !== undefined)
      this.balances.learn(key, Math.round(Number(body.remaining_credits) * MICRO));
  }

  async dailyCharge(request: DailyRequest): Promise<DailyResult> {
    const { status, body } = await this.call('POST', '/license/daily-charge', dailyBody(request));
    if (status === 402) return 'insufficient';
    if (status === 403) return 'revoked';
    if (status === 404) return 'not_found';
    if (status !== 200) throw refused('daily charge', status);
    if (body.result === 'already') return 'already';
    this.balances.change(request.key, -request.amount);
    return 'charged';
  }

  async checkHealth(): Promise<void> {
    const { status } = await this.call('GET', '/health');
    if (status !== 200) throw new Error(`license API health answered ${status}`);
  }

  onInvalidate(): void {
    // The edge caches verifications briefly (the license plugin's TTL); the central instance decides.
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  // The license API itself is served by the central instance, not by an edge gateway.
  readonly create = notHere;
  readonly findByEmail = notHere;
  readonly list = notHere;
  readonly revoke = notHere;
  readonly payments = notHere;
  readonly resetDevices = notHere;
  readonly setLimits = notHere;
  readonly change = notHere;
  readonly ledger = notHere;
  readonly pay = notHere;
}

function notHere(): Promise<never> {
  return Promise.reject(
    new LicensingError('edge_only', 'this edge gateway keeps no licenses: use the central license API'),
  );
}

function edgeLicense(key: string, body: Record<string, unknown>): License {
  return {
    key,
    email: String(body.email ?? ''),
    credits: Math.round(Number(body.credits ?? 0) * MICRO),
    held: 0,
    status: 'active',
    issuedAt: '',
    lastUpdatedAt: '',
    devices: [],
    maxDevices: Number(body.max_devices ?? 1),
    unlimited: body.unlimited === true,
    ...(body.limits ? { limits: limitsFrom(body.limits as LimitsView) } : {}),
  };
}

function remoteEntry(request: SettleRequest, amount: number, body: Record<string, unknown>): LedgerEntry {
  return {
    id: 0,
    time: isoTime(Date.now()),
    kind: request.kind,
    amount: -amount,
    balanceAfter: Math.round(Number(body.remaining_credits ?? 0) * MICRO),
    ...request.details,
  };
}

function dailyBody(request: DailyRequest): Record<string, unknown> {
  return {
    license_key: request.key,
    day: request.day,
    amount: toCredits(request.amount),
    request_id: request.details?.requestId,
  };
}

/** An answer the central instance should never give this edge (a version or configuration mismatch). */
function refused(what: string, status: number): Error {
  return storeUnavailable(`license API refused the ${what} (HTTP ${status})`);
}
