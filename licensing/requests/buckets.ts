/** The hour and the day a moment falls in, in the operator's time zone: the buckets of the statistics. */
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
