/** The paid proxy, driven by the official openai SDK: license, daily charge, exact usage billing, role mapping. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { licenseAdminRoutes, licensedClient } from './fixtures/licensed.ts';
import { forEachStore } from './fixtures/stores.ts';
import {
  countPromptTokens,
  startUpstream,
  withBehaviour,
  type FixtureUpstream,
} from './fixtures/upstream.ts';

const TOKEN = 'paid-admin';
const admin = { 'x-admin-token': TOKEN };
const DAY_MS = 24 * 3600 * 1000;

const yaml = (openrouter: string, space: string) => `
chains:
  paid:
    - license: {}
    - daily-charge: { amount: 0.33, timezone: Asia/Shanghai }
    - billing:
        default_max_tokens: &default_max_tokens 50
        prices: &prices
          - { model: "openai/*", input: 150, output: 600 }
          - { model: "cheap-*", input: 0.5, output: 1.5 }
          - { model: "gemini-*", input: 50, output: 100, request: 0.001 }
          - { model: "*", input: 1000, output: 2000 }
  openrouter:
    - openrouter: { base_url: "${openrouter}/api/v1", api_key: or-server-key }
  # The charging plugins the other way round: what a request owes does not hang on their order.
  paid-billing-first:
    - license: {}
    - billing: { default_max_tokens: 50, prices: *prices }
    - daily-charge: { amount: 0.33, timezone: Asia/Shanghai }
routes:
  - method: GET
    path: /api/v1/pricing
    plugins: [{ pricing: { prices: *prices, daily_charge: 0.33, default_max_tokens: *default_max_tokens } }]
  - method: POST
    path: /api/v1/license/generate
    plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: generate, unlimited_emails: vip@example.com } }]
  - { method: GET, path: /api/v1/license/info/:key, plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: info } }] }
  - { method: GET, path: /api/v1/license/ledger/:key, plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: ledger } }] }
  - { method: POST, path: /api/chat/completion, error_format: openai, plugins: [{ use: paid }, { use: openrouter }] }
  - { method: POST, path: /v1/chat/completions, error_format: openai, plugins: [{ use: paid }, { use: openrouter }] }
  - { method: POST, path: /billing-first/chat/completions, error_format: openai, plugins: [{ use: paid-billing-first }, { use: openrouter }] }
  - method: POST
    path: /api/huggingface/completion
    error_format: openai
    plugins:
      - { use: paid }
      - model-allowlist: { models: [gemini-exp-1206, gemini-2.0-flash-exp] }
      - role-map: { roles: { model: assistant } }
      - upstream: { url: "${space}/v1/chat/completions", name: space-1, headers: { authorization: "Bearer space-password" } }
`;

function paidProxySuite(storeName: string, env: () => Record<string, string>) {
  describe(`paid proxy (${storeName} store)`, () => {
    let openrouter: FixtureUpstream;
    let space: FixtureUpstream;
    let gw: TestGateway;
    let now = Date.parse('2026-11-27T02:00:00Z');
    let emails = 0;

    const newLicense = async (credits: number, maxDevices = 1, email?: string) => {
      const res = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: email ?? `p${++emails}-${storeName}@example.com`, credits, max_devices: maxDevices },
        admin,
      );
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.license_key as string;
    };
    const client = (key: string, device = 'device-1', path = '/v1') =>
      new OpenAI({
        baseURL: `${gw.url}${path}`,
        apiKey: key,
        defaultHeaders: { 'X-Device-Id': device },
        maxRetries: 0,
      });
    /** The balance once the request's settle ran: it runs after the answer, so the client never waits for it. */
    const credits = async (key: string) => {
      for (let tries = 0; ; tries++) {
        const info = (await getJson(`${gw.url}/api/v1/license/info/${key}`, admin)).body.license_info as {
          credits: number;
          held: number;
        };
        if (info.held === 0 || tries > 100) return info;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const ledger = async (key: string) => {
      await credits(key);
      return (await getJson(`${gw.url}/api/v1/license/ledger/${key}?limit=500`, admin)).body
        .entries as Record<string, unknown>[];
    };
    const messages = [{ role: 'user' as const, content: 'Say hello to the gateway please' }];
    /** Sends one request under a behaviour of the OpenRouter fixture, which holds until the fixture has it. */
    const sentUnder = async <T>(changes: Partial<typeof openrouter.behaviour>, send: () => Promise<T>) => {
      const seen = openrouter.requests.length;
      const previous = { ...openrouter.behaviour };
      Object.assign(openrouter.behaviour, changes);
      const result = send();
      while (openrouter.requests.length === seen) await new Promise((r) => setTimeout(r, 2));
      Object.assign(openrouter.behaviour, previous);
      return { result };
    };

    before(async () => {
      openrouter = await startUpstream();
      space = await startUpstream();
      gw = await startTestGateway(yaml(openrouter.url, space.url), { env: env(), clock: { now: () => now } });
    });
    after(async () => {
      await gw.close();
      await openrouter.close();
      await space.close();
    });

    test('a non-stream request is charged exactly what /api/v1/pricing says, plus the daily charge', async () => {
      const key = await newLicense(10);
      const completion = await client(key).chat.completions.create({ model: 'openai/gpt-4o-mini', messages });
      assert.equal(completion.choices[0]!.message.content, 'Hello from the fixture.');
      const pricing = await getJson(`${gw.url}/api/v1/pricing`);
      assert.equal(pricing.body.daily_charge, 0.33);
      const price = (
        pricing.body.models as {
          model: string;
          input_per_million_tokens: number;
          output_per_million_tokens: number;
        }[]
      )[0]!;
      const prompt = countPromptTokens(messages);
      const expectedUsage =
        Math.ceil(
          ((prompt * price.input_per_million_tokens + 4 * price.output_per_million_tokens) * 1e6) / 1e6,
        ) / 1e6;
      const info = await credits(key);
      assert.equal(info.held, 0);
      assert.equal(info.credits, Math.round((10 - 0.33 - expectedUsage) * 1e6) / 1e6);
      const [usage, daily, grant] = await ledger(key);
      assert.deepEqual([usage!.kind, daily!.kind, grant!.kind], ['usage', 'daily_charge', 'grant']);
      assert.equal(usage!.amount, -expectedUsage);
      assert.equal(usage!.model, 'openai/gpt-4o-mini');
      assert.equal(usage!.prompt_tokens, prompt);
      assert.equal(usage!.completion_tokens, 4);
      assert.equal(usage!.estimated, false);
      assert.equal(typeof usage!.request_id, 'string');
      const seen = openrouter.requests.at(-1)!;
      assert.equal(seen.headers.authorization, 'Bearer or-server-key');
      assert.equal(seen.headers['x-license-key'], undefined);
      assert.equal(seen.headers['x-device-id'], undefined);
      assert.equal(seen.headers['x-title'], 'Cradle Gateway');
    });

    test('a stream is forwarded chunk by chunk and billed from its final usage chunk, which only a client that asked gets', async () => {
      const key = await newLicense(10);
      for (const stream_options of [undefined, { include_usage: false }, { include_usage: true }]) {
        const stream = await client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages,
          stream: true,
          ...(stream_options ? { stream_options } : {}),
        });
        let text = '';
        const chunks = [];
        for await (const chunk of stream) {
          chunks.push(chunk);
          text += chunk.choices[0]?.delta?.content ?? '';
        }
        const asked = JSON.stringify(stream_options);
        assert.equal(text, 'Hello from the fixture.', asked);
        assert.deepEqual(openrouter.requests.at(-1)!.json.stream_options, { include_usage: true }, asked);
        const usageChunks = chunks.filter((chunk) => chunk.usage);
        if (stream_options?.include_usage) {
          assert.equal(usageChunks.length, 1, asked);
          assert.equal(usageChunks[0]!.usage!.completion_tokens, 4);
          assert.deepEqual(usageChunks[0]!.choices, []);
        } else {
          assert.deepEqual(usageChunks, [], asked);
          assert.ok(
            chunks.every((chunk) => chunk.choices.length === 1),
            asked,
          );
        }
        const [usage] = await ledger(key);
        assert.equal(usage!.kind, 'usage');
        assert.equal(usage!.estimated, false);
        assert.equal(usage!.completion_tokens, 4);
        assert.equal((await credits(key)).held, 0);
      }
      const usages = (await ledger(key)).filter((entry) => entry.kind === 'usage');
      assert.equal(usages.length, 3);
    });

    test('without usage from the upstream the charge is estimated from the text and marked so (JSON and stream)', async () => {
      const key = await newLicense(10);
      const replyTokens = Math.ceil('Hello from the fixture.'.length / 4);
      await withBehaviour(openrouter, { usage: false }, async () => {
        await client(key).chat.completions.create({ model: 'openai/gpt-4o-mini', messages });
        const stream = await client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages,
          stream: true,
        });
        for await (const chunk of stream) void chunk;
      });
      const usages = (await ledger(key)).filter((e) => e.kind === 'usage');
      assert.equal(usages.length, 2);
      for (const usage of usages) {
        assert.equal(usage.estimated, true);
        assert.equal(usage.completion_tokens, replyTokens);
        assert.ok((usage.amount as number) < 0);
      }
    });

    test("an error in place of an answer at 200 (OpenRouter's provider failure) costs nothing, not even the day; one after words pays for them", async () => {
      const key = await newLicense(10);
      await withBehaviour(openrouter, { failsAfter: 0 }, async () => {
        for (const path of ['/v1', '/billing-first']) {
          const answer = await client(key, 'device-1', path).chat.completions.create({
            model: 'openai/gpt-4o-mini',
            messages,
          });
          assert.deepEqual((answer as unknown as { error: unknown }).error, {
            code: 502,
            message: 'Provider returned error',
          });
        }
        const stream = await client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages,
          stream: true,
        });
        // The SDK raises the error the stream tells of.
        await assert.rejects(async () => {
          for await (const chunk of stream) assert.equal(chunk.choices[0]?.delta.content ?? '', '');
        }, /Provider returned error/);
      });
      assert.deepEqual(await credits(key).then((i) => [i.credits, i.held]), [10, 0]);
      assert.deepEqual(
        (await ledger(key)).map((e) => e.kind),
        ['grant'],
      );
      assert.ok(
        gw.logs.some(
          (line) => line.includes('in place of an answer') && line.includes('Provider returned error'),
        ),
        'the operator reads what the upstream said',
      );
      // Two words delivered, then the error: the client pays for them, and the day.
      let delivered = '';
      await withBehaviour(openrouter, { failsAfter: 2, usage: false }, async () => {
        const stream = await client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages,
          stream: true,
        });
        await assert.rejects(async () => {
          for await (const chunk of stream) delivered += chunk.choices[0]?.delta.content ?? '';
        }, /Provider returned error/);
      });
      assert.equal(delivered, 'Hello from');
      const entries = await ledger(key);
      assert.deepEqual(entries.map((e) => e.kind).sort(), ['daily_charge', 'grant', 'usage']);
      const usage = entries.find((e) => e.kind === 'usage')!;
      assert.deepEqual(
        [usage.estimated, usage.completion_tokens],
        [true, Math.ceil('Hello from'.length / 4)],
      );
    });

    test('an estimate counts a Chinese character as a token of its own, English text four characters a token', async () => {
      const key = await newLicense(10);
      await withBehaviour(openrouter, { usage: false, reply: ['你好，', 'world!'] }, () =>
        client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages: [{ role: 'user', content: '请用中文打招呼 please' }],
        }),
      );
      const [usage] = (await ledger(key)).filter((e) => e.kind === 'usage');
      // 7 Han characters + ' please' (7 characters, 1.75 tokens): 9. '你好，' 3 + 'world!' 1.5: 5.
      assert.deepEqual([usage!.estimated, usage!.prompt_tokens, usage!.completion_tokens], [true, 9, 5]);
    });

    test('tool definitions count in the estimate of the prompt', async () => {
      const key = await newLicense(10);
      const tools = [
        {
          type: 'function' as const,
          function: { name: 'weather', description: 'Weather of a city', parameters: { type: 'object' } },
        },
      ];
      await withBehaviour(openrouter, { usage: false }, () =>
        client(key).chat.completions.create({ model: 'openai/gpt-4o-mini', messages, tools }),
      );
      const [usage] = (await ledger(key)).filter((e) => e.kind === 'usage');
      const characters = messages[0]!.content.length + JSON.stringify(tools).length;
      assert.equal(usage!.prompt_tokens, Math.ceil(characters / 4));
    });

    test('an upstream that compresses for clients that accept it is asked for a plain answer, so its usage is read', async () => {
      const key = await newLicense(10);
      await withBehaviour(openrouter, { gzip: 'when-accepted' }, async () => {
        const completion = await client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages,
        });
        assert.equal(completion.choices[0]!.message.content, 'Hello from the fixture.');
      });
      assert.equal(openrouter.requests.at(-1)!.headers['accept-encoding'], 'identity');
      const [usage] = await ledger(key);
      assert.equal(usage!.estimated, false);
      assert.equal(usage!.completion_tokens, 4);
    });

    test('an answer or a stream the upstream compresses anyway goes through as it comes, and its usage is read decoded', async () => {
      const key = await newLicense(10);
      let upstreamBusyAtFirstChunk: number | undefined;
      let text = '';
      const answer = await withBehaviour(openrouter, { gzip: 'always', chunkDelayMs: 30 }, async () => {
        const stream = await client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages,
          stream: true,
        });
        for await (const chunk of stream) {
          upstreamBusyAtFirstChunk ??= openrouter.inFlight;
          text += chunk.choices[0]?.delta?.content ?? '';
        }
        const completion = await client(key).chat.completions.create({
          model: 'openai/gpt-4o-mini',
          messages,
        });
        return completion.choices[0]!.message.content;
      });
      assert.equal(text, 'Hello from the fixture.');
      assert.equal(answer, 'Hello from the fixture.');
      assert.equal(upstreamBusyAtFirstChunk, 1, 'the first chunk came while the upstream was still sending');
      const usages = (await ledger(key)).filter((e) => e.kind === 'usage');
      assert.equal(usages.length, 2);
      for (const usage of usages) {
        assert.equal(usage.estimated, false);
        assert.equal(usage.completion_tokens, 4);
      }
    });

    test('a client that leaves mid-stream stops the upstream and pays for what was delivered', async () => {
      const key = await newLicense(10);
      const abortedBefore = openrouter.aborted;
      const controller = new AbortController();
      await withBehaviour(openrouter, { chunkDelayMs: 200 }, async () => {
        const stream = await client(key).chat.completions.create(
          { model: 'openai/gpt-4o-mini', messages, stream: true },
          { signal: controller.signal },
        );
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta?.content) {
            controller.abort();
            break;
          }
        }
      });
      const [usage] = await ledger(key);
      assert.equal(usage!.kind, 'usage');
      assert.equal(usage!.estimated, true);
      assert.ok(
        (usage!.completion_tokens as number) >= 1 &&
          (usage!.completion_tokens as number) < Math.ceil('Hello from the fixture.'.length / 4),
        `paid for part of the answer: ${String(usage!.completion_tokens)} tokens`,
      );
      for (let tries = 0; openrouter.aborted === abortedBefore && tries < 100; tries++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(openrouter.aborted, abortedBefore + 1, 'the upstream call was stopped');
    });

    test('the daily charge is taken once under 20 concurrent first requests, and again the next day', async () => {
      const key = await newLicense(10);
      const c = client(key);
      await Promise.all(
        Array.from({ length: 20 }, () => c.chat.completions.create({ model: 'openai/x', messages })),
      );
      const dailies = () => ledger(key).then((es) => es.filter((e) => e.kind === 'daily_charge').length);
      assert.equal(await dailies(), 1);
      now += DAY_MS;
      await c.chat.completions.create({ model: 'openai/x', messages });
      await c.chat.completions.create({ model: 'openai/x', messages });
      assert.equal(await dailies(), 2);
    });

    test('402 before any upstream call when the balance cannot cover the daily charge', async () => {
      const key = await newLicense(0.2);
      const before = openrouter.requests.length;
      await assert.rejects(
        client(key).chat.completions.create({ model: 'openai/x', messages }),
        (error: InstanceType<typeof OpenAI.APIError>) => {
          assert.equal(error.status, 402);
          assert.equal((error.error as { code: string }).code, 'insufficient_credits');
          return true;
        },
      );
      assert.equal(openrouter.requests.length, before);
      assert.equal((await credits(key)).credits, 0.2);
    });

    test('30 concurrent requests on a tiny balance never take it below zero', async () => {
      const key = await newLicense(0.35);
      const c = client(key);
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, () =>
          c.chat.completions.create({ model: 'openai/x', messages, max_tokens: 10 }),
        ),
      );
      const refused = results
        .filter((r) => r.status === 'rejected')
        .map((r) => (r.reason as { status: number }).status);
      assert.ok(
        refused.every((s) => s === 402),
        `only 402 refusals (${refused})`,
      );
      assert.ok(results.some((r) => r.status === 'fulfilled'));
      const info = await credits(key);
      assert.ok(info.credits >= 0, `balance ${info.credits}`);
      assert.equal(info.held, 0);
      const sum = (await ledger(key)).reduce((total, e) => total + Math.round((e.amount as number) * 1e6), 0);
      assert.equal(sum, Math.round(info.credits * 1e6), 'the ledger sums to the balance');
    });

    test('a hold covers the most an answer may cost: the default limit goes upstream when none is named, every choice is reserved', async () => {
      // Prices of openai/*: 150 micro-credits a prompt token, 600 a completion token. The prompt is 6 tokens
      // upstream, 8 by the gateway's estimate (31 characters).
      const micro = (n: number) => n / 1e6;
      // No limit named: the hold is 8 × 150 + 50 × 600 = 31 200 of the 32 000 left after the day's 0.33. An
      // answer of 60 tokens would cost 36 900; the default limit goes upstream, and the answer stops at 50.
      const long = await newLicense(0.362);
      const reply = Array.from({ length: 60 }, (_, i) => ` w${i}`);
      await withBehaviour(openrouter, { reply }, async () => {
        const answer = await client(long).chat.completions.create({ model: 'openai/x', messages });
        assert.equal(openrouter.requests.at(-1)!.json.max_tokens, 50);
        // The limit is public, so a client can tell why such an answer stopped.
        assert.equal((await getJson(`${gw.url}/api/v1/pricing`)).body.default_max_tokens, 50);
        assert.equal(answer.choices[0]!.finish_reason, 'length');
      });
      const [usage] = await ledger(long);
      assert.deepEqual([usage!.completion_tokens, usage!.amount], [50, -micro(6 * 150 + 50 * 600)]);
      assert.equal((await credits(long)).credits, micro(1_100));

      // A limit the client names goes up as it is.
      const named = await newLicense(10);
      await client(named).chat.completions.create({ model: 'openai/x', messages, max_completion_tokens: 7 });
      const seen = openrouter.requests.at(-1)!.json;
      assert.deepEqual([seen.max_completion_tokens, seen.max_tokens], [7, undefined]);

      // n choices: each is held at the limit, and each is charged.
      const choices = await newLicense(0.35);
      const two = await client(choices).chat.completions.create({
        model: 'openai/x',
        messages,
        max_tokens: 10,
        n: 2,
      });
      assert.equal(two.choices.length, 2);
      assert.equal((await ledger(choices))[0]!.amount, -micro(6 * 150 + 2 * 4 * 600));
      // 14 300 left; four choices hold 8 × 150 + 4 × 10 × 600 = 25 200.
      const before = openrouter.requests.length;
      await assert.rejects(
        client(choices).chat.completions.create({ model: 'openai/x', messages, max_tokens: 10, n: 4 }),
        (error: { status: number }) => error.status === 402,
      );
      // A limit that is no positive integer is refused, naming it.
      await assert.rejects(
        client(choices).chat.completions.create({ model: 'openai/x', messages, max_tokens: 0 }),
        (error: InstanceType<typeof OpenAI.APIError>) => {
          assert.equal(error.status, 400);
          assert.match(error.message, /max_tokens must be a positive integer/);
          return true;
        },
      );
      assert.equal(openrouter.requests.length, before, 'neither reached the upstream');
      assert.equal((await credits(choices)).credits, micro(14_300));
    });

    test('an upstream failure costs nothing and writes no entry; the day is paid by the first success', async () => {
      const key = await newLicense(5);
      await withBehaviour(openrouter, { status: 500 }, () =>
        assert.rejects(
          client(key).chat.completions.create({ model: 'openai/x', messages }),
          (e: { status: number }) => e.status === 500,
        ),
      );
      assert.deepEqual(await credits(key).then((i) => [i.credits, i.held]), [5, 0]);
      assert.deepEqual(
        (await ledger(key)).map((e) => e.kind),
        ['grant'],
      );
      await client(key).chat.completions.create({ model: 'openai/x', messages });
      assert.deepEqual(
        (await ledger(key)).map((e) => e.kind),
        ['usage', 'daily_charge', 'grant'],
        "the day's charge is taken with the first success's usage",
      );
    });

    test("OpenRouter refusing the operator's key or account is a failed upstream to the client, not its own 401 or 402", async () => {
      const key = await newLicense(5);
      for (const status of [401, 402]) {
        await withBehaviour(openrouter, { status }, () =>
          assert.rejects(
            client(key).chat.completions.create({ model: 'openai/x', messages }),
            (error: InstanceType<typeof OpenAI.APIError>) => {
              assert.equal(error.status, 502, `the client's license and balance are fine (${status})`);
              assert.match(error.message, /upstream openrouter refused the gateway's account/);
              assert.doesNotMatch(
                error.message,
                /fixture says/,
                "the operator's account is not the client's to read",
              );
              return true;
            },
          ),
        );
        assert.ok(
          gw.logs.some(
            (line) => line.includes("refused the gateway's key") && line.includes(`fixture says ${status}`),
          ),
          'the operator reads what OpenRouter said',
        );
      }
      assert.deepEqual(await credits(key).then((i) => [i.credits, i.held]), [5, 0], 'nothing charged');
    });

    test("OpenRouter refusing the request (its moderation, a guardrail) is a 400 with its words, not the gateway's 403 of a revoked license", async () => {
      const key = await newLicense(5);
      await withBehaviour(openrouter, { status: 403 }, () =>
        assert.rejects(
          client(key).chat.completions.create({ model: 'openai/x', messages }),
          (error: InstanceType<typeof OpenAI.APIError>) => {
            assert.equal(error.status, 400);
            assert.equal(error.message, '400 upstream openrouter refused the request: fixture says 403');
            return true;
          },
        ),
      );
      assert.deepEqual(await credits(key).then((i) => [i.credits, i.held]), [5, 0], 'nothing charged');
      // The license is as good as it was.
      const completion = await client(key).chat.completions.create({ model: 'openai/x', messages });
      assert.equal(completion.choices[0]!.message.content, 'Hello from the fixture.');
    });

    for (const [status, said] of [
      [200, 'answered a web page, not its API'],
      [524, 'answered 524 with a web page, not its API'],
    ] as const) {
      test(`a web page at ${status} in place of OpenRouter's API is a failed upstream in the API's shape: nothing charged, not even the day`, async () => {
        const key = await newLicense(5);
        await withBehaviour(openrouter, { webPage: true, status }, () =>
          assert.rejects(
            client(key).chat.completions.create({ model: 'openai/x', messages }),
            (error: InstanceType<typeof OpenAI.APIError>) => {
              assert.equal(error.status, 502);
              assert.equal(error.message, `502 upstream openrouter ${said}`);
              return true;
            },
          ),
        );
        assert.deepEqual(await credits(key).then((i) => [i.credits, i.held]), [5, 0]);
        assert.deepEqual(
          (await ledger(key)).map((e) => e.kind),
          ['grant'],
        );
      });
    }

    test('a usage charge is rounded up to the micro-credit: half a micro-credit costs one', async () => {
      const key = await newLicense(5);
      // One prompt token at 0.5 and four completion tokens at 1.5 credits per million: 6.5 micro-credits.
      await client(key).chat.completions.create({
        model: 'cheap-x',
        messages: [{ role: 'user', content: 'Hi' }],
      });
      const [usage] = await ledger(key);
      assert.deepEqual([usage!.kind, usage!.prompt_tokens, usage!.completion_tokens], ['usage', 1, 4]);
      assert.equal(usage!.amount, -0.000007);
    });

    test("a slow failing request does not let the day's later successes go free", async () => {
      const key = await newLicense(5);
      const failing = await sentUnder({ status: 500, delayMs: 300 }, () =>
        client(key)
          .chat.completions.create({ model: 'openai/x', messages })
          .then(
            () => 'succeeded',
            () => 'failed',
          ),
      );
      await new Promise((r) => setTimeout(r, 30));
      await Promise.all(
        Array.from({ length: 5 }, () => client(key).chat.completions.create({ model: 'openai/x', messages })),
      );
      assert.equal(await failing.result, 'failed');
      const kinds = (await ledger(key)).map((e) => e.kind);
      assert.equal(kinds.filter((k) => k === 'daily_charge').length, 1, 'the day is charged once');
      assert.equal(kinds.filter((k) => k === 'usage').length, 5);
      assert.equal(kinds.filter((k) => k === 'daily_refund').length, 0);
    });

    test('a client that aborts its request as a decoy does not unpay the day', async () => {
      const key = await newLicense(5);
      const decoy = new AbortController();
      const aborted = await sentUnder({ delayMs: 300 }, () =>
        client(key)
          .chat.completions.create({ model: 'openai/x', messages }, { signal: decoy.signal })
          .catch(() => 'aborted'),
      );
      await client(key).chat.completions.create({ model: 'openai/x', messages });
      decoy.abort();
      assert.equal(await aborted.result, 'aborted');
      await client(key).chat.completions.create({ model: 'openai/x', messages });
      const kinds = (await ledger(key)).map((e) => e.kind);
      assert.deepEqual(
        kinds.filter((k) => String(k).startsWith('daily')),
        ['daily_charge'],
        'charged once, never given back',
      );
    });

    test('requests refused before forwarding (400, 402, 403) write no ledger entry', async () => {
      const key = await newLicense(0.5);
      const refusedWith = async (status: number, run: () => Promise<unknown>) =>
        assert.rejects(run(), (e: { status: number }) => e.status === status);
      await refusedWith(402, () =>
        client(key).chat.completions.create({ model: 'openai/x', messages, max_tokens: 1000 }),
      );
      await refusedWith(400, () =>
        client(key).chat.completions.create({ model: 'openai/x', messages, max_tokens: -1 }),
      );
      await refusedWith(403, () =>
        client(key, 'other-device').chat.completions.create({ model: 'openai/x', messages }),
      );
      assert.deepEqual(
        (await ledger(key)).map((e) => e.kind),
        ['grant'],
      );
      assert.deepEqual(await credits(key).then((i) => [i.credits, i.held]), [0.5, 0]);
      // A device id is kept on the license: one longer than the license API takes is not bound here either.
      const roomy = await newLicense(0.5, 3);
      await refusedWith(400, () =>
        client(roomy, 'd'.repeat(201)).chat.completions.create({ model: 'openai/x', messages }),
      );
      const info = await getJson(`${gw.url}/api/v1/license/info/${roomy}`, admin);
      assert.deepEqual((info.body.license_info as { devices: unknown[] }).devices, []);
    });

    test('a request may not let the upstream answer with another model, nor add costs beyond tokens, nor ask for a stream but with true', async () => {
      // OpenRouter falls back on `models` (any error of the first, a too long prompt included) and bills the
      // model that answered: a cheap model named, an expensive one listed, would be charged the cheap price.
      const key = await newLicense(10);
      const before = openrouter.requests.length;
      const refused = async (extra: Record<string, unknown>, field: RegExp) => {
        const body = { model: 'openai/x', messages, ...extra };
        await assert.rejects(
          client(key).chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming),
          (error: InstanceType<typeof OpenAI.APIError>) => {
            assert.equal(error.status, 400);
            assert.match(error.message, field);
            return true;
          },
        );
      };
      await refused({ models: ['anthropic/claude-3.5-sonnet'] }, /models is not accepted here/);
      await refused({ route: 'fallback' }, /route is not accepted here/);
      // Web search is billed by the result, up to the count the client asks for: tokens do not pay for it.
      await refused({ plugins: [{ id: 'web', max_results: 100 }] }, /plugins is not accepted here/);
      await refused({ web_search_options: {} }, /web_search_options is not accepted here/);
      // The same by its shortcut, though a price glob (openai/*) matches the name; and priority serving,
      // at its dearer rates, by a model variant or a service tier.
      await refused({ model: 'openai/x:online' }, /asks for web search or priority serving/);
      await refused({ model: 'openai/x:nitro' }, /asks for web search or priority serving/);
      await refused({ service_tier: 'priority' }, /service_tier "priority" is not accepted here/);
      await refused({ stream: 'true' }, /stream must be true or false/);
      await refused({ stream: 1 }, /stream must be true or false/);
      assert.equal(openrouter.requests.length, before, 'none reached the upstream');
      // Named as OpenAI names them, they go through; so do empty lists, which ask for nothing.
      const plain = {
        model: 'openai/x',
        messages,
        stream: false,
        models: [],
        plugins: [],
        service_tier: 'flex',
      };
      await client(key).chat.completions.create(plain as OpenAI.ChatCompletionCreateParamsNonStreaming);
      assert.equal(openrouter.requests.length, before + 1);
      assert.deepEqual(
        (await ledger(key)).map((e) => e.kind),
        ['usage', 'daily_charge', 'grant'],
      );
    });

    test('a request that starts on one day and ends on the next pays for one day, the one it started on', async () => {
      const key = await newLicense(5);
      const startDay = new Date(now + 8 * 3600_000).toISOString().slice(0, 10);
      const slow = await sentUnder({ delayMs: 200 }, () =>
        client(key).chat.completions.create({ model: 'openai/x', messages }),
      );
      now += DAY_MS;
      await slow.result;
      const dailies = (await ledger(key)).filter((e) => e.kind === 'daily_charge');
      assert.deepEqual(
        dailies.map((e) => e.reference),
        [`daily:${startDay}`],
      );
      await client(key).chat.completions.create({ model: 'openai/x', messages });
      assert.equal(
        (await ledger(key)).filter((e) => e.kind === 'daily_charge').length,
        2,
        'the next day is its own',
      );
    });

    test('HF route: model role becomes assistant upstream; unsupported models are refused naming the list', async () => {
      const key = await newLicense(5);
      const res = await postJson(
        `${gw.url}/api/huggingface/completion`,
        {
          model: 'gemini-exp-1206',
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'model', content: 'hello' },
            { role: 'user', content: 'again' },
          ],
        },
        { 'x-license-key': key, 'x-device-id': 'device-1' },
      );
      assert.equal(res.status, 200);
      const seen = space.requests.at(-1)!;
      assert.deepEqual(
        seen.json.messages!.map((m) => m.role),
        ['user', 'assistant', 'user'],
      );
      assert.equal(seen.headers.authorization, 'Bearer space-password');
      const refused = await postJson(
        `${gw.url}/api/huggingface/completion`,
        { model: 'gpt-4', messages },
        { 'x-license-key': key, 'x-device-id': 'device-1' },
      );
      assert.equal(refused.status, 400);
      assert.match(
        (refused.body.error as { message: string }).message,
        /supported models: gemini-exp-1206, gemini-2.0-flash-exp/,
      );
    });

    test('requests that share a client X-Request-Id are each held and charged on their own', async () => {
      const key = await newLicense(10);
      const sameId = new OpenAI({
        baseURL: `${gw.url}/v1`,
        apiKey: key,
        defaultHeaders: { 'X-Device-Id': 'device-1', 'X-Request-Id': 'client-chosen-id' },
        maxRetries: 0,
      });
      await withBehaviour(openrouter, { delayMs: 100 }, () =>
        Promise.all(
          [1, 2].map(() => sameId.chat.completions.create({ model: 'openai/gpt-4o-mini', messages })),
        ),
      );
      assert.equal((await credits(key)).held, 0, 'no hold is left behind');
      const usage = (await ledger(key)).filter((e) => e.kind === 'usage');
      assert.deepEqual(
        usage.map((e) => e.request_id),
        ['client-chosen-id', 'client-chosen-id'],
      );
    });

    test('401 without or with an unknown key, 403 on another device; unlimited accounts are never charged', async () => {
      const key = await newLicense(5);
      const noKey = await postJson(`${gw.url}/v1/chat/completions`, { model: 'openai/x', messages });
      assert.equal(noKey.status, 401);
      assert.equal((noKey.body.error as { type: string }).type, 'authentication_error');
      await assert.rejects(
        client('CRDL-AAAA-BBBB-CCCC-DDDD').chat.completions.create({ model: 'openai/x', messages }),
        (e: { status: number }) => e.status === 401,
      );
      await client(key).chat.completions.create({ model: 'openai/x', messages });
      await assert.rejects(
        client(key, 'device-2').chat.completions.create({ model: 'openai/x', messages }),
        (e: { status: number }) => e.status === 403,
      );
      const vip = await newLicense(1, 1, 'vip@example.com');
      await client(vip).chat.completions.create({ model: 'openai/x', messages });
      assert.equal((await credits(vip)).credits, 1);
    });

    test('no secret appears in responses or logs', async () => {
      const key = await newLicense(5);
      const res = await postJson(
        `${gw.url}/v1/chat/completions`,
        { model: 'openai/x', messages },
        { authorization: `Bearer ${key}`, 'x-device-id': 'device-1' },
      );
      assert.equal(res.status, 200);
      const everything = gw.logs.join('\n') + JSON.stringify(res.body);
      for (const secret of [key, 'or-server-key', 'space-password'])
        assert.ok(!everything.includes(secret), `${secret} leaked`);
    });
  });
}

