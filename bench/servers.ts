/**
 * One bench server per process, so the load generator never shares an event loop with what it measures:
 *   upstream            the fixture upstream (JSON and SSE)
 *   bare <upstreamUrl>  a bare http-proxy-3 with a keep-alive agent: the yardstick
 *   gateway <config>    the gateway with the given YAML
 * Each prints `READY <port>` when listening.
 */
import { createServer, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { startGateway } from '../gateway/app.ts';
import { builtinPlugins } from '../plugins/index.ts';
import { startUpstream } from '../test/fixtures/upstream.ts';

const [mode, arg] = process.argv.slice(2);

if (mode === 'upstream') {
  const words = Number(process.env.REPLY_WORDS ?? 0);
  const upstream = await startUpstream({
    chunkDelayMs: Number(process.env.CHUNK_DELAY_MS ?? 0),
    delayMs: Number(process.env.DELAY_MS ?? 0),
    ...(words > 0 ? { reply: Array.from({ length: words }, (_, i) => ` word${i}`) } : {}),
  });
  // The fixture records requests for tests; a bench run must not grow memory with them.
  setInterval(() => (upstream.requests.length = 0), 1000).unref();
  console.log(`READY ${upstream.port}`);
} else if (mode === 'bare') {
  const target = new URL(arg!);
  const proxy = createProxyServer({
    target,
    agent: new Agent({ keepAlive: true }),
    ignorePath: true,
    changeOrigin: true,
  });
  proxy.on('error', (_error, _req, res) => {
    if ('writeHead' in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  const server = createServer((req, res) => proxy.web(req, res));
  server.listen(0, '127.0.0.1', () => console.log(`READY ${(server.address() as AddressInfo).port}`));
} else if (mode === 'gateway') {
  const running = await startGateway({
    configFile: arg!,
    plugins: builtinPlugins,
    port: 0,
    host: '127.0.0.1',
    watch: false,
  });
  console.log(`READY ${running.port}`);
} else {
  console.error('usage: servers.ts upstream | bare <url> | gateway <config>');
  process.exit(2);
}
