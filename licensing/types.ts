/** The store contract: licenses, balances, holds and the ledger. Both stores pass one contract suite. */

export type LicenseStatus = 'active' | 'revoked';

export interface License {
  key: string;
  email: string;
  /** Balance in micro-credits. */
  credits: number;
  /** Micro-credits reserved by requests in flight; spendable = credits - held. */
  held: number;
  status: LicenseStatus;
  issuedAt: string;
  lastUpdatedAt: string;
  devices: string[];
  maxDevices: number;
  /** UNLIMITED_EMAILS accounts: never charged. */
  unlimited: boolean;
  /** What this license may do beyond the routes' own rules; absent: no limits of its own. */
  limits?: LicenseLimits;
}

/** A license's own limits, set by the operator (admin API, CLI). */
export interface LicenseLimits {
  /** Model globs it may call; others are refused before forwarding. */
  models?: string[];
  /** Requests a minute, instead of the route's rate limit. */
  ratePerMinute?: number;
}

export type EntryKind =
  'grant' | 'recharge' | 'deduct' | 'payment' | 'daily_charge' | 'daily_refund' | 'usage' | 'usage_refund';

/** What a caller may attach to a ledger entry. */
export interface EntryDetails {
  reference?: string;
  requestId?: string;
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  estimated?: boolean;
  tradeNo?: string;
  idempotencyKey?: string;
}

export interface LedgerEntry extends EntryDetails {
  id: number;
  time: string;
  kind: EntryKind;
  /** Signed micro-credits: added > 0, taken < 0. */
  amount: number;
  balanceAfter: number;
}

export type VerifyCode = 'VALID' | 'NOT_FOUND' | 'REVOKED' | 'DEVICE_LIMIT';

export interface CreateLicense {
  key: string;
  email: string;
  credits: number;
  maxDevices: number;
  unlimited: boolean;
  /** Grant entry details (e.g. the payment trade number of an activation). */
  details?: EntryDetails;
}

/** How long an Idempotency-Key is remembered: a day, as payment APIs do; retries come within minutes. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface BalanceChange {
  key: string;
  /** Signed micro-credits. */
  amount: number;
  kind: EntryKind;
  details?: EntryDetails;
  /**
   * A replay with the same key returns the first result; a different `fingerprint` is a conflict. The key is
   * remembered `ttlMs` (then forgotten, so the store does not grow with every key ever sent).
   */
  idempotency?: { key: string; fingerprint: string; ttlMs: number };
  /** A payment's trade number: a second change with it does nothing and reports `duplicate`. */
  tradeNo?: string;
}

export type ChangeResult =
  | { status: 'ok'; license: License; entry: LedgerEntry | undefined }
  | { status: 'replayed'; license: License; entry: LedgerEntry | undefined }
  | { status: 'duplicate'; license: License }
  | { status: 'insufficient'; license: License }
  /** A credit that would take the balance above MAX_BALANCE. */
  | { status: 'balance_limit'; license: License }
  | { status: 'idempotency_conflict' }
  | { status: 'not_found' }
  | { status: 'revoked'; license: License };

/** A payment: credits the email's active license, made for it when it has none, once per trade number. */
export interface PaymentRequest {
  /** Remembered for good and globally, whatever becomes of the license it credited. */
  tradeNo: string;
  email: string;
  /** Micro-credits, > 0. */
  credits: number;
  /** The license made when the email has no active one. */
  newLicense: { key: string; maxDevices: number };
  details?: EntryDetails;
}

export type PaymentResult =
  | { status: 'credited'; license: License; created: boolean; entry: LedgerEntry | undefined }
  | { status: 'duplicate' }
  /** It would take the balance above MAX_BALANCE: nothing is credited. */
  | { status: 'balance_limit' };

/** A payment as the operator looks it up: which trade credited which license, how much and when. */
export interface PaymentRecord {
  tradeNo: string;
  key: string;
  email: string;
  /** Micro-credits. */
  credits: number;
  time: string;
  /** The ledger entry that credited it. */
  entryId: number;
}

export type CreateResult = { status: 'ok'; license: License } | { status: 'email_taken'; license: License };

export interface LedgerPage {
  entries: LedgerEntry[];
  /** Cursor for the next (older) page, or null at the end. */
  next: number | null;
}

/**
 * A day's flat charge carried by a request's hold and settle. The store takes it once per license and day:
 * only while the license's last paid day is before `day` (so zones that disagree on the date never charge
 * one day twice), and only in the settle of a request that succeeded.
 */
export interface DayCharge {
  /** Calendar day in the operator's zone, e.g. 2026-11-27: the day the request started. */
  day: string;
  amount: number;
}