forEachStore(paidProxySuite, { cluster: true });

/** A hold's time is how long it outlives a gateway that died; a live request keeps it, however long it runs. */
function holdRenewalSuite(storeName: string, env: () => Record<string, string>) {
  test(`a stream that runs past its hold's time keeps its credits reserved (${storeName} store)`, async () => {
    const openrouter = await startUpstream();
    const gw = await startTestGateway(
      `
routes:${licenseAdminRoutes(TOKEN)}
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins:
      - license: {}
      - billing: { hold_ttl_s: 1, default_max_tokens: 50, prices: [{ model: "*", input: 1000, output: 2000 }] }
      - openrouter: { base_url: "${openrouter.url}/api/v1", api_key: k }
`,
      { env: { API_ADMIN_TOKEN: TOKEN, ...env() } },
    );
    try {
      const { key, client } = await licensedClient(gw.url, {
        email: `renewal-${storeName}@example.com`,
        credits: 0.2,
        token: TOKEN,
      });
      const info = async () =>
        (await getJson(`${gw.url}/api/v1/license/info/${key}`, admin)).body.license_info as {
          credits: number;
          held: number;
        };
      const messages = [{ role: 'user' as const, content: 'Hi' }];
      await withBehaviour(openrouter, { reply: Array(12).fill(' word'), chunkDelayMs: 250 }, async () => {
        const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
        const chunks = (async () => {
          for await (const chunk of stream) void chunk;
        })();
        // 50 completion tokens at 2,000 a million, the prompt's estimate at 1,000: 0.1 and a little.
        const held = (await info()).held;
        assert.ok(held > 0.1 && held < 0.2, String(held));
        await new Promise((r) => setTimeout(r, 2000));
        assert.equal((await info()).held, held, 'still reserved after twice its time');
        await assert.rejects(
          client.chat.completions.create({ model: 'm', messages }),
          (error: { status: number }) => error.status === 402,
          'the reserved credits are not spent twice',
        );
        await chunks;
      });
    } finally {
      await gw.close();
      await openrouter.close();
    }
  });
}

