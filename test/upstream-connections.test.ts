/**
 * Gateway core, kept-alive upstream connections: an upstream closes an idle connection on its own clock, so
 * a request can meet a connection that is closing. The client must not see that as a failed upstream.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestGateway, postJson, type TestGateway } from './fixtures/gateway.ts';

const recorderPath = fileURLToPath(new URL('./fixtures/plugins/recorder.ts', import.meta.url));

/**
 * An upstream that answers the first request of each connection and keeps the connection open. It closes
 * the connection under any later request, as one whose idle timer fires just as the request comes does;
 * `closeEvery` makes it close every connection under its first request too.
 */
async function startClosingUpstream() {
  const requestsOf = new WeakMap<Socket, number>();
  const state = { connections: 0, received: [] as string[], answered: [] as string[], closeEvery: false };
  const server: Server = createServer((req, res) => {
    const count = (requestsOf.get(req.socket) ?? 0) + 1;
    requestsOf.set(req.socket, count);
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      const { messages } = JSON.parse(body) as { messages: { content: string }[] };
      const content = messages[0]!.content;
      state.received.push(content);
      if (count > 1 || state.closeEvery) return req.socket.destroy();
      state.answered.push(content);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: `re: ${content}` } }] }));
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, state, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('kept-alive upstream connections', () => {
  let upstream: Awaited<ReturnType<typeof startClosingUpstream>>;
  let gw: TestGateway;
  const ask = (content: string) =>
    postJson(`${gw.url}/chat`, { model: 'm', messages: [{ role: 'user', content }] });

  before(async () => {
    upstream = await startClosingUpstream();
    gw = await startTestGateway(`
plugins: { recorder: ${recorderPath} }
routes:
  - path: /chat
    method: POST
    error_format: openai
    plugins:
      - recorder: { label: reads-body, set_field: read_by }
      - upstream: { url: "${upstream.url}/v1/chat/completions" }
`);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('a request that meets a kept-alive connection closing is sent again on a new one: the client gets its answer', async () => {
    const first = await ask('one');
    assert.equal(first.status, 200);
    const second = await ask('two');
    assert.equal(second.status, 200, 'the closed connection is not reported to the client');
    assert.deepEqual(second.body, { choices: [{ message: { role: 'assistant', content: 're: two' } }] });
    assert.deepEqual(upstream.state.received, ['one', 'two', 'two']);
    assert.deepEqual(upstream.state.answered, ['one', 'two']);
    assert.equal(upstream.state.connections, 2, 'the second send used a connection of its own');
  });

  test('a request is sent at most twice: a new connection closed under it too is a 502', async () => {
    assert.equal((await ask('kept')).status, 200, 'leaves a kept-alive connection');
    upstream.state.received.length = 0;
    upstream.state.closeEvery = true;
    const reply = await ask('three');
    assert.equal(reply.status, 502);
    assert.match((reply.body.error as { message: string }).message, /closed the connection/);
    assert.deepEqual(upstream.state.received, ['three', 'three']);
    // On a connection opened for it, a close is the upstream failing: not sent again.
    upstream.state.received.length = 0;
    const fresh = await ask('four');
    assert.equal(fresh.status, 502);
    assert.deepEqual(upstream.state.received, ['four']);
  });
});