export interface HoldRequest {
  key: string;
  /**
   * Unique per request, also across processes: never the client-chosen request id. A second hold with the
   * same id adds to the first (plugins of one request reserve their parts in turn).
   */
  holdId: string;
  amount: number;
  /** Also reserves the day's charge, unless the license has paid that day already. */
  day?: DayCharge;
  /** How long the hold outlives a process that died before settling it (shared stores). */
  ttlMs?: number;
}

export type HoldResult = 'ok' | 'insufficient' | 'not_found' | 'revoked';

export interface SettleRequest {
  key: string;
  holdId: string;
  /** What the request really cost; taken in full when the balance allows, else what is left (never negative). */
  cost: number;
  kind: EntryKind;
  details?: EntryDetails;
  /** The request succeeded: its day's charge is taken in the same step, unless that day is paid already. */
  day?: DayCharge;
}

/** The entries a settle wrote: the day's charge (first success of a day) and the usage charge. */
export interface SettleResult {
  daily?: LedgerEntry;
  usage?: LedgerEntry;
  /** The day the settle was given is paid now (by it, or before). */
  dayPaid?: boolean;
}

export interface DailyRequest {
  key: string;
  /** Calendar day in the operator's zone, e.g. 2026-11-27. */
  day: string;
  amount: number;
  details?: EntryDetails;
}

export type DailyResult = 'charged' | 'already' | 'insufficient' | 'not_found' | 'revoked';

export const DAILY_REFERENCE = 'daily:';

/** A day's charge entry: its reference names the day, and only its request id comes with it. */
export const dailyDetails = (day: string, requestId: string | undefined): EntryDetails => ({
  reference: dailyReference(day),
  ...(requestId !== undefined ? { requestId } : {}),
});

/** The reference a day's charge entry carries. */
export const dailyReference = (day: string) => `${DAILY_REFERENCE}${day}`;

/** Whether a day's charge is owed: days are YYYY-MM-DD, so they compare as text. */
export const dayOwed = (lastPaid: string | undefined | null, day: string): boolean =>
  !lastPaid || lastPaid < day;

export interface LicenseStore {
  /** Which implementation, for health and logs. */
  readonly kind: 'embedded' | 'redis' | 'remote';
  /**
   * A hold ends by itself after its `ttlMs`, so one left by a process that died does not stay reserved for
   * ever (a store processes share): a request in flight renews its own. Otherwise a hold lasts until settled.
   */
  readonly holdsExpire: boolean;
  /**
   * How long a verification may be trusted without asking again, when the store cannot tell this process of
   * a revocation (an edge): undefined when it can (`onInvalidate`).
   */
  readonly verdictTtlMs?: number;
  create(request: CreateLicense): Promise<CreateResult>;
  get(key: string): Promise<License | undefined>;
  /** The email's active license (or, for unlimited accounts, its newest). */
  findByEmail(email: string): Promise<License | undefined>;
  list(options: { limit: number; offset: number }): Promise<License[]>;
  revoke(key: string): Promise<License | undefined>;
  resetDevices(key: string): Promise<License | undefined>;
  /** Replaces a license's own limits (empty: none); undefined when there is no such license. */
  setLimits(key: string, limits: LicenseLimits): Promise<License | undefined>;
  /** Binds the device on first use, up to max_devices. */
  verify(key: string, deviceId: string): Promise<{ code: VerifyCode; license?: License }>;
  change(request: BalanceChange): Promise<ChangeResult>;
  ledger(key: string, options: { limit: number; before?: number }): Promise<LedgerPage>;
  /** A payment, at most once per trade number ever: a repeat changes nothing and makes no license. */
  pay(request: PaymentRequest): Promise<PaymentResult>;
  /** Payments credited, newest first. */
  payments(options: { limit: number; offset: number }): Promise<PaymentRecord[]>;
  /** Reserves credits for a request in flight (a hold, not an entry); refuses when the spendable balance is short. */
  hold(request: HoldRequest): Promise<HoldResult>;
  /**
   * Ends a hold: charges the real cost as one entry (cost 0 = release), and the day's charge with it when
   * asked and owed, in one atomic step. It runs on the request path: a store may resolve it before it is
   * synced (the embedded store does).
   */
  settle(request: SettleRequest): Promise<SettleResult>;
  /**
   * Takes a day's charge at once, once per license and day (an edge gateway's settle, through the license
   * API): `already` when that day, or a later one, is paid.
   */
  dailyCharge(request: DailyRequest): Promise<DailyResult>;
  /** Everything acknowledged is on disk (or in Redis) when this resolves. */
  close(): Promise<void>;
  checkHealth(): Promise<void>;
  /** Called when another instance revoked or reset a license, so caches drop it. */
  onInvalidate(listener: (key: string) => void): void;
}
