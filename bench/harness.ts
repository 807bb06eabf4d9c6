/** Bench helpers: spawn a server process, run autocannon, measure SSE time to first chunk. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { closeClient, post } from './client.ts';

/** Node's arguments that run a script of this folder (`servers`, `crowd`), as the gateway runs: from source. */
export function scriptArgs(name: string): string[] {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  return ['--import', new URL('../gateway/typescript.mjs', import.meta.url).href, script];
}

export interface BenchServer {
  url: string;
  child: ChildProcess;
  /** Bytes the server's JavaScript holds (heap and buffers) after a full collection: live memory, no garbage. */
  liveBytes(): Promise<number>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** A command the server runs under (e.g. valgrind and its options), node's path appended to it. */
  launcher?: string[];
  /** Extra node flags. */
  nodeFlags?: string[];
}

export async function spawnServer(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: SpawnOptions = {},
): Promise<BenchServer> {
  const [command, ...launcherArgs] = options.launcher ?? [process.execPath];
  const node = options.launcher ? [process.execPath] : [];
  // Stdout goes nowhere: the load generator must not spend its time reading the servers' access logs.
  const child = spawn(
    command!,
    [
      ...launcherArgs,
      ...node,
      '--expose-gc',
      ...(options.nodeFlags ?? []),
      ...scriptArgs('servers'),
      ...args,
    ],
    {
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...env },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const port = (await firstMessage<ServerMessage>(child, args[0]!)).ready!;
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    liveBytes: () =>
      new Promise((resolve) => {
        child.once('message', (message: ServerMessage) => resolve(message.liveBytes!));
        child.send('live-bytes');
      }),
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The first message a process of the bench sends it over IPC; fails if the process ends first. */
export function firstMessage<T>(child: ChildProcess, name: string): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (message: T) => resolve(message));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/** What a server process says to the bench (`servers.ts`). */
interface ServerMessage {
  ready?: number;
  liveBytes?: number;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** What went wrong, when anything did: statuses other than 2xx and client errors, with their counts. */
  failures: string[];
}

export async function load(options: {
  url: string;
  body: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    body: options.body,
    headers: { 'content-type': 'application/json', ...options.headers },
    connections: options.connections,
    duration: options.seconds,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    failures: [
      ...Object.entries(result.statusCodeStats ?? {})
        .filter(([status]) => !status.startsWith('2'))
        .map(([status, { count }]) => `${status} ×${count}`),
      ...(result.errors > 0 ? [`errors ×${result.errors}`] : []),
      ...(result.timeouts > 0 ? [`timeouts ×${result.timeouts}`] : []),
    ],
  };
}

/** Times (ms) from sending a streaming request to its first body chunk, `count` requests `concurrency` at a time. */
export async function firstChunkTimes(options: {
  url: string;
  body: string;
  headers?: Record<string, string>;
  count: number;
  concurrency: number;
}): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  const target = { name: options.url, url: options.url, headers: options.headers ?? {} };
  const one = async () => {
    const { first } = await post(target, { body: options.body, since: performance.now() });
    times.push(first);
  };
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next++ < options.count) await one();
    }),
  );
  // Seconds of other load come next: these connections would sit idle past a server's keep-alive.
  closeClient();
  return times;
}

/** A gateway's full (mark-compact) garbage collections so far, from its own /metrics (prom-client's). */
export async function fullGcs(gatewayUrl: string): Promise<{ count: number; ms: number }> {
  const text = await (
    await fetch(`${gatewayUrl}/metrics`, { headers: { 'x-admin-token': 'bench-admin' } })
  ).text();
  const read = (name: string) =>
    Number(
      new RegExp(`^nodejs_gc_duration_seconds_${name}\\{kind="major"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0,
    );
  return { count: read('count'), ms: read('sum') * 1000 };
}

/** Writes the proxy-only gateway config (one route, the upstream plugin) into `dir`; returns its path. */
export async function writeProxyOnlyConfig(dir: string, upstreamPath: string): Promise<string> {
  const file = join(dir, 'proxy-only.yaml');
  await writeFile(
    file,
    `logging: { level: info, access_log: "\${ACCESS_LOG:-true}" }
routes:
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins: [{ upstream: { url: "${upstreamPath}", name: fixture } }]
`,
  );
  return file;
}

/** Env of a gateway on the shipped config/gateway.yaml with OpenRouter pointed at the fixture upstream. */
export function paidEnv(upstreamUrl: string): Record<string, string> {
  return {
    API_ADMIN_TOKEN: 'bench-admin',
    OPENROUTER_BASE_URL: `${upstreamUrl}/api/v1`,
    OPENROUTER_API_KEY: 'bench-key',
    PROXY_RATE_LIMIT: '100000000',
  };
}

/** Creates a license with plenty of credits on a gateway started with `paidEnv`; returns its request headers. */
export async function benchLicense(gatewayUrl: string): Promise<Record<string, string>> {
  const created = await fetch(`${gatewayUrl}/api/v1/license/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-admin-token': 'bench-admin' },
    body: JSON.stringify({ email: 'bench@example.com', credits: 1_000_000_000 }),
  });
  const { license_key } = (await created.json()) as { license_key: string };
  return { 'x-license-key': license_key, 'x-device-id': 'bench-device' };
}

/** The value below which a fraction `p` of `values` falls (the p50 at 0.5); NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}
