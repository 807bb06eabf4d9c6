/**
 * Rate limits cannot be dodged: the per-license limit counts the parsed key, made-up keys count against the
 * client address, and the address is read only through the proxies the config trusts. The payment callback
 * is limited and its body capped; metrics (which show revenue) need the admin token or a listed address.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { forEachStore } from './fixtures/stores.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'limits-admin';
const admin = { 'x-admin-token': TOKEN };
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

function limitSuite(storeName: string, env: () => Record<string, string>) {
  describe(`rate limits (${storeName} store)`, () => {
    let upstream: FixtureUpstream;
    let gw: TestGateway;
    let emails = 0;
    let started = 0;
    // Each gateway counts in windows of its own (a frozen clock hours apart): on Redis they share counters.
    const start = (extra: Record<string, string>) => {
      const now = Date.parse('2026-12-01T00:00:00Z') + ++started * 3600_000;
      return startTestGateway(shipped, {
        clock: { now: () => now },
        env: {
          API_ADMIN_TOKEN: TOKEN,
          OPENROUTER_BASE_URL: `${upstream.url}/api/v1`,
          OPENROUTER_API_KEY: 'k',
          PROXY_RATE_LIMIT: '6',
          PUBLIC_RATE_LIMIT: '1000',
          ...env(),
          ...extra,
        },
      });
    };
    const newKey = async (gateway: TestGateway) =>
      (
        await postJson(
          `${gateway.url}/api/v1/license/generate`,
          { email: `limit${++emails}-${storeName}-${Date.now()}@example.com`, credits: 100 },
          admin,
        )
      ).body.license_key as string;

    before(async () => {
      upstream = await startUpstream();
      gw = await start({});
    });
    after(async () => {
      await gw.close();
      await upstream.close();
    });

    test('one license has one budget, however its key is written', async () => {
      const key = await newKey(gw);
      // Its first request, before the key is known to be a license, counts against the address.
      const first = { authorization: `Bearer ${key}`, 'x-device-id': 'd' };
      assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chat, first)).status, 200);
      const ways: Record<string, string>[] = [
        { authorization: `Bearer ${key}` },
        { authorization: `Bearer  ${key}` },
        { authorization: `bearer ${key} ` },
        { 'x-license-key': key },
        { 'x-license-key': ` ${key}` },
      ];
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const headers = { ...ways[i % ways.length]!, 'x-device-id': 'd' };
        statuses.push((await postJson(`${gw.url}/v1/chat/completions`, chat, headers)).status);
      }
      assert.equal(statuses.filter((s) => s === 200).length, 6, statuses.join(' '));
      assert.equal(statuses.filter((s) => s === 429).length, 4);
    });

    if (storeName === 'redis')
      test("a window's shared counter expires with the window", async () => {
        const key = await newKey(gw);
        const headers = { 'x-license-key': key, 'x-device-id': 'd' };
        for (let i = 0; i < 2; i++)
          assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chat, headers)).status, 200);
        const redis = new Redis(env().REDIS_URL!);
        try {
          const counters = await redis.keys(`cradle:rl:proxy:key:${key}:*`);
          assert.equal(counters.length, 1, 'one counter for the window');
          const ttl = await redis.pttl(counters[0]!);
          assert.ok(ttl > 0 && ttl <= 60_000, `it expires within the 60 s window (${ttl} ms left)`);
        } finally {
          redis.disconnect();
        }
      });

    test('made-up keys are limited: they count against the client address', async () => {
      const gateway = await start({ PROXY_RATE_LIMIT: '20' });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 200; i++) {
          const headers = { authorization: `Bearer CRDL-GUESS-${i}-${Date.now()}`, 'x-device-id': 'd' };
          statuses.push((await postJson(`${gateway.url}/v1/chat/completions`, chat, headers)).status);
        }
        assert.equal(statuses.filter((s) => s === 401).length, 20);
        assert.equal(statuses.filter((s) => s === 429).length, 180);
      } finally {
        await gateway.close();
      }
    });

    test('the addresses of one IPv6 /64 are one client', async () => {
      const gateway = await start({ TRUST_PROXY: 'loopback', PUBLIC_RATE_LIMIT: '5' });
      const verify = (address: string) =>
        postJson(
          `${gateway.url}/api/v1/license/verify`,
          { license_key: 'CRDL-AAAA-BBBB-CCCC-DDDD', device_id: 'd' },
          { 'x-forwarded-for': address },
        );
      try {
        const statuses: number[] = [];
        for (let i = 1; i <= 8; i++) statuses.push((await verify(`2001:db8:9:9::${i}`)).status);
        assert.equal(statuses.filter((s) => s === 429).length, 3, 'five a window for the /64');
        assert.notEqual((await verify('2001:db8:9:a::1')).status, 429, 'another /64 has its own');
      } finally {
        await gateway.close();
      }
    });

    test('a client-chosen CF-Connecting-IP or X-Forwarded-For is believed only through trusted proxies', async () => {
      const guesses = async (gateway: TestGateway, spoof: (i: number) => Record<string, string>) => {
        const statuses: number[] = [];
        for (let i = 0; i < 30; i++) {
          const headers = { authorization: `Bearer GUESS-${i}`, 'x-device-id': 'd', ...spoof(i) };
          statuses.push((await postJson(`${gateway.url}/v1/chat/completions`, chat, headers)).status);
        }
        return statuses.filter((s) => s === 429).length;
      };
      // Not behind a proxy: forwarding headers are the client's own words.
      const direct = await start({ PROXY_RATE_LIMIT: '10' });
      try {
        assert.equal(await guesses(direct, (i) => ({ 'cf-connecting-ip': `203.0.113.${i}` })), 20);
        assert.equal(await guesses(direct, (i) => ({ 'x-forwarded-for': `203.0.113.${i}` })), 30);
        // Forwarded from this host with no proxy named: the operator is told, once, how to name it.
        const told = direct.logs.filter((line) => line.includes('server.trust_proxy does not name'));
        assert.equal(told.length, 1);
        assert.match(told[0]!, /"level":40.*TRUST_PROXY/);
      } finally {
        await direct.close();
      }
      // Behind nginx on this host: its X-Forwarded-For names the client; CF-Connecting-IP still does not.
      const behindNginx = await start({ PROXY_RATE_LIMIT: '10', TRUST_PROXY: 'loopback' });
      try {
        assert.equal(await guesses(behindNginx, (i) => ({ 'cf-connecting-ip': `203.0.113.${i}` })), 20);
        // nginx appends the address it saw: each of these is another client, each under its own limit.
        assert.equal(await guesses(behindNginx, (i) => ({ 'x-forwarded-for': `198.51.100.${i}` })), 0);
        // A forged entry before the one nginx added changes nothing.
        const forged = (i: number) => ({ 'x-forwarded-for': `10.9.9.${i}, 192.0.2.1` });
        assert.equal(await guesses(behindNginx, forged), 20);
        assert.ok(!behindNginx.logs.some((line) => line.includes('trust_proxy does not name')));
      } finally {
        await behindNginx.close();
      }
      const behindCloudflare = await start({
        PROXY_RATE_LIMIT: '10',
        TRUST_PROXY: 'loopback',
        BEHIND_CLOUDFLARE: 'true',
      });
      try {
        assert.equal(await guesses(behindCloudflare, (i) => ({ 'cf-connecting-ip': `203.0.113.${i}` })), 0);
      } finally {
        await behindCloudflare.close();
      }
    });

    test('the payment callback is limited per address and takes bodies of a few KiB only', async () => {
      const gateway = await start({ PAYMENT_RATE_LIMIT: '5', PAYMENT_PID: '1', PAYMENT_KEY: 'k' });
      try {
        const big = await fetch(`${gateway.url}/api/v1/payment/notify`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `param=${'x'.repeat(8192)}`,
        });
        assert.equal(big.status, 413);
        const statuses: number[] = [];
        for (let i = 0; i < 8; i++)
          statuses.push((await fetch(`${gateway.url}/api/v1/payment/notify?trade_no=${i}`)).status);
        assert.equal(statuses.filter((s) => s === 429).length, 3, 'five a window');
      } finally {
        await gateway.close();
      }
    });

    test('wrong admin tokens are refused after 20 in ten minutes from one address, on every route that reads one; right ones do not count', async () => {
      const gateway = await start({ TRUST_PROXY: 'loopback' });
      const list = (address: string, token: string) =>
        getJson(`${gateway.url}/api/v1/license/list`, { 'x-forwarded-for': address, 'x-admin-token': token });
      try {
        // The operator's own requests are not counted, however many, however many at once.
        for (let i = 0; i < 30; i++) assert.equal((await list('203.0.113.7', TOKEN)).status, 200);
        const operator = { 'x-forwarded-for': '203.0.113.7', 'x-admin-token': TOKEN };
        const generated = await postJson(
          `${gateway.url}/api/v1/license/generate`,
          { email: `bulk-${storeName}@example.com`, credits: 1 },
          operator,
        );
        const recharge = { license_key: generated.body.license_key, amount: 1 };
        for (let round = 0; round < 6; round++) {
          const atOnce = await Promise.all(
            Array.from({ length: 50 }, () =>
              postJson(`${gateway.url}/api/v1/license/recharge`, recharge, operator),
            ),
          );
          assert.deepEqual(new Set(atOnce.map((reply) => reply.status)), new Set([200]));
        }
        // Each guess is counted as it is judged: guesses sent at once meet the limit as guesses in a row do.
        const guesses = await Promise.all(
          Array.from({ length: 25 }, (_, i) => list('203.0.113.9', `guess-${i}`)),
        );
        const statuses = guesses.map((reply) => reply.status).sort();
        assert.deepEqual(statuses, [...Array(20).fill(401), ...Array(5).fill(429)]);
        // The address is shut out of every admin route for the rest of the window, the right token included:
        // a right guess must not tell itself apart.
        const metrics = await getJson(`${gateway.url}/metrics`, {
          'x-forwarded-for': '203.0.113.9',
          'x-admin-token': TOKEN,
        });
        assert.equal(metrics.status, 429);
        assert.ok(Number(metrics.headers.get('retry-after')) > 0);
        assert.equal((await list('203.0.113.9', TOKEN)).status, 429);
        assert.equal((await list('203.0.113.7', TOKEN)).status, 200, 'another address is not');
        // An IPv6 host has a whole /64 to send from: its addresses are one client.
        for (let i = 1; i <= 20; i++)
          assert.equal((await list(`2001:db8:1:2::${i.toString(16)}`, `guess-${i}`)).status, 401);
        assert.equal((await list('2001:db8:1:2:ffff::9', TOKEN)).status, 429, 'the same /64');
        assert.equal((await list('2001:db8:1:3::1', TOKEN)).status, 200, 'another /64');
        // Where the token is optional (an email's balance, its key unmasked for the admin), a wrong one is
        // refused and counted too; none, or a client's license key as its bearer, reads the public answer.
        const email = `optional-${storeName}@example.com`;
        await postJson(`${gateway.url}/api/v1/license/generate`, { email, credits: 1 }, admin);
        const balance = (headers: Record<string, string>) =>
          getJson(`${gateway.url}/api/v1/license/balance/${email}`, {
            'x-forwarded-for': '203.0.113.11',
            ...headers,
          });
        assert.equal((await balance({ 'x-admin-token': 'guess' })).status, 401);
        const bearer = await balance({ authorization: 'Bearer CRDL-AAAA-BBBB-CCCC' });
        assert.match(String(bearer.body.license_key), /\*{4}/, 'masked');
        const unmasked = await balance({ 'x-admin-token': TOKEN });
        assert.doesNotMatch(String(unmasked.body.license_key), /\*/);
        for (let i = 0; i < 19; i++) await balance({ 'x-admin-token': `guess-${i}` });
        assert.equal((await balance({ 'x-admin-token': TOKEN })).status, 429);
      } finally {
        await gateway.close();
      }
    });

    test('metrics need the admin token (X-Admin-Token or a bearer token) or a listed address', async () => {
      assert.equal((await getJson(`${gw.url}/metrics`)).status, 401);
      assert.equal((await getJson(`${gw.url}/metrics`, admin)).status, 200);
      const bearer = await getJson(`${gw.url}/metrics`, { authorization: `Bearer ${TOKEN}` });
      assert.equal(bearer.status, 200);
      const listed = await start({ METRICS_ALLOW: '127.0.0.1' });
      try {
        assert.equal((await getJson(`${listed.url}/metrics`)).status, 200);
        // A listed Prometheus still sending a token rotated away is no one guessing: it is not shut out.
        const stale = { authorization: 'Bearer rotated-away' };
        for (let i = 0; i < 25; i++)
          assert.equal((await getJson(`${listed.url}/metrics`, stale)).status, 200);
      } finally {
        await listed.close();
      }
    });
  });
}

forEachStore(limitSuite);
