/**
 * `npm run bench`: the fixture upstream, a bare http-proxy-3 and the gateway, each in its own process,
 * measured in one run: non-stream req/s and latency (autocannon), and SSE time to first chunk.
 * SSE percentiles are taken over the streams of all rounds together.
 * Env: BENCH_SECONDS (8), BENCH_CONNECTIONS (50), BENCH_ROUNDS (2), SSE_REQUESTS (1000 per round),
 * BENCH_WARMUP (12: seconds of load each server gets once, with 4000 streams, before round 1).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../test/fixtures/redis.ts';
import {
  benchLicense,
  firstChunkTimes,
  fullGcs,
  load,
  paidEnv,
  percentile,
  spawnServer,
  writeProxyOnlyConfig,
  type BenchServer,
} from './harness.ts';
import { chatBody } from './client.ts';
import { tempDir } from '../test/fixtures/temp.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const sseRequests = Number(process.env.SSE_REQUESTS ?? 1000);
const warmupSeconds = Number(process.env.BENCH_WARMUP ?? 12);
/** Streams each server serves once, after the warm-up load, before round 1. */
const warmupStreams = 4000;

interface Scenario {
  name: string;
  server?: BenchServer;
  url: string;
  headers?: Record<string, string>;
  /** A gateway that serves /metrics (the shipped config): its full GCs are shown with each round. */
  metrics?: string;
}

const upstream = await spawnServer(['upstream'], { CHUNK_DELAY_MS: '2' });
const upstreamPath = `${upstream.url}/v1/chat/completions`;
const dir = await tempDir('cradle-bench-');
const proxyOnly = await writeProxyOnlyConfig(dir, upstreamPath);
const bare = await spawnServer(['bare', upstreamPath]);
const gateway = await spawnServer(['gateway', proxyOnly]);

/** The shipped config/gateway.yaml, OpenRouter pointed at the fixture: the whole paid chain runs. */
async function paidGateway(
  env: Record<string, string>,
  config = 'config/gateway.yaml',
): Promise<{ server: BenchServer; headers: Record<string, string> }> {
  const server = await spawnServer(['gateway', config], { ...env, ...paidEnv(upstream.url) });
  return { server, headers: await benchLicense(server.url) };
}

/** The shipped config without its request log: what recording costs is the difference. */
async function withoutRequestLog(): Promise<string> {
  const shipped = await readFile('config/gateway.yaml', 'utf8');
  const file = join(dir, 'no-request-log.yaml');
  await writeFile(file, shipped.replace(/^ {4}- request-log\n/m, ''));
  return file;
}

// BENCH_ONLY=proxy measures the first three scenarios alone.
const withPaid = process.env.BENCH_ONLY !== 'proxy';
const redis = withPaid ? await startRedis() : undefined;
const paidEmbedded = withPaid ? await paidGateway({ DATA_DIR: join(dir, 'data') }) : undefined;
const paidRedis = redis ? await paidGateway({ REDIS_URL: redis.url }) : undefined;
const paidUnlogged = withPaid
  ? await paidGateway({ DATA_DIR: join(dir, 'data-unlogged') }, await withoutRequestLog())
  : undefined;

// The OpenRouter route: exactly the paid chain (cors, rate-limit, license, daily-charge, billing) + openrouter.
const paid = (p: { server: BenchServer; headers: Record<string, string> }) => ({
  server: p.server,
  url: `${p.server.url}/api/chat/completion`,
  headers: p.headers,
  metrics: p.server.url,
});

const scenarios: Scenario[] = [
  { name: 'upstream direct', url: upstreamPath },
  { name: 'bare http-proxy-3', server: bare, url: `${bare.url}/v1/chat/completions` },
  { name: 'gateway, proxy-only chain', server: gateway, url: `${gateway.url}/v1/chat/completions` },
  ...(paidEmbedded ? [{ name: 'gateway, paid chain, embedded store', ...paid(paidEmbedded) }] : []),
  ...(paidRedis ? [{ name: 'gateway, paid chain, redis store', ...paid(paidRedis) }] : []),
  ...(paidUnlogged
    ? [{ name: 'gateway, paid chain without request log, embedded', ...paid(paidUnlogged) }]
    : []),
];

