/**
 * Scale-out on a Redis Cluster: two gateway instances on the shipped config share one three-master Cluster.
 * Balances stay exact under load spread over both, a day is charged once, a revocation on one holds on the
 * other within a second, and rate limits count across both.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { cradle } from './fixtures/cli.ts';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { startRedisCluster, type TestCluster } from './fixtures/redis-cluster.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'scale-admin';
const admin = { 'x-admin-token': TOKEN };
const RATE_LIMIT = 40;

describe('two instances on a Redis Cluster', () => {
  let cluster: TestCluster;
  let openrouter: FixtureUpstream;
  let gateways: TestGateway[];
  const now = Date.parse('2026-12-01T04:00:00Z');

  before(async () => {
    [cluster, openrouter] = await Promise.all([startRedisCluster(), startUpstream()]);
    const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
    const env = {
      ...cluster.env,
      API_ADMIN_TOKEN: TOKEN,
      OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
      OPENROUTER_API_KEY: 'or-key',
      PROXY_RATE_LIMIT: String(RATE_LIMIT),
    };
    // One clock for both: the day and the rate-limit window are the same on each instance.
    gateways = await Promise.all(
      [0, 1].map(() => startTestGateway(shipped, { env, clock: { now: () => now } })),
    );
  });
  after(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
    await openrouter.close();
    await cluster.stop();
  });

  const newLicense = async (email: string, credits: number) => {
    const res = await postJson(`${gateways[0]!.url}/api/v1/license/generate`, { email, credits }, admin);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.license_key as string;
  };
  const chat = (gw: TestGateway, key: string) =>
    postJson(
      `${gw.url}/api/chat/completion`,
      { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello from a cluster' }] },
      { 'x-license-key': key, 'x-device-id': 'device-1' },
    );
  const info = async (key: string) => {
    for (let tries = 0; ; tries++) {
      const body = (await getJson(`${gateways[1]!.url}/api/v1/license/info/${key}`, admin)).body;
      const license = body.license_info as { credits: number; held: number };
      if (license.held === 0 || tries > 200) return license;
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('balances stay exact under load spread over both, and the day is charged once', async () => {
    const key = await newLicense('load@example.com', 100);
    const answers = await Promise.all(Array.from({ length: 36 }, (_, i) => chat(gateways[i % 2]!, key)));
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
    const { credits } = await info(key);
    const ledger = (await getJson(`${gateways[0]!.url}/api/v1/license/ledger/${key}?limit=1000`, admin)).body
      .entries as { kind: string; amount: number; balance_after: number }[];
    assert.equal(ledger.filter((e) => e.kind === 'usage').length, 36);
    assert.equal(ledger.filter((e) => e.kind === 'daily_charge').length, 1, 'one charge for the day');
    const micro = (n: number) => Math.round(n * 1e6);
    const spent = ledger.filter((e) => e.amount < 0).reduce((sum, e) => sum + micro(e.amount), 0);
    assert.equal(micro(credits), micro(100) + spent, 'the balance is the ledger, to the micro-credit');
    assert.equal(ledger[0]!.balance_after, credits);
    const verified = await cradle(['store', 'verify'], { ...cluster.env });
    assert.equal(verified.status, 0, verified.stderr);
  });

  test('a revocation on one instance holds on the other within a second', async () => {
    const key = await newLicense('revoked@example.com', 10);
    assert.equal((await chat(gateways[0]!, key)).status, 200, 'instance 0 has the license cached');
    const revoked = await postJson(`${gateways[1]!.url}/api/v1/license/revoke/${key}`, {}, admin);
    assert.equal(revoked.status, 200);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 1000) {
      status = (await chat(gateways[0]!, key)).status;
    }
    assert.equal(status, 403, 'refused on the other instance');
    assert.ok(Date.now() - started < 1000);
  });

  test('a rate limit counts requests on both instances together', async () => {
    const key = await newLicense('limited@example.com', 100);
    // Each instance learns the key is a license with its first request (counted against the address).
    for (const gw of gateways) assert.equal((await chat(gw, key)).status, 200);
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMIT + 10; i++) statuses.push((await chat(gateways[i % 2]!, key)).status);
    assert.equal(statuses.filter((s) => s === 200).length, RATE_LIMIT);
    assert.equal(statuses.filter((s) => s === 429).length, 10);
  });
});
