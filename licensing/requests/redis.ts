/**
 * The request log on Redis, where every instance's requests meet. All its keys share one hash slot
 * (`{cradle:requests}`), so a batch is one MULTI on one master of a Cluster. A record is a hash that expires
 * with the retention; sorted sets by time, license, model, upstream and status (scored by record id) index
 * it, and are trimmed as records expire. Statistics are hashes per bucket, incremented as records come.
 */
import type { RedisConnection } from '../../gateway/redis.ts';
import type { Buckets } from '../time.ts';
import {
  emptyStat,
  sumStats,
  type RequestFilter,
  type RequestPage,
  type RequestStore,
  type StatRow,
  type StatsQuery,
} from './log.ts';
import { recordFrom, storedValues, type RequestRecord } from './record.ts';

const PREFIX = '{cradle:requests}';
const SEQ = `${PREFIX}:seq`;
/**
 * Every index is scored by the record's time and, below the millisecond, its id: newest first is the order
 * the requests finished in, whichever instance wrote them, and a score is a cursor that names one record.
 */
const IDS_PER_MS = 1024;
const scoreOf = (time: number, id: number) => time * IDS_PER_MS + (id % IDS_PER_MS);
/** Every index made, to trim them all. */
const INDEXES = `${PREFIX}:indexes`;
const DAY_MS = 24 * 60 * 60 * 1000;
const KEEP_DAYS_MS = 400 * DAY_MS;
const STAT_FIELDS = [
  'requests',
  'errors',
  'promptTokens',
  'completionTokens',
  'credits',
  'latencyMsSum',
] as const;

const row = (id: number) => `${PREFIX}:row:${id}`;
const index = (name: string, value: string | number) => `${PREFIX}:by-${name}:${value}`;
const statsKey = (period: string, bucket: string, dimension: string) =>
  `${PREFIX}:stats:${period}:${bucket}:${dimension}`;
type StatField = (typeof STAT_FIELDS)[number];

export interface RedisLogOptions {
  redis: RedisConnection;
  buckets: Buckets;
  retentionMs: number;
  /** Called once the log is closed: the connection is the log's own. */
  onClose?: () => void;
}

export class RedisRequests implements RequestStore {
  private lastTrim = 0;

  constructor(private readonly options: RedisLogOptions) {}

  async write(records: RequestRecord[], now: number): Promise<void> {
    const { redis, retentionMs } = this.options;
    if (records.length > 0) {
      const last = await redis.incrby(SEQ, records.length);
      const multi = redis.multi();
      // A batch's records mostly share their indexes: one ZADD an index, with all its new members.
      const members = new Map<string, number[]>();
      records.forEach((record, i) => {
        const id = last - records.length + 1 + i;
        multi.hset(row(id), storedValues(record));
        multi.pexpire(row(id), retentionMs);
        for (const [name, value] of indexesOf(record)) {
          const key = index(name, value);
          let added = members.get(key);
          if (!added) members.set(key, (added = []));
          added.push(scoreOf(record.time, id), id);
        }
      });
      for (const [key, added] of members) multi.zadd(key, ...added);
      if (members.size > 0) multi.sadd(INDEXES, ...members.keys());
      for (const sum of sumStats(records, this.options.buckets)) {
        const key = statsKey(sum.period, sum.bucket, sum.dimension);
        for (const stat of STAT_FIELDS) {
          if (stat === 'latencyMsSum') multi.hincrbyfloat(key, `${sum.key}|${stat}`, sum[stat]);
          else multi.hincrby(key, `${sum.key}|${stat}`, sum[stat]);
        }
        multi.pexpire(key, sum.period === 'hour' ? retentionMs + DAY_MS : KEEP_DAYS_MS);
      }
      await multi.exec();
    }
    if (now - this.lastTrim > 60 * 60 * 1000) await this.trim(now);
  }

  /** Drops index entries of records past the retention (their hashes expire by themselves). */
  private async trim(now: number): Promise<void> {
    this.lastTrim = now;
    const { redis } = this.options;
    const cutoff = scoreOf(now - this.options.retentionMs, 0);
    const names = await redis.smembers(INDEXES);
    const multi = redis.multi();
    for (const name of names) multi.zremrangebyscore(name, '-inf', `(${cutoff}`);
    for (const name of names) multi.exists(name);
    const results = (await multi.exec()) ?? [];
    // An index left empty is gone from Redis: its name goes too, or names clients made up would pile up.
    const gone = names.filter((_, i) => results[names.length + i]?.[1] === 0);
    if (gone.length > 0) await redis.srem(INDEXES, ...gone);
  }

