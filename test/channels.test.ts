/**
 * Upstream channels: a pool of OpenAI-compatible endpoints (Spaces, OpenRouter keys, others), asked by
 * priority and weighted within it, failing over before the first byte with no charge for the failed attempt,
 * a failing channel taken out for a cool-down and back afterwards, and a channel that knows a model by another
 * name sent that name. Driven by the official openai SDK on the paid chain.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import {
  assertUsageWithoutCost,
  licenseAdminRoutes,
  licensedClient,
  usageEntries,
} from './fixtures/licensed.ts';
import { startUpstream, withBehaviour, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'channels-admin';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const yaml = (primaryA: string, primaryB: string, backup: string, catalogue: string) => `
routes:
${licenseAdminRoutes(TOKEN)}
  - { method: GET, path: /usage, plugins: [{ spaces-usage: { pool: channels } }] }
  - { method: GET, path: /metrics, plugins: [metrics] }
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins:
      - license: {}
      - billing:
          prices: [{ model: "*", input: 1000, output: 2000 }]
          catalogue: { base_url: "${catalogue}/api/v1", credits_per_usd: 2 }
      - balancer:
          pool: channels
          strategy: weighted
          failures_to_cooldown: 2
          cooldown_s: 0.5
          members:
            - { name: primary-a, url: "${primaryA}", priority: 1, weight: 3, api_key: key-a }
            - { name: primary-b, url: "${primaryB}", priority: 1, weight: 1, api_key: key-b }
            - name: backup
              url: "${backup}"
              api_key: key-backup
              headers: { x-title: Cradle }
              model_names: { small-model: vendor/small-model }
              price_ceiling: true
`;

describe('upstream channels', () => {
  let upstreams: FixtureUpstream[];
  let catalogue: FixtureUpstream;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    upstreams = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
    catalogue = await startUpstream();
    gw = await startTestGateway(yaml(upstreams[0]!.url, upstreams[1]!.url, upstreams[2]!.url, catalogue.url));
    client = await clientFor('channels@example.com');
  });
  after(async () => {
    await gw.close();
    await Promise.all([...upstreams, catalogue].map((u) => u.close()));
  });

  const licenses = new Map<OpenAI, string>();
  const clientFor = async (email: string) => {
    const { key, client: licensed } = await licensedClient(gw.url, { email, credits: 100000, token: TOKEN });
    licenses.set(licensed, key);
    return licensed;
  };
  const chat = (by = client) =>
    by.chat.completions.create({ model: 'small-model', messages: [{ role: 'user', content: 'Hi' }] });
  const counts = () => upstreams.map((u) => u.requests.length);
  /** Six chats of a new license while the primaries answer these statuses; how often each channel was asked. */
  const chatsWhilePrimariesAnswer = async (statuses: [number, number], email: string) => {
    const fresh = await clientFor(email);
    const before = counts();
    await withBehaviour(upstreams[0]!, { status: statuses[0] }, () =>
      withBehaviour(upstreams[1]!, { status: statuses[1] }, async () => {
        for (let i = 0; i < 6; i++) {
          const answer = await chat(fresh);
          assert.equal(answer.choices[0]?.message.content, 'Hello from the fixture.');
        }
      }),
    );
    return { fresh, asked: counts().map((n, i) => n - before[i]!) };
  };

  test('the highest priority serves, weighted 3:1 within it over 1,000 requests; the backup is not asked', async () => {
    const before = counts();
    for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, chat));
    const [a, b, backup] = counts().map((n, i) => n - before[i]!);
    assert.equal(backup, 0, 'the lower priority was not asked');
    assert.equal(a! + b!, 1000);
    assert.ok(Math.abs(a! / 1000 - 0.75) <= 0.05, `primary-a served ${a} of 1000 (weight 3 of 4)`);
    assert.equal(
      upstreams[0]!.requests.at(-1)?.headers.authorization,
      'Bearer key-a',
      "each channel's own key",
    );
  });

  test('with the whole priority failing, requests fail over to the backup before the first byte, charged once', async () => {
    const { fresh, asked } = await chatsWhilePrimariesAnswer([503, 500], 'failover@example.com');
    const [a, b, backup] = asked;
    assert.equal(backup, 6, 'every request was answered by the backup');
    assert.ok(
      a! + b! <= 4,
      `the failing channels were taken out after 2 failures each (asked ${a! + b!} times)`,
    );
    const sent = upstreams[2]!.requests.at(-1)!;
    assert.equal(sent.json.model, 'vendor/small-model', 'the backup is sent the name it knows');
    assert.equal(sent.headers.authorization, 'Bearer key-backup');
    assert.equal(sent.headers['x-title'], 'Cradle');
    // Billed at 1,000 and 2,000 credits a million tokens, 2 credits a dollar.
    const maxPrice = (sent.json.provider as { max_price: Record<string, number> }).max_price;
    assert.ok(maxPrice.prompt >= 500 && maxPrice.prompt <= 500.000001, `prompt ceiling ${maxPrice.prompt}`);
    assert.ok(maxPrice.completion >= 1000 && maxPrice.completion <= 1000.000001, 'completion ceiling');
    assert.equal(
      upstreams[0]!.requests.at(-1)!.json.provider,
      undefined,
      'a channel that is not OpenRouter is sent no ceiling',
    );
    const charged = await usageEntries(gw.url, { key: licenses.get(fresh)!, token: TOKEN, count: 6 });
    await sleep(50);
    assert.equal(
      (await usageEntries(gw.url, { key: licenses.get(fresh)!, token: TOKEN, count: 6 })).length,
      6,
      'one charge per request, none for failed attempts',
    );
    assert.equal(charged.length, 6);
    const usage = (await getJson(`${gw.url}/usage`)).body.spaces as { name: string; healthy: boolean }[];
    assert.deepEqual(
      usage.map((member) => [member.name, member.healthy]),
      [
        ['primary-a', false],
        ['primary-b', false],
        ['backup', true],
      ],
      'the failing channels are cooling down',
    );
  });

  test('after its cool-down a channel that answers again is back in use', async () => {
    await sleep(600);
    const before = counts();
    for (let i = 0; i < 8; i++) await chat();
    const [a, b, backup] = counts().map((n, i) => n - before[i]!);
    assert.equal(a! + b!, 8, 'the primaries serve again');
    assert.equal(backup, 0);
  });

  test('what a channel charged the operator does not reach the client: its usage keeps the tokens only', async () => {
    await withBehaviour(upstreams[0]!, { cost: 0.00001 }, () =>
      withBehaviour(upstreams[1]!, { cost: 0.00001 }, () => assertUsageWithoutCost(client, 'small-model')),
    );
  });

  test('a channel whose key is refused or out of credit is failed over and taken out, not passed on as 401 or 402', async () => {
    const [a, b, backup] = (await chatsWhilePrimariesAnswer([402, 401], 'out-of-credit@example.com')).asked;
    assert.equal(backup, 6, 'the backup served them all');
    assert.ok(a! <= 2 && b! <= 2, `each refusing channel was asked at most twice (${a}, ${b})`);
    // What an operator alerts on: a key or an account refused, told apart from a channel that is down.
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    for (const name of ['primary-a', 'primary-b'])
      assert.match(
        metrics,
        new RegExp(`cradle_upstream_failures_total\\{upstream="${name}",reason="refused"\\} [12]`),
      );
  });

  test("an OpenRouter channel refusing a request's content is a 400 with its words, and the channel stays in use", async () => {
    const fresh = await clientFor('refused-content@example.com');
    await withBehaviour(upstreams[0]!, { status: 503 }, () =>
      withBehaviour(upstreams[1]!, { status: 503 }, async () => {
        await withBehaviour(upstreams[2]!, { status: 403 }, async () => {
          for (let i = 0; i < 3; i++)
            await assert.rejects(chat(fresh), (error: InstanceType<typeof OpenAI.APIError>) => {
              assert.equal(error.status, 400);
              assert.equal(error.message, '400 upstream backup refused the request: fixture says 403');
              return true;
            });
        });
        // One user's refused content does not cool the channel down for everybody else.
        assert.equal((await chat(fresh)).choices[0]?.message.content, 'Hello from the fixture.');
      }),
    );
  });
});

