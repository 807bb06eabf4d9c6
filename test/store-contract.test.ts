/** The store contract: both stores must pass every test here. Money is exact, atomic and never negative. */
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LicensingError } from '../licensing/errors.ts';
import { linesFromEnd } from '../licensing/embedded/files.ts';
import { LINGER_MS } from '../licensing/embedded/journal.ts';
import { generateLicenseKey } from '../licensing/keys.ts';
import { tag } from '../licensing/redis/connection.ts';
import { RedisStore } from '../licensing/redis/store.ts';
import { MICRO } from '../licensing/money.ts';
import { isoTime } from '../licensing/time.ts';
import type { EntryDetails, LedgerEntry, LicenseStore } from '../licensing/types.ts';
import { startRedis } from './fixtures/redis.ts';
import { startRedisCluster, type TestCluster } from './fixtures/redis-cluster.ts';
import { crashCopy, openEmbedded, silentLog, type StoreFactory } from './fixtures/stores.ts';
import { tempDir } from './fixtures/temp.ts';

let emailCounter = 0;
const uniqueEmail = () => `user${++emailCounter}-${Date.now()}@example.com`;

async function newLicense(
  store: LicenseStore,
  credits: number,
  options: { maxDevices?: number; unlimited?: boolean; email?: string } = {},
) {
  const result = await store.create({
    key: generateLicenseKey(),
    email: options.email ?? uniqueEmail(),
    credits: credits * MICRO,
    maxDevices: options.maxDevices ?? 1,
    unlimited: options.unlimited ?? false,
  });
  assert.equal(result.status, 'ok');
  return result.license;
}

/** Every detail a charge can carry (Required: a new one must be added here), strings needing escapes. */
const EVERY_DETAIL: Required<EntryDetails> = {
  reference: 'ref "quoted" \\ back',
  requestId: 'req\n\u2028id',
  model: 'vendor/"odd" 模型 \u0000',
  promptTokens: 12,
  completionTokens: 34,
  estimated: true,
  tradeNo: 'T"1',
  idempotencyKey: 'k\tey',
};

/** Settles a usage charge carrying every detail; checks that the entry carries them and the ledger shows it. */
async function chargeWithEveryDetail(store: LicenseStore, key: string): Promise<LedgerEntry> {
  assert.equal(await store.hold({ key, holdId: 'every-detail', amount: MICRO }), 'ok');
  const entry = (
    await store.settle({
      key,
      holdId: 'every-detail',
      cost: 0.5 * MICRO,
      kind: 'usage',
      details: EVERY_DETAIL,
    })
  ).usage;
  assert.deepEqual(entry, { ...entry!, ...EVERY_DETAIL }, 'the entry carries every detail');
  assert.deepEqual((await store.ledger(key, { limit: 1 })).entries, [entry]);
  return entry!;
}

