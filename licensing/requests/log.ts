/**
 * The request log and its statistics, on the store the gateway runs on: SQLite in DATA_DIR beside the
 * embedded store, or Redis, where every instance's requests meet. Recording never waits and never fails a
 * request: records are written in batches, in the background.
 */
import type { Buckets } from '../time.ts';
import type { RequestRecord } from './record.ts';

export interface RequestFilter {
  license?: string;
  model?: string;
  upstream?: string;
  status?: number;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

export interface RequestPage {
  records: (RequestRecord & { id: number })[];
  /** Pass as `before` for the next (older) page; null at the end. */
  next: number | null;
}

export const STAT_DIMENSIONS = ['all', 'model', 'license', 'upstream'] as const;
export type StatDimension = (typeof STAT_DIMENSIONS)[number];
export type StatPeriod = 'hour' | 'day';

export interface StatRow {
  /** `2026-12-06T14` (an hour) or `2026-12-06` (a day), in the operator's time zone. */
  bucket: string;
  /** The model, license or upstream; `all` for the whole. */
  key: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  /** Micro-credits. */
  credits: number;
  latencyMsSum: number;
}

export interface StatsQuery {
  period: StatPeriod;
  dimension: StatDimension;
  /** Buckets from `from` to `to`, both included (bucket names, as StatRow.bucket). */
  from: string;
  to: string;
}

export interface RequestLog {
  /** Queues the record; it is stored within moments. */
  record(record: RequestRecord): void;
  /** Stores what is queued now (tests and shutdown; the log does it by itself). */
  flush(): Promise<void>;
  query(filter: RequestFilter, page: { limit: number; before?: number }): Promise<RequestPage>;
  stats(query: StatsQuery): Promise<StatRow[]>;
  close(): Promise<void>;
}

/** Where records are kept and looked up; `batchedLog` queues records for it. */
export interface RequestStore {
  /** Stores a batch; `now` also tells the store when to drop what is past its retention. */
  write(records: RequestRecord[], now: number): Promise<void>;
  query(filter: RequestFilter, page: { limit: number; before?: number }): Promise<RequestPage>;
  stats(query: StatsQuery): Promise<StatRow[]>;
  close(): Promise<void>;
}

const FLUSH_MS = 200;

/**
 * A request log over a store: records are queued and written a batch at a time, one batch after another.
 * A batch that cannot be written (the store is down) is dropped and told to `onError`, never retried forever.
 */
export function batchedLog(
  store: RequestStore,
  options: { now: () => number; onError?: (error: unknown) => void },
): RequestLog {
  let queue: RequestRecord[] = [];
  let writing = Promise.resolve();
  const flush = () => {
    const records = queue;
    queue = [];
    writing = writing
      .then(() => store.write(records, options.now()))
      .catch((error: unknown) => options.onError?.(error));
    return writing;
  };
  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref();
  return {
    record: (record) => void queue.push(record),
    flush,
    query: (filter, page) => store.query(filter, page),
    stats: (query) => store.stats(query),
    async close() {
      clearInterval(timer);
      await flush();
      await store.close();
    },
  };
}

/** A bucket's figures for a key before any request is counted. */
export function emptyStat(bucket: string, key: string): StatRow {
  return {
    bucket,
    key,
    requests: 0,
    errors: 0,
    promptTokens: 0,
    completionTokens: 0,
    credits: 0,
    latencyMsSum: 0,
  };
}

/** A batch's figures for one period, bucket, dimension and key: what the statistics grow by. */
export interface StatSum extends StatRow {
  period: StatPeriod;
  dimension: StatDimension;
}

/** Sums a batch's records by the statistics they add to: a batch mostly shares its buckets and keys. */
export function sumStats(records: readonly RequestRecord[], buckets: Buckets): StatSum[] {
  // By period and bucket, then by dimension and key: a batch has a bucket or two, and few keys each.
  const groups = { hour: new Map<string, StatGroup>(), day: new Map<string, StatGroup>() };
  const sums: StatSum[] = [];
  for (const record of records) {
    for (const period of ['hour', 'day'] as const) {
      const bucket = buckets[period](record.time);
      let group = groups[period].get(bucket);
      if (!group) groups[period].set(bucket, (group = newGroup()));
      const at = { period, bucket, group, sums };
      addTo(at, 'all', 'all', record);
      if (record.model) addTo(at, 'model', record.model, record);
      if (record.license) addTo(at, 'license', record.license, record);
      if (record.upstream) addTo(at, 'upstream', record.upstream, record);
    }
  }
  return sums;
}

type StatGroup = Record<StatDimension, Map<string, StatSum>>;

const newGroup = (): StatGroup => ({
  all: new Map(),
  model: new Map(),
  license: new Map(),
  upstream: new Map(),
});

function addTo(
  at: { period: StatPeriod; bucket: string; group: StatGroup; sums: StatSum[] },
  dimension: StatDimension,
  key: string,
  record: RequestRecord,
): void {
  let sum = at.group[dimension].get(key);
  if (!sum) {
    sum = { ...emptyStat(at.bucket, key), period: at.period, dimension };
    at.group[dimension].set(key, sum);
    at.sums.push(sum);
  }
  sum.requests += 1;
  sum.errors += isError(record) ? 1 : 0;
  sum.promptTokens += record.promptTokens ?? 0;
  sum.completionTokens += record.completionTokens ?? 0;
  sum.credits += record.credits;
  sum.latencyMsSum += record.latencyMs;
}

/**
 * A failed request for the statistics: the client got an error status, or none, or an error in place of an
 * answer (an error code with a status below 400).
 */
const isError = (record: RequestRecord) =>
  record.status === 0 || record.status >= 400 || record.errorCode !== undefined;
