/** JSON shapes of the license API (the seed's paths and fields): decimals at the edge only. */
import { maskLicenseKey } from '../../licensing/keys.ts';
import { detailsInApi, ENTRY_FIELDS } from '../../licensing/entry-fields.ts';
import { limitsView } from '../../licensing/limits.ts';
import { toCredits } from '../../licensing/money.ts';
import type { LedgerEntry, License } from '../../licensing/types.ts';

export function licenseInfo(license: License, options: { credits?: number } = {}) {
  return {
    license_key: license.key,
    email: license.email,
    credits: toCredits(options.credits ?? license.credits),
    held: toCredits(license.held),
    status: license.status,
    issued_at: license.issuedAt,
    last_updated_at: license.lastUpdatedAt,
    devices: license.devices,
    max_devices: license.maxDevices,
    unlimited: license.unlimited,
    ...(license.limits ? { limits: limitsView(license.limits) } : {}),
  };
}

export function balanceView(license: License, options: { admin: boolean }) {
  return {
    success: true,
    email: license.email,
    credits: toCredits(license.credits),
    license_key: options.admin ? license.key : maskLicenseKey(license.key),
  };
}

/** The ledger's CSV columns: an entry's own and every detail an entry may carry. */
export const LEDGER_CSV_HEADER = [
  'id',
  'time',
  'kind',
  'amount',
  'balance_after',
  ...ENTRY_FIELDS.map((field) => field.api),
];

export function entryView(entry: LedgerEntry) {
  return {
    id: entry.id,
    time: entry.time,
    kind: entry.kind,
    amount: toCredits(entry.amount),
    balance_after: toCredits(entry.balanceAfter),
    ...detailsInApi(entry),
  };
}
