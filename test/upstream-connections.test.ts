/**
 * Gateway core, kept-alive upstream connections: an upstream closes an idle connection on its own clock, so
 * a request can meet a connection that is closing. The client must not see that as a failed upstream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestGateway, postJson, type TestGateway } from './fixtures/gateway.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const recorderPath = fileURLToPath(new URL('./fixtures/plugins/recorder.ts', import.meta.url));

describe('kept-alive upstream connections', () => {
  let upstream: FixtureUpstream;
  let gw: TestGateway;
  const ask = (content: string) =>
    postJson(`${gw.url}/chat`, { model: 'm', messages: [{ role: 'user', content }] });
  const received = () => upstream.requests.map((r) => r.json.messages?.[0]?.content);

  before(async () => {
    upstream = await startUpstream({ reply: ['re'], closeUnder: 'later' });
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
    assert.equal((await ask('one')).status, 200);
    const second = await ask('two');
    assert.equal(second.status, 200, 'the closed connection is not reported to the client');
    assert.equal((second.body.choices as { message: { content: string } }[])[0]!.message.content, 're');
    assert.deepEqual(received(), ['one', 'two', 'two']);
    assert.equal(upstream.connections, 2, 'the second send used a connection of its own');
  });

  test('a request is sent at most twice: a new connection closed under it too is a 502', async () => {
    assert.equal((await ask('kept')).status, 200, 'leaves a kept-alive connection');
    upstream.requests.length = 0;
    upstream.behaviour.closeUnder = 'every';
    const reply = await ask('three');
    assert.equal(reply.status, 502);
    assert.match((reply.body.error as { message: string }).message, /closed the connection/);
    assert.deepEqual(received(), ['three', 'three']);
    // On a connection opened for it, a close is the upstream failing: not sent again.
    upstream.requests.length = 0;
    assert.equal((await ask('four')).status, 502);
    assert.deepEqual(received(), ['four']);
  });
});
