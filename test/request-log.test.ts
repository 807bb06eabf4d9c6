/**
 * The request log and its statistics, on the shipped config: every request recorded once it finishes, with
 * what it cost; filtered pages, CSV, statistics by hour and day, retention. On Redis, two instances share
 * one log.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { bucketsIn } from '../licensing/time.ts';
import { startRedis } from './fixtures/redis.ts';
import { forEachStore } from './fixtures/stores.ts';
import { startUpstream, withBehaviour, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'log-admin';
const admin = { 'x-admin-token': TOKEN };
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
const HOUR_MS = 60 * 60 * 1000;

type Row = Record<string, unknown>;

function requestLogSuite(storeName: string, env: () => Record<string, string>) {
  describe(`request log (${storeName} store)`, () => {
    let openrouter: FixtureUpstream;
    let gateways: TestGateway[];
    // 2026-12-06 10:30 in Shanghai.
    let now = Date.parse('2026-12-06T02:30:00Z');

    before(async () => {
      openrouter = await startUpstream();
      const options = {
        env: {
          ...env(),
          API_ADMIN_TOKEN: TOKEN,
          OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
          OPENROUTER_API_KEY: 'or-key',
          REQUEST_LOG_DAYS: '2',
          UNLIMITED_EMAILS: `unlimited-${storeName}@example.com`,
        },
        clock: { now: () => now },
      };
      // The embedded store admits one process per folder; on Redis, two instances share the log.
      const count = storeName === 'embedded' ? 1 : 2;
      gateways = [];
      for (let i = 0; i < count; i++) gateways.push(await startTestGateway(shipped, options));
    });
    after(async () => {
      for (const gw of gateways) await gw.close();
      await openrouter.close();
    });

    const gw = (i: number) => gateways[i % gateways.length]!;
    const newLicense = async (email: string) => {
      const res = await postJson(`${gw(0).url}/api/v1/license/generate`, { email, credits: 50 }, admin);
      return res.body.license_key as string;
    };
    const chat = (i: number, key: string, body: Row = {}) =>
      postJson(
        `${gw(i).url}/v1/chat/completions`,
        { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello, log' }], ...body },
        { authorization: `Bearer ${key}`, 'x-device-id': 'laptop' },
      );
    /** The log's answer once it holds `count` records for the query (records are written in batches). */
    const logged = async (query: string, count: number) => {
      for (let tries = 0; ; tries++) {
        const res = await getJson(`${gw(1).url}/api/v1/requests?${query}`, admin);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const rows = res.body.requests as Row[];
        if (rows.length >= count || tries > 100) return { rows, next: res.body.next as number | null };
        await new Promise((r) => setTimeout(r, 30));
      }
    };

    test('each request is recorded once it finishes: who, what, where, how long, and what it cost', async () => {
      const email = `logged-${storeName}@example.com`;
      const key = await newLicense(email);
      assert.equal((await chat(0, key)).status, 200);
      assert.equal((await chat(1, key, { stream: true })).status, 200);
      const { rows } = await logged(`license=${key}`, 2);
      assert.equal(rows.length, 2);
      const ledger = (await getJson(`${gw(0).url}/api/v1/license/ledger/${key}`, admin)).body
        .entries as Row[];
      const usage = ledger.filter((e) => e.kind === 'usage').reverse();
      // The test's clock stands still: both finished in the same millisecond, so they are told by request id.
      const rowOf = (entry: Row) => rows.find((row) => row.request_id === entry.request_id)!;
      const [first, stream] = [rowOf(usage[0]!), rowOf(usage[1]!)];
      const daily = ledger.find((e) => e.kind === 'daily_charge')!;
      assert.equal(
        first.credits,
        Math.round(-((usage[0]!.amount as number) + (daily.amount as number)) * 1e6) / 1e6,
      );
      assert.equal(stream.credits, -(usage[1]!.amount as number));
      for (const [row, entry] of [
        [first, usage[0]!],
        [stream, usage[1]!],
      ] as const) {
        assert.equal(row.request_id, entry.request_id);
        assert.equal(row.prompt_tokens, entry.prompt_tokens);
        assert.equal(row.completion_tokens, entry.completion_tokens);
        assert.equal(row.model, 'openai/gpt-4o-mini');
        assert.equal(row.upstream, 'openrouter');
        assert.equal(row.status, 200);
        assert.equal(row.device, 'laptop');
        assert.equal(row.route, 'POST /v1/chat/completions');
        assert.match(row.license as string, /^CRDL-\*{4}-\*{4}-\*{4}-[A-Z2-9]{4}$/, 'the key is masked');
        assert.ok((row.latency_ms as number) > 0);
        assert.ok((row.ttft_ms as number) > 0 && (row.ttft_ms as number) <= (row.latency_ms as number));
        assert.equal(row.time, new Date(now).toISOString());
      }
      assert.deepEqual((await logged(`email=${email}`, 2)).rows, rows, 'found by email too');
    });

    test("an unlimited license's requests are recorded with their tokens, charged nothing; what they cost upstream is counted", async () => {
      const key = await newLicense(`unlimited-${storeName}@example.com`);
      const upstreamCost = async () => {
        const text = await (await fetch(`${gw(0).url}/metrics`, { headers: admin })).text();
        const line = text
          .split('\n')
          .find((l) => l.startsWith('cradle_model_upstream_cost_usd_total{model="openai/gpt-4o-mini"}'));
        return line ? Number(line.split(' ')[1]) : 0;
      };
      const costBefore = await upstreamCost();
      await withBehaviour(openrouter, { cost: 0.00001 }, async () => {
        assert.equal((await chat(0, key)).status, 200);
        const stream = await chat(0, key, { stream: true });
        assert.equal(stream.status, 200);
        assert.match(String(stream.body.text), /\[DONE\]/);
        assert.doesNotMatch(
          String(stream.body.text),
          /"usage":\{/,
          'the usage event the client did not ask for',
        );
      });
      const { rows } = await logged(`license=${key}`, 2);
      assert.equal(rows.length, 2);
      // The fixture answers a word a token: 'Hello from the fixture.' is four.
      for (const row of rows)
        assert.deepEqual(
          [row.status, row.credits, row.completion_tokens, row.estimated],
          [200, 0, 4, false],
          JSON.stringify(row),
        );
      assert.ok(rows.every((row) => (row.prompt_tokens as number) > 0));
      assert.ok(
        Math.abs((await upstreamCost()) - costBefore - 0.00002) < 1e-12,
        'both requests cost counted',
      );
      const info = (await getJson(`${gw(0).url}/api/v1/license/info/${key}`, admin)).body.license_info;
      assert.equal((info as { unlimited: boolean }).unlimited, true);
      const ledger = (await getJson(`${gw(0).url}/api/v1/license/ledger/${key}`, admin)).body
        .entries as Row[];
      assert.deepEqual(
        ledger.filter((entry) => entry.kind === 'usage' || entry.kind === 'daily_charge'),
        [],
        'nothing charged',
      );
    });

    test("the time to first token is the first token's, not that of a comment the stream opens with", async () => {
      const key = await newLicense(`first-token-${storeName}@example.com`);
      const res = await withBehaviour(openrouter, { processingMs: 300 }, () =>
        chat(0, key, { stream: true }),
      );
      assert.equal(res.status, 200);
      const { rows } = await logged(`license=${key}`, 1);
      const { ttft_ms: ttft, latency_ms: latency } = rows[0] as { ttft_ms: number; latency_ms: number };
      assert.ok(ttft >= 300 && ttft <= latency, `first token at ${ttft} ms of ${latency}`);
      // A stream compressed anyway is read at its end: it is timed by its first bytes, never by its end.
      const behaviour = { processingMs: 300, chunkDelayMs: 100, gzip: 'always' as const };
      await withBehaviour(openrouter, behaviour, () => chat(0, key, { stream: true }));
      const compressed = (await logged(`license=${key}`, 2)).rows[0] as {
        ttft_ms: number;
        latency_ms: number;
      };
      assert.ok(
        compressed.ttft_ms < 300,
        `first bytes at ${compressed.ttft_ms} ms of ${compressed.latency_ms}`,
      );
    });

    test('a refused request is recorded with its status and error code', async () => {
      const res = await chat(0, 'CRDL-AAAA-BBBB-CCCC-DDDD');
      assert.equal(res.status, 401);
      const { rows } = await logged('status=401', 1);
      assert.equal(rows[0]!.error_code, 'INVALID_LICENSE');
      assert.equal(rows[0]!.credits, 0);
      assert.equal(rows[0]!.license, undefined);
    });

    test('an answer the upstream refused is recorded with the model asked for and nothing charged', async () => {
      const key = await newLicense(`refused-upstream-${storeName}@example.com`);
      const res = await withBehaviour(openrouter, { status: 429 }, () =>
        chat(0, key, { model: 'openai/gpt-4o', stream: true }),
      );
      assert.equal(res.status, 429);
      const { rows } = await logged(`license=${key}`, 1);
      assert.deepEqual(
        [rows[0]!.model, rows[0]!.upstream, rows[0]!.status, rows[0]!.credits],
        ['openai/gpt-4o', 'openrouter', 429, 0],
      );
    });

    test('an error in place of an answer at 200 is recorded and counted as an upstream error, with no tokens, charged nothing', async () => {
      const key = await newLicense(`failed-answer-${storeName}@example.com`);
      const res = await withBehaviour(openrouter, { failsAfter: 0 }, () => chat(0, key));
      assert.equal(res.status, 200);
      const { rows } = await logged(`license=${key}`, 1);
      assert.deepEqual(
        [rows[0]!.status, rows[0]!.error_code, rows[0]!.credits, rows[0]!.prompt_tokens],
        [200, 'UPSTREAM_ERROR', 0, undefined],
      );
      const stats = (await getJson(`${gw(0).url}/api/v1/stats?period=day&dimension=license`, admin)).body
        .stats as Row[];
      const mine = stats.find((row) => (row.key as string).endsWith(key.slice(-4)))!;
      assert.deepEqual([mine.requests, mine.errors], [1, 1], 'an error in the statistics too');
    });

    test('pages follow a cursor; CSV exports the same rows', async () => {
      const key = await newLicense(`paged-${storeName}@example.com`);
      for (let i = 0; i < 3; i++) assert.equal((await chat(i, key)).status, 200);
      const all = (await logged(`license=${key}`, 3)).rows;
      const first = await logged(`license=${key}&limit=2`, 2);
      assert.deepEqual(first.rows, all.slice(0, 2));
      const second = await logged(`license=${key}&limit=2&before=${first.next}`, 1);
      assert.deepEqual(second.rows, all.slice(2));
      assert.equal(second.next, null);
      const csv = await fetch(`${gw(0).url}/api/v1/requests?license=${key}&format=csv`, { headers: admin });
      assert.match(csv.headers.get('content-type')!, /^text\/csv/);
      const lines = (await csv.text()).trimEnd().split('\r\n');
      assert.match(lines[0]!, /^id,time,request_id,license,device,route,model,upstream,status,/);
      assert.equal(lines.length, 4);
      assert.ok(lines[1]!.includes(all[0]!.request_id as string));
      // A CSV page says where the next one starts, as the JSON's `next` does.
      const csvPage = (before?: string) =>
        fetch(
          `${gw(0).url}/api/v1/requests?license=${key}&format=csv&limit=2${before ? `&before=${before}` : ''}`,
          { headers: admin },
        );
      const firstCsv = await csvPage();
      const cursor = firstCsv.headers.get('x-next-cursor');
      assert.equal(cursor, String(first.next));
      const secondCsv = await csvPage(cursor!);
      assert.equal(secondCsv.headers.get('x-next-cursor'), null, 'the last page names no next');
      const pages = [await firstCsv.text(), await secondCsv.text()].map((text) =>
        text.trimEnd().split('\r\n'),
      );
      assert.deepEqual([pages[0]![0], ...pages[0]!.slice(1), ...pages[1]!.slice(1)], lines);
    });

    test('statistics by hour and day, by model, license and upstream, follow the requests', async () => {
      const key = await newLicense(`stats-${storeName}@example.com`);
      now += HOUR_MS; // an hour of its own
      for (let i = 0; i < 4; i++) assert.equal((await chat(i, key)).status, 200);
      const { rows } = await logged(`license=${key}`, 4);
      const credits = rows.reduce((sum, row) => sum + Math.round((row.credits as number) * 1e6), 0);
      const tokens = rows.reduce((sum, row) => sum + (row.completion_tokens as number), 0);
      const stats = async (query: string) =>
        (await getJson(`${gw(0).url}/api/v1/stats?${query}`, admin)).body.stats as Row[];
      const hour = await stats('period=hour&dimension=license&from=2026-12-06T11&to=2026-12-06T11');
      const mine = hour.find((row) => (row.key as string).endsWith(key.slice(-4)))!;
      assert.equal(mine.requests, 4);
      assert.equal(Math.round((mine.credits as number) * 1e6), credits);
      assert.equal(mine.completion_tokens, tokens);
      assert.match(mine.key as string, /\*{4}/, 'license keys are masked');
      const byUpstream = await stats('period=hour&dimension=upstream&from=2026-12-06T11&to=2026-12-06T11');
      assert.deepEqual(
        byUpstream.map((row) => [row.key, row.requests]),
        [['openrouter', 4]],
      );
      assert.equal((await chat(0, 'CRDL-AAAA-BBBB-CCCC-DDDD')).status, 401);
      await logged('status=401', 1);
      const day = await stats('period=day&dimension=all');
      const today = day.find((row) => row.bucket === '2026-12-06')!;
      assert.ok((today.requests as number) >= 5, `all of today's requests: ${today.requests}`);
      assert.ok((today.errors as number) >= 1, 'the refused one counts as an error');
    });

    test('bad filters are refused naming the field; the log is the admin’s', async () => {
      for (const query of ['status=abc', 'from=yesterday', 'limit=0', 'before=-1'])
        assert.equal((await getJson(`${gw(0).url}/api/v1/requests?${query}`, admin)).status, 400, query);
      const notADay = [
        'period=day&from=2026-12',
        'period=day&from=2026-02-30',
        'period=hour&to=2026-12-06T24',
      ];
      for (const query of ['period=week', 'dimension=colour', ...notADay])
        assert.equal((await getJson(`${gw(0).url}/api/v1/stats?${query}`, admin)).status, 400, query);
      assert.equal((await getJson(`${gw(0).url}/api/v1/requests`)).status, 401);
      assert.equal(
        (await getJson(`${gw(0).url}/api/v1/requests?email=nobody@example.com`, admin)).status,
        404,
      );
    });

    test('metrics count tokens and credits by model; the Grafana dashboard asks only for metrics that exist', async () => {
      const key = await newLicense(`metrics-${storeName}@example.com`);
      assert.equal((await chat(0, key)).status, 200);
      const text = await (await fetch(`${gw(0).url}/metrics`, { headers: admin })).text();
      assert.match(text, /cradle_tokens_total\{model="openai\/gpt-4o-mini",kind="completion"\} [1-9]/);
      assert.match(text, /cradle_model_credits_micro_total\{model="openai\/gpt-4o-mini"\} [1-9]/);
      const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const));
      const dashboard = JSON.parse(
        await readFile(new URL('../config/deploy/grafana-dashboard.json', import.meta.url), 'utf8'),
      ) as {
        panels: { targets: { expr: string }[] }[];
      };
      const asked = dashboard.panels.flatMap((p) =>
        p.targets.flatMap((t) => t.expr.match(/\b(?:cradle|process|nodejs)_\w+/g) ?? []),
      );
      assert.ok(asked.length > 10);
      for (const name of asked) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        const known = types.has(name) || types.get(base) === 'histogram';
        assert.ok(known, `the dashboard asks for ${name}, which the gateway does not export`);
      }
    });

    test('records older than REQUEST_LOG_DAYS are no longer listed', async () => {
      const key = await newLicense(`old-${storeName}@example.com`);
      assert.equal((await chat(0, key)).status, 200);
      assert.equal((await logged(`license=${key}`, 1)).rows.length, 1);
      now += 3 * 24 * HOUR_MS;
      const fresh = await newLicense(`fresh-${storeName}@example.com`);
      assert.equal((await chat(0, fresh)).status, 200);
      assert.equal((await logged(`license=${fresh}`, 1)).rows.length, 1);
      for (let tries = 0; tries < 50; tries++) {
        if ((await logged(`license=${key}`, 0)).rows.length === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual((await logged(`license=${key}`, 0)).rows, []);
    });
  });
}

