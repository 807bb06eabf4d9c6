/**
 * `npm run bench:requests`: the request log with RECORDS (1,000,000) requests recorded over 30 days, on
 * SQLite and on Redis: a filtered page of 50 rows (by license, by model and a time range, unfiltered), a
 * CSV-sized page of 1,000, and a 30-day daily chart. Each query is timed over several runs; the median and
 * the worst are printed. Env: RECORDS, ONLY (sqlite or redis).
 */
import { Redis } from 'ioredis';
import { bucketsIn } from '../licensing/time.ts';
import type { RequestFilter, RequestStore, StatsQuery } from '../licensing/requests/log.ts';
import type { RequestRecord } from '../licensing/requests/record.ts';
import { RedisRequests } from '../licensing/requests/redis.ts';
import { sqliteThread } from '../licensing/requests/sqlite-thread.ts';
import { startRedis } from '../test/fixtures/redis.ts';
import { tempDir } from '../test/fixtures/temp.ts';

const records = Number(process.env.RECORDS ?? 1_000_000);
const DAY_MS = 24 * 60 * 60 * 1000;
const end = Date.parse('2026-12-06T00:00:00Z');
const start = end - 30 * DAY_MS;
const buckets = bucketsIn('Asia/Shanghai');
const LICENSES = 5000;
const MODELS = ['openai/gpt-4o-mini', 'openai/gpt-4o', 'anthropic/claude-sonnet', 'gemini-2.0-flash-exp'];

function recordAt(i: number): RequestRecord {
  return {
    time: start + Math.floor((i / records) * 30 * DAY_MS),
    requestId: `req-${i}`,
    license: `CRDL-AAAA-BBBB-CCCC-${String(i % LICENSES).padStart(4, '0')}`,
    device: 'device-1',
    route: 'POST /v1/chat/completions',
    model: MODELS[i % MODELS.length]!,
    upstream: i % 3 === 0 ? 'space-1' : 'openrouter',
    status: i % 50 === 0 ? 502 : 200,
    latencyMs: 300 + (i % 700),
    ttftMs: 250 + (i % 200),
    promptTokens: 20 + (i % 300),
    completionTokens: 50 + (i % 900),
    credits: 1000 + (i % 5000),
    estimated: false,
  };
}

async function fill(log: RequestStore): Promise<number> {
  const started = performance.now();
  for (let first = 0; first < records; first += 5000) {
    const batch = Array.from({ length: Math.min(5000, records - first) }, (_, i) => recordAt(first + i));
    await log.write(batch, end);
  }
  return (performance.now() - started) / 1000;
}

async function timed(run: () => Promise<unknown>, times = 9): Promise<{ median: number; worst: number }> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await run();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, worst: ms.at(-1)! };
}

async function measure(name: string, log: RequestStore): Promise<void> {
  const seconds = await fill(log);
  console.error(`${name}: ${records} records stored in ${seconds.toFixed(1)} s`);
  const page =
    (filter: RequestFilter, limit = 50) =>
    () =>
      log.query(filter, { limit });
  const lastWeek = { from: end - 7 * DAY_MS, to: end - 6 * DAY_MS };
  const chart: StatsQuery = {
    period: 'day',
    dimension: 'all',
    from: buckets.day(start),
    to: buckets.day(end - 1),
  };
  const queries: [string, () => Promise<unknown>][] = [
    ['page of 50, unfiltered', page({})],
    ['page of 50, one license', page({ license: 'CRDL-AAAA-BBBB-CCCC-0042' })],
    ['page of 50, one model, one day', page({ model: MODELS[1], ...lastWeek })],
    ['page of 50, status 502', page({ status: 502 })],
    ['page of 1000 (CSV), one license', page({ license: 'CRDL-AAAA-BBBB-CCCC-0042' }, 1000)],
    ['30-day daily chart', () => log.stats(chart)],
    ['30-day daily chart by model', () => log.stats({ ...chart, dimension: 'model' })],
  ];
  for (const [query, run] of queries) {
    const { median, worst } = await timed(run);
    console.log(`| ${name} | ${query} | ${median.toFixed(1)} | ${worst.toFixed(1)} |`);
  }
}

console.log('| store | query | median ms | worst ms |');
console.log('|---|---|---:|---:|');
const retentionMs = 40 * DAY_MS;
const only = process.env.ONLY;
if (only !== 'redis') {
  const sqlite = sqliteThread({
    dir: await tempDir('cradle-log-'),
    timeZone: 'Asia/Shanghai',
    retentionMs,
  });
  await measure('sqlite', sqlite);
  await sqlite.close();
}
if (only !== 'sqlite') {
  const server = await startRedis();
  const redis = new Redis(server.url);
  const onRedis = new RedisRequests({ redis, buckets, retentionMs });
  await measure('redis', onRedis);
  await onRedis.close();
  redis.disconnect();
  await server.stop();
}
