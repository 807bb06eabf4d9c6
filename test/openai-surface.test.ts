/**
 * The OpenAI surface answers like OpenAI, as the official SDK sees it: a path or method no route has gets
 * OpenAI's error shape under /v1, HEAD is answered on GET routes, a trailing slash finds its route, and a
 * model is called by an alias the client likes.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import OpenAI, { NotFoundError } from 'openai';
import { startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { startUpstream, withBehaviour, type FixtureUpstream } from './fixtures/upstream.ts';

const yaml = (upstream: string) => `
routes:
  - { method: GET, path: /v1/models, plugins: [{ models: { models: [model-a, model-b] } }] }
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins:
      - model-alias: { aliases: { gpt-4o: openai/gpt-4o } }
      - upstream: { url: "${upstream}/v1/chat/completions" }
  - { method: GET, path: /api/v1/health, plugins: [health] }
`;

/** Status, headers and the raw body of one request, whatever its method (fetch refuses a body on HEAD). */
function send(url: string, method: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request(url, { method }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

describe('the OpenAI surface', () => {
  let upstream: FixtureUpstream;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(yaml(upstream.url));
    client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('an unknown route under /v1 is a 404 the SDK reads: message, type and code', async () => {
    await assert.rejects(client.files.list(), (error: unknown) => {
      assert.ok(error instanceof NotFoundError, String(error));
      assert.equal(error.status, 404);
      assert.equal(error.code, 'not_found');
      assert.equal(error.type, 'invalid_request_error');
      assert.match(error.message, /no route for GET \/v1\/files/);
      return true;
    });
  });

  test('a wrong method on a /v1 route is a 405 in the route’s shape, naming the allowed methods', async () => {
    const res = await send(`${gw.url}/v1/chat/completions`, 'GET');
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'POST');
    const body = JSON.parse(res.body) as { error: Record<string, unknown> };
    assert.equal(body.error['code'], 'method_not_allowed');
    assert.equal(body.error['type'], 'invalid_request_error');
    const onModels = await send(`${gw.url}/v1/models`, 'DELETE');
    assert.equal(onModels.headers['allow'], 'GET, HEAD');
  });

  test('the gateway’s own API keeps its own error shape', async () => {
    const res = await send(`${gw.url}/api/v1/nothing-here`, 'GET');
    assert.equal(res.status, 404);
    assert.deepEqual(JSON.parse(res.body), {
      success: false,
      error: 'no route for GET /api/v1/nothing-here',
      code: 'NOT_FOUND',
    });
  });

  test('HEAD on a GET route answers its headers without a body', async () => {
    const get = await send(`${gw.url}/v1/models`, 'GET');
    const head = await send(`${gw.url}/v1/models`, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-type'], get.headers['content-type']);
    assert.equal((await send(`${gw.url}/api/v1/health`, 'HEAD')).status, 200);
  });

  test('a trailing slash finds the route written without one', async () => {
    const models = JSON.parse((await send(`${gw.url}/v1/models/`, 'GET')).body) as { data: { id: string }[] };
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['model-a', 'model-b'],
    );
    const chat = await fetch(`${gw.url}/v1/chat/completions/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'model-a', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(chat.status, 200);
    assert.equal(((await chat.json()) as { object: string }).object, 'chat.completion');
    assert.equal((await send(`${gw.url}/v1/models//`, 'GET')).status, 404, 'one slash, not any number');
  });

  test('a model called by its alias reaches the upstream by its real name; the answer names the alias', async () => {
    const answer = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hello' }],
    });
    assert.equal(answer.model, 'gpt-4o');
    assert.equal(upstream.requests.at(-1)?.json.model, 'openai/gpt-4o');
    // A word every 50 ms: the renamed stream must still arrive word by word, not at its end.
    const arrivals = await withBehaviour(upstream, { chunkDelayMs: 50 }, async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        stream: true,
        messages: [{ role: 'user', content: 'Hello there, stream' }],
      });
      const seen: { model: string; at: number; text: string }[] = [];
      for await (const chunk of stream)
        seen.push({ model: chunk.model, at: performance.now(), text: chunk.choices[0]?.delta.content ?? '' });
      return seen;
    });
    assert.deepEqual([...new Set(arrivals.map((a) => a.model))], ['gpt-4o'], 'every chunk names the alias');
    assert.equal(arrivals.map((a) => a.text).join(''), 'Hello from the fixture.');
    assert.ok(arrivals.at(-1)!.at - arrivals[0]!.at > 100, 'the chunks arrived as they were sent');
    const direct = await client.chat.completions.create({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'Hello' }],
    });
    assert.equal(direct.model, 'openai/gpt-4o', 'a real name is answered as it is');
  });
});
