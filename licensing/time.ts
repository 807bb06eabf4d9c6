/** Timestamps of ledger entries and journal records: ISO 8601, as `Date#toISOString` writes them. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The hour and the calendar day a moment falls in, in a time zone (the operator's): `2026-12-06T14`, `2026-12-06`. */
export interface Buckets {
  hour(ms: number): string;
  day(ms: number): string;
}

const QUARTER_HOUR_MS = 15 * 60 * 1000;

export function bucketsIn(timeZone: string): Buckets {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      hourCycle: 'h23',
    });
  } catch {
    throw new Error(`"${timeZone}" is not a time zone (e.g. Asia/Shanghai)`);
  }
  // Every zone's offset is a whole number of quarter hours, so a quarter hour of UTC falls in one local
  // hour: its parts are worked out once, as formatting a date in a zone is slow.
  let quarter = NaN;
  let byType: Record<string, string> = {};
  const parts = (ms: number) => {
    if (Math.floor(ms / QUARTER_HOUR_MS) === quarter) return byType;
    quarter = Math.floor(ms / QUARTER_HOUR_MS);
    byType = {};
    for (const part of format.formatToParts(ms)) byType[part.type] = part.value;
    return byType;
  };
  return {
    hour: (ms) => {
      const p = parts(ms);
      return `${p.year}-${p.month}-${p.day}T${p.hour}`;
    },
    day: (ms) => {
      const p = parts(ms);
      return `${p.year}-${p.month}-${p.day}`;
    },
  };
}