export function storeContract(name: string, open: StoreFactory): void {
  describe(`${name} store contract`, () => {
    let store: LicenseStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    test("a charge's details come back whole from the ledger, whatever their strings hold", async () => {
      const license = await newLicense(store, 10);
      await chargeWithEveryDetail(store, license.key);
    });

    test('one active license per email; unlimited accounts may hold many', async () => {
      const email = uniqueEmail();
      const first = await newLicense(store, 10, { email });
      assert.match(first.key, /^CRDL-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
      const again = await store.create({
        key: generateLicenseKey(),
        email: email.toUpperCase(),
        credits: 0,
        maxDevices: 1,
        unlimited: false,
      });
      assert.equal(again.status, 'email_taken');
      const vip = uniqueEmail();
      await newLicense(store, 0, { email: vip, unlimited: true });
      await newLicense(store, 0, { email: vip, unlimited: true });
      await store.revoke(first.key);
      await newLicense(store, 1, { email });
      assert.notEqual((await store.findByEmail(email))!.key, first.key);
    });

    test('20 concurrent creates for one email make one license; a revoked one is replaced once', async () => {
      const email = uniqueEmail();
      const create = () =>
        store.create({ key: generateLicenseKey(), email, credits: MICRO, maxDevices: 1, unlimited: false });
      const firstRound = await Promise.all(Array.from({ length: 20 }, create));
      const made = firstRound.filter((r) => r.status === 'ok');
      assert.equal(made.length, 1);
      const key = made[0]!.license.key;
      for (const taken of firstRound.filter((r) => r.status === 'email_taken'))
        assert.equal(taken.license.key, key, 'a refusal names the license that holds the email');
      await store.revoke(key);
      const secondRound = await Promise.all(Array.from({ length: 20 }, create));
      assert.equal(secondRound.filter((r) => r.status === 'ok').length, 1);
      const active = (await store.list({ limit: 100_000, offset: 0 })).filter(
        (l) => l.email === email && l.status === 'active',
      );
      assert.equal(active.length, 1);
      assert.equal((await store.findByEmail(email))!.key, active[0]!.key);
    });

    test('devices bind on first verify up to max_devices; revoked and unknown keys are told apart', async () => {
      const license = await newLicense(store, 1, { maxDevices: 2 });
      assert.equal((await store.verify(license.key, 'dev-a')).code, 'VALID');
      assert.equal((await store.verify(license.key, 'dev-b')).code, 'VALID');
      assert.equal((await store.verify(license.key, 'dev-a')).code, 'VALID');
      assert.equal((await store.verify(license.key, 'dev-c')).code, 'DEVICE_LIMIT');
      await store.resetDevices(license.key);
      assert.equal((await store.verify(license.key, 'dev-c')).code, 'VALID');
      assert.equal((await store.verify('CRDL-NOPE-NOPE-NOPE-NOPE', 'dev-a')).code, 'NOT_FOUND');
      await store.revoke(license.key);
      assert.equal((await store.verify(license.key, 'dev-c')).code, 'REVOKED');
    });

    test("a license's own limits are kept, replaced, and cleared; an unknown key has none to set", async () => {
      const license = await newLicense(store, 1);
      const limits = { models: ['openai/*', 'gpt-4o'], ratePerMinute: 30 };
      assert.deepEqual((await store.setLimits(license.key, limits))?.limits, limits);
      assert.deepEqual((await store.get(license.key))?.limits, limits);
      assert.deepEqual((await store.setLimits(license.key, { ratePerMinute: 5 }))?.limits, {
        ratePerMinute: 5,
      });
      assert.equal((await store.setLimits(license.key, {}))?.limits, undefined);
      assert.equal((await store.get(license.key))?.limits, undefined);
      assert.equal(await store.setLimits('CRDL-NOPE-NOPE-NOPE-NOPE', limits), undefined);
    });

    test('50 concurrent deducts never overdraw', async () => {
      const license = await newLicense(store, 100);
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          store.change({ key: license.key, amount: -3 * MICRO, kind: 'deduct' }),
        ),
      );
      const ok = results.filter((r) => r.status === 'ok').length;
      assert.equal(ok, 33);
      assert.equal(results.filter((r) => r.status === 'insufficient').length, 17);
      assert.equal((await store.get(license.key))!.credits, 1 * MICRO);
    });

    test('concurrent recharges all count, exactly (50 × 0.1 = 5)', async () => {
      const license = await newLicense(store, 0);
      await Promise.all(
        Array.from({ length: 50 }, () =>
          store.change({ key: license.key, amount: 0.1 * MICRO, kind: 'recharge' }),
        ),
      );
      assert.equal((await store.get(license.key))!.credits, 5 * MICRO);
    });

    test('an idempotent replay returns the first answer and changes nothing; another body is a conflict', async () => {
      const license = await newLicense(store, 10);
      const request = {
        key: license.key,
        amount: -2 * MICRO,
        kind: 'deduct' as const,
        idempotency: { key: 'k-1', fingerprint: 'f-1', ttlMs: 60_000 },
      };
      const replies = await Promise.all(Array.from({ length: 10 }, () => store.change(request)));
      assert.equal(replies.filter((r) => r.status === 'ok').length, 1);
      assert.equal(replies.filter((r) => r.status === 'replayed').length, 9);
      const first = replies.find((r) => r.status === 'ok') as Extract<
        (typeof replies)[number],
        { status: 'ok' }
      >;
      for (const reply of replies) {
        assert.equal((reply as { entry?: { id: number } }).entry?.id, first.entry!.id);
      }
      assert.equal((await store.get(license.key))!.credits, 8 * MICRO);
      const conflict = await store.change({
        ...request,
        idempotency: { key: 'k-1', fingerprint: 'other', ttlMs: 60_000 },
      });
      assert.equal(conflict.status, 'idempotency_conflict');
    });

    test('an idempotency key is forgotten after its time: the same key then makes a new change', async () => {
      const license = await newLicense(store, 10);
      const request = {
        key: license.key,
        amount: -1 * MICRO,
        kind: 'deduct' as const,
        idempotency: { key: 'k-short', fingerprint: 'f', ttlMs: 300 },
      };
      assert.equal((await store.change(request)).status, 'ok');
      assert.equal((await store.change(request)).status, 'replayed');
      await new Promise((resolve) => setTimeout(resolve, 450));
      assert.equal((await store.change(request)).status, 'ok');
      assert.equal((await store.get(license.key))!.credits, 8 * MICRO);
    });

    test('a payment trade number credits once', async () => {
      const license = await newLicense(store, 0);
      const tradeNo = `T${Date.now()}`;
      const replies = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.change({ key: license.key, amount: 30 * MICRO, kind: 'payment', tradeNo }),
        ),
      );
      assert.equal(replies.filter((r) => r.status === 'ok').length, 1);
      assert.equal(replies.filter((r) => r.status === 'duplicate').length, 19);
      assert.equal((await store.get(license.key))!.credits, 30 * MICRO);
    });

    test('a payment credits once ever: concurrent replays, and a replay after its license was revoked', async () => {
      const email = uniqueEmail();
      const pay = () =>
        store.pay({
          tradeNo: `TRADE-${email}`,
          email,
          credits: 10 * MICRO,
          newLicense: { key: generateLicenseKey(), maxDevices: 1 },
        });
      const results = await Promise.all(Array.from({ length: 20 }, pay));
      assert.equal(results.filter((r) => r.status === 'credited').length, 1);
      const license = (await store.findByEmail(email))!;
      assert.equal(license.credits, 10 * MICRO);
      await store.revoke(license.key);
      assert.deepEqual(await pay(), { status: 'duplicate' });
      assert.equal(await store.findByEmail(email), undefined, 'no new license was made');
      const listed = (await store.payments({ limit: 1000, offset: 0 })).filter((p) => p.email === email);
      assert.deepEqual(
        listed.map((p) => [p.tradeNo, p.key, p.credits]),
        [[`TRADE-${email}`, license.key, 10 * MICRO]],
        'listed once',
      );
    });

    test('a deduct never takes credits held by requests in flight', async () => {
      const license = await newLicense(store, 10);
      const hold = { key: license.key, holdId: `inflight-${license.key}`, amount: 8 * MICRO };
      assert.equal(await store.hold(hold), 'ok');
      const deduct = (credits: number) =>
        store.change({ key: license.key, amount: -credits * MICRO, kind: 'deduct' });
      assert.equal((await deduct(5)).status, 'insufficient', '10 credits with 8 held cannot give 5');
      assert.equal((await deduct(2)).status, 'ok');
      const after = (await store.get(license.key))!;
      assert.deepEqual([after.credits, after.held], [8 * MICRO, 8 * MICRO]);
    });

    test('a balance is capped at a billion credits, so every micro-credit stays exact', async () => {
      const license = await newLicense(store, 999_999_999);
      const recharge = (credits: number) =>
        store.change({ key: license.key, amount: credits * MICRO, kind: 'recharge' });
      assert.equal((await recharge(2)).status, 'balance_limit');
      assert.equal((await recharge(1)).status, 'ok');
      assert.equal((await store.get(license.key))!.credits, 1_000_000_000 * MICRO);
      const paid = await store.pay({
        tradeNo: `CAP-${license.key}`,
        email: license.email,
        credits: 1,
        newLicense: { key: generateLicenseKey(), maxDevices: 1 },
      });
      assert.deepEqual(paid, { status: 'balance_limit' });
    });

    test('keys such as __proto__ and constructor are ordinary unknown keys', async () => {
      for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
        assert.equal(await store.get(key), undefined, key);
        assert.equal((await store.verify(key, 'device')).code, 'NOT_FOUND', key);
        assert.equal(await store.resetDevices(key), undefined, key);
        assert.equal(await store.setLimits(key, { ratePerMinute: 1 }), undefined, key);
        assert.equal(await store.revoke(key), undefined, key);
        assert.equal(await store.dailyCharge({ key, day: '2026-12-01', amount: MICRO }), 'not_found');
        assert.equal(await store.hold({ key, holdId: `proto-${key}`, amount: 1 }), 'not_found');
        assert.equal((await store.change({ key, amount: MICRO, kind: 'recharge' })).status, 'not_found');
        assert.equal(await store.findByEmail(key), undefined, key);
      }
      const email = `constructor@${Date.now()}.example.com`;
      const license = await newLicense(store, 1, { email });
      assert.equal((await store.findByEmail(email))!.key, license.key);
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was touched');
    });

    test('unlimited accounts are never charged', async () => {
      const license = await newLicense(store, 5, { unlimited: true });
      const reply = await store.change({ key: license.key, amount: -100 * MICRO, kind: 'deduct' });
      assert.equal(reply.status, 'ok');
      assert.equal((await store.get(license.key))!.credits, 5 * MICRO);
    });

    test('the ledger sums to the balance, newest first, paged by cursor', async () => {
      const license = await newLicense(store, 10);
      for (const amount of [5, -3, 0.25, -1.5]) {
        await store.change({
          key: license.key,
          amount: amount * MICRO,
          kind: amount > 0 ? 'recharge' : 'deduct',
          details: { reference: `r${amount}` },
        });
      }
      const all = await store.ledger(license.key, { limit: 100 });
      assert.deepEqual(
        all.entries.map((e) => e.kind),
        ['deduct', 'recharge', 'deduct', 'recharge', 'grant'],
      );
      const sum = all.entries.reduce((total, e) => total + e.amount, 0);
      const balance = (await store.get(license.key))!.credits;
      assert.equal(sum, balance);
      assert.equal(all.entries[0]!.balanceAfter, balance);
      assert.equal(all.next, null);
      const page1 = await store.ledger(license.key, { limit: 2 });
      assert.equal(page1.entries.length, 2);
      const page2 = await store.ledger(license.key, { limit: 10, before: page1.next! });
      assert.deepEqual(
        [...page1.entries, ...page2.entries].map((e) => e.id),
        all.entries.map((e) => e.id),
      );
    });

    test('holds reserve before a request and settle on its real cost; 30 concurrent on a tiny balance never overdraw', async () => {
      const license = await newLicense(store, 10);
      const holds = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          store.hold({ key: license.key, holdId: `h${i}-${license.key}`, amount: MICRO }),
        ),
      );
      assert.equal(holds.filter((h) => h === 'ok').length, 10);
      assert.equal((await store.get(license.key))!.held, 10 * MICRO);
      await Promise.all(
        holds.map((h, i) =>
          h === 'ok'
            ? store.settle({
                key: license.key,
                holdId: `h${i}-${license.key}`,
                cost: i % 2 ? 0 : 0.75 * MICRO,
                kind: 'usage',
                details: { model: 'm' },
              })
            : undefined,
        ),
      );
      const after = (await store.get(license.key))!;
      assert.equal(after.held, 0);
      assert.ok(after.credits >= 0);
      const usage = (await store.ledger(license.key, { limit: 100 })).entries.filter(
        (e) => e.kind === 'usage',
      );
      assert.equal(after.credits, 10 * MICRO + usage.reduce((sum, e) => sum + e.amount, 0));
      assert.equal(after.credits, 6.25 * MICRO, 'five settles at 0.75 took 3.75; the rest was released');
      const overshoot = await store.hold({ key: license.key, holdId: `o-${license.key}`, amount: MICRO });
      assert.equal(overshoot, 'ok');
      const { usage: entry } = await store.settle({
        key: license.key,
        holdId: `o-${license.key}`,
        cost: 100 * MICRO,
        kind: 'usage',
      });
      assert.equal(entry!.amount, -6.25 * MICRO, 'a cost above the balance takes what is left');
      assert.equal((await store.get(license.key))!.credits, 0);
    });

    test('the daily charge is taken once per day under concurrency, and again next day', async () => {
      const license = await newLicense(store, 1);
      const day = (d: string) => ({ key: license.key, day: d, amount: 0.33 * MICRO });
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.dailyCharge(day('2026-11-27'))),
      );
      assert.equal(results.filter((r) => r === 'charged').length, 1);
      assert.equal((await store.get(license.key))!.credits, 0.67 * MICRO);
      assert.equal(await store.dailyCharge(day('2026-11-27')), 'already');
      assert.equal(await store.dailyCharge(day('2026-11-26')), 'already', 'a day before the last paid');
      assert.equal(await store.dailyCharge(day('2026-11-28')), 'charged');
      assert.equal(await store.dailyCharge(day('2026-11-29')), 'charged');
      assert.equal(await store.dailyCharge(day('2026-11-30')), 'insufficient');
      const kinds = (await store.ledger(license.key, { limit: 10 })).entries.map((e) => e.kind);
      assert.deepEqual(kinds, ['daily_charge', 'daily_charge', 'daily_charge', 'grant']);
    });

    test("a day's charge is held with the request and taken only by the settle of its first success", async () => {
      const license = await newLicense(store, 1);
      const day = { day: '2026-12-01', amount: 0.33 * MICRO };
      const hold = (holdId: string, amount: number) =>
        store.hold({ key: license.key, holdId: `${holdId}-${license.key}`, amount, day });
      assert.equal(await hold('big', 0.7 * MICRO), 'insufficient', 'the hold covers usage and the day');
      assert.equal(await hold('a', 0.3 * MICRO), 'ok');
      assert.equal((await store.get(license.key))!.held, 0.63 * MICRO);
      // Each request of an unpaid day holds the day: together they hold it twice.
      assert.equal(await hold('b', 0.05 * MICRO), 'insufficient');
      assert.equal(await hold('b', 0.04 * MICRO), 'ok');
      // The first request fails: nothing is written; the second succeeds and pays the day with its usage.
      const failed = await store.settle({
        key: license.key,
        holdId: `a-${license.key}`,
        cost: 0,
        kind: 'usage',
      });
      assert.deepEqual(failed, {});
      const paid = await store.settle({
        key: license.key,
        holdId: `b-${license.key}`,
        cost: 0.04 * MICRO,
        kind: 'usage',
        details: { requestId: 'r-b' },
        day,
      });
      assert.equal(paid.daily?.amount, -0.33 * MICRO);
      assert.equal(paid.daily?.requestId, 'r-b');
      assert.equal(paid.usage?.amount, -0.04 * MICRO);
      assert.equal(paid.dayPaid, true);
      // Later requests that day hold and pay no day.
      assert.equal(await hold('c', 0.63 * MICRO), 'ok', 'the day is paid: only usage is held');
      const later = await store.settle({
        key: license.key,
        holdId: `c-${license.key}`,
        cost: 0,
        kind: 'usage',
        day,
      });
      assert.deepEqual(later, { dayPaid: true });
      const kinds = (await store.ledger(license.key, { limit: 10 })).entries.map((e) => e.kind);
      assert.deepEqual(kinds, ['usage', 'daily_charge', 'grant']);
      assert.deepEqual((await store.get(license.key))!.held, 0);
    });

    test('20 concurrent first requests of a day: the day is charged once, whichever succeed', async () => {
      const license = await newLicense(store, 10);
      const day = { day: '2026-12-02', amount: 0.33 * MICRO };
      const ids = Array.from({ length: 20 }, (_, i) => `d${i}-${license.key}`);
      const holds = await Promise.all(
        ids.map((holdId) => store.hold({ key: license.key, holdId, amount: 0.1 * MICRO, day })),
      );
      assert.ok(holds.every((h) => h === 'ok'));
      const settles = await Promise.all(
        ids.map((holdId, i) =>
          store.settle({
            key: license.key,
            holdId,
            cost: i % 3 === 0 ? 0 : 0.1 * MICRO,
            kind: 'usage',
            ...(i % 3 === 0 ? {} : { day }),
          }),
        ),
      );
      assert.equal(settles.filter((s) => s.daily).length, 1, 'one daily entry');
      const after = (await store.get(license.key))!;
      assert.equal(after.held, 0);
      assert.equal(after.credits, 10 * MICRO - 0.33 * MICRO - 13 * 0.1 * MICRO);
    });

    test('zones that disagree on the date never charge one day twice', async () => {
      const license = await newLicense(store, 10);
      // Shanghai is already on the 3rd while Los Angeles is still on the 2nd.
      const settle = (holdId: string, day: string) =>
        store.settle({ key: license.key, holdId, cost: 0, kind: 'usage', day: { day, amount: MICRO } });
      assert.ok((await settle('sh', '2026-12-03')).daily);
      assert.equal((await settle('la', '2026-12-02')).daily, undefined);
      assert.equal((await store.get(license.key))!.credits, 9 * MICRO);
    });

    test('a revoked license cannot spend but may still be credited', async () => {
      const license = await newLicense(store, 10);
      assert.equal(
        await store.hold({ key: license.key, holdId: `inflight-${license.key}`, amount: MICRO }),
        'ok',
      );
      await store.revoke(license.key);
      const spend = await store.change({ key: license.key, amount: -1 * MICRO, kind: 'deduct' });
      assert.equal(spend.status, 'revoked');
      const settled = await store.settle({
        key: license.key,
        holdId: `inflight-${license.key}`,
        cost: 0.5 * MICRO,
        kind: 'usage',
      });
      assert.equal(settled.usage?.amount, -0.5 * MICRO, 'a request made before the revocation still pays');
      assert.equal(
        await store.hold({ key: license.key, holdId: `after-${license.key}`, amount: MICRO }),
        'revoked',
      );
      const credit = await store.change({ key: license.key, amount: 1 * MICRO, kind: 'recharge' });
      assert.equal(credit.status, 'ok');
      assert.equal((await store.get(license.key))!.credits, 10.5 * MICRO);
      assert.equal(
        (await store.change({ key: 'CRDL-NONE-NONE-NONE-NONE', amount: MICRO, kind: 'recharge' })).status,
        'not_found',
      );
    });
  });
}

