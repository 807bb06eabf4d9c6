/**
 * The catalogue: /v1/models lists every model a client can call with its price in credits (YAML's, or
 * OpenRouter's published price × the markup), and the aliases; a model OpenRouter lists today is billed at
 * that price today; the last good copy serves while OpenRouter is down; a model priced nowhere is refused.
 * Driven by the official openai SDK against a fixture OpenRouter.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { BadRequestError } from 'openai';
import { getJson, postJson, startTestGateway } from './fixtures/gateway.ts';
import {
  assertUsageWithoutCost,
  licenseAdminRoutes,
  licensedClient,
  licensedGateway,
  usageEntries,
} from './fixtures/licensed.ts';
import { FIXTURE_CATALOGUE, startUpstream, withBehaviour } from './fixtures/upstream.ts';

const TOKEN = 'catalogue-admin';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const yaml = (openrouter: string, timing = 'refresh_s: 1') => `
chains:
  paid:
    - license: {}
    - billing:
        prices: &prices [{ model: "gemini-*", input: 0.5, output: 1.5 }]
        catalogue: &catalogue { base_url: "${openrouter}/api/v1", credits_per_usd: 2, markup: 1.5, ${timing} }
routes:
${licenseAdminRoutes(TOKEN)}
  - { method: GET, path: /metrics, plugins: [metrics] }
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins:
      - model-alias: { aliases: &aliases { sonnet: anthropic/claude-3.5-sonnet } }
      - { use: paid }
      - openrouter: { base_url: "${openrouter}/api/v1", api_key: or-key }
  - method: GET
    path: /v1/models
    plugins: [{ models: { models: [gemini-exp-1206], prices: *prices, catalogue: *catalogue, aliases: *aliases } }]
`;

interface Listed {
  id: string;
  pricing?: { input_per_million_tokens: number; output_per_million_tokens: number };
}

describe('the model catalogue', () => {
  const at = licensedGateway(yaml, { email: 'catalogue@example.com', credits: 1000, token: TOKEN });

  const refusedRefreshes = () => at.gw.logs.filter((line) => line.includes('catalogue not refreshed')).length;
  const listed = async () => {
    const models: Listed[] = [];
    for await (const model of at.client.models.list()) models.push(model as unknown as Listed);
    return new Map(models.map((model) => [model.id, model.pricing]));
  };

  test("lists YAML's models, OpenRouter's at its price × rate × markup, and the aliases, through the SDK", async () => {
    const models = await listed();
    assert.deepEqual(models.get('gemini-exp-1206'), {
      unit: 'credits',
      input_per_million_tokens: 0.5,
      output_per_million_tokens: 1.5,
      per_request: 0,
    });
    // $3 and $15 a million tokens, 2 credits a dollar, 1.5 × markup.
    assert.equal(models.get('anthropic/claude-3.5-sonnet')?.input_per_million_tokens, 9);
    assert.equal(models.get('anthropic/claude-3.5-sonnet')?.output_per_million_tokens, 45);
    assert.deepEqual(
      models.get('sonnet'),
      models.get('anthropic/claude-3.5-sonnet'),
      'an alias costs its model',
    );
    assert.equal(models.size, 1 + FIXTURE_CATALOGUE.length + 1);
  });

  test('a chat is charged at the catalogue price; a model priced nowhere is refused before it is sent', async () => {
    const answer = await at.client.chat.completions.create({
      model: 'sonnet',
      messages: [{ role: 'user', content: 'Hello catalogue' }],
    });
    assert.equal(answer.model, 'sonnet');
    const usage = answer.usage!;
    const [usageEntry] = await usageEntries(at.gw.url, { key: at.key, token: TOKEN, count: 1 });
    const charged = -usageEntry!.amount;
    const micro = Math.ceil(usage.prompt_tokens * 9 + usage.completion_tokens * 45);
    assert.equal(Math.round(charged * 1e6), micro, 'prompt × 9 + completion × 45 credits a million tokens');

    const sent = at.openrouter.requests.length;
    await assert.rejects(
      at.client.chat.completions.create({
        model: 'vendor/unlisted',
        messages: [{ role: 'user', content: 'Hi' }],
      }),
      (error: unknown) => {
        assert.ok(error instanceof BadRequestError, String(error));
        assert.match(error.message, /vendor\/unlisted has no price/);
        return true;
      },
    );
    assert.equal(at.openrouter.requests.length, sent, 'nothing reached OpenRouter');
  });

  test('OpenRouter is told the most it may charge: what the client pays, in dollars, never below the listed price', async () => {
    const chat = (body: Record<string, unknown>) =>
      postJson(
        `${at.gw.url}/v1/chat/completions`,
        { messages: [{ role: 'user', content: 'Hi' }], ...body },
        { authorization: `Bearer ${at.key}`, 'x-device-id': 'laptop' },
      );
    const sentCeiling = () => {
      const provider = at.openrouter.requests.at(-1)!.json.provider as Record<string, unknown>;
      return { sort: provider.sort, max_price: provider.max_price as Record<string, number> };
    };
    // Billed at 9 and 45 credits a million tokens, 2 credits a dollar: $4.50 and $22.50; listed at $3 and $15.
    const within = (value: number, dollars: number) =>
      assert.ok(value >= dollars && value <= dollars + 1e-6, `${value} is $${dollars} (to the micro-dollar)`);
    assert.equal((await chat({ model: 'sonnet' })).status, 200);
    within(sentCeiling().max_price.prompt, 4.5);
    within(sentCeiling().max_price.completion, 22.5);
    within(sentCeiling().max_price.request, 0);
    assert.equal((await chat({ model: 'gemini-exp-1206' })).status, 200);
    within(sentCeiling().max_price.prompt, 0.25);
    within(sentCeiling().max_price.completion, 0.75);

    const own = await chat({
      model: 'sonnet',
      provider: { sort: 'throughput', max_price: { prompt: 1, completion: '100' } },
    });
    assert.equal(own.status, 200);
    assert.equal(sentCeiling().sort, 'throughput', "the client's other preferences go on");
    assert.equal(sentCeiling().max_price.prompt, 1, "the client's lower ceiling stands");
    within(sentCeiling().max_price.completion, 22.5);

    const sent = at.openrouter.requests.length;
    const bad = await chat({ model: 'sonnet', provider: 'fastest' });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /provider must be an object/);
    assert.equal(at.openrouter.requests.length, sent, 'nothing reached OpenRouter');
  });

  // The catalogue refreshes every second here: wait for the refresh, not for a fixed time.
  const until = async (done: () => Promise<boolean> | boolean) => {
    for (let tries = 0; tries < 100 && !(await done()); tries++) await sleep(50);
  };

  test('what OpenRouter says a request cost is counted by model; one that cost more than it was charged is told', async () => {
    const metric = async (name: string) => {
      const text = await (await fetch(`${at.gw.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name}{model="anthropic/claude-3.5-sonnet"}`));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    const ask = () =>
      at.client.chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Hi' }] });
    const costBefore = await metric('cradle_model_upstream_cost_usd_total');
    const lossesBefore = await metric('cradle_requests_below_cost_total');
    // A few tokens at $3 and $15 a million cost far below a cent: charged at 1.5 × that, no loss.
    await withBehaviour(at.openrouter, { cost: 0.00001 }, ask);
    await until(async () => (await metric('cradle_model_upstream_cost_usd_total')) > costBefore);
    assert.ok(
      Math.abs((await metric('cradle_model_upstream_cost_usd_total')) - costBefore - 0.00001) < 1e-12,
      'the cost OpenRouter reported',
    );
    assert.equal(await metric('cradle_requests_below_cost_total'), lossesBefore, 'charged above its cost');
    await withBehaviour(at.openrouter, { cost: 0.5 }, ask);
    await until(async () => (await metric('cradle_requests_below_cost_total')) > lossesBefore);
    assert.equal(await metric('cradle_requests_below_cost_total'), lossesBefore + 1, 'a loss is counted');
    assert.ok(
      at.gw.logs.some((line) => line.includes('cost more upstream than its client was charged')),
      'and logged',
    );
  });

  test('what OpenRouter charged the operator does not reach the client: its usage keeps the tokens only', async () => {
    await withBehaviour(at.openrouter, { cost: 0.00001 }, () => assertUsageWithoutCost(at.client, 'sonnet'));
  });

  test('a model OpenRouter lists today is offered today; while it is down the last good copy serves', async () => {
    const newModel = { id: 'new-lab/new-model', prompt: '0.000001', completion: '0.000002' };
    await withBehaviour(at.openrouter, { catalogue: [...FIXTURE_CATALOGUE, newModel] }, async () => {
      await until(async () => (await listed()).has(newModel.id));
      assert.equal((await listed()).get(newModel.id)?.input_per_million_tokens, 3);
    });
    await withBehaviour(at.openrouter, { catalogue: 'down' }, async () => {
      const failedBefore = refusedRefreshes();
      await until(() => refusedRefreshes() > failedBefore);
      assert.ok(refusedRefreshes() > failedBefore, 'a refresh found OpenRouter down');
      const models = await listed();
      assert.equal(models.get(newModel.id)?.output_per_million_tokens, 6, 'the last good copy');
      const answer = await at.client.chat.completions.create({
        model: newModel.id,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      assert.equal(answer.choices[0]?.message.content, 'Hello from the fixture.');
    });
  });

  test('a price OpenRouter changes is charged from its next refresh on', async () => {
    const charged = (await usageEntries(at.gw.url, { key: at.key, token: TOKEN, count: 0 })).length;
    const dearer = FIXTURE_CATALOGUE.map((model) =>
      model.id === 'anthropic/claude-3.5-sonnet'
        ? { ...model, prompt: '0.000006', completion: '0.00003' }
        : model,
    );
    await withBehaviour(at.openrouter, { catalogue: dearer }, async () => {
      await until(async () => (await listed()).get('sonnet')?.input_per_million_tokens === 18);
      const answer = await at.client.chat.completions.create({
        model: 'sonnet',
        messages: [{ role: 'user', content: 'Hello again' }],
      });
      const usage = answer.usage!;
      const [entry] = await usageEntries(at.gw.url, { key: at.key, token: TOKEN, count: charged + 1 });
      // $6 and $30 a million tokens now, 2 credits a dollar, 1.5 × markup.
      const micro = Math.ceil(usage.prompt_tokens * 18 + usage.completion_tokens * 90);
      assert.equal(Math.round(-entry!.amount * 1e6), micro, 'billed at the new price');
    });
  });
});

test('the shipped config lists the Gemini models, OpenRouter priced with its markup, and its aliases', async () => {
  const openrouter = await startUpstream();
  const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
  const gw = await startTestGateway(shipped, { env: { OPENROUTER_BASE_URL: `${openrouter.url}/api/v1` } });
  try {
    const ids = ((await getJson(`${gw.url}/v1/models`)).body.data as Listed[]).map((model) => model.id);
    for (const id of ['gemini-2.0-flash-exp', 'openai/gpt-4o-mini', 'gpt-4o'])
      assert.ok(ids.includes(id), id);
  } finally {
    await gw.close();
    await openrouter.close();
  }
});

test('a gateway that found OpenRouter down asks again soon, not at the next hourly refresh', async () => {
  const openrouter = await startUpstream({ catalogue: 'down' });
  const gw = await startTestGateway(yaml(openrouter.url, 'refresh_s: 3600, retry_s: 1'));
  try {
    const { client } = await licensedClient(gw.url, {
      email: 'retry@example.com',
      credits: 10,
      token: TOKEN,
    });
    const chat = () =>
      client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    await assert.rejects(chat(), BadRequestError, 'no copy yet: no price');
    openrouter.behaviour.catalogue = FIXTURE_CATALOGUE;
    await new Promise((r) => setTimeout(r, 1100));
    const answer = await chat();
    assert.equal(answer.choices[0]?.message.content, 'Hello from the fixture.');
  } finally {
    await gw.close();
    await openrouter.close();
  }
});
