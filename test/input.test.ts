/**
 * One set of rules for every input that reaches the store: bad input gets a 4xx that names what is wrong,
 * never a 500, and a key such as `__proto__` is an ordinary unknown key. A seeded fuzz of every route of the
 * shipped config, on both stores.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { forEachStore } from './fixtures/stores.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'input-admin';
const admin = { 'x-admin-token': TOKEN };
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');

/** A small seeded generator (mulberry32), so a failing case is the same on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY_STRINGS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '../../etc/passwd',
  '%00',
  'CRDL-AAAA-BBBB-CCCC-DDDD',
  'a'.repeat(5000),
  '😀',
  'not-an-email',
  'x@y.z',
  '-1',
  '1e309',
  'NaN',
];

function nastyValue(next: () => number, depth = 0): unknown {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  switch (Math.floor(next() * (depth > 2 ? 6 : 9))) {
    case 0:
      return pick(NASTY_STRINGS);
    case 1:
      return pick([0, -1, 1.5, 1e21, -0.000001, 123456789012, Number.MAX_SAFE_INTEGER]);
    case 2:
      return pick([true, false, null]);
    case 3:
      return pick(['0.33', '10', '1000000001', '0.0000001', 'abc']);
    case 4:
      return `user${Math.floor(next() * 100)}@example.com`;
    case 5:
      return pick(NASTY_STRINGS);
    case 6:
      return Array.from({ length: Math.floor(next() * 3) }, () => nastyValue(next, depth + 1));
    default:
      return nastyObject(next, depth + 1);
  }
}

const FIELDS = [
  'email',
  'credits',
  'amount',
  'max_devices',
  'license_key',
  'device_id',
  'day',
  'kind',
  'model',
  'messages',
  'stream',
  'max_tokens',
  'n',
  'reference',
  '__proto__',
  'constructor',
];

function nastyObject(next: () => number, depth = 0): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 5); i > 0; i--)
    Object.defineProperty(object, FIELDS[Math.floor(next() * FIELDS.length)]!, {
      value: nastyValue(next, depth),
      enumerable: true,
      configurable: true,
      writable: true,
    });
  return object;
}

function nastyBody(next: () => number): string {
  switch (Math.floor(next() * 6)) {
    case 0:
      return '';
    case 1:
      return '{"a":';
    case 2:
      return JSON.stringify(nastyValue(next));
    case 3:
      return `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    default:
      return JSON.stringify(nastyObject(next));
  }
}

/** The shipped config's POST routes that take a JSON body (the payment callback takes forms too). */
const JSON_POSTS = [
  '/v1/chat/completions',
  '/api/chat/completion',
  '/api/huggingface/completion',
  '/v1/embeddings',
  '/api/v1/license/verify',
  '/api/v1/license/generate',
  '/api/v1/license/recharge',
  '/api/v1/license/deduct',
  '/api/v1/license/daily-charge',
  '/api/v1/send-license-email',
];