forEachStore(requestLogSuite, { cluster: true });

test("statistics' hours and days are the operator's, in zones a quarter or half hour off UTC and across DST", () => {
  const kathmandu = bucketsIn('Asia/Kathmandu');
  // +05:45: the local day ends at 18:15 UTC, inside a UTC hour.
  const at = (iso: string) => Date.parse(iso);
  assert.deepEqual(
    ['18:00:00', '18:14:59', '18:15:00'].map((t) => {
      const ms = at(`2026-12-06T${t}Z`);
      return [kathmandu.hour(ms), kathmandu.day(ms)];
    }),
    [
      ['2026-12-06T23', '2026-12-06'],
      ['2026-12-06T23', '2026-12-06'],
      ['2026-12-07T00', '2026-12-07'],
    ],
  );
  // Lord Howe moves its clocks by half an hour: 02:00 becomes 02:30 at 15:30 UTC.
  const lordHowe = bucketsIn('Australia/Lord_Howe');
  assert.deepEqual(
    ['15:29:59', '15:30:00'].map((t) => lordHowe.hour(at(`2026-10-03T${t}Z`))),
    ['2026-10-04T01', '2026-10-04T02'],
  );
});

test('a request log that cannot answer (its Redis gone) is a 503 naming it, not a 500', async () => {
  const redis = await startRedis();
  const gw = await startTestGateway(shipped, {
    env: { REDIS_URL: redis.url, API_ADMIN_TOKEN: TOKEN, REDIS_COMMAND_TIMEOUT_MS: '300' },
  });
  try {
    assert.equal((await getJson(`${gw.url}/api/v1/requests`, admin)).status, 200);
    await redis.stop();
    for (const path of ['/api/v1/requests', '/api/v1/stats?period=day']) {
      const res = await getJson(`${gw.url}${path}`, admin);
      assert.equal(res.status, 503, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'LOG_UNAVAILABLE');
    }
  } finally {
    await gw.close();
  }
});
