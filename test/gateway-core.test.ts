/** Gateway core: routing, plugin chains in YAML order, early answers, onFinish exactly once, the proxy. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { memoryUsage } from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Outcome } from '../gateway/plugin.ts';
import { startTestGateway, postJson, getJson, type TestGateway } from './fixtures/gateway.ts';
import { growingLru } from '../gateway/lru.ts';
import { phasesOf, recorded } from './fixtures/plugins/recorder.ts';
import {
  DEFAULT_BEHAVIOUR,
  startUpstream,
  withBehaviour,
  type FixtureUpstream,
} from './fixtures/upstream.ts';

const recorderPath = fileURLToPath(new URL('./fixtures/plugins/recorder.ts', import.meta.url));
const finishesOf = (id: string) =>
  recorded.filter((r) => r.requestId === id && r.phase === 'finish').map((r) => r.detail as Outcome);
const waitFor = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('gateway core', () => {
  let upstream: FixtureUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(`
server: { body_limit_bytes: 1024 }
plugins: { recorder: ${recorderPath} }
chains:
  traced:
    - recorder: { label: a }
    - recorder: { label: b }
routes:
  - path: /exact
    method: GET
    plugins: [{ recorder: { label: only, answer_status: 200 } }]
  - path: /items/:id
    method: [GET, DELETE]
    plugins: [{ recorder: { label: item, answer_status: 200 } }]
  - path: /files/*
    plugins: [{ recorder: { label: files, answer_status: 200 } }]
  - path: /early
    method: POST
    plugins:
      - { use: traced }
      - recorder: { label: c, answer_status: 418 }
      - recorder: { label: d }
      - upstream: { url: "${upstream.url}/v1/chat/completions" }
  - path: /refuse
    method: POST
    error_format: openai
    plugins:
      - { use: traced }
      - recorder: { label: c, throw_status: 402 }
  - path: /proxy
    method: POST
    error_format: openai
    plugins:
      - { use: traced }
      - recorder: { label: c, set_field: rewritten_by }
      - upstream: { url: "${upstream.url}/v1/chat/completions", headers: { authorization: "Bearer upstream-secret" } }
  - path: /set-member
    method: POST
    plugins:
      - recorder: { label: "ç", set_field: added }
      - upstream: { url: "${upstream.url}/v1/chat/completions" }
  - path: /piped
    method: POST
    plugins: [{ upstream: { url: "${upstream.url}/v1/chat/completions?api-version=2" } }]
  - path: /rewritten
    method: POST
    plugins:
      - recorder: { label: hold, hold: true }
      - recorder: { label: replace, replace: { from: fixture, to: "gateway, rewritten" } }
      - upstream: { url: "${upstream.url}/v1/chat/completions" }
  - path: /replaced
    method: POST
    plugins:
      - recorder: { label: replace, replace: { from: fixture, to: gateway } }
      - upstream: { url: "${upstream.url}/v1/chat/completions" }
  - path: /dead
    method: POST
    error_format: openai
    plugins:
      - recorder: { label: a }
      - upstream: { url: "http://127.0.0.1:1/v1", name: dead }
  - path: /slow
    method: POST
    error_format: openai
    plugins:
      - recorder: { label: a }
      - upstream: { url: "${upstream.url}/v1/chat/completions", timeout_ms: 150 }
`);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('routes by exact path, :param and prefix; 404 and 405 otherwise', async () => {
    assert.equal((await getJson(`${gw.url}/exact`)).body.answered_by, 'only');
    const item = await getJson(`${gw.url}/items/a%20b`);
    assert.deepEqual(item.body.params, { id: 'a b' });
    const file = await getJson(`${gw.url}/files/x/y.txt`);
    assert.deepEqual(file.body.params, { '*': 'x/y.txt' });
    const missing = await getJson(`${gw.url}/nowhere`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.success, false);
    const wrongMethod = await postJson(`${gw.url}/exact`, {});
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  });

  test('a plugin answers early: later plugins and the upstream are skipped, every onFinish runs once', async () => {
    const before = upstream.requests.length;
    const res = await postJson(`${gw.url}/early`, { hello: 1 });
    assert.equal(res.status, 418);
    assert.equal(res.body.answered_by, 'c');
    assert.equal(res.headers.get('x-chain'), 'a,b,c');
    assert.equal(upstream.requests.length, before);
    const id = res.headers.get('x-request-id')!;
    await waitFor(() => finishesOf(id).length === 4);
    assert.deepEqual(phasesOf(id), [
      'a:request',
      'b:request',
      'c:request',
      'a:finish',
      'b:finish',
      'c:finish',
      'd:finish',
    ]);
    assert.ok(finishesOf(id).every((o) => o.result === 'answered' && o.status === 418));
  });

  test('a typed error thrown by a plugin becomes the route error shape (OpenAI on proxy routes)', async () => {
    const res = await postJson(`${gw.url}/refuse`, {});
    assert.equal(res.status, 402);
    assert.deepEqual(res.body.error, { message: 'c refused', type: 'insufficient_quota', code: 'recorder' });
  });

  test('a body a plugin changed goes upstream whole, its length counted in bytes', async () => {
    const send = async (raw: string) => {
      const res = await fetch(`${gw.url}/set-member`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw,
      });
      assert.equal(res.status, 200);
      const seen = upstream.requests.at(-1)!;
      assert.equal(Number(seen.headers['content-length']), Buffer.byteLength(seen.body));
      return JSON.parse(seen.body) as unknown;
    };
    const raw = ' \n{ "model" : "m",  "messages":[{"role":"user","content":"é \\"quoted\\""}] }';
    assert.deepEqual(await send(raw), { ...JSON.parse(raw), added: 'ç' });
    assert.deepEqual(await send('{}'), { added: 'ç' });
  });

  test('proxies in YAML order: plugins rewrite the body once, the upstream sees it, phases run in order', async () => {
    const res = await postJson(
      `${gw.url}/proxy`,
      { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
      {
        'x-request-id': 'trace-123',
        connection: 'keep-alive',
        'proxy-connection': 'keep-alive',
        trailer: 'x-checksum',
        cookie: 'session=of-another-app-on-this-site',
      },
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'trace-123');
    assert.equal(res.headers.get('x-chain'), 'a,b,c');
    const seen = upstream.requests.at(-1)!;
    assert.equal(seen.json.rewritten_by, 'c');
    assert.equal(seen.headers['authorization'], 'Bearer upstream-secret');
    assert.equal(seen.headers['x-request-id'], 'trace-123');
    assert.equal(
      seen.headers['host'],
      `127.0.0.1:${upstream.port}`,
      "the upstream's host, not the gateway's",
    );
    assert.equal(Number(seen.headers['content-length']), Buffer.byteLength(seen.body));
    for (const name of ['proxy-connection', 'trailer', 'cookie'])
      assert.equal(seen.headers[name], undefined, `the client's ${name} header stays at the gateway`);
    // An upstream's cookie (a CDN's, for the upstream's own host) is not set for the gateway's site.
    const withCookie = await withBehaviour(upstream, { headers: { 'set-cookie': '__cf_bm=upstream' } }, () =>
      postJson(`${gw.url}/proxy`, { model: 'm', messages: [] }),
    );
    assert.equal(withCookie.status, 200);
    assert.equal(withCookie.headers.get('set-cookie'), null);
    await waitFor(() => finishesOf('trace-123').length === 3);
    assert.deepEqual(phasesOf('trace-123'), [
      'a:request',
      'b:request',
      'c:request',
      'a:upstream',
      'b:upstream',
      'c:upstream',
      'a:response',
      'b:response',
      'c:response',
      'a:finish',
      'b:finish',
      'c:finish',
    ]);
    const access = gw.logs.map((line) => JSON.parse(line)).find((l) => l.reqId === 'trace-123' && l.route);
    assert.deepEqual(
      { level: access.level, route: access.route, status: access.status, result: access.result },
      { level: 30, route: 'POST /proxy', status: 200, result: 'proxied' },
    );
    assert.equal(typeof access.ms, 'number');
    const [outcome] = finishesOf('trace-123');
    assert.equal(outcome!.result, 'proxied');
    const { firstByteMs, ...upstreamOutcome } = outcome!.upstream!;
    assert.deepEqual(upstreamOutcome, { status: 200, target: `127.0.0.1:${upstream.port}`, complete: true });
    assert.ok(firstByteMs! > 0 && firstByteMs! <= outcome!.durationMs, 'the first bytes went out in time');
  });

  test(
    'concurrent requests, bodies read or piped, each reach the upstream with their own body, at its own path',
    {
      timeout: 10_000,
    },
    async () => {
      const sent = Array.from({ length: 24 }, (_, i) => ({
        path: i % 2 ? '/piped' : '/proxy',
        content: `n${i}`,
      }));
      const answers = await Promise.all(
        sent.map(({ path, content }) =>
          postJson(`${gw.url}${path}`, { model: 'm', messages: [{ role: 'user', content }] }),
        ),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        sent.map(() => 200),
      );
      for (const { path, content } of sent) {
        const seen = upstream.requests.filter((r) => r.json.messages?.[0]?.content === content);
        assert.equal(seen.length, 1, `${content} reached the upstream once`);
        assert.equal(seen[0]!.json.rewritten_by, path === '/proxy' ? 'c' : undefined);
        assert.equal(Number(seen[0]!.headers['content-length']), Buffer.byteLength(seen[0]!.body));
        // The target's path and query, never the client's path.
        const upstreamPath =
          path === '/proxy' ? '/v1/chat/completions' : '/v1/chat/completions?api-version=2';
        assert.equal(seen[0]!.url, upstreamPath);
      }
    },
  );

  test('a body still on its way when the request is forwarded is piped to the upstream as it comes', async () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'slow '.repeat(50) }] });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${gw.url}/piped`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 40));
      setTimeout(() => req.end(body.slice(40)), 50);
    });
    assert.equal(status, 200);
    assert.equal(upstream.requests.at(-1)!.body, body);
  });

  test('a client that leaves mid-upload stops the upstream request its body was piped into', async () => {
    const cutBefore = upstream.cutUploads;
    const requestsBefore = upstream.requests.length;
    const client = connect(Number(new URL(gw.url).port), '127.0.0.1');
    client.write(
      'POST /piped HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":"m","mess',
    );
    // The upstream has the head and the first bytes once the gateway forwarded them.
    await waitFor(() => upstream.receiving > 0);
    client.destroy();
    await waitFor(() => upstream.cutUploads === cutBefore + 1);
    assert.equal(upstream.requests.length, requestsBefore, 'no request reached the upstream whole');
    const after = await postJson(`${gw.url}/piped`, { model: 'm', messages: [] });
    assert.equal(after.status, 200, 'the gateway serves on');
  });

  test('a client that leaves while its body is read is not an error: no error line, an aborted access line', async () => {
    const client = connect(Number(new URL(gw.url).port), '127.0.0.1');
    client.write(
      'POST /proxy HTTP/1.1\r\nhost: gateway\r\nx-request-id: leaves-early\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":"m"',
    );
    await new Promise((r) => setTimeout(r, 100));
    client.destroy();
    const lines = () => gw.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    await waitFor(() => lines().some((l) => l.reqId === 'leaves-early' && l.route));
    const ofIt = lines().filter((l) => l.reqId === 'leaves-early');
    assert.deepEqual(
      ofIt.filter((l) => Number(l.level) >= 50),
      [],
      'no error line for a client that left',
    );
    assert.equal(ofIt.find((l) => l.route)!.result, 'aborted');
  });

  test('an unreachable upstream is 502 and a silent one 504; onFinish still runs once', async () => {
    const dead = await postJson(`${gw.url}/dead`, {});
    assert.equal(dead.status, 502);
    assert.equal((dead.body.error as { code: string }).code, 'upstream_unreachable');
    const deadId = dead.headers.get('x-request-id')!;
    await waitFor(() => finishesOf(deadId).length === 1);
    assert.equal(finishesOf(deadId)[0]!.result, 'failed');

    await withBehaviour(upstream, { delayMs: 1000 }, async () => {
      const slow = await postJson(`${gw.url}/slow`, {});
      assert.equal(slow.status, 504);
      assert.equal((slow.body.error as { code: string }).code, 'upstream_timeout');
      const slowId = slow.headers.get('x-request-id')!;
      await waitFor(() => finishesOf(slowId).length === 1);
      assert.equal(finishesOf(slowId)[0]!.status, 504);
    });
  });

  test('a body over the limit is refused with 413 before any plugin runs', async () => {
    const res = await postJson(`${gw.url}/proxy`, { big: 'x'.repeat(2000) });
    assert.equal(res.status, 413);
    assert.match((res.body.error as { message: string }).message, /1024 bytes/);
    const id = res.headers.get('x-request-id')!;
    await waitFor(() => finishesOf(id).length === 3);
    assert.deepEqual(phasesOf(id), ['a:finish', 'b:finish', 'c:finish']);
  });

  test('SSE chunks reach the client while the upstream is still sending', async () => {
    await withBehaviour(upstream, { chunkDelayMs: 150 }, async () => {
      const response = await fetch(`${gw.url}/proxy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(response.headers.get('content-type'), 'text/event-stream');
      const reader = response.body!.getReader();
      const first = await reader.read();
      assert.match(Buffer.from(first.value!).toString(), /"content":"Hello"/);
      assert.equal(upstream.inFlight, 1, 'the upstream is still streaming when the first chunk arrives');
      let text = Buffer.from(first.value!).toString();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      assert.match(text, /data: \[DONE\]/);
    });
  });

  test('rewriters change the answer in order, a held-back tail too, and the length follows (JSON and SSE)', async () => {
    upstream.behaviour.declaredLength = true;
    const json = await postJson(`${gw.url}/rewritten`, { model: 'm', messages: [] }).finally(
      () => (upstream.behaviour.declaredLength = false),
    );
    assert.equal(json.status, 200);
    const body = json.body as { choices: { message: { content: string } }[] };
    assert.equal(body.choices[0]!.message.content, 'Hello from the gateway, rewritten.');
    const stream = await fetch(`${gw.url}/rewritten`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [], stream: true }),
    });
    const text = await stream.text();
    assert.match(text, /"content":" gateway, rewritten\."/);
    assert.doesNotMatch(text, /fixture/);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  // A stream that stops waiting for the client's reads never ends: the time-out turns that into a failure.
  test('a rewritten stream waits for a slow client and loses nothing', { timeout: 20_000 }, async () => {
    const words = Array.from({ length: 3000 }, (_, i) => `w${i}-${'x'.repeat(200)} `);
    upstream.behaviour.reply = words;
    const text = await new Promise<string>((resolve, reject) => {
      const req = request(`${gw.url}/replaced`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        let body = '';
        let chunks = 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          // Reads in bursts with pauses, so the gateway's writes outrun it and must wait.
          if (++chunks % 20 === 0) {
            res.pause();
            setTimeout(() => res.resume(), 5);
          }
        });
        res.on('end', () => resolve(body));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'm', messages: [], stream: true }));
    }).finally(() => (upstream.behaviour.reply = DEFAULT_BEHAVIOUR.reply));
    const contents = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(contents, words);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  test('a client that leaves mid-stream aborts the upstream call; onFinish sees the abort once', async () => {
    const abortedBefore = upstream.aborted;
    await withBehaviour(upstream, { chunkDelayMs: 200 }, async () => {
      const id = 'abort-me';
      await new Promise<void>((resolve, reject) => {
        const req = request(`${gw.url}/proxy`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': id },
        });
        req.on('response', (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (e) => (e.message.includes('socket hang up') ? resolve() : reject(e)));
        req.end(JSON.stringify({ stream: true, messages: [] }));
      });
      await waitFor(() => finishesOf(id).length === 3);
      const [outcome] = finishesOf(id);
      assert.equal(outcome!.clientAborted, true);
      assert.equal(outcome!.upstream?.complete, false);
      await waitFor(() => upstream.aborted === abortedBefore + 1);
    });
  });
});

describe('in-process caches', () => {
  // A full collection on demand, so the heap measured holds only what is alive.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  test('hold at most their number of entries, the least recently used going first, and take memory only as they fill', () => {
    const cache = growingLru<string, number>({ entries: 3 });
    for (const key of ['a', 'b', 'c']) cache.set(key, 1);
    cache.get('a');
    cache.set('d', 1);
    assert.deepEqual([...cache.keys()].sort(), ['a', 'c', 'd']);

    // lru-cache's `max` would allocate ~1.6 MB for each of these at once (arrays for 100 000 entries).
    gc();
    const before = memoryUsage().heapUsed + memoryUsage().arrayBuffers;
    const caches = Array.from({ length: 20 }, () =>
      growingLru<string, number>({ entries: 100_000, ttl: 60_000 }),
    );
    for (const [i, each] of caches.entries()) each.set(`license ${i}`, i);
    gc();
    const grown = memoryUsage().heapUsed + memoryUsage().arrayBuffers - before;
    assert.ok(grown < 4 * 1024 * 1024, `20 caches of one entry took ${(grown / 1024 / 1024).toFixed(1)} MB`);
    assert.equal(caches[19]!.get('license 19'), 19);
  });
});
