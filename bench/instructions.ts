/**
 * `npm run bench:instructions [bare|proxy-only|paid]`: user-space instructions per request of one server,
 * counted by valgrind (callgrind), so a change can be judged on a busy host where CPU time moves by ±30 %.
 * The server runs with `--single-threaded` (GC and compilation on the counted thread), is warmed up, then
 * counted over MEASURED requests; TurboFan compilation and garbage collection are reported apart.
 * Env: WARMUP (6000: compilation is then mostly over), MEASURED (1500), CONFIG (the `paid` scenario's config
 * file, config/gateway.yaml: a copy whose route lists fewer plugins counts what they cost). Needs `valgrind`
 * on PATH; takes about four minutes.
 */
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { chatBody } from './client.ts';
import { benchLicense, paidEnv, spawnServer, writeProxyOnlyConfig } from './harness.ts';
import { tempDir } from '../test/fixtures/temp.ts';

const scenario = process.argv[2] ?? 'paid';
const warmup = Number(process.env.WARMUP ?? 6000);
const measured = Number(process.env.MEASURED ?? 1500);

const upstream = await spawnServer(['upstream']);
const upstreamPath = `${upstream.url}/v1/chat/completions`;
const dir = await tempDir('cradle-instructions-');
const proxyOnly = await writeProxyOnlyConfig(dir, upstreamPath);
const serverArgs: Record<string, string[]> = {
  bare: ['bare', upstreamPath],
  'proxy-only': ['gateway', proxyOnly],
  paid: ['gateway', process.env.CONFIG ?? 'config/gateway.yaml'],
};
if (!serverArgs[scenario]) throw new Error(`scenario must be one of ${Object.keys(serverArgs).join(', ')}`);

const server = await spawnServer(
  serverArgs[scenario]!,
  { DATA_DIR: join(dir, 'data'), ...paidEnv(upstream.url) },
  {
    launcher: [
      'valgrind',
      '--tool=callgrind',
      `--callgrind-out-file=${dir}/callgrind.%p`,
      `--log-file=${dir}/valgrind.log`,
    ],
    nodeFlags: ['--single-threaded'],
  },
);
const base = server.url;
const headers = {
  'content-type': 'application/json',
  ...(scenario === 'paid' ? await benchLicense(base) : {}),
};
const send = (amount: number) =>
  autocannon({
    url: `${base}${scenario === 'paid' ? '/api/chat/completion' : '/v1/chat/completions'}`,
    method: 'POST',
    headers,
    body: chatBody(false),
    connections: 10,
    amount,
  });
// Each dump resets callgrind's counters: the second one holds the measured requests alone.
const dump = () =>
  execFileSync('callgrind_control', ['--dump', String(server.child.pid)], { stdio: 'ignore' });
await send(warmup);
dump();
await send(measured);
dump();
await server.stop();
await upstream.stop();

const file = (await readdir(dir)).find((name) => name.startsWith('callgrind.') && name.endsWith('.2'));
const report = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', join(dir, file!)], {
  encoding: 'utf8',
  maxBuffer: 1 << 28,
});
/** Instructions of the report's lines whose symbol matches, per measured request. */
const perRequest = (symbol: RegExp) => {
  let sum = 0;
  for (const line of report.split('\n')) {
    const count = /^\s*([\d,]+) \(/.exec(line)?.[1];
    if (count && symbol.test(line)) sum += Number(count.replaceAll(',', ''));
  }
  return Math.round(sum / measured);
};
const total = perRequest(/PROGRAM TOTALS/);
const compile = perRequest(
  /PipelineCompilationJob::(ExecuteJobImpl|FinalizeJobImpl)|BaselineBatchCompiler::CompileBatch\b|Compiler::Compile\(/,
);
const gc = perRequest(
  /Heap::CollectGarbage\(|IncrementalMarking::Step\(|IncrementalMarkingJob::Task::RunInternal|ScavengeJob::Task::RunInternal|MemoryReducer::TimerTask::RunInternal/,
);
/** Which config the gateway ran: a cut copy's counts must not read as the shipped chain's. */
const label = scenario === 'bare' ? scenario : `${scenario} (${serverArgs[scenario]![1]})`;
console.log(
  `${label}: ${total - compile - gc} instructions a request (compilation ${compile} and GC ${gc} apart; ` +
    `${measured} requests after ${warmup})`,
);
