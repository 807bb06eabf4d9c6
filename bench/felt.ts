/**
 * What users feel behind a real upstream (part of `npm run bench`), each server against a bare
 * http-proxy-3 in the same run: the fixture upstream answers after 300 ms, and streams a token every 100 ms.
 *   (a) added latency: POSTs at a fixed rate (open loop: each one's latency counts from when it was due, so a
 *       slow server is not let off by sending fewer), p50 and p99;
 *   (b) many open streams: with STREAMS streams of 20 s open, the time to first token of new streams arriving
 *       at a steady rate (from when each was due), and the server process's memory per open stream.
 * Each figure is the median of FELT_ROUNDS rounds, taken server after server; the first token's percentiles
 * are over the timed streams of all rounds.
 * Env: FELT_RATE (500 a second), FELT_SECONDS (10), FELT_WARMUP (5 s of the same load, uncounted),
 * FELT_STREAMS (1000), FELT_ROUNDS (3).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis } from '../test/fixtures/redis.ts';
import { chatBody, closeClient, post, type Target } from './client.ts';
import {
  benchLicense,
  firstMessage,
  paidEnv,
  percentile,
  scriptArgs,
  spawnServer,
  type BenchServer,
} from './harness.ts';
import { tempDir } from '../test/fixtures/temp.ts';

const rate = Number(process.env.FELT_RATE ?? 500);
const seconds = Number(process.env.FELT_SECONDS ?? 10);
/** Seconds of the same load right before (a) is counted. */
const warmupSeconds = Number(process.env.FELT_WARMUP ?? 5);
const rounds = Number(process.env.FELT_ROUNDS ?? 3);
const streams = Number(process.env.FELT_STREAMS ?? 1000);

/** A server under test, and how the bench asks it. */
interface Served extends Target {
  server: BenchServer;
}

/**
 * `count` calls of `send`, the i-th due `i / rate` seconds after the start and made when due (open loop, as
 * users arrive: a slow server is not let off by being asked less, and no call waits for another); each
 * resolves with what `send` makes of its due time.
 */
function dueAtRate<T>(count: number, rate: number, send: (due: number) => Promise<T>): Promise<T[]> {
  const start = performance.now() + 50;
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const due = start + (i * 1000) / rate;
      return new Promise<T>((resolve, reject) => {
        setTimeout(() => send(due).then(resolve, reject), Math.max(0, due - performance.now()));
      });
    }),
  );
}

/**
 * (a) Requests due at a fixed rate, latency counted from when each was due. The first `warmupSeconds` of
 * them are the same load uncounted, right before: compilation and the heap's sizes settle as on a gateway
 * that has been serving, which a pause of the load undoes (V8 shrinks an idle heap).
 */
async function openLoop(target: Served): Promise<{ p50: number; p99: number }> {
  const uncounted = rate * warmupSeconds;
  const latencies = await dueAtRate(uncounted + rate * seconds, rate, (due) =>
    post(target, { body: chatBody(false), since: due }).then((t) => t.end),
  );
  closeClient();
  const counted = latencies.slice(uncounted);
  return { p50: percentile(counted, 0.5), p99: percentile(counted, 0.99) };
}

async function rssKiB(server: BenchServer): Promise<number> {
  const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/**
 * The server's resident memory, the median of five readings 300 ms apart: one reading falls before or after
 * a garbage collection as it happens, which moves it by megabytes.
 */
async function settledRssKiB(server: BenchServer): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 300));
    readings.push(await rssKiB(server));
  }
  return percentile(readings, 0.5);
}

/** What the server's JavaScript holds (heap and buffers) after a full collection: live memory, no garbage. */
async function liveKiB(server: BenchServer): Promise<number> {
  return (await server.liveBytes()) / 1024;
}

/** New streams timed to their first token in (b), a round; `TIMED_RATE` a second, all within the crowd's 20 s. */
const TIMED_STREAMS = 600;
const TIMED_RATE = 60;

/**
 * (b) `streams` streams opened (500 a second) by a crowd process of their own (`crowd.ts`), then
 * TIMED_STREAMS new ones timed to their first token by this one, arriving at a steady rate as users do (a
 * burst of them would time each one's wait behind the others' requests). Memory per open stream: resident
 * memory as the system sees it (which also counts garbage not yet collected and heap space reserved for
 * what comes), and live memory, read after the timed streams so that its full collection does not fall
 * among them.
 */
