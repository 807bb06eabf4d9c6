/**
 * The shared store (REDIS_URL): several gateway instances see one set of licenses and balances.
 * Commands fail fast while Redis is down (money routes answer 503) and the client reconnects by itself.
 */
import type { Logger } from 'pino';
import { storeUnavailable } from '../errors.ts';
import { normalizeEmail } from '../keys.ts';
import { MAX_BALANCE } from '../money.ts';
import { CHARGE_RETRY_DELAYS_MS } from '../retry.ts';
import { isoTime } from '../time.ts';
import type {
  BalanceChange,
  ChangeResult,
  CreateLicense,
  CreateResult,
  DailyRequest,
  DailyResult,
  HoldRequest,
  HoldResult,
  LedgerEntry,
  LedgerPage,
  License,
  LicenseLimits,
  LicenseStore,
  PaymentRecord,
  PaymentRequest,
  PaymentResult,
  SettleRequest,
  SettleResult,
  VerifyCode,
} from '../types.ts';
import { DEFAULT_COMMAND_TIMEOUT_MS, redisClient, type RedisConnection } from '../../gateway/redis.ts';
import { RedisCharges } from './charges.ts';
import {
  detailsJson,
  holdKeys,
  limitsText,
  readLicense,
  scriptedClient,
  tag,
  type Scripted,
} from './connection.ts';
import { payOnRedis, RedisPayments } from './payment.ts';

const INVALIDATE = 'cradle:invalidate';

const emailKey = (email: string) => `cradle:email:${normalizeEmail(email)}`;
const LICENSES = 'cradle:licenses';

export class RedisStore implements LicenseStore {
  readonly kind = 'redis' as const;
  readonly holdsExpire = true;
  private readonly listeners: ((key: string) => void)[] = [];

  private closed = false;
  private readonly charges: RedisCharges;

  private constructor(
    private readonly redis: Scripted,
    private readonly subscriber: RedisConnection,
    private readonly clock: { now(): number },
    options: { log: Logger; retryDelaysMs: readonly number[] },
  ) {
    this.charges = new RedisCharges({
      redis,
      clock,
      log: options.log,
      retryDelaysMs: options.retryDelaysMs,
      call: (run) => this.call(run),
      stopped: () => this.closed,
    });
  }

  static async open(options: {
    url: string;
    /** `url` names one or more nodes of a Redis Cluster. */
    cluster?: boolean;
    log: Logger;
    clock?: { now(): number };
    /** Waits before each new attempt of a settle while Redis is unreachable. */
    retryDelaysMs?: readonly number[];
    /** A command Redis does not answer within this fails its request (503) instead of stalling it. */
    commandTimeoutMs?: number;
  }): Promise<RedisStore> {
    const target = { url: options.url, cluster: options.cluster === true };
    const redis = scriptedClient(target, options.log, {
      commandTimeoutMs: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    });
    const subscriber = redisClient(target, options.log);
    await redis.connect();
    await subscriber.connect();
    const store = new RedisStore(redis, subscriber, options.clock ?? { now: () => Date.now() }, {
      log: options.log,
      retryDelaysMs: options.retryDelaysMs ?? CHARGE_RETRY_DELAYS_MS,
    });
    // Subscriptions are restored by ioredis after a reconnect.
    await subscriber.subscribe(INVALIDATE);
    subscriber.on('message', (_channel: string, key: string) => {
      for (const listener of store.listeners) listener(key);
    });
    options.log.info({ url: options.url.replace(/\/\/[^@]*@/, '//***@') }, 'redis store connected');
    return store;
  }

  private now(): string {
    return isoTime(this.clock.now());
  }

  /** Every command goes through here: a Redis failure is a 503, never a wrong answer. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw storeUnavailable(`license store (redis) unavailable: ${(error as Error).message}`, error);
    }
  }

  /**
   * The license is written first and its email claimed after, so an email always names a license that
   * exists; a license that loses the claim is removed (no one knows its key yet). Every step touches one
   * key or one license's keys, as a Cluster requires.
   */
  async create(request: CreateLicense): Promise<CreateResult> {
    return this.call(async () => {
      const k = tag(request.key);
      await this.redis.cradleCreate(
        k,
        `${k}:ledger`,
        `${k}:seq`,
        normalizeEmail(request.email),
        String(request.credits),
        String(request.maxDevices),
        request.unlimited ? '1' : '0',
        this.now(),
        detailsJson(request.details),
      );
      if (request.unlimited) {
        await this.redis.set(emailKey(request.email), request.key);
      } else {
        const holder = await this.claimEmail(request.email, request.key);
        if (holder) {
          await this.redis.del(k, `${k}:ledger`, `${k}:seq`);
          return { status: 'email_taken', license: (await this.read(holder))! };
        }
      }
      await this.redis.sadd(LICENSES, request.key);
      return { status: 'ok', license: (await this.read(request.key))! };
    });
  }

  /** Names `key` for the email unless an active license holds it (returned); a revoked one's is taken over. */
  private async claimEmail(email: string, key: string): Promise<string | undefined> {
    const index = emailKey(email);
    for (;;) {
      if (await this.redis.set(index, key, 'NX')) return undefined;
      const holder = await this.redis.get(index);
      if (holder === null) continue;
      if (holder === key) return undefined;
      if ((await this.redis.hget(tag(holder), 'status')) === 'active') return holder;
      if (await this.redis.cradleSwapEmail(index, holder, key)) return undefined;
    }
  }

