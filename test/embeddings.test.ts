/**
 * `POST /v1/embeddings` through the same license, billing and upstream chain as chats: billed exactly on the
 * upstream's `usage.prompt_tokens`, estimated (and marked so) without it, a malformed input refused before
 * anything is sent. Driven by the official openai SDK.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import OpenAI, { BadRequestError } from 'openai';
import { startTestGateway } from './fixtures/gateway.ts';
import { licenseAdminRoutes, licensedClient, licensedGateway, usageEntries } from './fixtures/licensed.ts';
import { startUpstream, withBehaviour } from './fixtures/upstream.ts';

const TOKEN = 'embeddings-admin';

const yaml = (openrouter: string) => `
routes:
${licenseAdminRoutes(TOKEN)}
  - method: POST
    path: /v1/embeddings
    error_format: openai
    plugins:
      - license: {}
      - billing: { kind: embeddings, prices: [{ model: "emb-*", input: 1000, output: 0 }] }
      - openrouter: { base_url: "${openrouter}/api/v1", api_key: or-key, path: /embeddings }
`;

describe('embeddings', () => {
  const at = licensedGateway(yaml, { email: 'embeddings@example.com', credits: 10, token: TOKEN });

  /** The newest usage entry once there are `count`. */
  const lastUsage = async (count: number) =>
    (await usageEntries(at.gw.url, { key: at.key, token: TOKEN, count }))[0]!;

  test("billed exactly on the upstream's prompt tokens, or on an estimate marked so", async () => {
    const answer = await at.client.embeddings.create({
      model: 'emb-small',
      input: ['one two three', 'four five'],
    });
    assert.equal(answer.data.length, 2);
    assert.equal(answer.usage.prompt_tokens, 5);
    const billed = await lastUsage(1);
    assert.equal(billed.amount, -0.005, '5 tokens at 1,000 credits a million');
    assert.equal(billed.prompt_tokens, 5);
    assert.equal(billed.estimated, false);
    assert.equal(at.openrouter.requests.at(-1)?.url, '/api/v1/embeddings');

    await withBehaviour(at.openrouter, { usage: false }, () =>
      at.client.embeddings.create({ model: 'emb-small', input: 'twelve chars' }),
    );
    const estimated = await lastUsage(2);
    // 12 characters of English are 3 tokens by the estimate.
    assert.equal(estimated.amount, -0.003);
    assert.equal(estimated.estimated, true);
  });

  test('an input that is neither text nor token ids, or other models than its own, is refused, naming it, before it is sent', async () => {
    const sent = at.openrouter.requests.length;
    await assert.rejects(
      at.client.embeddings.create({ model: 'emb-small', input: [{ text: 'x' }] as unknown as string[] }),
      (error: unknown) => {
        assert.ok(error instanceof BadRequestError, String(error));
        assert.match(error.message, /input\[0\] must be a text or token ids/);
        return true;
      },
    );
    // As for chats: billed for the model it names, it may not let the upstream fall back on others.
    const withFallbacks = { model: 'emb-small', input: 'x', models: ['emb-large'] };
    await assert.rejects(
      at.client.embeddings.create(withFallbacks as OpenAI.EmbeddingCreateParams),
      (error: unknown) => {
        assert.ok(error instanceof BadRequestError, String(error));
        assert.match(error.message, /models is not accepted here/);
        return true;
      },
    );
    assert.equal(at.openrouter.requests.length, sent);
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
    const { client } = await licensedClient(gw.url, {
      email: 'shipped-embeddings@example.com',
      credits: 10,
      token: TOKEN,
    });
    const answer = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'hello' });
    assert.equal(answer.data[0]?.embedding.length, 3);
    assert.equal(openrouter.requests.at(-1)?.headers.authorization, 'Bearer or-key');
  } finally {
    await gw.close();
    await openrouter.close();
  }
});
