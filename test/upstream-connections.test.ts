/**
 * Gateway core, upstream connections: an upstream closes an idle connection on its own clock, so a request
 * can meet a connection that is closing, and the client must not see that as a failed upstream. An https
 * upstream (OpenRouter is one) is reached over TLS with its certificate checked.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestGateway, postJson, type TestGateway } from './fixtures/gateway.ts';
import { startGatewayProcess } from './fixtures/process.ts';
import { tempDir } from './fixtures/temp.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const recorderPath = fileURLToPath(new URL('./fixtures/plugins/recorder.ts', import.meta.url));

describe('kept-alive upstream connections', () => {
  let upstream: FixtureUpstream;
  let gw: TestGateway;
  const ask = (path: string, content: string) =>
    postJson(`${gw.url}${path}`, { model: 'm', messages: [{ role: 'user', content }] });
  const received = () => upstream.requests.map((r) => r.json.messages?.[0]?.content);

  before(async () => {
    upstream = await startUpstream({ reply: ['re'] });
    gw = await startTestGateway(`
plugins: { recorder: ${recorderPath} }
routes:
  - path: /chat
    method: POST
    error_format: openai
    plugins:
      - recorder: { label: reads-body, set_field: read_by }
      - upstream: { url: "${upstream.url}/v1/chat/completions", idle_timeout_ms: 150 }
  - path: /long-idle
    method: POST
    error_format: openai
    plugins:
      - upstream: { url: "${upstream.url}/v1/chat/completions", idle_timeout_ms: 60000 }
`);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('an idle upstream connection is retired after its idle time-out, before the upstream would close it', async () => {
    const before = upstream.connections;
    assert.equal((await ask('/long-idle', 'a')).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await ask('/long-idle', 'b')).status, 200);
    assert.equal(upstream.connections - before, 1, 'reused while young enough');
    assert.equal((await ask('/chat', 'c')).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await ask('/chat', 'd')).status, 200);
    assert.equal(upstream.connections - before, 3, 'retired after 150 ms idle: a new one');
  });

  test('a request the upstream may have read is never sent twice: a connection closed under it is a 502', async () => {
    assert.equal((await ask('/long-idle', 'kept')).status, 200, 'leaves a kept-alive connection');
    upstream.requests.length = 0;
    upstream.behaviour.closeUnder = 'later';
    try {
      const reply = await ask('/long-idle', 'once');
      assert.equal(reply.status, 502);
      assert.match((reply.body.error as { message: string }).message, /closed the connection/);
      assert.deepEqual(received(), ['once'], 'the upstream received it once');
    } finally {
      upstream.behaviour.closeUnder = 'none';
    }
  });

  test("a client's Connection: close is its own: the gateway's upstream connection serves the next request", async () => {
    const closing = (content: string) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] });
        const req = request(
          `${gw.url}/long-idle`,
          { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const before = upstream.connections;
    assert.equal(await closing('first'), 200);
    assert.equal(await closing('second'), 200);
    assert.equal(upstream.requests.at(-1)?.headers.connection, 'keep-alive');
    assert.ok(upstream.connections - before <= 1, 'both went over one upstream connection');
  });
});

describe('TLS upstreams', () => {
  // Self-signed test certificates for 127.0.0.1 (test/fixtures/tls), valid until 2126; only one is trusted.
  const tlsFile = (name: string) => fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url));
  const tlsOf = (name: string) => ({
    key: readFileSync(tlsFile(`${name}-key.pem`), 'utf8'),
    cert: readFileSync(tlsFile(`${name}-cert.pem`), 'utf8'),
  });

  test('an https upstream is called over TLS and its certificate checked: an untrusted one never sees the request', async () => {
    const trusted = await startUpstream({}, { tls: tlsOf('trusted') });
    const untrusted = await startUpstream({}, { tls: tlsOf('untrusted') });
    const gateway = await startGatewayProcess({
      env: {
        DATA_DIR: await tempDir(),
        API_ADMIN_TOKEN: 'tls-admin',
        OPENROUTER_BASE_URL: `${untrusted.url}/api/v1`,
        OPENROUTER_API_KEY: 'server-key',
        HF_SPACE_URL_1: trusted.url,
        HF_SPACE_PASSWORD_1: 'space-password',
        // The one way to add a trusted authority to a Node process: read once, at its start.
        NODE_EXTRA_CA_CERTS: tlsFile('trusted-cert.pem'),
      },
    });
    try {
      const created = await postJson(
        `${gateway.url}/api/v1/license/generate`,
        { email: 'tls@example.com', credits: 10 },
        { 'x-admin-token': 'tls-admin' },
      );
      const client = { 'x-license-key': created.body.license_key as string, 'x-device-id': 'tls-device' };
      const messages = [{ role: 'user', content: 'hello over TLS' }];

      // The Space pool's member is trusted (its health checks pass too): it answers.
      const answer = await postJson(
        `${gateway.url}/api/huggingface/completion`,
        { model: 'gemini-2.0-flash-exp', messages },
        client,
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const [choice] = answer.body.choices as { message: { content: string } }[];
      assert.equal(choice?.message.content, 'Hello from the fixture.');
      assert.equal(trusted.requests.at(-1)?.headers['authorization'], 'Bearer space-password');

      // OpenRouter's URL serves a certificate nobody vouches for: the request is refused, never sent. (A
      // model the config prices itself: OpenRouter's catalogue, behind that certificate, prices no other.)
      const refused = await postJson(
        `${gateway.url}/api/chat/completion`,
        { model: 'gemini-2.0-flash-exp', messages },
        client,
      );
      assert.equal(refused.status, 502, JSON.stringify(refused.body));
      assert.equal(untrusted.requests.length, 0, 'no request reached the upstream whose certificate failed');
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      await trusted.close();
      await untrusted.close();
    }
  });
});
