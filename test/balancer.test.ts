/** Balancing over the HF Space pool: strategies, spread, failover before the response starts, health. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { startUpstream, withBehaviour, type FixtureUpstream } from './fixtures/upstream.ts';
import { Pool } from '../plugins/balancer/pool.ts';
import { latencyAware, leastInFlight, roundRobin, weighted } from '../plugins/balancer/strategies/index.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `run` against a gateway whose `POST /x` balances over two fixture spaces (with `behaviour`), the
 * balancer's other options in YAML flow style, and `GET /usage` reporting the pool; then closes them all.
 */
async function withTwoSpaces(
  options: { behaviour?: Partial<FixtureUpstream['behaviour']>; balancer?: string; firstDown?: boolean },
  run: (gw: TestGateway, spaces: FixtureUpstream[]) => Promise<void>,
): Promise<void> {
  const spaces = await Promise.all([startUpstream(options.behaviour), startUpstream(options.behaviour)]);
  // A space that is down: its port refuses connections.
  if (options.firstDown) await spaces[0]!.close();
  const members = spaces.map((s) => `{ url: "${s.url}" }`).join(', ');
  const gw = await startTestGateway(`
routes:
  - method: POST
    path: /x
    error_format: openai
    plugins:
      - balancer: { members: [${members}]${options.balancer ? `, ${options.balancer}` : ''} }
  - { method: GET, path: /usage, plugins: [spaces-usage] }
`);
  try {
    await run(gw, spaces);
  } finally {
    await gw.close();
    await Promise.all(spaces.slice(options.firstDown ? 1 : 0).map((s) => s.close()));
  }
}

describe('balancing strategies', () => {
  const pool = () => {
    const p = new Pool({ now: () => 1000 });
    p.update(
      [
        { url: 'http://a', weight: 5 },
        { url: 'http://b', weight: 1 },
        { url: 'http://c', weight: 1 },
      ],
      { path: '/v1/chat/completions', timeoutMs: 1000 },
    );
    return p;
  };
  const names = (pick: () => { url: string } | undefined, n: number) =>
    Array.from({ length: n }, () => pick()?.url);

  test('round-robin takes members in turn and skips unavailable ones', () => {
    const p = pool();
    assert.deepEqual(
      names(() => roundRobin(p.available(), p), 6),
      ['http://a', 'http://b', 'http://c', 'http://a', 'http://b', 'http://c'],
    );
    p.members[1]!.cooldownUntil = 5000;
    assert.deepEqual(
      new Set(names(() => roundRobin(p.available(), p), 4)),
      new Set(['http://a', 'http://c']),
    );
    p.members[0]!.healthy = false;
    p.members[2]!.healthy = false;
    assert.equal(roundRobin(p.available(), p), undefined);
  });

  test('weighted follows the weights smoothly (5:1:1, never five in a row)', () => {
    const p = pool();
    const picks = names(() => weighted(p.available(), p), 7);
    assert.deepEqual(picks.filter((u) => u === 'http://a').length, 5);
    assert.deepEqual(picks, [
      'http://a',
      'http://a',
      'http://b',
      'http://a',
      'http://c',
      'http://a',
      'http://a',
    ]);
  });

  test('least-in-flight and latency-aware pick the least busy and the fastest', () => {
    const p = pool();
    p.members[0]!.inFlight = 3;
    p.members[1]!.inFlight = 1;
    p.members[2]!.inFlight = 2;
    assert.equal(leastInFlight(p.available(), p)!.url, 'http://b');
    p.members.forEach((m, i) => (m.latencyMs = [90, 40, 10][i]!));
    assert.equal(latencyAware(p.available(), p)!.url, 'http://c');
    p.members[1]!.latencyMs = 0;
    assert.equal(latencyAware(p.available(), p)!.url, 'http://b', 'an unmeasured member is tried first');
  });
});

describe('balancer over real spaces', () => {
  let spaces: FixtureUpstream[];
  let gw: TestGateway;
  before(async () => {
    spaces = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
    gw = await startTestGateway(`
routes:
  - method: POST
    path: /api/huggingface/completion
    error_format: openai
    plugins:
      - balancer:
          pool: spaces
          strategy: round-robin
          cooldown_s: 60
          failures_to_cooldown: 1
          health: { path: /health, interval_s: 0.1, timeout_ms: 500 }
          members:
${spaces.map((s, i) => `            - { url: "${s.url}", password: "pass-${i + 1}" }`).join('\n')}
  - { method: GET, path: /api/huggingface/spaces/usage, plugins: [{ spaces-usage: { pool: spaces } }] }
`);
  });
  after(async () => {
    await gw.close();
    await Promise.all(spaces.map((s) => s.close()));
  });
  const ask = () =>
    postJson(`${gw.url}/api/huggingface/completion`, {
      model: 'gemini-exp-1206',
      messages: [{ role: 'user', content: 'hi' }],
    });
  const usage = async () =>
    (await getJson(`${gw.url}/api/huggingface/spaces/usage`)).body.spaces as Record<string, unknown>[];

  test('requests spread over the spaces, each with its own password', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await ask()).status, 200);
    assert.deepEqual(
      spaces.map((s) => s.requests.filter((r) => r.method === 'POST').length),
      [10, 10, 10],
    );
    spaces.forEach((s, i) =>
      assert.equal(
        s.requests.find((r) => r.method === 'POST')!.headers.authorization,
        `Bearer pass-${i + 1}`,
      ),
    );
    const stats = await usage();
    assert.deepEqual(
      stats.map((s) => s.requests),
      [10, 10, 10],
    );
    assert.ok(
      stats.every((s) => s.healthy === true && s.in_flight === 0 && typeof s.latency_ms === 'number'),
    );
    assert.ok(!JSON.stringify(stats).includes('pass-'), 'no password in the usage report');
  });

  test('a failing space (5xx) is retried on another before the answer starts, then cooled down', async () => {
    await withBehaviour(spaces[0]!, { status: 503 }, async () => {
      for (let i = 0; i < 9; i++) assert.equal((await ask()).status, 200);
      const stats = await usage();
      assert.ok((stats[0]!.failures as number) >= 1);
      assert.equal(stats[0]!.healthy, false, 'cooling down');
    });
  });

  test('a space whose health check fails is not chosen; with none healthy the answer is 503', async () => {
    const before = spaces[1]!.requests.filter((r) => r.method === 'POST').length;
    spaces[1]!.behaviour.healthy = false;
    spaces[2]!.behaviour.healthy = false;
    await sleep(350);
    const res = await ask();
    assert.equal(res.status, 503);
    assert.equal((res.body.error as { code: string }).code, 'no_healthy_upstream');
    assert.equal(spaces[1]!.requests.filter((r) => r.method === 'POST').length, before);
    spaces[2]!.behaviour.healthy = true;
    await sleep(350);
    assert.equal((await ask()).status, 200);
    spaces[1]!.behaviour.healthy = true;
  });
});

