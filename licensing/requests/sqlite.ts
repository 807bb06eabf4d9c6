/**
 * The request log of the embedded store: SQLite (better-sqlite3) in DATA_DIR/requests.sqlite, in WAL mode.
 * A batch of records is one transaction, with the statistics they add to, so a filtered page or a month of
 * daily figures is an indexed query, never a scan of the log. It runs on a thread of its own (`thread.ts`).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Buckets } from '../time.ts';
import {
  sumStats,
  type RequestFilter,
  type RequestPage,
  type RequestStore,
  type StatRow,
  type StatsQuery,
} from './log.ts';
import { recordFrom, REQUEST_FIELDS, storedValues, type RequestRecord } from './record.ts';

const SQL_TYPES = {
  time: 'INTEGER',
  text: 'TEXT',
  integer: 'INTEGER',
  number: 'REAL',
  boolean: 'INTEGER',
  credits: 'INTEGER',
};
const DAY_MS = 24 * 60 * 60 * 1000;
/** Daily figures outlive the log: a year of them is a few thousand rows. */
const KEEP_DAYS_MS = 400 * DAY_MS;

const columns = REQUEST_FIELDS.map((field) => field.name);
const FILTER_COLUMNS = {
  license: 'license',
  model: 'model',
  upstream: 'upstream',
  status: 'status',
} as const;

export interface SqliteLogOptions {
  dir: string;
  buckets: Buckets;
  retentionMs: number;
}

export class SqliteRequests implements RequestStore {
  private readonly db: Database.Database;
  private readonly insertBatch: (records: RequestRecord[]) => void;
  private lastPrune = 0;

  constructor(private readonly options: SqliteLogOptions) {
    this.db = new Database(join(options.dir, 'requests.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    const definitions = REQUEST_FIELDS.map((field) => `${field.name} ${SQL_TYPES[field.type]}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY, ${definitions.join(', ')});
      CREATE INDEX IF NOT EXISTS requests_time ON requests (time);
      CREATE INDEX IF NOT EXISTS requests_license ON requests (license);
      CREATE INDEX IF NOT EXISTS requests_model ON requests (model);
      CREATE INDEX IF NOT EXISTS requests_upstream ON requests (upstream);
      CREATE INDEX IF NOT EXISTS requests_status ON requests (status);
      CREATE TABLE IF NOT EXISTS stats (
        period TEXT, bucket TEXT, dimension TEXT, key TEXT,
        requests INTEGER, errors INTEGER, promptTokens INTEGER, completionTokens INTEGER,
        credits INTEGER, latencyMsSum REAL,
        PRIMARY KEY (period, bucket, dimension, key)
      ) WITHOUT ROWID;
    `);
    const insertRow = this.db.prepare(
      `INSERT INTO requests (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
    );
    const addStat = this.db.prepare(`
      INSERT INTO stats VALUES (@period, @bucket, @dimension, @key, @requests, @errors, @promptTokens,
        @completionTokens, @credits, @latencyMsSum)
      ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors,
        promptTokens = promptTokens + excluded.promptTokens,
        completionTokens = completionTokens + excluded.completionTokens,
        credits = credits + excluded.credits, latencyMsSum = latencyMsSum + excluded.latencyMsSum`);
    this.insertBatch = this.db.transaction((records: RequestRecord[]) => {
      for (const record of records) {
        const values = storedValues(record);
        insertRow.run(Object.fromEntries(columns.map((c) => [c, values[c] ?? null])));
      }
      for (const sum of sumStats(records, options.buckets)) addStat.run(sum);
    });
  }

  async write(records: RequestRecord[], now: number): Promise<void> {
    if (records.length > 0) this.insertBatch(records);
    if (now - this.lastPrune > 60 * 60 * 1000) this.prune(now);
  }

  private prune(now: number): void {
    this.lastPrune = now;
    const { retentionMs, buckets } = this.options;
    this.db.prepare('DELETE FROM requests WHERE time < ?').run(now - retentionMs);
    this.db
      .prepare("DELETE FROM stats WHERE period = 'hour' AND bucket < ?")
      .run(buckets.hour(now - retentionMs));
    this.db
      .prepare("DELETE FROM stats WHERE period = 'day' AND bucket < ?")
      .run(buckets.day(now - KEEP_DAYS_MS));
  }

  async query(filter: RequestFilter, page: { limit: number; before?: number }): Promise<RequestPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [name, column] of Object.entries(FILTER_COLUMNS)) {
      const value = filter[name as keyof typeof FILTER_COLUMNS];
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    const bounds: [string, number | undefined][] = [
      ['time >= ?', filter.from],
      ['time < ?', filter.to],
      ['id < ?', page.before],
    ];
    for (const [condition, value] of bounds) {
      if (value === undefined) continue;
      where.push(condition);
      params.push(value);
    }
    const sql = `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...params, page.limit + 1) as Record<string, unknown>[];
    const records = rows.slice(0, page.limit).map((row) => ({ ...recordFrom(row), id: Number(row.id) }));
    return { records, next: rows.length > page.limit ? records.at(-1)!.id : null };
  }

  async stats(query: StatsQuery): Promise<StatRow[]> {
    const rows = this.db
      .prepare(
        `SELECT bucket, key, requests, errors, promptTokens, completionTokens, credits, latencyMsSum
         FROM stats WHERE period = ? AND dimension = ? AND bucket >= ? AND bucket <= ? ORDER BY bucket, key`,
      )
      .all(query.period, query.dimension, query.from, query.to);
    return rows as StatRow[];
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
