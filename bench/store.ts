/**
 * `npm run bench:store`: money operations per second on the embedded and the Redis store, single and
 * 50 concurrent, with 10,000 licenses and again with 1,000,000 ledger entries stored; and the embedded
 * store's start-up (replay) time at that size. Env: LEDGER_ENTRIES (1000000), OPS (5000).
 */
import { cp, writeFile, mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { createLoggers } from '../gateway/log.ts';
import { EmbeddedStore } from '../licensing/embedded/store.ts';
import { generateLicenseKey } from '../licensing/keys.ts';
import { MICRO } from '../licensing/money.ts';
import { RedisStore } from '../licensing/redis/store.ts';
import type { LicenseStore } from '../licensing/types.ts';
import { startRedis } from '../test/fixtures/redis.ts';
import { tempDir } from '../test/fixtures/temp.ts';

const LICENSES = 10_000;
const ledgerTarget = Number(process.env.LEDGER_ENTRIES ?? 1_000_000);
// Each license's grant is an entry already: the history the bench fills up to counts them.
if (!Number.isInteger(ledgerTarget) || ledgerTarget < LICENSES)
  throw new Error(`LEDGER_ENTRIES must be a whole number of at least ${LICENSES}, one grant per license`);
const ops = Number(process.env.OPS ?? 5000);
const log = createLoggers({ level: 'silent' }).log;

async function inParallel(
  count: number,
  concurrency: number,
  run: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await run(next++);
    }),
  );
  return (count / (performance.now() - started)) * 1000;
}

async function measure(store: LicenseStore, keys: string[]): Promise<{ single: number; concurrent: number }> {
  const change = (i: number) =>
    store.change({
      key: keys[i % keys.length]!,
      amount: i % 2 ? MICRO : -MICRO / 2,
      kind: i % 2 ? 'recharge' : 'deduct',
    });
  const single = await inParallel(Math.min(ops, 2000), 1, change);
  const concurrent = await inParallel(ops, 50, change);
  return { single, concurrent };
}

interface Row {
  store: string;
  at: string;
  single: number;
  concurrent: number;
}
const rows: Row[] = [];
const notes: string[] = [];

async function run(
  name: string,
  open: () => Promise<LicenseStore>,
  after?: (store: LicenseStore) => Promise<void>,
): Promise<void> {
  const store = await open();
  const keys: string[] = [];
  await inParallel(LICENSES, 100, async (i) => {
    const key = generateLicenseKey();
    keys.push(key);
    await store.create({
      key,
      email: `bench${i}@example.com`,
      credits: 1000 * MICRO,
      maxDevices: 1,
      unlimited: false,
    });
  });
  rows.push({ store: name, at: `${LICENSES} licenses`, ...(await measure(store, keys)) });
  const fillStarted = performance.now();
  const fill = await inParallel(ledgerTarget - LICENSES, 200, (i) =>
    store.change({ key: keys[i % keys.length]!, amount: MICRO, kind: 'recharge' }),
  );
  notes.push(
    `${name}: stored ${ledgerTarget} ledger entries in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s (${Math.round(fill)}/s at 200 concurrent)`,
  );
  rows.push({ store: name, at: `${ledgerTarget} ledger entries`, ...(await measure(store, keys)) });
  await after?.(store);
  await store.close();
}

const dir = await tempDir('cradle-bench-store-');
const timeOpen = async (from: string, what: string) => {
  const started = performance.now();
  const reopened = await EmbeddedStore.open({ dir: from, log });
  notes.push(`embedded: start-up ${what}: ${(performance.now() - started).toFixed(0)} ms`);
  await reopened.close();
};
await run(
  'embedded',
  () => EmbeddedStore.open({ dir, log }),
  async () => {
    // A copy of the folder while the store runs is what a crash leaves: snapshot + journal to replay.
    const crashed = `${dir}-crashed`;
    await cp(dir, crashed, { recursive: true });
    await timeOpen(
      crashed,
      `after a crash, replaying the journal (${LICENSES} licenses, ${ledgerTarget} ledger entries)`,
    );
  },
);
await timeOpen(dir, 'after a graceful stop (snapshot only)');
const redis = await startRedis();
try {
  await run('redis (appendfsync always)', () => RedisStore.open({ url: redis.url, log }));
} finally {
  await redis.stop();
}

const table = [
  `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
  '',
  '| store | with | ops/s, one at a time | ops/s, 50 concurrent |',
  '|---|---|---:|---:|',
  ...rows.map((r) => `| ${r.store} | ${r.at} | ${Math.round(r.single)} | ${Math.round(r.concurrent)} |`),
  '',
  ...notes.map((n) => `- ${n}`),
  '',
].join('\n');
console.log(table);
await mkdir('bench/results', { recursive: true });
await writeFile('bench/results/store.md', table);
