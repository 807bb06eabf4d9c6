/** Timestamps of ledger entries and journal records: ISO 8601, as `Date#toISOString` writes them. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The hour and the calendar day a moment falls in, in a time zone (the operator's): `2026-12-06T14`, `2026-12-06`. */
export interface Buckets {
  hour(ms: number): string;
  day(ms: number): string;
}

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
  const parts = (ms: number) => {
    const byType: Record<string, string> = {};
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