test('two keys of one provider are two channels: each takes its share, under its own key', async () => {
  const provider = await startUpstream();
  const gw = await startTestGateway(`
routes:
  - { method: GET, path: /usage, plugins: [{ spaces-usage: { pool: keys } }] }
  - method: POST
    path: /v1/chat/completions
    plugins:
      - balancer:
          pool: keys
          members:
            - { name: key-one, url: "${provider.url}", api_key: first-key }
            - { name: key-two, url: "${provider.url}", api_key: second-key }
`);
  try {
    for (let i = 0; i < 10; i++) {
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [] });
      assert.equal(res.status, 200);
    }
    const keys = provider.requests.map((r) => r.headers.authorization);
    assert.equal(keys.filter((k) => k === 'Bearer first-key').length, 5);
    assert.equal(keys.filter((k) => k === 'Bearer second-key').length, 5);
    const members = (await getJson(`${gw.url}/usage`)).body.spaces as { name: string; requests: number }[];
    assert.deepEqual(
      members.map((m) => [m.name, m.requests]),
      [
        ['key-one', 5],
        ['key-two', 5],
      ],
    );
  } finally {
    await gw.close();
    await provider.close();
  }
});

test('a reload keeps what the pool knows of a channel: one cooling down stays out; a new key is a new channel', async () => {
  const [first, second] = await Promise.all([startUpstream(), startUpstream()]);
  const config = (firstKey: string) => `
routes:
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins:
      - balancer:
          pool: reloaded
          failures_to_cooldown: 1
          cooldown_s: 60
          members:
            - { name: first, url: "${first.url}", priority: 1, api_key: ${firstKey} }
            - { name: second, url: "${second.url}", api_key: key-2 }
`;
  const gw = await startTestGateway(config('key-1'));
  const ask = async () =>
    (
      await postJson(`${gw.url}/v1/chat/completions`, {
        model: 'm',
        messages: [{ role: 'user', content: 'Hi' }],
      })
    ).status;
  try {
    await withBehaviour(first, { status: 503 }, async () =>
      assert.equal(await ask(), 200, 'served by second'),
    );
    const reload = async (text: string) => {
      await gw.writeConfig(text);
      assert.equal((await gw.reload()).ok, true);
    };
    await reload(`${config('key-1')}# edited\n`);
    const asked = first.requests.length;
    for (let i = 0; i < 3; i++) assert.equal(await ask(), 200);
    assert.equal(first.requests.length, asked, 'the channel cooling down before the reload is still out');
    await reload(config('key-1-new'));
    assert.equal(await ask(), 200);
    assert.equal(first.requests.length, asked + 1, 'under a new key it is a new channel, asked first');
    assert.equal(first.requests.at(-1)?.headers.authorization, 'Bearer key-1-new');
  } finally {
    await gw.close();
    await Promise.all([first.close(), second.close()]);
  }
});

