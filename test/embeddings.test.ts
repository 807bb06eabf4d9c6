/**
 * `POST /v1/embeddings` through the same license, billing and upstream chain as chats: billed exactly on the
 * upstream's `usage.prompt_tokens`, estimated (and marked so) without it, a malformed input refused before
 * anything is sent. Driven by the official openai SDK.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import OpenAI, { BadRequestError } from 'openai';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { startUpstream, withBehaviour, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'embeddings-admin';
const admin = { 'x-admin-token': TOKEN };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const yaml = (openrouter: string) => `
routes:
  - method: POST
    path: /api/v1/license/generate
    plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: generate } }]
  - { method: GET, path: /api/v1/license/ledger/:key, plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: ledger } }] }
  - method: POST
    path: /v1/embeddings
    error_format: openai
    plugins:
      - license: {}
      - billing: { kind: embeddings, prices: [{ model: "emb-*", input: 1000, output: 0 }] }
      - openrouter: { base_url: "${openrouter}/api/v1", api_key: or-key, path: /embeddings }
`;

interface Entry {
  kind: string;
  amount: number;
  prompt_tokens?: number;
  estimated?: boolean;
}

describe('embeddings', () => {
  let openrouter: FixtureUpstream;
  let gw: TestGateway;
  let client: OpenAI;
  let key: string;

  before(async () => {
    openrouter = await startUpstream();
    gw = await startTestGateway(yaml(openrouter.url));
    const created = await postJson(
      `${gw.url}/api/v1/license/generate`,
      { email: 'embeddings@example.com', credits: 10 },
      admin,
    );
    key = created.body.license_key as string;
    client = new OpenAI({
      baseURL: `${gw.url}/v1`,
      apiKey: key,
      defaultHeaders: { 'X-Device-Id': 'laptop' },
      maxRetries: 0,
    });
  });
  after(async () => {
    await gw.close();
    await openrouter.close();
  });

  const lastUsage = async () => {
    await sleep(100);
    const entries = (await getJson(`${gw.url}/api/v1/license/ledger/${key}`, admin)).body.entries as Entry[];
    return entries.find((entry) => entry.kind === 'usage')!;
  };

  test("billed exactly on the upstream's prompt tokens, or on an estimate marked so", async () => {
    const answer = await client.embeddings.create({
      model: 'emb-small',
      input: ['one two three', 'four five'],
    });
    assert.equal(answer.data.length, 2);
    assert.equal(answer.usage.prompt_tokens, 5);
    const billed = await lastUsage();
    assert.equal(billed.amount, -0.005, '5 tokens at 1,000 credits a million');
    assert.equal(billed.prompt_tokens, 5);
    assert.equal(billed.estimated, false);
    assert.equal(openrouter.requests.at(-1)?.url, '/api/v1/embeddings');

    await withBehaviour(openrouter, { usage: false }, () =>
      client.embeddings.create({ model: 'emb-small', input: 'twelve chars' }),
    );
    const estimated = await lastUsage();
    // 12 characters of English are 3 tokens by the estimate.
    assert.equal(estimated.amount, -0.003);
    assert.equal(estimated.estimated, true);
  });

  test('an input that is neither text nor token ids is refused, naming it, before it is sent', async () => {
    const sent = openrouter.requests.length;
    await assert.rejects(
      client.embeddings.create({ model: 'emb-small', input: [{ text: 'x' }] as unknown as string[] }),
      (error: unknown) => {
        assert.ok(error instanceof BadRequestError, String(error));
        assert.match(error.message, /input\[0\] must be a text or token ids/);
        return true;
      },
    );
    assert.equal(openrouter.requests.length, sent);
  });
});

test('the shipped config serves /v1/embeddings on the paid chain', async () => {
  const openrouter = await startUpstream();
  const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
  const gw = await startTestGateway(shipped, {
    env: {
      API_ADMIN_TOKEN: TOKEN,
      OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
      OPENROUTER_API_KEY: 'or-key',
    },
  });
  try {
    const created = await postJson(
      `${gw.url}/api/v1/license/generate`,
      { email: 'shipped-embeddings@example.com', credits: 10 },
      admin,
    );
    const client = new OpenAI({
      baseURL: `${gw.url}/v1`,
      apiKey: created.body.license_key as string,
      defaultHeaders: { 'X-Device-Id': 'laptop' },
      maxRetries: 0,
    });
    const answer = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'hello' });
    assert.equal(answer.data[0]?.embedding.length, 3);
    assert.equal(openrouter.requests.at(-1)?.headers.authorization, 'Bearer or-key');
  } finally {
    await gw.close();
    await openrouter.close();
  }
});
