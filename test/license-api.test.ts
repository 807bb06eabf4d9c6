/** The license and credit API, as the SPEC describes it, on the shipped config/gateway.yaml. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { startRedis } from './fixtures/redis.ts';
import { forEachStore } from './fixtures/stores.ts';

const TOKEN = 'admin-secret-1';
const admin = { 'x-admin-token': TOKEN };
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
let emails = 0;
const newEmail = () => `buyer${++emails}.${Date.now()}@example.com`;

async function generate(gw: TestGateway, body: Record<string, unknown>) {
  const res = await postJson(`${gw.url}/api/v1/license/generate`, body, admin);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { license_key: string; license_info: Record<string, unknown> };
}

function licenseApiSuite(storeName: string, env: () => Record<string, string>) {
  describe(`license API (${storeName} store)`, () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(shipped, {
        env: {
          API_ADMIN_TOKEN: `old-token,${TOKEN}`,
          UNLIMITED_EMAILS: 'tester@example.com',
          PUBLIC_RATE_LIMIT: '1000',
          ...env(),
        },
      });
    });
    after(() => gw.close());

    test('health reports the store', async () => {
      const res = await getJson(`${gw.url}/api/v1/health`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.checks, { 'license-store': 'ok' });
    });

    test('admin routes need a valid X-Admin-Token (any of the rotated ones)', async () => {
      assert.equal((await postJson(`${gw.url}/api/v1/license/generate`, { email: newEmail() })).status, 401);
      const wrong = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: newEmail() },
        { 'x-admin-token': 'nope' },
      );
      assert.deepEqual(wrong.body, {
        success: false,
        error: 'a valid X-Admin-Token header is required',
        code: 'UNAUTHORIZED',
      });
      const old = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: newEmail() },
        { 'x-admin-token': 'old-token' },
      );
      assert.equal(old.status, 201);
    });

    test('generate: a readable key and the license info; 409 for a second license; 400 names the field', async () => {
      const email = newEmail();
      const created = await generate(gw, { email, credits: 150, max_devices: 2 });
      assert.match(created.license_key, /^CRDL-[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$/);
      assert.equal(created.license_info.credits, 150);
      assert.equal(created.license_info.email, email);
      assert.equal(created.license_info.max_devices, 2);
      assert.equal(created.license_info.status, 'active');
      const again = await postJson(`${gw.url}/api/v1/license/generate`, { email }, admin);
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'EMAIL_HAS_LICENSE');
      const bad = await postJson(`${gw.url}/api/v1/license/generate`, { email: 'not-an-email' }, admin);
      assert.equal(bad.status, 400);
      assert.match(String(bad.body.error), /email must be an email address/);
      const badCredits = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: newEmail(), credits: -5 },
        admin,
      );
      assert.match(String(badCredits.body.error), /credits must be a positive number/);
      await generate(gw, { email: 'tester@example.com' });
      await generate(gw, { email: 'tester@example.com' });
    });

    test('verify binds devices up to max_devices; codes NOT_FOUND, DEVICE_LIMIT, REVOKED', async () => {
      const { license_key } = await generate(gw, { email: newEmail(), credits: 1 });
      const verify = (device: string, key = license_key) =>
        postJson(`${gw.url}/api/v1/license/verify`, { license_key: key, device_id: device });
      assert.deepEqual((await verify('pc-1')).body, {
        success: true,
        valid: true,
        code: 'VALID',
        credits: 1,
        max_devices: 1,
        unlimited: false,
      });
      assert.equal((await verify('pc-2')).body.code, 'DEVICE_LIMIT');
      assert.equal((await verify('pc-1', 'CRDL-AAAA-BBBB-CCCC-DDDD')).body.code, 'NOT_FOUND');
      const missing = await postJson(`${gw.url}/api/v1/license/verify`, { license_key });
      assert.equal(missing.status, 400);
      assert.match(String(missing.body.error), /device_id is required/);
      const reset = await postJson(`${gw.url}/api/v1/license/reset-devices/${license_key}`, {}, admin);
      assert.equal(reset.status, 200);
      assert.equal((await verify('pc-2')).body.code, 'VALID');
      assert.equal((await postJson(`${gw.url}/api/v1/license/revoke/${license_key}`, {}, admin)).status, 200);
      assert.equal((await verify('pc-2')).body.code, 'REVOKED');
      const info = await getJson(`${gw.url}/api/v1/license/info/${license_key}`, admin);
      assert.equal((info.body.license_info as { status: string }).status, 'revoked');
      assert.equal(
        (await postJson(`${gw.url}/api/v1/license/revoke/CRDL-AAAA-BBBB-CCCC-DDDD`, {}, admin)).status,
        404,
      );
    });

    test('balance: the key is masked unless the admin token is sent; 404 for an unknown email', async () => {
      const email = newEmail();
      const { license_key } = await generate(gw, { email, credits: 12.5 });
      const open = await getJson(`${gw.url}/api/v1/license/balance/${encodeURIComponent(email)}`);
      assert.equal(open.body.credits, 12.5);
      assert.equal(open.body.license_key, `CRDL-****-****-****-${license_key.slice(-4)}`);
      const full = await getJson(`${gw.url}/api/v1/license/balance/${encodeURIComponent(email)}`, admin);
      assert.equal(full.body.license_key, license_key);
      assert.equal((await getJson(`${gw.url}/api/v1/license/balance/nobody@example.com`)).status, 404);
    });

    test('recharge and deduct are exact; deduct refuses (402) and changes nothing when short', async () => {
      const email = newEmail();
      const { license_key } = await generate(gw, { email, credits: 0.1 });
      const recharge = await postJson(`${gw.url}/api/v1/license/recharge`, { email, amount: 0.2 }, admin);
      assert.equal(recharge.status, 200);
      assert.equal((recharge.body.license_info as { credits: number }).credits, 0.3);
      const byKey = await postJson(
        `${gw.url}/api/v1/license/recharge`,
        { license_key, amount: '1.000001' },
        admin,
      );
      assert.equal((byKey.body.license_info as { credits: number }).credits, 1.300001);
      const deduct = await postJson(`${gw.url}/api/v1/license/deduct`, { email, amount: 0.300001 }, admin);
      assert.deepEqual(deduct.body, {
        success: true,
        message: 'deducted 0.300001 credits',
        remaining_credits: 1,
      });
      const short = await postJson(`${gw.url}/api/v1/license/deduct`, { email, amount: 1.5 }, admin);
      assert.equal(short.status, 402);
      assert.equal(short.body.success, false);
      assert.equal(short.body.remaining_credits, 1);
      for (const amount of [-1, 0, 'abc', 1.1234567, 1e21, null]) {
        const bad = await postJson(`${gw.url}/api/v1/license/recharge`, { email, amount }, admin);
        assert.equal(bad.status, 400, `amount ${amount}`);
        assert.match(String(bad.body.error), /^amount must be/);
      }
      assert.equal(
        (
          await postJson(
            `${gw.url}/api/v1/license/recharge`,
            { email: 'ghost@example.com', amount: 1 },
            admin,
          )
        ).status,
        404,
      );
      const info = await getJson(`${gw.url}/api/v1/license/info/${license_key}`, admin);
      assert.equal((info.body.license_info as { credits: number }).credits, 1);
    });

    test('daily charge for edges: once a day, never for a day before the last paid; 402 when short; 400 names the field', async () => {
      const email = newEmail();
      const { license_key } = await generate(gw, { email, credits: 0.5 });
      const daily = (path: string, body: Record<string, unknown>) =>
        postJson(`${gw.url}/api/v1/license/${path}`, { license_key, amount: 0.33, ...body }, admin);
      const day = { day: '2026-11-27' };
      assert.deepEqual((await daily('daily-charge', day)).body, { success: true, result: 'charged' });
      assert.deepEqual((await daily('daily-charge', day)).body, { success: true, result: 'already' });
      assert.equal((await daily('daily-charge', { day: '2026-11-26' })).body.result, 'already');
      assert.equal((await daily('daily-charge', { day: '2026-11-28' })).status, 402);
      assert.equal((await daily('daily-refund', day)).status, 404, 'a day is never given back');
      const info = await getJson(`${gw.url}/api/v1/license/info/${license_key}`, admin);
      assert.equal((info.body.license_info as { credits: number }).credits, 0.17);
      const bad = await daily('daily-charge', { day: '27/11/2026' });
      assert.equal(bad.status, 400);
      assert.match(String(bad.body.error), /^day must be/);
      assert.equal((await daily('daily-charge', { ...day, license_key: 'CRDL-NONE' })).status, 404);
    });

    test('Idempotency-Key: a replay returns the first answer and changes nothing; another body is 422', async () => {
      const email = newEmail();
      const { license_key } = await generate(gw, { email, credits: 10 });
      const headers = { ...admin, 'idempotency-key': 'order-77' };
      const first = await postJson(`${gw.url}/api/v1/license/deduct`, { email, amount: 4 }, headers);
      await postJson(`${gw.url}/api/v1/license/recharge`, { email, amount: 1 }, admin);
      const replay = await postJson(`${gw.url}/api/v1/license/deduct`, { email, amount: 4 }, headers);
      assert.deepEqual(replay.body, first.body);
      assert.equal(replay.body.remaining_credits, 6);
      const info = await getJson(`${gw.url}/api/v1/license/info/${license_key}`, admin);
      assert.equal((info.body.license_info as { credits: number }).credits, 7);
      const conflict = await postJson(`${gw.url}/api/v1/license/deduct`, { email, amount: 5 }, headers);
      assert.equal(conflict.status, 422);
      assert.equal(conflict.body.code, 'IDEMPOTENCY_CONFLICT');
    });

    test('the ledger lists every change with its details, newest first, paged', async () => {
      const email = newEmail();
      const { license_key } = await generate(gw, { email, credits: 5 });
      await postJson(`${gw.url}/api/v1/license/recharge`, { email, amount: 2 }, admin);
      await postJson(
        `${gw.url}/api/v1/license/deduct`,
        {
          license_key,
          amount: 0.004321,
          kind: 'usage',
          request_id: 'req-9',
          model: 'gemini-exp-1206',
          prompt_tokens: 120,
          completion_tokens: 30,
          estimated: false,
        },
        { ...admin, 'idempotency-key': 'req-9' },
      );
      const page = await getJson(`${gw.url}/api/v1/license/ledger/${license_key}?limit=2`, admin);
      const entries = page.body.entries as Record<string, unknown>[];
      assert.equal(entries.length, 2);
      const { id, time, ...usage } = entries[0]!;
      assert.ok(typeof id === 'number' && !Number.isNaN(Date.parse(String(time))));
      assert.deepEqual(usage, {
        kind: 'usage',
        amount: -0.004321,
        balance_after: 6.995679,
        request_id: 'req-9',
        model: 'gemini-exp-1206',
        prompt_tokens: 120,
        completion_tokens: 30,
        estimated: false,
        idempotency_key: 'req-9',
      });
      assert.equal(entries[1]!.kind, 'recharge');
      const rest = await getJson(
        `${gw.url}/api/v1/license/ledger/${license_key}?limit=2&before=${page.body.next}`,
        admin,
      );
      assert.deepEqual(
        (rest.body.entries as { kind: string }[]).map((e) => e.kind),
        ['grant'],
      );
      assert.equal(rest.body.next, null);
      assert.equal(
        (await getJson(`${gw.url}/api/v1/license/ledger/${license_key}?limit=0`, admin)).status,
        400,
      );
      // As a spreadsheet reads it: amounts are numbers (those taken too), and no text runs as a formula.
      await postJson(
        `${gw.url}/api/v1/license/deduct`,
        { license_key, amount: 1, reference: '=HYPERLINK("http://example.com","refund")' },
        admin,
      );
      const csv = await fetch(`${gw.url}/api/v1/license/ledger/${license_key}?format=csv`, {
        headers: admin,
      });
      const [header, deducted, used] = (await csv.text()).split('\r\n');
      assert.match(header!, /^id,time,kind,amount,balance_after,reference,/);
      assert.match(
        deducted!,
        /^\d+,[^,]+,deduct,-1,5\.995679,"'=HYPERLINK\(""http:\/\/example\.com"",""refund""\)",/,
      );
      assert.match(used!, /^\d+,[^,]+,usage,-0\.004321,6\.995679,,req-9,/);
    });
  });
}

forEachStore(licenseApiSuite);

describe('license API protections', () => {
  test('public routes are rate limited per client address (429 with Retry-After)', async () => {
    const gw = await startTestGateway(shipped, { env: { API_ADMIN_TOKEN: TOKEN, PUBLIC_RATE_LIMIT: '3' } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await postJson(`${gw.url}/api/v1/license/verify`, {
          license_key: `CRDL-GUESS-${i}`,
          device_id: 'x',
        });
        statuses.push(res.status);
        if (res.status === 429) assert.ok(Number(res.headers.get('retry-after')) > 0);
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    } finally {
      await gw.close();
    }
  });

  test('with REDIS_URL the limit is shared by every instance', async () => {
    const own = await startRedis(); // a fresh one: counters of the other suites must not count here
    const env = { API_ADMIN_TOKEN: TOKEN, PUBLIC_RATE_LIMIT: '4', REDIS_URL: own.url };
    const [a, b] = await Promise.all([
      startTestGateway(shipped, { env }),
      startTestGateway(shipped, { env }),
    ]);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const gw = i % 2 ? b : a;
        statuses.push(
          (
            await postJson(`${gw.url}/api/v1/license/verify`, {
              license_key: `CRDL-SHARED-${i}`,
              device_id: 'x',
            })
          ).status,
        );
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    } finally {
      await a.close();
      await b.close();
      await own.stop();
    }
  });

  test('without an admin token configured, admin routes answer 503 saying how to enable them', async () => {
    const gw = await startTestGateway(shipped, { env: {} });
    try {
      const res = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: newEmail() },
        { 'x-admin-token': '' },
      );
      assert.equal(res.status, 503);
      assert.match(String(res.body.error), /set API_ADMIN_TOKEN/);
    } finally {
      await gw.close();
    }
  });
});