forEachStore(holdRenewalSuite);

describe('the shipped config/gateway.yaml', () => {
  test('/v1 routes by model (Gemini → the Space pool, others → OpenRouter), lists models, prices and spaces', async () => {
    const { readFile } = await import('node:fs/promises');
    const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
    const [openrouter, space1, space2] = await Promise.all([
      startUpstream(),
      startUpstream(),
      startUpstream(),
    ]);
    const gw = await startTestGateway(shipped, {
      env: {
        API_ADMIN_TOKEN: TOKEN,
        OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
        OPENROUTER_API_KEY: 'sk-or-shipped',
        HF_SPACE_URL_1: space1.url,
        HF_SPACE_PASSWORD_1: 'hf-one',
        HF_SPACE_URL_2: space2.url,
        HF_SPACE_PASSWORD_2: 'hf-two',
      },
    });
    try {
      const created = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: 'shipped@example.com', credits: 20 },
        admin,
      );
      const sdk = new OpenAI({
        baseURL: `${gw.url}/v1`,
        apiKey: created.body.license_key as string,
        defaultHeaders: { 'X-Device-Id': 'd' },
        maxRetries: 0,
      });
      const models = await sdk.models.list();
      assert.ok(models.data.some((m) => m.id === 'gemini-exp-1206'));
      for (let i = 0; i < 4; i++) {
        await sdk.chat.completions.create({
          model: 'gemini-exp-1206',
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: 'yo' },
          ],
        });
      }
      await sdk.chat.completions.create({
        model: 'anthropic/claude-3.5-sonnet',
        messages: [{ role: 'user', content: 'hi' }],
      });
      const posts = (u: FixtureUpstream) => u.requests.filter((r) => r.method === 'POST');
      assert.deepEqual([posts(space1).length, posts(space2).length, posts(openrouter).length], [2, 2, 1]);
      assert.equal(posts(space1)[0]!.headers.authorization, 'Bearer hf-one');
      assert.equal(posts(openrouter)[0]!.headers.authorization, 'Bearer sk-or-shipped');
      const pricing = await getJson(`${gw.url}/api/v1/pricing`);
      assert.equal(pricing.body.daily_charge, 0.33);
      const usage = await getJson(`${gw.url}/api/huggingface/spaces/usage`, admin);
      assert.deepEqual(
        (usage.body.spaces as { requests: number }[]).map((s) => s.requests),
        [2, 2],
      );
      assert.equal((await getJson(`${gw.url}/api/huggingface/spaces/usage`)).status, 401);
    } finally {
      await gw.close();
      await Promise.all([openrouter, space1, space2].map((u) => u.close()));
    }
  });
});
