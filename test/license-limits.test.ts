/**
 * A license's own limits, set by the operator (admin API or CLI) on the shipped config: the models it may call
 * (others refused before forwarding, nothing charged) and its own rate limit. On the embedded store and Redis;
 * the embedded store keeps them across a restart.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { cradle } from './fixtures/cli.ts';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { licenseAdminRoutes, licensedClient, licensedGateway } from './fixtures/licensed.ts';
import { forEachStore } from './fixtures/stores.ts';
import { tempDir } from './fixtures/temp.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'limits-admin';
const admin = { 'x-admin-token': TOKEN };
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');

function limitsSuite(storeName: string, env: () => Record<string, string>) {
  describe(`a license's own limits (${storeName} store)`, () => {
    let openrouter: FixtureUpstream;
    let gw: TestGateway;
    before(async () => {
      openrouter = await startUpstream();
      gw = await startTestGateway(shipped, {
        env: {
          ...env(),
          API_ADMIN_TOKEN: TOKEN,
          OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
          OPENROUTER_API_KEY: 'or-key',
        },
      });
    });
    after(async () => {
      await gw.close();
      await openrouter.close();
    });

    const newLicense = async (email: string) =>
      (await postJson(`${gw.url}/api/v1/license/generate`, { email, credits: 10 }, admin)).body
        .license_key as string;
    const chat = (key: string, model: string) =>
      postJson(
        `${gw.url}/v1/chat/completions`,
        { model, messages: [{ role: 'user', content: 'Hi' }] },
        { authorization: `Bearer ${key}`, 'x-device-id': 'laptop' },
      );
    const setLimits = (key: string, limits: Record<string, unknown>) =>
      postJson(`${gw.url}/api/v1/license/limits/${key}`, limits, admin);

    test('a model outside its list is refused before forwarding and costs nothing; cleared, it is served', async () => {
      const key = await newLicense(`models-${storeName}@example.com`);
      const set = await setLimits(key, { models: ['openai/*'] });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual((set.body.license_info as { limits: unknown }).limits, { models: ['openai/*'] });
      assert.equal((await chat(key, 'openai/gpt-4o-mini')).status, 200);
      const sent = openrouter.requests.length;
      const refused = await chat(key, 'anthropic/claude-3.5-sonnet');
      assert.equal(refused.status, 403);
      assert.match(JSON.stringify(refused.body), /model_not_allowed/i);
      assert.equal(openrouter.requests.length, sent, 'nothing was forwarded');
      const entries = (await getJson(`${gw.url}/api/v1/license/ledger/${key}`, admin)).body.entries as {
        kind: string;
      }[];
      assert.equal(
        entries.filter((entry) => entry.kind === 'usage').length,
        1,
        'only the allowed chat was charged',
      );
      assert.equal((await setLimits(key, {})).status, 200);
      assert.equal((await chat(key, 'anthropic/claude-3.5-sonnet')).status, 200, 'no list: any model');
    });

    test('its own rate limit holds instead of the route’s', async () => {
      const key = await newLicense(`rate-${storeName}@example.com`);
      await setLimits(key, { rate_limit_per_minute: 3 });
      const statuses: number[] = [];
      let limitHeader: string | null = null;
      for (let i = 0; i < 6; i++) {
        const res = await chat(key, 'openai/gpt-4o-mini');
        statuses.push(res.status);
        limitHeader = res.headers.get('x-ratelimit-limit') ?? limitHeader;
      }
      // The first request is counted before the key is known to be a license; then three a minute.
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
      assert.equal(limitHeader, '3');
      const other = await newLicense(`other-${storeName}@example.com`);
      assert.equal(
        (await chat(other, 'openai/gpt-4o-mini')).status,
        200,
        'other licenses keep the route limit',
      );
    });

    test('bad limits are refused naming the field', async () => {
      const key = await newLicense(`bad-${storeName}@example.com`);
      const bad = await setLimits(key, { rate_limit_per_minute: 0 });
      assert.equal(bad.status, 400);
      assert.match(String(bad.body.error), /^rate_limit_per_minute must be/);
      assert.equal((await setLimits('CRDL-NOPE-NOPE-NOPE-NOPE', {})).status, 404);
    });
  });
}

forEachStore(limitsSuite);

describe('on a route that does not bill, a fallback list reaches no model outside the lists', () => {
  const at = licensedGateway(
    (openrouterUrl) => `
routes:
${licenseAdminRoutes(TOKEN)}
  - method: POST
    path: /api/v1/license/limits/:key
    plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: limits } }]
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins:
      - license: {}
      - model-allowlist: { models: [openai/gpt-4o-mini, openai/gpt-4o] }
      - openrouter: { base_url: "${openrouterUrl}/api/v1", api_key: or-key }
`,
    { email: 'free-tier@example.com', credits: 0, token: TOKEN },
  );
  const chat = (key: string, body: Record<string, unknown>) =>
    postJson(
      `${at.gw.url}/v1/chat/completions`,
      { messages: [{ role: 'user', content: 'Hi' }], ...body },
      { authorization: `Bearer ${key}`, 'x-device-id': 'laptop' },
    );

  test("the license's own list: every model of `models` must be on it", async () => {
    const set = await postJson(
      `${at.gw.url}/api/v1/license/limits/${at.key}`,
      { models: ['openai/gpt-4o-mini'] },
      admin,
    );
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const sent = at.openrouter.requests.length;
    const refused = await chat(at.key, { model: 'openai/gpt-4o-mini', models: ['openai/gpt-4o'] });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.match(JSON.stringify(refused.body), /not \\"openai\/gpt-4o\\"/);
    assert.equal(at.openrouter.requests.length, sent, 'nothing was forwarded');
    const within = await chat(at.key, { model: 'openai/gpt-4o-mini', models: ['openai/gpt-4o-mini'] });
    assert.equal(within.status, 200, JSON.stringify(within.body));
  });

  test("the route's list: every model of `models` must be on it", async () => {
    const { key } = await licensedClient(at.gw.url, {
      email: 'free-tier-any@example.com',
      credits: 0,
      token: TOKEN,
    });
    const sent = at.openrouter.requests.length;
    const refused = await chat(key, { model: 'openai/gpt-4o', models: ['anthropic/claude-3-opus'] });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match(JSON.stringify(refused.body), /anthropic\/claude-3-opus\\" is not supported here/);
    assert.equal(at.openrouter.requests.length, sent, 'nothing was forwarded');
    assert.equal((await chat(key, { model: 'openai/gpt-4o', models: ['openai/gpt-4o-mini'] })).status, 200);
  });
});

test('the CLI sets and clears limits; each run is a new process, so the embedded store kept them', async () => {
  const env = { DATA_DIR: await tempDir('cradle-limits-') };
  const created = await cradle(['license', 'create', '--email', 'cli-limits@example.com'], env);
  const key = JSON.parse(created.stdout).license_key as string;
  const set = await cradle(
    ['license', 'limits', 'cli-limits@example.com', '--models', 'openai/*, gpt-4o', '--rate', '30'],
    env,
  );
  assert.equal(set.status, 0, set.stderr);
  const expected = { models: ['openai/*', 'gpt-4o'], rate_limit_per_minute: 30 };
  assert.deepEqual(JSON.parse(set.stdout).limits, expected);
  assert.deepEqual(JSON.parse((await cradle(['license', 'info', key], env)).stdout).limits, expected);
  const bad = await cradle(['license', 'limits', key, '--rate', 'fast'], env);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--rate must be a whole number/);
  const cleared = await cradle(['license', 'limits', key], env);
  assert.equal(JSON.parse(cleared.stdout).limits, undefined);
});