test('a channel that knows the model by another name gets the request as the whole chain left it', async () => {
  const [space, openrouter] = await Promise.all([startUpstream(), startUpstream()]);
  const gw = await startTestGateway(`
routes:
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins:
      - balancer:
          pool: renamed
          members:
            - { name: openrouter, url: "${openrouter.url}", priority: 1, model_names: { gemini-x: vendor/gemini-x } }
            - { name: space, url: "${space.url}" }
      - role-map: { roles: { model: assistant }, models: ["gemini-*"] }
`);
  try {
    const messages = [
      { role: 'user', content: 'Hi' },
      { role: 'model', content: 'Hello' },
      { role: 'user', content: 'Again' },
    ];
    const ask = () => postJson(`${gw.url}/v1/chat/completions`, { model: 'gemini-x', messages });
    const roles = (request: { json: unknown }) =>
      (request.json as { messages: { role: string }[] }).messages.map((message) => message.role);
    assert.equal((await ask()).status, 200);
    const sent = openrouter.requests.at(-1)!;
    assert.equal((sent.json as { model: string }).model, 'vendor/gemini-x', 'the name the channel knows');
    assert.deepEqual(roles(sent), ['user', 'assistant', 'user'], 'role-map, after the balancer, applied too');
    // A retry on a channel that knows the model by its own name gets it the same.
    await withBehaviour(openrouter, { status: 503 }, async () => assert.equal((await ask()).status, 200));
    const retried = space.requests.at(-1)!;
    assert.equal((retried.json as { model: string }).model, 'gemini-x');
    assert.deepEqual(roles(retried), ['user', 'assistant', 'user']);
  } finally {
    await gw.close();
    await Promise.all([space.close(), openrouter.close()]);
  }
});
