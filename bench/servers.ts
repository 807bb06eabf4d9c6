/**
 * One bench server per process, so the load generator never shares an event loop with what it measures:
 *   upstream            the fixture upstream (JSON and SSE)
 *   bare <upstreamUrl>  a bare http-proxy-3 with the gateway's keep-alive agent: the yardstick
 *   gateway <config>    the gateway with the given YAML
 * Each says `READY <port>` when listening: to the bench over IPC when it spawned it (`harness.ts`), else on
 * stdout. Asked `live-bytes`, it answers the bytes its JavaScript holds after a full collection.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { startGateway } from '../gateway/app.ts';
import { agentFor } from '../gateway/proxy/passes.ts';
import { builtinPlugins } from '../plugins/index.ts';
import { startUpstream } from '../test/fixtures/upstream.ts';

const [mode, arg] = process.argv.slice(2);

function ready(port: number): void {
  if (process.send) process.send({ ready: port });
  else console.log(`READY ${port}`);
}

// The memory of buffers collected is given back a moment after a collection, off the main thread: it is
// read after a second collection that follows that moment (as test/fixtures/live-memory.mjs does).
process.on('message', (message) => {
  const gc = global.gc;
  if (message !== 'live-bytes' || !gc) return;
  gc();
  setTimeout(() => {
    gc();
    const { heapUsed, external } = process.memoryUsage();
    process.send!({ liveBytes: heapUsed + external });
  }, 200);
});

if (mode === 'upstream') {
  const words = Number(process.env.REPLY_WORDS ?? 0);
  const upstream = await startUpstream({
    chunkDelayMs: Number(process.env.CHUNK_DELAY_MS ?? 0),
    delayMs: Number(process.env.DELAY_MS ?? 0),
    ...(words > 0 ? { reply: Array.from({ length: words }, (_, i) => ` word${i}`) } : {}),
  });
  // The fixture records requests for tests; a bench run must not grow memory with them.
  setInterval(() => (upstream.requests.length = 0), 1000).unref();
  ready(upstream.port);
} else if (mode === 'bare') {
  const target = new URL(arg!);
  const proxy = createProxyServer({
    target,
    // The gateway's own upstream agent: kept alive, idle connections let go before the upstream closes them.
    agent: agentFor(target),
    ignorePath: true,
    changeOrigin: true,
  });
  proxy.on('error', (_error, _req, res) => {
    if ('writeHead' in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  const server = createServer((req, res) => proxy.web(req, res));
  server.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port));
} else if (mode === 'gateway') {
  const running = await startGateway({
    configFile: arg!,
    plugins: builtinPlugins,
    port: 0,
    host: '127.0.0.1',
    watch: false,
  });
  ready(running.port);
} else {
  console.error('usage: servers.ts upstream | bare <url> | gateway <config>');
  process.exit(2);
}
