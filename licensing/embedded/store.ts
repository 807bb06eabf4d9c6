/**
 * The embedded store (default): state in memory; every change journaled (group commit) and synced before
 * it is acknowledged — except the charges of proxied requests (daily charge, usage settle), which are
 * applied at once and synced by the next group commit, so a client never waits for a disk sync; a crash
 * can lose only those last milliseconds of charges, never a recharge, payment or other acknowledged change.
 * Snapshots through lowdb; ledger in per-license append-only files; disk writes in `writes.ts`, start-up
 * in `recovery.ts`.
 */
import { mkdir } from 'node:fs/promises';
import type {
  BalanceChange,
  ChangeResult,
  CreateLicense,
  CreateResult,
  DailyRequest,
  DailyResult,
  EntryDetails,
  EntryKind,
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
import { dailyDetails, dayOwed } from '../types.ts';
import { storeUnavailable } from '../errors.ts';
import { isoTime } from '../time.ts';
import { acquireLock, type Lock } from './folder.ts';
import type { AppendOptions } from './journal.ts';
import { recover, type EmbeddedOptions } from './recovery.ts';

export type { EmbeddedOptions };
import { applyChange, applyDaily, applyEntry, applyPayment } from './balances.ts';
import { StoreWrites } from './writes.ts';
import {
  applyBind,
  applyLimits,
  applyCreate,
  applyStatus,
  copyLicense,
  type Applied,
  type JournalRecord,
  type Operation,
  type StoreState,
} from './state.ts';

/** Changes an admin or a payment is told about: answered once on disk. */
const BEFORE_ACK: AppendOptions = { when: 'wait' };
/** Proxy-path charges: applied and answered at once, on disk with the next group commit (within ms). */
const BACKGROUND: AppendOptions = { when: 'linger' };

export class EmbeddedStore implements LicenseStore {
  readonly kind = 'embedded' as const;
  /** Holds live in this process alone, and end with it. */
  readonly holdsExpire = false;
  private readonly listeners: ((key: string) => void)[] = [];
  private readonly holds = new Map<string, { key: string; amount: number }>();
  private closed = false;

  private constructor(
    /** Epoch ms: the options' clock (tests move it), else the system's. */
    private readonly clock: () => number,
    private readonly state: StoreState,
    private readonly writes: StoreWrites,
    private readonly lock: Lock,
  ) {}

  static async open(options: EmbeddedOptions): Promise<EmbeddedStore> {
    const { dir } = options;
    await mkdir(dir, { recursive: true });
    const lock = await acquireLock(dir);
    try {
      const { state, journal, ledgerFiles, codec } = await recover(options);
      const clock = () => options.clock?.now() ?? Date.now();
      const writes = new StoreWrites(
        { dir, log: options.log, compactEvery: options.compactEvery ?? 50_000, state, now: clock },
        journal,
        ledgerFiles,
        codec,
      );
      return new EmbeddedStore(clock, state, writes, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  private now(): string {
    return isoTime(this.clock());
  }

  /** Journals a change someone is told about: resolves once it is on disk. */
  private async commit<R>(op: Operation, applied: Applied<R>): Promise<R> {
    const durable = this.append(op, applied, BEFORE_ACK);
    if (durable) await durable;
    return applied.result;
  }

  /**
   * Journals an applied change; the ledger file follows the journal, so it never shows an entry the journal
   * could lose. Returns when it is durable (nothing when nothing changed).
   */
  private append(
    op: Operation,
    applied: Applied<unknown>,
    options: AppendOptions,
  ): Promise<void> | undefined {
    if (!applied.changed) return undefined;
    // The operation becomes its own journal record (no copy): `seq` is known once it is applied.
    const record = op as JournalRecord;
    record.seq = this.state.seq;
    return this.writes.record(record, options, applied.entry);
  }

  private nextSeq(): number {
    this.refuseIfBroken();
    return this.state.seq + 1;
  }

  /**
   * Once the journal has failed no change could be recorded, so none is made: a paid request is refused
   * (503) before it is proxied rather than served with a charge that would vanish on restart.
   */
  private refuseIfBroken(): void {
    if (this.closed) throw new Error('store is closed');
    const { failure } = this.writes;
    if (failure) throw storeUnavailable(`the store cannot write its journal: ${failure.message}`, failure);
  }

  async create(request: CreateLicense): Promise<CreateResult> {
    const op = { op: 'create' as const, time: this.now(), request };
    return this.commit(op, applyCreate(this.state, op, this.nextSeq()));
  }

  async get(key: string): Promise<License | undefined> {
    const license = this.state.licenses[key];
    return license ? copyLicense(license) : undefined;
  }

  async findByEmail(email: string): Promise<License | undefined> {
    const key = this.state.emails[email.trim().toLowerCase()];
    return key ? this.get(key) : undefined;
  }

  async list(options: { limit: number; offset: number }): Promise<License[]> {
    return Object.values(this.state.licenses)
      .slice(options.offset, options.offset + options.limit)
      .map(copyLicense);
  }

  async payments(options: { limit: number; offset: number }): Promise<PaymentRecord[]> {
    const { payments } = this.state;
    const end = payments.length - options.offset;
    return payments
      .slice(Math.max(0, end - options.limit), Math.max(0, end))
      .reverse()
      .map((payment) => ({ ...payment }));
  }

  async revoke(key: string): Promise<License | undefined> {
    const op = { op: 'revoke' as const, time: this.now(), key };
    const result = await this.commit(op, applyStatus(this.state, op, this.nextSeq()));
    if (result) for (const listener of this.listeners) listener(key);
    return result;
  }

  async resetDevices(key: string): Promise<License | undefined> {
    const op = { op: 'reset_devices' as const, time: this.now(), key };
    const result = await this.commit(op, applyStatus(this.state, op, this.nextSeq()));
    if (result) for (const listener of this.listeners) listener(key);
    return result;
  }

  async setLimits(key: string, limits: LicenseLimits): Promise<License | undefined> {
    const op = { op: 'limits' as const, time: this.now(), key, limits };
    const result = await this.commit(op, applyLimits(this.state, op, this.nextSeq()));
    if (result) for (const listener of this.listeners) listener(key);
    return result;
  }

  async verify(key: string, deviceId: string): Promise<{ code: VerifyCode; license?: License }> {
    const op = { op: 'bind' as const, time: this.now(), key, deviceId };
    return this.commit(op, applyBind(this.state, op, this.nextSeq()));
  }

  async change(request: BalanceChange): Promise<ChangeResult> {
    const op = { op: 'change' as const, time: this.now(), request };
    return this.commit(op, applyChange(this.state, op, this.nextSeq()));
  }

  async pay(request: PaymentRequest): Promise<PaymentResult> {
    const op = { op: 'payment' as const, time: this.now(), request };
    return this.commit(op, applyPayment(this.state, op, this.nextSeq()));
  }

  async ledger(key: string, options: { limit: number; before?: number }): Promise<LedgerPage> {
    // Read your writes: entries of changes already made (also those still on their way to disk) are shown.
    return this.writes.ledger(key, options);
  }

  /** Holds live in memory only: they belong to requests of this process, which end before it does. */
  async hold(request: HoldRequest): Promise<HoldResult> {
    this.refuseIfBroken();
    const license = this.state.licenses[request.key];
    if (!license) return 'not_found';
    if (license.status === 'revoked') return 'revoked';
    if (license.unlimited) return 'ok';
    const day =
      request.day && dayOwed(this.state.daily[request.key], request.day.day) ? request.day.amount : 0;
    const amount = request.amount + day;
    if (license.credits - license.held < amount) return 'insufficient';
    license.held += amount;
    const hold = this.holds.get(request.holdId);
    if (hold) hold.amount += amount;
    else this.holds.set(request.holdId, { key: request.key, amount });
    return 'ok';
  }

  async settle(request: SettleRequest): Promise<SettleResult> {
    const hold = this.holds.get(request.holdId);
    const license = this.state.licenses[request.key];
    if (!license) return {};
    if (hold) {
      this.holds.delete(request.holdId);
      license.held -= hold.amount;
    }
    if (license.unlimited) return {};
    const result: SettleResult = {};
    const { day } = request;
    if (day && dayOwed(this.state.daily[request.key], day.day)) {
      const details = dailyDetails(day.day, request.details?.requestId);
      result.daily = this.debit(license, { kind: 'daily_charge', amount: day.amount, details });
    }
    if (day) result.dayPaid = !dayOwed(this.state.daily[request.key], day.day);
    const usage = this.debit(license, { kind: request.kind, amount: request.cost, details: request.details });
    if (usage) result.usage = usage;
    return result;
  }

  /**
   * A proxied request's charge as one ledger entry, applied at once and on disk with the next group commit.
   * Never below zero: a cost above what is left (an estimate that fell short) takes what is left.
   */
  private debit(
    license: License,
    charge: { kind: EntryKind; amount: number; details: EntryDetails | undefined },
  ): LedgerEntry | undefined {
    const amount = Math.min(charge.amount, Math.max(license.credits - license.held, 0));
    if (amount <= 0) return undefined;
    const entry: LedgerEntry = {
      id: this.nextSeq(),
      time: this.now(),
      kind: charge.kind,
      amount: -amount,
      balanceAfter: license.credits - amount,
      ...charge.details,
    };
    applyEntry(this.state, license.key, entry);
    this.writes.entry(license.key, entry, BACKGROUND);
    return entry;
  }

  /** Journals the day's charge and answers at once: it rides the next group commit, as a settle does. */
  async dailyCharge(request: DailyRequest): Promise<DailyResult> {
    const op = { op: 'daily' as const, time: this.now(), request };
    const applied = applyDaily(this.state, op, this.nextSeq());
    this.append(op, applied, BACKGROUND);
    return applied.result;
  }

  async checkHealth(): Promise<void> {
    this.refuseIfBroken();
  }

  onInvalidate(listener: (key: string) => void): void {
    this.listeners.push(listener);
  }

  /** Flushes, and folds the journal into a snapshot so the next start-up replays nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes.close();
    await this.lock.release();
  }
}
