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