storeContract('embedded', () => openEmbedded());

const redis = await startRedis();
after(() => redis.stop());
storeContract('redis', () => RedisStore.open({ url: redis.url, log: silentLog }));

describe('on a three-master Redis Cluster', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(() => cluster.stop());
  storeContract('redis cluster', () => RedisStore.open({ url: cluster.url, cluster: true, log: silentLog }));
});

describe('redis store faults', () => {
  test('a payment whose first delivery stopped before it was listed is listed by the replay', async () => {
    const store = await RedisStore.open({ url: redis.url, log: silentLog });
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    try {
      const email = uniqueEmail();
      const pay = () =>
        store.pay({
          tradeNo: `T-unlisted-${email}`,
          email,
          credits: 3 * MICRO,
          newLicense: { key: generateLicenseKey(), maxDevices: 1 },
        });
      assert.equal((await pay()).status, 'credited');
      // What a crash between the credit and its listing leaves: the credit without the record.
      await admin.zrem('{cradle:payments}:by-time', `T-unlisted-${email}`);
      await admin.hdel('{cradle:payments}:records', `T-unlisted-${email}`);
      const ours = async () =>
        (await store.payments({ limit: 1000, offset: 0 })).filter((p) => p.email === email);
      assert.deepEqual(await ours(), []);
      assert.deepEqual(await pay(), { status: 'duplicate' });
      assert.deepEqual(
        (await ours()).map((p) => p.credits),
        [3 * MICRO],
      );
      assert.equal((await store.findByEmail(email))!.credits, 3 * MICRO, 'credited once');
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  test("a hold left by a process that died frees the credits after the hold's time", async () => {
    const store = await RedisStore.open({ url: redis.url, log: silentLog });
    try {
      const license = await newLicense(store, 1);
      const hold = (holdId: string) => store.hold({ key: license.key, holdId, amount: MICRO, ttlMs: 300 });
      assert.equal(await hold('of-a-dead-process'), 'ok');
      assert.equal(await hold('next'), 'insufficient', 'the credits are held');
      await new Promise((r) => setTimeout(r, 350));
      assert.equal(await hold('next'), 'ok', 'the dead hold ran out');
    } finally {
      await store.close();
    }
  });

  test("after its time, a dead process's hold keeps neither an operator's deduct nor an edge's day charge from the balance, nor shows as held, though the license made no request since", async () => {
    const store = await RedisStore.open({ url: redis.url, log: silentLog });
    try {
      const licenses = [await newLicense(store, 1), await newLicense(store, 1), await newLicense(store, 1)];
      const [deducted, charged, shown] = licenses;
      for (const { key } of licenses)
        assert.equal(await store.hold({ key, holdId: 'of-a-dead-process', amount: MICRO, ttlMs: 300 }), 'ok');
      const deductAll = () => store.change({ key: deducted!.key, amount: -MICRO, kind: 'deduct' });
      assert.equal((await deductAll()).status, 'insufficient', 'the credits are held');
      assert.equal((await store.get(shown!.key))!.held, MICRO);
      await new Promise((r) => setTimeout(r, 350));
      assert.equal((await store.get(shown!.key))!.held, 0, 'an operator looking at it sees nothing held');
      const deduct = await deductAll();
      assert.equal(deduct.status, 'ok');
      assert.equal(deduct.license!.credits, 0);
      assert.equal(
        await store.dailyCharge({ key: charged!.key, day: '2026-12-07', amount: MICRO }),
        'charged',
      );
    } finally {
      await store.close();
    }
  });

  test("one license's thousands of requests in flight do not make every hold slower (Redis runs one script at a time)", async () => {
    const store = await RedisStore.open({ url: redis.url, log: silentLog });
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    /** Redis's own time for a hold, averaged over 50 on the license. */
    const holdMicros = async (key: string) => {
      await admin.config('RESETSTAT');
      for (let i = 0; i < 50; i++) await store.hold({ key, holdId: `timed-${i}`, amount: 1 });
      const stats = (await admin.info('commandstats')).match(/cmdstat_evalsha:.*usec_per_call=([\d.]+)/);
      return Number(stats![1]);
    };
    try {
      const idle = await newLicense(store, 1);
      const busy = await newLicense(store, 1);
      for (let sent = 0; sent < 5000; sent += 500)
        await Promise.all(
          Array.from({ length: 500 }, (_, i) =>
            store.hold({ key: busy.key, holdId: `open-${sent + i}`, amount: 1 }),
          ),
        );
      const [alone, crowded] = [await holdMicros(idle.key), await holdMicros(busy.key)];
      assert.ok(crowded < 5 * alone + 50, `a hold took ${crowded} µs beside 5,000 open, ${alone} µs alone`);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  test('holds written before holds were indexed by their expiry still run out, each at its own time', async () => {
    const store = await RedisStore.open({ url: redis.url, log: silentLog });
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    try {
      const license = await newLicense(store, 2);
      const k = tag(license.key);
      // As the earlier version left them: in the license's hash of holds only, its credits held.
      await admin.hset(
        `${k}:holds`,
        'ran-out',
        `${MICRO}:${Date.now() - 1}`,
        'running',
        `${MICRO}:${Date.now() + 300}`,
      );
      await admin.hincrby(k, 'held', 2 * MICRO);
      const hold = (holdId: string) => store.hold({ key: license.key, holdId, amount: MICRO });
      assert.equal(await hold('next'), 'ok', 'the hold that ran out freed its credit');
      assert.equal(await hold('one-more'), 'insufficient', 'the running hold still holds its credit');
      await new Promise((r) => setTimeout(r, 350));
      assert.equal(await hold('one-more'), 'ok', 'the running hold ran out in its time');
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  test('a Redis that stops answering fails a money operation within the command time-out, not later', async () => {
    const own = await startRedis();
    const store = await RedisStore.open({ url: own.url, log: silentLog, commandTimeoutMs: 300 });
    const { Redis } = await import('ioredis');
    const admin = new Redis(own.url);
    try {
      const license = await newLicense(store, 1);
      await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
      const started = Date.now();
      await assert.rejects(store.hold({ key: license.key, holdId: 'paused', amount: MICRO }), (error) => {
        assert.equal((error as LicensingError).refusal, 'store_unavailable');
        return true;
      });
      assert.ok(Date.now() - started < 1500, `failed after ${Date.now() - started} ms`);
    } finally {
      admin.disconnect();
      await store.close();
      await own.stop();
    }
  });

  test('Redis down: money operations fail as 503 and health says so; it recovers by itself', async () => {
    const own = await startRedis();
    const store = await RedisStore.open({ url: own.url, log: silentLog });
    try {
      const license = await newLicense(store, 5);
      await own.stop();
      await assert.rejects(
        store.change({ key: license.key, amount: -MICRO, kind: 'deduct' }),
        (error: LicensingError) => error.refusal === 'store_unavailable',
      );
      await assert.rejects(store.checkHealth(), /unavailable/);
      await own.start();
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          await store.checkHealth();
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const reply = await store.change({ key: license.key, amount: -MICRO, kind: 'deduct' });
      assert.equal(reply.status, 'ok');
      assert.equal((await store.get(license.key))!.credits, 4 * MICRO);
    } finally {
      await store.close();
      await own.stop();
    }
  });

  test("a settle owed while Redis is down is made once it is back, once, with its day's charge", async () => {
    const own = await startRedis();
    const store = await RedisStore.open({
      url: own.url,
      log: silentLog,
      retryDelaysMs: Array.from({ length: 100 }, () => 50),
    });
    try {
      const license = await newLicense(store, 5);
      const day = { day: '2026-11-28', amount: 0.33 * MICRO };
      assert.equal(await store.hold({ key: license.key, holdId: 'in-flight', amount: MICRO, day }), 'ok');
      // The answer is delivered; Redis goes away before it is charged.
      await own.stop();
      const settled = store.settle({
        key: license.key,
        holdId: 'in-flight',
        cost: 0.5 * MICRO,
        kind: 'usage',
        day,
      });
      let done = false;
      void settled.finally(() => (done = true));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done, false, 'still owed, not dropped');
      await own.start();
      const result = await settled;
      assert.equal(result.usage?.amount, -0.5 * MICRO);
      assert.equal(result.daily?.amount, -0.33 * MICRO);
      const after = (await store.get(license.key))!;
      assert.deepEqual([after.credits, after.held], [4.17 * MICRO, 0]);
      const page = await store.ledger(license.key, { limit: 10 });
      assert.deepEqual(
        page.entries.map((e) => e.kind),
        ['usage', 'daily_charge', 'grant'],
      );
    } finally {
      await store.close();
      await own.stop();
    }
  });

  test('a revocation on one instance reaches the others at once', async () => {
    const a = await RedisStore.open({ url: redis.url, log: silentLog });
    const b = await RedisStore.open({ url: redis.url, log: silentLog });
    try {
      const license = await newLicense(a, 1);
      const heard = new Promise<string>((resolve) => b.onInvalidate(resolve));
      await a.revoke(license.key);
      assert.equal(await heard, license.key);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('embedded store durability', () => {
  test('a reopened store has every acknowledged change, after compaction too', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir, compactEvery: 7 });
    const license = await newLicense(store, 1);
    await Promise.all(
      Array.from({ length: 40 }, () =>
        store.change({ key: license.key, amount: 0.5 * MICRO, kind: 'recharge' }),
      ),
    );
    const payment = {
      tradeNo: 'T-durable',
      email: license.email,
      credits: 2 * MICRO,
      newLicense: { key: generateLicenseKey(), maxDevices: 1 },
    };
    assert.equal((await store.pay(payment)).status, 'credited');
    const payments = await store.payments({ limit: 10, offset: 0 });
    await store.close();
    const reopened = await openEmbedded({ dir });
    assert.equal((await reopened.get(license.key))!.credits, 23 * MICRO);
    assert.equal((await reopened.ledger(license.key, { limit: 100 })).entries.length, 42);
    assert.deepEqual(await reopened.payments({ limit: 10, offset: 0 }), payments);
    assert.equal(payments.length, 1);
    await reopened.close();
  });

  for (const encryptionKey of [undefined, 'k3y']) {
    test(`proxied charges are answered at once and reach the disk within milliseconds, with nothing else to carry them${encryptionKey ? ' (encrypted store)' : ''}`, async () => {
      const dir = await tempDir();
      const store = await openEmbedded({ dir, encryptionKey });
      const license = await newLicense(store, 10);
      const settled = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const holdId = `h${i}`;
          assert.equal(await store.hold({ key: license.key, holdId, amount: 0.5 * MICRO }), 'ok');
          return store.settle({ key: license.key, holdId, cost: 0.25 * MICRO, kind: 'usage' });
        }),
      );
      assert.equal(settled.filter(Boolean).length, 12);
      // On disk soon after the linger (a slow disk's sync may take a while): nothing else happens meanwhile.
      const journaled = async () => {
        const files = (await readdir(dir)).filter((n) => n.startsWith('journal-'));
        const texts = await Promise.all(files.map((n) => readFile(join(dir, n), 'utf8')));
        // The license's creation and the 12 charges.
        return texts.join('').split('\n').filter(Boolean).length;
      };
      const started = Date.now();
      while ((await journaled()) < 13 && Date.now() - started < 5000) {
        await new Promise((resolve) => setTimeout(resolve, LINGER_MS));
      }
      // What a crash would leave now: the files as they are, the store never closed.
      const crashed = await crashCopy(dir);
      const reopened = await openEmbedded({ dir: crashed, encryptionKey });
      assert.equal((await reopened.get(license.key))!.credits, 7 * MICRO);
      assert.equal((await reopened.ledger(license.key, { limit: 100 })).entries.length, 13);
      await reopened.close();
      await store.close();
    });
  }

  test('a usage charge comes back whole from the ledger and from the journal, whatever its strings hold', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir });
    const license = await newLicense(store, 10);
    const entry = await chargeWithEveryDetail(store, license.key);
    // A crash now, and the ledger files lost: the journal (on disk, as the ledger read waited for it) has it all.
    const crashed = await crashCopy(dir, { ledgerLost: true });
    const reopened = await openEmbedded({ dir: crashed });
    assert.equal((await reopened.get(license.key))!.credits, 9.5 * MICRO);
    assert.deepEqual((await reopened.ledger(license.key, { limit: 1 })).entries, [entry]);
    await reopened.close();
    await store.close();
  });

  test('a burst of charges far larger than a write batch comes back whole, multi-byte text included', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir });
    const license = await newLicense(store, 1000);
    // ~150 KB of lines in one lingering batch, every character 3 or 4 bytes (CJK, emoji) in UTF-8.
    const settled = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const holdId = `burst-${i}`;
        assert.equal(await store.hold({ key: license.key, holdId, amount: MICRO }), 'ok');
        const model = `模型-${i}-${'😀模'.repeat(60)}`;
        const settled = store.settle({
          key: license.key,
          holdId,
          cost: MICRO,
          kind: 'usage',
          details: { model },
        });
        return settled.then((result) => result.usage);
      }),
    );
    const newestFirst = settled.reverse();
    assert.deepEqual((await store.ledger(license.key, { limit: 300 })).entries, newestFirst);
    // A crash now, and the ledger files lost: the journal alone gives every entry back.
    const crashed = await crashCopy(dir, { ledgerLost: true });
    const reopened = await openEmbedded({ dir: crashed });
    assert.equal((await reopened.get(license.key))!.credits, 700 * MICRO);
    assert.deepEqual((await reopened.ledger(license.key, { limit: 300 })).entries, newestFirst);
    await reopened.close();
    await store.close();
  });

  test('each write batch holds only its own lines, also when it follows a longer one', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir });
    const [first, second] = [await newLicense(store, 100), await newLicense(store, 100)];
    const ledgerOf = async (reader: LicenseStore, key: string) =>
      (await reader.ledger(key, { limit: 100 })).entries;
    const opening = { first: await ledgerOf(store, first.key), second: await ledgerOf(store, second.key) };
    const charge = async (key: string, id: string, model: string) => {
      assert.equal(await store.hold({ key, holdId: id, amount: MICRO }), 'ok');
      return (await store.settle({ key, holdId: id, cost: MICRO, kind: 'usage', details: { model } })).usage!;
    };
    // Batch 1: long lines, so its buffers grow; the ledger read waits until they are written.
    const long = await Promise.all(
      Array.from({ length: 40 }, (_, i) => charge(first.key, `long-${i}`, `长-${i}-${'😀'.repeat(200)}`)),
    );
    assert.equal((await ledgerOf(store, first.key)).length, 40 + opening.first.length);
    // Batch 2 (and its buffers, used before by batch 1): a few short lines, on both licenses.
    const short = await Promise.all([
      charge(first.key, 'short-1', 'm'),
      charge(second.key, 'short-2', 'm'),
      charge(first.key, 'short-3', 'm'),
    ]);
    const expected = {
      first: [short[2]!, short[0]!, ...long.reverse(), ...opening.first],
      second: [short[1]!, ...opening.second],
    };
    assert.deepEqual(await ledgerOf(store, first.key), expected.first);
    assert.deepEqual(await ledgerOf(store, second.key), expected.second);
    // And the journal alone, ledger files lost, has exactly the same.
    const reopened = await openEmbedded({ dir: await crashCopy(dir, { ledgerLost: true }) });
    assert.deepEqual(await ledgerOf(reopened, first.key), expected.first);
    assert.deepEqual(await ledgerOf(reopened, second.key), expected.second);
    assert.equal((await reopened.get(first.key))!.credits, 58 * MICRO);
    await reopened.close();
    await store.close();
  });

  test('ledgers of many licenses stay whole while only the busiest files are kept open', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir });
    const openFiles = async () => (await readdir('/proc/self/fd')).length;
    const before = await openFiles();
    const licenses = await Promise.all(Array.from({ length: 150 }, () => newLicense(store, 1)));
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        licenses.map((license) => store.change({ key: license.key, amount: 0.25 * MICRO, kind: 'recharge' })),
      );
    }
    const pages = await Promise.all(licenses.map((l) => store.ledger(l.key, { limit: 10 })));
    for (const page of pages)
      assert.deepEqual(
        page.entries.map((e) => e.balanceAfter),
        [1.75, 1.5, 1.25, 1].map((c) => c * MICRO),
      );
    assert.ok((await openFiles()) - before <= 70, 'open ledger files are bounded');
    await store.close();
    const reopened = await openEmbedded({ dir });
    assert.equal((await reopened.ledger(licenses[149]!.key, { limit: 10 })).entries.length, 4);
    await reopened.close();
  });

  test('a journal that cannot be written stops the store: later changes and holds are refused (503), health turns red', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir, compactEvery: 3 });
    const license = await newLicense(store, 1);
    // The journal the next compaction opens is a device on which every write fails (ENOSPC).
    await symlink('/dev/full', join(dir, 'journal-000000000004.jsonl'));
    for (let i = 0; i < 2; i++) await store.change({ key: license.key, amount: MICRO, kind: 'recharge' });
    const refused = (error: LicensingError) => error.refusal === 'store_unavailable';
    await assert.rejects(store.change({ key: license.key, amount: MICRO, kind: 'recharge' }), /ENOSPC/);
    await assert.rejects(store.change({ key: license.key, amount: MICRO, kind: 'recharge' }), refused);
    await assert.rejects(store.hold({ key: license.key, holdId: 'h', amount: 1 }), refused);
    await assert.rejects(store.checkHealth(), refused);
    // Closing writes no snapshot: memory holds the change the journal refused.
    await store.close();
    await rm(join(dir, 'journal-000000000004.jsonl'));
    const reopened = await openEmbedded({ dir });
    assert.equal(
      (await reopened.get(license.key))!.credits,
      3 * MICRO,
      'every acknowledged change, no other',
    );
    await reopened.close();
  });

  test('idempotency keys long expired leave the snapshot, so the store does not grow with them', async () => {
    const dir = await tempDir();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const store = await openEmbedded({ dir, clock: { now: () => now } });
    const license = await newLicense(store, 5);
    const deduct = (key: string) =>
      store.change({
        key: license.key,
        amount: -MICRO,
        kind: 'deduct',
        idempotency: { key, fingerprint: 'f', ttlMs: 60_000 },
      });
    await deduct('old-key');
    now += 2 * 60 * 60 * 1000;
    await deduct('fresh-key');
    await store.close();
    const snapshot = await readFile(join(dir, 'snapshot.json'), 'utf8');
    assert.doesNotMatch(snapshot, /old-key/);
    assert.match(snapshot, /fresh-key/);
    const reopened = await openEmbedded({ dir });
    assert.equal((await reopened.get(license.key))!.credits, 3 * MICRO);
    await reopened.close();
  });

  test('a long ledger pages from its end: every entry once, newest first, across read chunks', async () => {
    const store = await openEmbedded();
    const license = await newLicense(store, 0);
    const count = 2500; // ≈ 300 KB of ledger file: several 64 KiB chunks read backwards
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.change({
            key: license.key,
            amount: MICRO,
            kind: 'recharge',
            details: { reference: `ré-${i + j}-✓` },
          }),
        ),
      );
    }
    const seen: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await store.ledger(license.key, { limit: 333, ...(before ? { before } : {}) });
      seen.push(...page.entries.map((e) => e.id));
      if (page.next === null) break;
      before = page.next;
    }
    assert.equal(seen.length, count);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => b - a),
    );
    assert.equal(new Set(seen).size, seen.length);
    await store.close();
  });

  test("lines read from a file's end match the file, UTF-8 split across chunks and a torn last line included", async () => {
    const dir = await tempDir();
    const file = join(dir, 'lines.txt');
    const lines = ['first', 'ünïcödé ✓✓', '', 'x'.repeat(20), 'last whole'];
    await writeFile(file, `${lines.join('\n')}\n{"torn`);
    for (const chunkBytes of [1, 3, 7, 64 * 1024]) {
      const read: { line: string; last: boolean }[] = [];
      for await (const item of linesFromEnd(file, chunkBytes)) read.push(item);
      assert.deepEqual(
        read,
        [{ line: '{"torn', last: true }, ...[...lines].reverse().map((line) => ({ line, last: false }))],
        `chunks of ${chunkBytes} bytes`,
      );
    }
    await writeFile(file, 'one\ntwo\n');
    const clean: { line: string; last: boolean }[] = [];
    for await (const item of linesFromEnd(file, 2)) clean.push(item);
    assert.deepEqual(clean, [
      { line: 'two', last: true },
      { line: 'one', last: false },
    ]);
  });

  test('one process per data folder: a second opener is refused while the first holds it', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir });
    await assert.rejects(openEmbedded({ dir }), /is in use by process \d+/);
    await store.close();
    (await openEmbedded({ dir })).close();
  });

  test('a torn last journal line is dropped with a warning, not fatal', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir });
    const license = await newLicense(store, 3);
    await store.close();
    const reopened = await openEmbedded({ dir });
    await reopened.change({ key: license.key, amount: MICRO, kind: 'recharge' });
    const journal = (await readdir(dir)).find((n) => n.startsWith('journal-'))!;
    await reopened.close();
    await appendFile(join(dir, journal), '{"seq":99,"op":"chan');
    const again = await openEmbedded({ dir });
    assert.equal((await again.get(license.key))!.credits, 4 * MICRO);
    await again.close();
  });

  test('an encrypted store holds no plain text and refuses a wrong or missing key clearly', async () => {
    const dir = await tempDir();
    const store = await openEmbedded({ dir, encryptionKey: 'correct horse' });
    const license = await newLicense(store, 7, { email: 'secret-person@example.com' });
    await store.close();
    for (const name of await readdir(dir)) {
      if (name === 'ledger') continue;
      assert.doesNotMatch(await readFile(join(dir, name), 'utf8'), /secret-person|CRDL-/, name);
    }
    await assert.rejects(
      openEmbedded({ dir, encryptionKey: 'wrong' }),
      /DATA_ENCRYPTION_KEY does not open the store/,
    );
    await assert.rejects(openEmbedded({ dir }), /is encrypted: set DATA_ENCRYPTION_KEY/);
    const reopened = await openEmbedded({ dir, encryptionKey: 'correct horse' });
    assert.equal((await reopened.get(license.key))!.credits, 7 * MICRO);
    await reopened.close();
    const plainDir = await tempDir();
    await writeFile(join(plainDir, 'snapshot.json'), '{}');
    await assert.rejects(openEmbedded({ dir: plainDir, encryptionKey: 'k' }), /is not encrypted/);
  });
});

describe('entry times', () => {
  test('are written as Date#toISOString writes them, also when the clock steps back or between milliseconds', () => {
    const start = Date.parse('2026-11-27T23:59:58.990Z');
    const times = [0, 5, 9, 10, 99, 100, 999, 1000, 1001, 1999.7, 2010, 1500, 0.4, -3000];
    for (const offset of times) {
      const ms = start + offset;
      assert.equal(isoTime(ms), new Date(ms).toISOString(), `${ms}`);
    }
  });
});