describe('upstream answers reach the client truthfully', () => {
  test("the pool's last 429 reaches the client with its status, Retry-After and message, OpenAI-shaped", async () => {
    await withTwoSpaces({ behaviour: { status: 429, retryAfter: '17' } }, async (gw, spaces) => {
      // A client no trusted proxy stands for cannot name another scheme or host.
      const spoofed = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' };
      const res = await postJson(`${gw.url}/x`, { model: 'gemini-exp-1206', messages: [] }, spoofed);
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '17');
      const error = res.body.error as { message: string; type: string; code: string };
      assert.match(error.message, /answered 429: fixture says 429/);
      assert.deepEqual([error.type, error.code], ['rate_limit_error', 'upstream_rate_limited']);
      assert.equal(spaces[0]!.requests.length + spaces[1]!.requests.length, 2, 'each member tried once');
      const seen = (spaces[0]!.requests[0] ?? spaces[1]!.requests[0])!.headers;
      assert.deepEqual(
        [seen['x-forwarded-for'], seen['x-forwarded-proto'], seen['x-forwarded-host']],
        ['127.0.0.1', 'http', new URL(gw.url).host],
      );
    });
  });
});

describe('a web page in place of an API', () => {
  // A sleeping Space's page comes at 200, a Space renamed or deleted answers 404 with one.
  for (const status of [200, 404]) {
    test(`a member answering one at ${status} is retried on another before the answer starts, then cooled down`, async () => {
      await withTwoSpaces({}, async (gw, spaces) => {
        await withBehaviour(spaces[0]!, { webPage: true, status }, async () => {
          for (let i = 0; i < 8; i++) {
            const res = await postJson(`${gw.url}/x`, { model: 'gemini-exp-1206', messages: [] });
            assert.equal(res.status, 200);
            assert.ok(Array.isArray(res.body.choices), 'an API answer, not the page');
          }
        });
        assert.ok(spaces[0]!.requests.length <= 2, `asked until cooled down (${spaces[0]!.requests.length})`);
        assert.equal(spaces[1]!.requests.length, 8, 'the other member answered every request');
      });
    });
  }

  test("with every member answering one, the client gets a 502 in the API's shape, not the page", async () => {
    await withTwoSpaces({ behaviour: { webPage: true } }, async (gw) => {
      const res = await postJson(`${gw.url}/x`, { model: 'gemini-exp-1206', messages: [] });
      assert.equal(res.status, 502);
      assert.match((res.body.error as { message: string }).message, /answered a web page, not its API/);
    });
  });
});

describe('active health checks', () => {
  test('a member is healthy on 2xx only, after its passes, and unhealthy after its fails', async () => {
    const balancer = 'health: { path: /health, interval_s: 0.1, timeout_ms: 500, passes: 3, fails: 2 }';
    await withTwoSpaces({ balancer }, async (gw, spaces) => {
      const healthy = async () =>
        ((await getJson(`${gw.url}/usage`)).body.spaces as { healthy: boolean }[]).map((s) => s.healthy);
      spaces[0]!.behaviour.healthAnswer = 'missing';
      spaces[1]!.behaviour.healthAnswer = 'sleeping-page';
      await sleep(80);
      assert.deepEqual(await healthy(), [true, true], 'one bad check is not enough');
      const until = async (expected: boolean[]) => {
        for (let i = 0; i < 60 && JSON.stringify(await healthy()) !== JSON.stringify(expected); i++)
          await sleep(50);
        return healthy();
      };
      assert.deepEqual(
        await until([false, false]),
        [false, false],
        'a 404 and a sleeping page are no health',
      );
      spaces[0]!.behaviour.healthAnswer = 'ok';
      await sleep(150);
      assert.deepEqual(await healthy(), [false, false], 'one good check is not enough either');
      assert.deepEqual(await until([true, false]), [true, false]);
    });
  });
});

describe('balancer failover', () => {
  test('with one space down (connection refused) every request still succeeds', async () => {
    await withTwoSpaces({ firstDown: true, balancer: 'failures_to_cooldown: 1' }, async (gw) => {
      for (let i = 0; i < 10; i++) {
        const res = await postJson(`${gw.url}/x`, { model: 'gemini-exp-1206', messages: [] });
        assert.equal(res.status, 200);
      }
      const stats = (await getJson(`${gw.url}/usage`)).body.spaces as {
        failures: number;
        healthy: boolean;
      }[];
      assert.equal(stats[0]!.failures, 1, 'tried once, then cooled down');
      assert.equal(stats[0]!.healthy, false);
    });
  });
});
