/**
 * The embedded store's state, its journal records, and the changes to licenses themselves (create, revoke,
 * devices); balance changes are in balances.ts. Every change is a journal record; start-up replays records
 * through the same functions, so what was acknowledged is rebuilt exactly.
 */
import { normalizeEmail } from '../keys.ts';
import type {
  BalanceChange,
  CreateLicense,
  CreateResult,
  DailyRequest,
  LedgerEntry,
  License,
  LicenseLimits,
  PaymentRecord,
  PaymentRequest,
  VerifyCode,
} from '../types.ts';

export interface StoreState {
  /** Sequence of the last applied record; ledger entry ids come from it. */
  seq: number;
  licenses: Record<string, License>;
  /** Email → key of its active license (unlimited accounts: the newest). */
  emails: Record<string, string>;
  /** `licenseKey␟idempotencyKey` → fingerprint, first entry, and when it is forgotten (epoch ms). */
  idempotency: Record<string, { fingerprint: string; entry: LedgerEntry | null; expiresAt?: number }>;
  /** Payment trade number → license key. */
  trades: Record<string, string>;
  /** License key → the last calendar day its daily charge was taken (days only move forward). */
  daily: Record<string, string>;
  /** Payments credited, oldest first. */
  payments: PaymentRecord[];
}

export const emptyState = (): StoreState => withDictionaries({ seq: 0 } as StoreState);

const DICTIONARIES = ['licenses', 'emails', 'idempotency', 'trades', 'daily'] as const;

/**
 * The state's records become dictionaries without a prototype, so a key a client chose (`__proto__`,
 * `constructor`) is an ordinary key there: never found where it was not put, never a prototype to poison.
 */
export function withDictionaries(state: StoreState): StoreState {
  state.payments ??= [];
  for (const name of DICTIONARIES) {
    const entries: object = Object.assign(Object.create(null) as object, state[name] ?? {});
    (state as unknown as Record<string, object>)[name] = entries;
  }
  return state;
}

export type Operation =
  | { op: 'create'; time: string; request: CreateLicense }
  | { op: 'revoke'; time: string; key: string }
  | { op: 'reset_devices'; time: string; key: string }
  | { op: 'limits'; time: string; key: string; limits: LicenseLimits }
  | { op: 'bind'; time: string; key: string; deviceId: string }
  | { op: 'change'; time: string; request: BalanceChange }
  /** `key`: the license credited, set once applied (the ledger file the entry goes to). */
  | { op: 'payment'; time: string; request: PaymentRequest; key?: string }
  | { op: 'daily' | 'daily_refund'; time: string; request: DailyRequest };

/**
 * A proxied request's usage charge is journaled as the ledger entry it made: the entry is encoded once and
 * the same text goes to the journal and the ledger file. Older journals hold these as `change` records.
 */
export interface EntryRecord {
  op: 'entry';
  seq: number;
  key: string;
  entry: LedgerEntry;
}

export type JournalRecord = (Operation & { seq: number }) | EntryRecord;

export interface Applied<R> {
  result: R;
  /** False when nothing changed: no record is journaled. */
  changed: boolean;
  entry?: LedgerEntry;
}

/** A license as handed out: callers must never hold the state's own object. */
export const copyLicense = (license: License): License => ({
  ...license,
  devices: [...license.devices],
  ...(license.limits ? { limits: structuredClone(license.limits) } : {}),
});

export function applyCreate(
  state: StoreState,
  op: Extract<Operation, { op: 'create' }>,
  seq: number,
): Applied<CreateResult> {
  const { request, time } = op;
  const email = normalizeEmail(request.email);
  const existingKey = state.emails[email];
  const existing = existingKey ? state.licenses[existingKey] : undefined;
  if (existing && existing.status === 'active' && !request.unlimited) {
    return { result: { status: 'email_taken', license: copyLicense(existing) }, changed: false };
  }
  const license: License = {
    key: request.key,
    email,
    credits: request.credits,
    held: 0,
    status: 'active',
    issuedAt: time,
    lastUpdatedAt: time,
    devices: [],
    maxDevices: request.maxDevices,
    unlimited: request.unlimited,
  };
  state.licenses[license.key] = license;
  state.emails[email] = license.key;
  state.seq = seq;
  const entry =
    request.credits > 0
      ? {
          id: seq,
          time,
          kind: 'grant' as const,
          amount: request.credits,
          balanceAfter: request.credits,
          ...request.details,
        }
      : undefined;
  if (request.details?.tradeNo) state.trades[request.details.tradeNo] = license.key;
  return {
    result: { status: 'ok', license: copyLicense(license) },
    changed: true,
    ...(entry ? { entry } : {}),
  };
}

export function applyLimits(
  state: StoreState,
  op: Extract<Operation, { op: 'limits' }>,
  seq: number,
): Applied<License | undefined> {
  const license = state.licenses[op.key];
  if (!license) return { result: undefined, changed: false };
  const { models, ratePerMinute } = op.limits;
  const limits = { ...(models ? { models: [...models] } : {}), ...(ratePerMinute ? { ratePerMinute } : {}) };
  if (Object.keys(limits).length > 0) license.limits = limits;
  else delete license.limits;
  license.lastUpdatedAt = op.time;
  state.seq = seq;
  return { result: copyLicense(license), changed: true };
}

export function applyStatus(
  state: StoreState,
  op: Extract<Operation, { op: 'revoke' | 'reset_devices' }>,
  seq: number,
): Applied<License | undefined> {
  const license = state.licenses[op.key];
  if (!license) return { result: undefined, changed: false };
  if (op.op === 'revoke') {
    if (license.status === 'revoked') return { result: copyLicense(license), changed: false };
    license.status = 'revoked';
    // A revoked license frees its email for a new one.
    if (state.emails[license.email] === license.key) delete state.emails[license.email];
  } else {
    license.devices = [];
  }
  license.lastUpdatedAt = op.time;
  state.seq = seq;
  return { result: copyLicense(license), changed: true };
}

export function applyBind(
  state: StoreState,
  op: Extract<Operation, { op: 'bind' }>,
  seq: number,
): Applied<{ code: VerifyCode; license?: License }> {
  const license = state.licenses[op.key];
  if (!license) return { result: { code: 'NOT_FOUND' }, changed: false };
  if (license.status === 'revoked')
    return { result: { code: 'REVOKED', license: copyLicense(license) }, changed: false };
  if (license.devices.includes(op.deviceId))
    return { result: { code: 'VALID', license: copyLicense(license) }, changed: false };
  if (license.devices.length >= license.maxDevices) {
    return { result: { code: 'DEVICE_LIMIT', license: copyLicense(license) }, changed: false };
  }
  license.devices.push(op.deviceId);
  license.lastUpdatedAt = op.time;
  state.seq = seq;
  return { result: { code: 'VALID', license: copyLicense(license) }, changed: true };
}

/**
 * Drops idempotency keys expired an hour ago or more (they are ignored from their expiry on; the hour keeps
 * a clock set back a little from reviving one). Snapshots call this, so the state does not grow forever.
 */
export function forgetExpired(state: StoreState, now: number): void {
  for (const [key, record] of Object.entries(state.idempotency)) {
    if (record.expiresAt !== undefined && record.expiresAt <= now - 60 * 60 * 1000)
      delete state.idempotency[key];
  }
}
