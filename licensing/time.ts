/** Timestamps of ledger entries and journal records: ISO 8601, as `Date#toISOString` writes them. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