interface Row {
  rps: number[];
  p50: number[];
  p99: number[];
  errors: number;
  sse: number[];
}
const rows = new Map<string, Row>(
  scenarios.map((s) => [s.name, { rps: [], p50: [], p99: [], errors: 0, sse: [] }]),
);
// Streams not counted at the start of each block: a fresh gateway's streaming path takes thousands of streams
// to settle, and streams right after the load are slow on every server, the more so the longer its path.
const SSE_WARMUP = 4000;

// Each server runs warmupSeconds of load and warmupStreams streams once before it is measured: a long-running
// gateway is measured, not a fresh process (V8 takes seconds of load to optimise the paid chain).
for (const scenario of scenarios) {
  const { url, headers } = scenario;
  await load({ url, body: chatBody(false), headers, connections, seconds: warmupSeconds });
  await firstChunkTimes({ url, body: chatBody(true), headers, count: warmupStreams, concurrency: 10 });
}

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
  for (const scenario of order) {
    const row = rows.get(scenario.name)!;
    // Warm-up: connections and JIT (a fresh process needs a few seconds to optimise its hot paths).
    await load({
      url: scenario.url,
      body: chatBody(false),
      headers: scenario.headers,
      connections,
      seconds: 3,
    });
    const result = await load({
      url: scenario.url,
      body: chatBody(false),
      headers: scenario.headers,
      connections,
      seconds,
    });
    row.rps.push(result.rps);
    row.p50.push(result.p50);
    row.p99.push(result.p99);
    row.errors += result.errors + result.non2xx;
    if (result.failures.length > 0)
      console.error(`round ${round + 1}: ${scenario.name}: ${result.failures.join(', ')}`);
    // A full GC (3–10 ms) among the streams raised a round's p99 by ~2.5 ms: the gateway's own count is shown.
    const gcsBefore = scenario.metrics ? await fullGcs(scenario.metrics) : undefined;
    // One continuous run of streams: the first ones warm the streaming path up and are not counted, so
    // every counted stream starts in the steady state (no burst of 10 streams starting at once).
    const times = await firstChunkTimes({
      url: scenario.url,
      body: chatBody(true),
      headers: scenario.headers,
      count: SSE_WARMUP + sseRequests,
      concurrency: 10,
    });
    const counted = times.slice(SSE_WARMUP);
    row.sse.push(...counted);
    const gcsAfter = scenario.metrics ? await fullGcs(scenario.metrics) : undefined;
    const gcs =
      gcsBefore && gcsAfter
        ? `; full GCs during its ${SSE_WARMUP + sseRequests} streams: ${gcsAfter.count - gcsBefore.count} (${(gcsAfter.ms - gcsBefore.ms).toFixed(1)} ms)`
        : '';
    console.error(
      `round ${round + 1}: ${scenario.name}: ${Math.round(result.rps)} req/s, SSE first chunk p99 ${percentile(counted, 0.99).toFixed(2)} ms${gcs}`,
    );
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const bareRow = rows.get('bare http-proxy-3')!;
const bareSse99 = percentile(bareRow.sse, 0.99);
const lines = [
  `| scenario | req/s | × bare | p50 ms | p99 ms | SSE 1st chunk p50 ms | SSE 1st chunk p99 ms | Δ p99 vs bare ms | non-2xx or errors |`,
  `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ...scenarios.map((s) => {
    const r = rows.get(s.name)!;
    const sse99 = percentile(r.sse, 0.99);
    return `| ${s.name} | ${Math.round(mean(r.rps))} | ${(mean(r.rps) / mean(bareRow.rps)).toFixed(2)} | ${mean(r.p50).toFixed(1)} | ${mean(r.p99).toFixed(1)} | ${percentile(r.sse, 0.5).toFixed(2)} | ${sse99.toFixed(2)} | ${(sse99 - bareSse99).toFixed(2)} | ${r.errors} |`;
  }),
];
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ${connections} connections, ${seconds} s × ${rounds} rounds; SSE: ${sseRequests} streams a round per scenario, 10 at a time, after ${SSE_WARMUP} uncounted`;
const table = `${machine}\n\n${lines.join('\n')}\n`;
console.log(table);
await mkdir('bench/results', { recursive: true });
await writeFile('bench/results/latest.md', table);
for (const scenario of scenarios) await scenario.server?.stop();
await upstream.stop();
await redis?.stop();