  async query(filter: RequestFilter, page: { limit: number; before?: number }): Promise<RequestPage> {
    const { redis } = this.options;
    // The most selective index the filter names; the other conditions are checked on each record.
    const name = INDEXED.find((field) => filter[field] !== undefined);
    const key = name ? index(name, filter[name]!) : index('time', 'all');
    const records: (RequestRecord & { id: number })[] = [];
    let before = Math.min(
      page.before ?? Infinity,
      filter.to === undefined ? Infinity : scoreOf(filter.to, 0),
    );
    const lowest = filter.from === undefined ? '-inf' : scoreOf(filter.from, 0);
    let next: number | null = null;
    for (let round = 0; next === null; round++) {
      const found = await redis.zrevrangebyscore(key, `(${before}`, lowest, 'WITHSCORES', 'LIMIT', 0, 200);
      if (found.length === 0) break;
      // A filter the index does not serve may match little: a page stops after 10,000 looked at, with a cursor.
      if (round === 50) {
        next = before;
        break;
      }
      const pipeline = redis.pipeline();
      for (let i = 0; i < found.length; i += 2) pipeline.hgetall(row(Number(found[i])));
      const rows = (await pipeline.exec()) ?? [];
      for (const [i, [, values]] of rows.entries()) {
        const fields = values as Record<string, string>;
        const score = Number(found[i * 2 + 1]);
        if (!fields.route) continue;
        const record = { ...recordFrom(fields), id: Number(found[i * 2]) };
        if (!matches(record, filter)) continue;
        if (records.length === page.limit) {
          next = before;
          break;
        }
        records.push(record);
        before = score;
      }
      if (next === null) before = Number(found.at(-1));
    }
    return { records, next };
  }

  async stats(query: StatsQuery): Promise<StatRow[]> {
    const { redis } = this.options;
    const buckets = bucketRange(query);
    const pipeline = redis.pipeline();
    for (const bucket of buckets) pipeline.hgetall(statsKey(query.period, bucket, query.dimension));
    const results = (await pipeline.exec()) ?? [];
    const rows: StatRow[] = [];
    results.forEach(([, values], i) => {
      const byKey = new Map<string, StatRow>();
      for (const [field, text] of Object.entries(values as Record<string, string>)) {
        // A field is `key|stat`; a key (a model name) may hold `|` itself, a stat never does.
        const cut = field.lastIndexOf('|');
        const [key, stat] = [field.slice(0, cut), field.slice(cut + 1)];
        if (!(STAT_FIELDS as readonly string[]).includes(stat)) continue;
        let stats = byKey.get(key);
        if (!stats) {
          stats = emptyStat(buckets[i]!, key);
          byKey.set(key, stats);
        }
        stats[stat as StatField] = Number(text);
      }
      rows.push(...[...byKey.values()].sort((a, b) => a.key.localeCompare(b.key)));
    });
    return rows;
  }

  async close(): Promise<void> {
    this.options.onClose?.();
  }
}

/** The fields a record is indexed by, most selective first: a query walks the first its filter names. */
const INDEXED = ['license', 'model', 'upstream', 'status'] as const;

/** The indexes a record goes into: one per indexed field it has, and the one of every record. */
function indexesOf(record: RequestRecord): [string, string | number][] {
  const found: [string, string | number][] = [];
  for (const name of INDEXED) if (record[name] !== undefined) found.push([name, record[name]]);
  found.push(['time', 'all']);
  return found;
}

function matches(record: RequestRecord, filter: RequestFilter): boolean {
  if (filter.license !== undefined && record.license !== filter.license) return false;
  if (filter.model !== undefined && record.model !== filter.model) return false;
  if (filter.upstream !== undefined && record.upstream !== filter.upstream) return false;
  if (filter.status !== undefined && record.status !== filter.status) return false;
  if (filter.from !== undefined && record.time < filter.from) return false;
  if (filter.to !== undefined && record.time >= filter.to) return false;
  return true;
}

/** The bucket names from `from` to `to`: hours (`YYYY-MM-DDTHH`) or days, at most 2,000. */
function bucketRange(query: StatsQuery): string[] {
  const names: string[] = [];
  const step = query.period === 'hour' ? 60 * 60 * 1000 : DAY_MS;
  const parse = (name: string) =>
    Date.parse(query.period === 'hour' ? `${name}:00:00Z` : `${name}T00:00:00Z`);
  const format = (ms: number) => new Date(ms).toISOString().slice(0, query.period === 'hour' ? 13 : 10);
  for (let ms = parse(query.from); ms <= parse(query.to) && names.length < 2000; ms += step)
    names.push(format(ms));
  return names;
}