function inputSuite(storeName: string, env: () => Record<string, string>) {
  describe(`input (${storeName} store)`, () => {
    let upstream: FixtureUpstream;
    let gw: TestGateway;
    let key: string;
    before(async () => {
      upstream = await startUpstream();
      gw = await startTestGateway(shipped, {
        env: {
          API_ADMIN_TOKEN: TOKEN,
          OPENROUTER_BASE_URL: `${upstream.url}/api/v1`,
          PAYMENT_PID: '1',
          PAYMENT_KEY: 'k',
          PUBLIC_RATE_LIMIT: '100000',
          PROXY_RATE_LIMIT: '100000',
          ...env(),
        },
      });
      const made = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: `fuzz-${storeName}@example.com`, credits: 100 },
        admin,
      );
      key = made.body.license_key as string;
    });
    after(async () => {
      await gw.close();
      await upstream.close();
    });

    test('__proto__ and constructor in a path or body are ordinary unknown keys, and the process lives on', async () => {
      const verify = await postJson(`${gw.url}/api/v1/license/verify`, {
        license_key: 'constructor',
        device_id: 'd',
      });
      assert.deepEqual([verify.status, verify.body.code], [200, 'NOT_FOUND']);
      for (const name of ['__proto__', 'constructor']) {
        const reset = await postJson(`${gw.url}/api/v1/license/reset-devices/${name}`, {}, admin);
        assert.equal(reset.status, 404, `reset-devices/${name}`);
        const info = await getJson(`${gw.url}/api/v1/license/info/${name}`, admin);
        assert.equal(info.status, 404, `info/${name}`);
        const daily = await postJson(
          `${gw.url}/api/v1/license/daily-charge`,
          { license_key: name, day: '2026-12-01', amount: 0.33 },
          admin,
        );
        assert.equal(daily.status, 404, `daily-charge ${name}`);
      }
      assert.equal((await getJson(`${gw.url}/metrics`, admin)).status, 200, 'the process still serves');
    });

    test('a chat body whose messages are missing, not an array or not objects is a 400 naming the field, never forwarded', async () => {
      const before = upstream.requests.length;
      const headers = { authorization: `Bearer ${key}`, 'x-device-id': 'fuzz' };
      for (const [body, field] of [
        [{ model: 'openai/gpt-4o-mini' }, /messages/],
        [{ model: 'openai/gpt-4o-mini', messages: 'hi' }, /messages/],
        [{ model: 'openai/gpt-4o-mini', messages: ['hi'] }, /messages\[0\]/],
        [{ model: 'openai/gpt-4o-mini', messages: [null] }, /messages\[0\]/],
        [{ messages: [] }, /model/],
        [[1, 2], /object/],
      ] as const) {
        const res = await postJson(`${gw.url}/v1/chat/completions`, body, headers);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(String((res.body.error as { message: string }).message), field);
      }
      const deep = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":${'['.repeat(5000)}${']'.repeat(5000)}}]}`,
      });
      assert.equal(deep.status, 400, 'nesting deeper than the bound');
      assert.equal(upstream.requests.length, before, 'none was forwarded');
    });

    test('a JSON body that is no object (null, a number, a text, an array) is a 400 on every route that reads one', async () => {
      const credentials = { authorization: `Bearer ${key}`, 'x-device-id': 'fuzz', ...admin };
      const paths = [...JSON_POSTS, `/api/v1/license/limits/${key}`];
      const answers: string[] = [];
      for (const path of paths)
        for (const body of ['null', '5', '"text"', '[]', 'true']) {
          const res = await fetch(`${gw.url}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...credentials },
            body,
          });
          answers.push(`${path} ${body} → ${res.status} ${/must be a JSON object/.test(await res.text())}`);
        }
      assert.deepEqual(
        answers,
        answers.map((answer) => answer.replace(/→ .*/, '→ 400 true')),
      );
    });

    test('a seeded fuzz of every route answers no 500', async () => {
      const next = random(20261206);
      const paths = [
        ...[...JSON_POSTS, '/api/v1/payment/notify'].map((path) => ['POST', path] as const),
        ...['revoke', 'reset-devices'].map((action) => ['POST', `/api/v1/license/${action}/`] as const),
        ...['info', 'ledger'].map((action) => ['GET', `/api/v1/license/${action}/`] as const),
        ['GET', '/api/v1/license/balance/'] as const,
        ['GET', '/api/v1/license/list'] as const,
        ['GET', '/api/v1/pricing'] as const,
        ['GET', '/v1/models'] as const,
      ];
      const failures: string[] = [];
      for (let i = 0; i < 600; i++) {
        const [method, base] = paths[Math.floor(next() * paths.length)]!;
        const tail = base.endsWith('/')
          ? encodeURIComponent(String(NASTY_STRINGS[Math.floor(next() * NASTY_STRINGS.length)]))
          : '';
        const query =
          next() < 0.3 ? `?limit=${String(nastyValue(next))}&before=${String(nastyValue(next))}` : '';
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (next() < 0.7) headers['x-admin-token'] = TOKEN;
        if (next() < 0.5)
          headers.authorization = `Bearer ${next() < 0.5 ? key : encodeURIComponent(String(nastyValue(next)))}`;
        if (next() < 0.5) headers['x-device-id'] = 'fuzz';
        const body = method === 'POST' ? nastyBody(next) : undefined;
        const res = await fetch(`${gw.url}${base}${tail}${query}`, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
        });
        const text = await res.text();
        if (res.status >= 500 && res.status !== 503)
          failures.push(
            `${method} ${base}${tail.slice(0, 40)} ${body?.slice(0, 80)} → ${res.status} ${text}`,
          );
      }
      assert.deepEqual(failures, []);
      assert.equal((await getJson(`${gw.url}/api/v1/health`)).status, 200);
    });
  });
}

forEachStore(inputSuite);