async function manyStreams(
  target: Served,
): Promise<{ firsts: number[]; residentPerStream: number; livePerStream: number }> {
  const idle = { resident: await settledRssKiB(target.server), live: await liveKiB(target.server) };
  const { name, url, headers } = target;
  const crowd = spawn(
    process.execPath,
    [...scriptArgs('crowd'), JSON.stringify({ target: { name, url, headers }, streams })],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const ended = new Promise<number | null>((resolve) => crowd.once('exit', resolve));
  await firstMessage(crowd, 'the crowd of streams');
  await new Promise((r) => setTimeout(r, 1000));
  const busyResident = await settledRssKiB(target.server);
  const firsts = await dueAtRate(TIMED_STREAMS, TIMED_RATE, (due) =>
    post(target, { body: chatBody(true), since: due, firstOnly: true }).then((t) => t.first),
  );
  closeClient();
  const busyLive = await liveKiB(target.server);
  const code = await ended;
  if (code !== 0)
    throw new Error(`${target.name}: the crowd's streams did not all stay open (exit code ${code})`);
  return {
    firsts,
    residentPerStream: (busyResident - idle.resident) / streams,
    livePerStream: (busyLive - idle.live) / streams,
  };
}

const upstream = await spawnServer(['upstream'], {
  DELAY_MS: '300',
  CHUNK_DELAY_MS: '100',
  REPLY_WORDS: '200',
});
const upstreamPath = `${upstream.url}/v1/chat/completions`;
const redis = await startRedis();
const dir = await tempDir('cradle-felt-');

const paid = async (name: string, env: Record<string, string>): Promise<Served> => {
  const server = await spawnServer(['gateway', 'config/gateway.yaml'], { ...env, ...paidEnv(upstream.url) });
  return { name, server, url: `${server.url}/api/chat/completion`, headers: await benchLicense(server.url) };
};
const bareServer = await spawnServer(['bare', upstreamPath]);
const only = process.env.FELT_ONLY;
const targets: Served[] = [
  { name: 'bare http-proxy-3', server: bareServer, url: bareServer.url, headers: {} },
  ...(only === 'redis'
    ? []
    : [await paid('gateway, paid chain, embedded store', { DATA_DIR: join(dir, 'data') })]),
  ...(only === 'embedded' ? [] : [await paid('gateway, paid chain, redis store', { REDIS_URL: redis.url })]),
];

/** One round's figures of one server. */
type Round = { p50: number; p99: number; firsts: number[]; residentPerStream: number; livePerStream: number };

/**
 * A server's figures over its rounds: the median of each round's figure (one round's tail moves by
 * milliseconds on a shared host), and the first tokens' percentiles over the timed streams of all rounds.
 */
function summary(rounds: Round[]) {
  const median = (key: 'p50' | 'p99' | 'residentPerStream' | 'livePerStream') =>
    percentile(
      rounds.map((round) => round[key]),
      0.5,
    );
  const firsts = rounds.flatMap((round) => round.firsts);
  return {
    p50: median('p50'),
    p99: median('p99'),
    ttftP50: percentile(firsts, 0.5),
    ttftP99: percentile(firsts, 0.99),
    residentPerStream: median('residentPerStream'),
    livePerStream: median('livePerStream'),
  };
}

// Round by round across the servers, so that what else the host does in a while falls on each of them.
const measured = new Map<Served, Round[]>(targets.map((target) => [target, []]));
for (let round = 1; round <= rounds; round++) {
  for (const target of targets) {
    const latency = await openLoop(target);
    const many = await manyStreams(target);
    measured.get(target)!.push({ ...latency, ...many });
    console.error(`${target.name}: round ${round} done`);
  }
}

const rows: string[] = [];
const bare = summary(measured.get(targets[0]!)!);
for (const target of targets) {
  const felt = summary(measured.get(target)!);
  const perStream = (kib: number, against: number) => `${kib.toFixed(1)} (${(kib / against).toFixed(2)} ×)`;
  const added = (ms: number, against: number) =>
    `${ms.toFixed(1)} (${ms - against >= 0 ? '+' : ''}${(ms - against).toFixed(1)})`;
  rows.push(
    `| ${target.name} | ${added(felt.p50, bare.p50)} | ${added(felt.p99, bare.p99)} | ` +
      `${added(felt.ttftP50, bare.ttftP50)} | ${added(felt.ttftP99, bare.ttftP99)} | ` +
      `${perStream(felt.livePerStream, bare.livePerStream)} | ` +
      `${perStream(felt.residentPerStream, bare.residentPerStream)} |`,
  );
  const byRound = (figure: (round: Round) => number) =>
    measured
      .get(target)!
      .map((round) => figure(round).toFixed(1))
      .join(', ');
  console.error(
    `${target.name}: by round, latency p99 ${byRound((r) => r.p99)}; ` +
      `first token p99 ${byRound((r) => percentile(r.firsts, 0.99))}`,
  );
}

console.log(
  `\n${rate} req/s for ${seconds} s behind a 300 ms upstream; ${streams} streams of 20 s open (first token at 300 ms, then one every 100 ms), ${TIMED_STREAMS} new ones timed a round (${TIMED_RATE} a second); medians of ${rounds} rounds, first tokens over all rounds' streams\n`,
);
console.log(
  '| server | latency p50 ms (vs bare) | latency p99 ms (vs bare) | new stream 1st token p50 ms (vs bare) | p99 ms (vs bare) | live KiB per open stream (× bare) | resident KiB per open stream (× bare) |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const row of rows) console.log(row);

for (const target of targets) await target.server.stop();
await upstream.stop();
await redis.stop();
closeClient();
