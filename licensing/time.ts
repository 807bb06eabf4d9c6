/** Timestamps of ledger entries and journal records. */

let second = Number.NaN;
let prefix = '';

/**
 * The ISO 8601 text of an epoch-ms time, exactly as `Date#toISOString` writes it. The date and time of
 * day are formatted once a second, only the milliseconds per call: a store stamps every charge, and
 * formatting a Date each time cost more than the rest of writing the charge down.
 */
export function isoTime(ms: number): string {
  const whole = Math.floor(ms);
  const s = Math.floor(whole / 1000);
  if (s !== second) {
    const iso = new Date(s * 1000).toISOString();
    // Everything up to the milliseconds: "2026-11-27T12:00:00." of "2026-11-27T12:00:00.000Z".
    prefix = iso.slice(0, -4);
    second = s;
  }
  const milli = whole - s * 1000;
  return `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
