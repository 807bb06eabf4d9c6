/**
 * The embedded store's balance changes: a change, a payment, a day's charge, a request's charge entry. Each
 * is applied to the state as it is journaled, and again, the same way, when start-up replays the journal.
 */
import { MAX_BALANCE } from '../money.ts';
import { DAILY_REFERENCE, dailyReference, dayOwed } from '../types.ts';
import type { ChangeResult, DailyResult, LedgerEntry, PaymentResult } from '../types.ts';
import { normalizeEmail } from '../keys.ts';
import {
  applyBind,
  applyCreate,
  applyStatus,
  applyLimits,
  copyLicense,
  type Applied,
  type JournalRecord,
  type Operation,
  type StoreState,
} from './state.ts';

export function applyChange(
  state: StoreState,
  op: Extract<Operation, { op: 'change' }>,
  seq: number,
): Applied<ChangeResult> {
  const { request, time } = op;
  const license = state.licenses[request.key];
  if (!license) return { result: { status: 'not_found' }, changed: false };
  const idemKey = request.idempotency ? `${request.key}\u241f${request.idempotency.key}` : undefined;
  const stored = idemKey ? state.idempotency[idemKey] : undefined;
  // Expiry is judged by the record's own time, so a replay of the journal decides exactly as the first run.
  const remembered = stored && !(stored.expiresAt! <= Date.parse(time)) ? stored : undefined;
  if (remembered) {
    if (remembered.fingerprint !== request.idempotency!.fingerprint) {
      return { result: { status: 'idempotency_conflict' }, changed: false };
    }
    return {
      result: { status: 'replayed', license: copyLicense(license), entry: remembered.entry ?? undefined },
      changed: false,
    };
  }
  if (request.tradeNo && state.trades[request.tradeNo]) {
    return { result: { status: 'duplicate', license: copyLicense(license) }, changed: false };
  }
  // A revoked license cannot be spent from; a request it made before the revocation still settles.
  if (request.amount < 0 && request.kind === 'deduct' && license.status === 'revoked') {
    return { result: { status: 'revoked', license: copyLicense(license) }, changed: false };
  }
  // Unlimited accounts are never charged: the request succeeds and the balance stays.
  const amount = license.unlimited && request.amount < 0 ? 0 : request.amount;
  if (amount < 0 && license.credits - license.held + amount < 0) {
    return { result: { status: 'insufficient', license: copyLicense(license) }, changed: false };
  }
  if (amount > 0 && license.credits + amount > MAX_BALANCE) {
    return { result: { status: 'balance_limit', license: copyLicense(license) }, changed: false };
  }
  let entry: LedgerEntry | undefined;
  if (amount !== 0) {
    license.credits += amount;
    license.lastUpdatedAt = time;
    entry = {
      id: seq,
      time,
      kind: request.kind,
      amount,
      balanceAfter: license.credits,
      ...request.details,
    };
    if (request.tradeNo) entry.tradeNo = request.tradeNo;
    if (request.idempotency) entry.idempotencyKey = request.idempotency.key;
  }
  if (request.tradeNo) state.trades[request.tradeNo] = license.key;
  if (idemKey)
    state.idempotency[idemKey] = {
      fingerprint: request.idempotency!.fingerprint,
      entry: entry ?? null,
      expiresAt: Date.parse(time) + request.idempotency!.ttlMs,
    };
  state.seq = seq;
  return { result: { status: 'ok', license: copyLicense(license), entry }, changed: true, entry };
}

