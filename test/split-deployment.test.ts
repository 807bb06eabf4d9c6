/** Split deployment: an edge gateway with LICENSE_API_URL checks and charges through a central instance. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { EdgeBalances } from '../licensing/remote/balances.ts';
import { startUpstream, withBehaviour, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'central-admin';
const admin = { 'x-admin-token': TOKEN };
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');

describe('split deployment', () => {
  let central: TestGateway;
  let edge: TestGateway;
  let otherEdge: TestGateway;
  let openrouter: FixtureUpstream;

  before(async () => {
    openrouter = await startUpstream();
    central = await startTestGateway(shipped, { env: { API_ADMIN_TOKEN: TOKEN } });
    edge = await startTestGateway(shipped, { env: edgeEnv(central.url) }); // without /api/v1: accepted too
    otherEdge = await startTestGateway(shipped, { env: edgeEnv(central.url) });
  });
  after(async () => {
    await otherEdge.close();
    await edge.close();
    await central.close();
    await openrouter.close();
  });

  const edgeEnv = (licenseApi: string) => ({
    LICENSE_API_URL: licenseApi,
    LICENSE_ADMIN_TOKEN: TOKEN,
    OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
    OPENROUTER_API_KEY: 'edge-key',
  });

  /** A license with 10 credits on the central instance; returns its key. */
  const newLicense = async (email: string) => {
    const created = await postJson(`${central.url}/api/v1/license/generate`, { email, credits: 10 }, admin);
    return created.body.license_key as string;
  };

  /**
   * Waits until `gateway` has written `count` access lines for `requestId`: a request's line is written once
   * its charge was answered.
   */
  const finished = async (gateway: TestGateway, requestId: string, count = 1) => {
    const lines = () => gateway.logs.filter((line) => line.includes(`"reqId":"${requestId}","route"`)).length;
    for (let i = 0; i < 500 && lines() < count; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(lines() >= count, `${requestId}: ${count} request(s) finished`);
  };

  const ledger = async (key: string) => {
    for (let i = 0; i < 100; i++) {
      const entries = (await getJson(`${central.url}/api/v1/license/ledger/${key}`, admin)).body.entries as {
        kind: string;
        amount: number;
        request_id?: string;
      }[];
      if (entries.some((e) => e.kind === 'usage') || i === 99) return entries;
      await new Promise((r) => setTimeout(r, 20));
    }
    return [];
  };

  test('the edge verifies, takes the daily charge once and the usage charge through the central API', async () => {
    const key = await newLicense('edge@example.com');
    const sdk = new OpenAI({
      baseURL: `${edge.url}/v1`,
      apiKey: key,
      defaultHeaders: { 'X-Device-Id': 'edge-device' },
      maxRetries: 0,
    });
    await Promise.all(
      Array.from({ length: 5 }, () =>
        sdk.chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages: [{ role: 'user', content: 'hello edge' }],
        }),
      ),
    );
    const entries = await ledger(key);
    assert.equal(entries.filter((e) => e.kind === 'daily_charge').length, 1, 'one daily charge');
    const usage = entries.filter((e) => e.kind === 'usage');
    assert.ok(usage.length >= 1 && usage.every((e) => e.amount < 0 && typeof e.request_id === 'string'));
    const seen = openrouter.requests.at(-1)!;
    assert.equal(seen.headers.authorization, 'Bearer edge-key');
    const verify = await postJson(`${central.url}/api/v1/license/verify`, {
      license_key: key,
      device_id: 'edge-device',
    });
    assert.equal(verify.body.code, 'VALID', 'the device was bound on the central instance');
  });

  test('a failure through one edge leaves no entry; the first success through another pays the day once', async () => {
    const key = await newLicense('two-edges@example.com');
    const headers = { 'x-license-key': key, 'x-device-id': 'edge-device' };
    const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
    const kinds = async () => {
      const entries = (await getJson(`${central.url}/api/v1/license/ledger/${key}`, admin)).body.entries as {
        kind: string;
      }[];
      return entries.map((e) => e.kind);
    };
    await withBehaviour(openrouter, { status: 500 }, async () =>
      assert.equal((await postJson(`${otherEdge.url}/v1/chat/completions`, chat, headers)).status, 500),
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await kinds(), ['grant'], 'nothing charged, nothing given back');
    assert.equal((await postJson(`${edge.url}/v1/chat/completions`, chat, headers)).status, 200);
    assert.equal((await postJson(`${otherEdge.url}/v1/chat/completions`, chat, headers)).status, 200);
    for (let i = 0; i < 100 && (await kinds()).filter((k) => k === 'usage').length < 2; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      (await kinds()).filter((k) => k.startsWith('daily')),
      ['daily_charge'],
      'the day is paid once, through either edge',
    );
  });

  test('a revocation on the central holds on every edge within 5 s', async () => {
    const key = await newLicense('revoked-edge@example.com');
    const headers = { 'x-license-key': key, 'x-device-id': 'edge-device' };
    const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await postJson(`${edge.url}/v1/chat/completions`, chat, headers)).status, 200);
    assert.equal((await postJson(`${otherEdge.url}/v1/chat/completions`, chat, headers)).status, 200);
    assert.equal((await postJson(`${central.url}/api/v1/license/revoke/${key}`, {}, admin)).status, 200);
    const revokedAt = Date.now();
    for (const gateway of [edge, otherEdge]) {
      let status = 0;
      while (Date.now() - revokedAt < 7000) {
        status = (await postJson(`${gateway.url}/v1/chat/completions`, chat, headers)).status;
        if (status === 403) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(status, 403);
    }
    assert.ok(Date.now() - revokedAt < 5500, `refused everywhere after ${Date.now() - revokedAt} ms`);
  });

  test('a spent balance is refused by every edge before the upstream, and served again once recharged', async () => {
    const email = 'spent-edge@example.com';
    const key = await newLicense(email);
    const headers = { 'x-license-key': key, 'x-device-id': 'edge-device' };
    const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await postJson(`${edge.url}/v1/chat/completions`, chat, headers)).status, 200);
    await ledger(key);
    // Spent on the central instance, behind the edges' backs.
    const info = await getJson(`${central.url}/api/v1/license/info/${key}`, admin);
    const left = (info.body.license_info as { credits: number }).credits;
    assert.equal(
      (await postJson(`${central.url}/api/v1/license/deduct`, { email, amount: left }, admin)).status,
      200,
    );
    // The edge still believed the balance it last saw: this one is delivered, and pays what is left (nothing).
    const stale = { ...headers, 'x-request-id': 'spent-edge-stale' };
    assert.equal((await postJson(`${edge.url}/v1/chat/completions`, chat, stale)).status, 200);
    // Once its charge was answered, the edge has seen the balance spent.
    await finished(edge, 'spent-edge-stale');
    const before = openrouter.requests.length;
    for (const gateway of [edge, otherEdge]) {
      const refused = await postJson(`${gateway.url}/v1/chat/completions`, chat, headers);
      assert.equal(refused.status, 402, JSON.stringify(refused.body));
      assert.equal((refused.body.error as { code: string }).code, 'insufficient_credits');
    }
    assert.equal(openrouter.requests.length, before, 'no upstream call for a spent balance');
    await postJson(`${central.url}/api/v1/license/recharge`, { email, amount: 1 }, admin);
    assert.equal((await postJson(`${edge.url}/v1/chat/completions`, chat, headers)).status, 200);
  });

  test('a usage charge the central took but whose answer was lost is made again, and taken once', async () => {
    // In front of the central: the first deduction goes through, and its answer is lost (503).
    let lost = 0;
    const front = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const answer = await fetch(`${central.url}${req.url}`, {
        method: req.method,
        headers: Object.fromEntries(
          ['content-type', 'x-admin-token', 'idempotency-key'].flatMap((name) =>
            req.headers[name] === undefined ? [] : [[name, String(req.headers[name])]],
          ),
        ),
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const text = await answer.text();
      if (req.url === '/api/v1/license/deduct' && lost++ === 0) res.writeHead(503).end();
      else res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const flakyEdge = await startTestGateway(shipped, {
      env: edgeEnv(`http://127.0.0.1:${(front.address() as AddressInfo).port}`),
    });
    try {
      const key = await newLicense('lost-answer@example.com');
      const headers = { 'x-license-key': key, 'x-device-id': 'edge-device', 'x-request-id': 'lost-answer' };
      const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
      assert.equal((await postJson(`${flakyEdge.url}/v1/chat/completions`, chat, headers)).status, 200);
      await finished(flakyEdge, 'lost-answer');
      assert.equal(lost, 2, 'the deduction was made twice');
      const usage = (await ledger(key)).filter((e) => e.kind === 'usage');
      assert.equal(usage.length, 1, 'and taken once');
      assert.equal(usage[0]!.request_id, 'lost-answer');
    } finally {
      await flakyEdge.close();
      await new Promise((resolve) => front.close(resolve));
    }
  });

  test('two requests that share a client X-Request-Id are both charged through the edge', async () => {
    const key = await newLicense('same-request-id@example.com');
    const headers = {
      'x-license-key': key,
      'x-device-id': 'edge-device',
      'x-request-id': 'client-chosen-id',
    };
    const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await postJson(`${edge.url}/v1/chat/completions`, chat, headers)).status, 200);
    assert.equal((await postJson(`${edge.url}/v1/chat/completions`, chat, headers)).status, 200);
    await finished(edge, 'client-chosen-id', 2);
    const usage = (await ledger(key)).filter((e) => e.kind === 'usage');
    assert.deepEqual(
      usage.map((e) => e.request_id),
      ['client-chosen-id', 'client-chosen-id'],
    );
  });

  test('an edge keeps no licenses: its license API says so (503) and points to the central one', async () => {
    const key = await newLicense('edge-admin@example.com');
    const asks = [
      postJson(`${edge.url}/api/v1/license/generate`, { email: 'x@example.com', credits: 1 }, admin),
      postJson(`${edge.url}/api/v1/license/recharge`, { license_key: key, amount: 1 }, admin),
      getJson(`${edge.url}/api/v1/license/ledger/${key}`, admin),
      getJson(`${edge.url}/api/v1/license/list`, admin),
    ];
    for (const reply of await Promise.all(asks)) {
      assert.equal(reply.status, 503);
      assert.equal((reply.body as { code?: string }).code, 'EDGE_ONLY');
      assert.match(JSON.stringify(reply.body), /central license API/);
    }
  });

  test('a key revoked on the central instance is refused by the edge', async () => {
    const key = await newLicense('revoked-edge@example.com');
    await postJson(`${central.url}/api/v1/license/revoke/${key}`, {}, admin);
    const res = await postJson(
      `${edge.url}/v1/chat/completions`,
      { model: 'openai/gpt-4o-mini', messages: [] },
      { 'x-license-key': key, 'x-device-id': 'd' },
    );
    assert.equal(res.status, 403);
    assert.equal((res.body.error as { code: string }).code, 'license_revoked');
  });
});

describe("an edge's reckoning of balances", () => {
  test('what its requests in flight hold is counted however many other licenses it has seen since', async () => {
    const balances = new EdgeBalances();
    const central = async () => 100;
    const hold = (holdId: string) => balances.hold({ key: 'busy', holdId, amount: 60 }, central);
    assert.equal(await hold('first'), 'ok');
    // An edge in front of many licenses: more than it keeps balances of.
    for (let i = 0; i < 60_000; i++) balances.learn(`other-${i}`, 1);
    assert.equal(await hold('second'), 'insufficient', '60 of the 100 are still held by the first');
    balances.release('first');
    assert.equal(await hold('third'), 'ok');
  });

  test('a hold of nothing (a free request) holds nothing and asks the central nothing', async () => {
    const balances = new EdgeBalances();
    let asked = 0;
    const central = async () => (asked++, 100);
    assert.equal(await balances.hold({ key: 'quiet', holdId: 'free', amount: 0 }, central), 'ok');
    assert.equal(asked, 0);
    assert.equal(await balances.hold({ key: 'quiet', holdId: 'next', amount: 100 }, central), 'ok');
    assert.equal(asked, 1, 'the first real hold asks, and finds all 100 free');
  });
});