  private read(key: string): Promise<License | undefined> {
    return readLicense(this.redis, key, this.clock.now());
  }

  get(key: string): Promise<License | undefined> {
    return this.call(() => this.read(key));
  }

  findByEmail(email: string): Promise<License | undefined> {
    return this.call(async () => {
      const key = await this.redis.get(emailKey(email));
      return key ? this.read(key) : undefined;
    });
  }

  list(options: { limit: number; offset: number }): Promise<License[]> {
    return this.call(async () => {
      const keys = (await this.redis.smembers(LICENSES))
        .sort()
        .slice(options.offset, options.offset + options.limit);
      const licenses = await Promise.all(keys.map((k) => this.read(k)));
      return licenses.filter((l): l is License => l !== undefined);
    });
  }

  revoke(key: string): Promise<License | undefined> {
    return this.call(async () => {
      if (!(await this.redis.cradleSetField(tag(key), 'status', 'revoked', this.now()))) return undefined;
      const license = (await this.read(key))!;
      await this.redis.cradleReleaseEmail(emailKey(license.email), key);
      await this.redis.publish(INVALIDATE, key);
      return license;
    });
  }

  resetDevices(key: string): Promise<License | undefined> {
    return this.call(async () => {
      if (!(await this.redis.cradleSetField(tag(key), 'devices', '[]', this.now()))) return undefined;
      await this.redis.publish(INVALIDATE, key);
      return this.read(key);
    });
  }

  setLimits(key: string, limits: LicenseLimits): Promise<License | undefined> {
    return this.call(async () => {
      if (!(await this.redis.cradleSetField(tag(key), 'limits', limitsText(limits), this.now())))
        return undefined;
      await this.redis.publish(INVALIDATE, key);
      return this.read(key);
    });
  }

  verify(key: string, deviceId: string): Promise<{ code: VerifyCode; license?: License }> {
    return this.call(async () => {
      const code = await this.redis.cradleBind(tag(key), deviceId, this.now());
      return code === 'NOT_FOUND' ? { code } : { code, license: (await this.read(key))! };
    });
  }

  change(request: BalanceChange): Promise<ChangeResult> {
    return this.call(async () => {
      const k = tag(request.key);
      const idem = request.idempotency;
      const tail = detailsJson({
        ...request.details,
        ...(request.tradeNo ? { tradeNo: request.tradeNo } : {}),
        ...(idem ? { idempotencyKey: idem.key } : {}),
      });
      const { holds, byExpiry } = holdKeys(k);
      const [status, entryJson] = await this.redis.cradleChange(
        k,
        `${k}:ledger`,
        `${k}:seq`,
        `${k}:idem:${idem?.key ?? ''}`,
        `${k}:trade:${request.tradeNo ?? ''}`,
        holds,
        byExpiry,
        String(request.amount),
        request.kind,
        this.now(),
        tail,
        idem?.key ?? '',
        idem?.fingerprint ?? '',
        request.tradeNo ?? '',
        String(idem?.ttlMs ?? 0),
        String(MAX_BALANCE),
        String(this.clock.now()),
      );
      if (status === 'not_found' || status === 'idempotency_conflict') return { status };
      const license = (await this.read(request.key))!;
      const entry = entryJson ? (JSON.parse(entryJson) as LedgerEntry) : undefined;
      if (status === 'ok' || status === 'replayed') return { status, license, entry };
      return { status: status as 'duplicate' | 'insufficient' | 'revoked' | 'balance_limit', license };
    });
  }

  private paymentRecords(): RedisPayments {
    return new RedisPayments(
      this.redis,
      (run) => this.call(run),
      (key) => this.read(key),
    );
  }

  pay(request: PaymentRequest): Promise<PaymentResult> {
    return payOnRedis(this, this.paymentRecords(), request);
  }

  payments(options: { limit: number; offset: number }): Promise<PaymentRecord[]> {
    return this.paymentRecords().list(options);
  }

  ledger(key: string, options: { limit: number; before?: number }): Promise<LedgerPage> {
    return this.call(async () => {
      const k = tag(key);
      const seq = Number((await this.redis.get(`${k}:seq`)) ?? 0);
      // Entry n sits at index seq - n (one LPUSH per id, ids from INCR).
      const start = options.before === undefined ? 0 : Math.max(seq - options.before + 1, 0);
      const raw = await this.redis.lrange(`${k}:ledger`, start, start + options.limit - 1);
      const entries = raw.map((line) => JSON.parse(line) as LedgerEntry);
      const last = entries.at(-1);
      return { entries, next: last && last.id > 1 && entries.length === options.limit ? last.id : null };
    });
  }

  hold(request: HoldRequest): Promise<HoldResult> {
    return this.charges.hold(request);
  }

  settle(request: SettleRequest): Promise<SettleResult> {
    return this.charges.settle(request);
  }

  dailyCharge(request: DailyRequest): Promise<DailyResult> {
    return this.charges.dailyCharge(request);
  }

  async checkHealth(): Promise<void> {
    await this.call(() => this.redis.ping());
  }

  onInvalidate(listener: (key: string) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriber.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