/** A payment in one step: the trade number checked first, the license made if needed, then credited. */
export function applyPayment(
  state: StoreState,
  op: Extract<Operation, { op: 'payment' }>,
  seq: number,
): Applied<PaymentResult> {
  const { request, time } = op;
  if (state.trades[request.tradeNo]) return { result: { status: 'duplicate' }, changed: false };
  const email = normalizeEmail(request.email);
  const existingKey = state.emails[email];
  let license = existingKey ? state.licenses[existingKey] : undefined;
  const created = !license || license.status !== 'active';
  if ((created ? 0 : license!.credits) + request.credits > MAX_BALANCE)
    return { result: { status: 'balance_limit' }, changed: false };
  if (created) {
    const create = { key: request.newLicense.key, email, credits: 0, unlimited: false };
    const made = {
      op: 'create' as const,
      time,
      request: { ...create, maxDevices: request.newLicense.maxDevices },
    };
    applyCreate(state, made, seq);
    license = state.licenses[request.newLicense.key]!;
  }
  const change = {
    key: license!.key,
    amount: request.credits,
    kind: 'payment' as const,
    tradeNo: request.tradeNo,
    ...(request.details ? { details: request.details } : {}),
  };
  const applied = applyChange(state, { op: 'change', time, request: change }, seq);
  const { result } = applied;
  if (result.status !== 'ok') throw new Error(`payment could not be credited: ${result.status}`);
  op.key = license!.key;
  if (result.entry) {
    const { key, email } = result.license;
    const { id: entryId } = result.entry;
    state.payments.push({ tradeNo: request.tradeNo, key, email, credits: request.credits, time, entryId });
  }
  return {
    result: { status: 'credited', license: result.license, created, entry: result.entry },
    changed: true,
    ...(applied.entry ? { entry: applied.entry } : {}),
  };
}

/**
 * The daily charge: once per license and day, never for a day before the last one paid. `daily_refund`
 * records come only from journals of versions that gave a failed request's day back: replayed as they were.
 */
export function applyDaily(
  state: StoreState,
  op: Extract<Operation, { op: 'daily' | 'daily_refund' }>,
  seq: number,
): Applied<DailyResult> {
  const { request, time } = op;
  const license = state.licenses[request.key];
  if (!license) return { result: 'not_found', changed: false };
  if (op.op === 'daily_refund') {
    if (state.daily[request.key] !== request.day) return { result: 'already', changed: false };
    delete state.daily[request.key];
  } else {
    if (!dayOwed(state.daily[request.key], request.day)) return { result: 'already', changed: false };
    if (license.status === 'revoked') return { result: 'revoked', changed: false };
    if (!license.unlimited && license.credits - license.held < request.amount)
      return { result: 'insufficient', changed: false };
    state.daily[request.key] = request.day;
  }
  state.seq = seq;
  const amount = license.unlimited ? 0 : op.op === 'daily' ? -request.amount : request.amount;
  if (amount === 0) return { result: 'charged', changed: true };
  license.credits += amount;
  license.lastUpdatedAt = time;
  const entry: LedgerEntry = {
    id: seq,
    time,
    kind: op.op === 'daily' ? 'daily_charge' : 'daily_refund',
    amount,
    balanceAfter: license.credits,
    reference: dailyReference(request.day),
    ...request.details,
  };
  return { result: 'charged', changed: true, entry };
}

/**
 * A usage charge, made (settle) or replayed, as its ledger entry. Settle takes it within the balance, and
 * holds do not survive a restart, so a replay applies it again exactly as it was made.
 */
export function applyEntry(state: StoreState, key: string, entry: LedgerEntry): LedgerEntry | undefined {
  const license = state.licenses[key];
  state.seq = entry.id;
  if (!license) return undefined;
  license.credits += entry.amount;
  license.lastUpdatedAt = entry.time;
  // A day's charge taken in a settle carries its day: the mark is rebuilt from it on replay.
  const day = entry.kind === 'daily_charge' ? dayOfReference(entry.reference) : undefined;
  if (day && dayOwed(state.daily[key], day)) state.daily[key] = day;
  return entry;
}

function dayOfReference(reference: string | undefined): string | undefined {
  return reference?.startsWith(DAILY_REFERENCE) ? reference.slice(DAILY_REFERENCE.length) : undefined;
}

/** Re-applies a journaled record (start-up replay). */
export function replay(state: StoreState, record: JournalRecord): LedgerEntry | undefined {
  switch (record.op) {
    case 'create':
      return applyCreate(state, record, record.seq).entry;
    case 'revoke':
    case 'reset_devices':
      applyStatus(state, record, record.seq);
      return undefined;
    case 'bind':
      applyBind(state, record, record.seq);
      return undefined;
    case 'limits':
      applyLimits(state, record, record.seq);
      return undefined;
    case 'change':
      return applyChange(state, record, record.seq).entry;
    case 'payment':
      return applyPayment(state, record, record.seq).entry;
    case 'daily':
    case 'daily_refund':
      return applyDaily(state, record, record.seq).entry;
    case 'entry':
      return applyEntry(state, record.key, record.entry);
  }
}
