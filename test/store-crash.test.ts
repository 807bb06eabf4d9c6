/** A crash or a shutdown loses nothing acknowledged and no charge: SIGKILL mid-burst, a payment, SIGTERM mid-stream. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { getJson, postJson } from './fixtures/gateway.ts';
import { startGatewayProcess } from './fixtures/process.ts';
import { tempDir } from './fixtures/temp.ts';

const TOKEN = 'crash-token';
const admin = { 'x-admin-token': TOKEN };

describe('embedded store crash', () => {
  test('after SIGKILL mid-burst every acknowledged recharge is there, and nothing is counted twice', async () => {
    const env = { DATA_DIR: await tempDir('cradle-crash-'), API_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'warn' };
    const first = await startGatewayProcess({ env });
    const created = await postJson(
      `${first.url}/api/v1/license/generate`,
      { email: 'crash@example.com' },
      admin,
    );
    const key = created.body.license_key as string;
    const acknowledged: string[] = [];
    let sent = 0;
    let killed = false;
    const worker = async (w: number) => {
      for (let i = 0; !killed && i < 100; i++) {
        const id = `w${w}-${i}`;
        sent++;
        try {
          const res = await postJson(
            `${first.url}/api/v1/license/recharge`,
            { license_key: key, amount: 1 },
            { ...admin, 'idempotency-key': id },
          );
          if (res.status === 200) acknowledged.push(id);
        } catch {
          return; // the process is gone
        }
        if (acknowledged.length >= 150 && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    await first.exited;
    assert.ok(killed, 'the burst was interrupted by SIGKILL');

    const second = await startGatewayProcess({ env });
    try {
      const info = await getJson(`${second.url}/api/v1/license/info/${key}`, admin);
      const credits = (info.body.license_info as { credits: number }).credits;
      const ledger = await getJson(`${second.url}/api/v1/license/ledger/${key}?limit=1000`, admin);
      const entries = ledger.body.entries as { kind: string; amount: number; idempotency_key?: string }[];
      const keys = new Set(entries.map((e) => e.idempotency_key));
      for (const id of acknowledged) assert.ok(keys.has(id), `acknowledged recharge ${id} survived`);
      assert.equal(entries.length, keys.size, 'no entry twice');
      assert.equal(
        credits,
        entries.reduce((sum, e) => sum + e.amount, 0),
        'the ledger sums to the balance',
      );
      assert.ok(
        credits >= acknowledged.length && credits <= sent,
        `${acknowledged.length} ≤ ${credits} ≤ ${sent}`,
      );
      // A retried request after the crash is recognised, not applied again.
      const retry = await postJson(
        `${second.url}/api/v1/license/recharge`,
        { license_key: key, amount: 1 },
        { ...admin, 'idempotency-key': acknowledged[0]! },
      );
      assert.equal(retry.status, 200);
      const after = await getJson(`${second.url}/api/v1/license/info/${key}`, admin);
      assert.equal((after.body.license_info as { credits: number }).credits, credits);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});

describe('payment crash', () => {
  for (const storeName of ['embedded', 'redis'] as const) {
    test(`a crash around a payment loses nothing and credits nothing twice on the provider's retry (${storeName})`, async () => {
      const { epaySign } = await import('../plugins/payment-notify/epay.ts');
      const { startRedis } = await import('./fixtures/redis.ts');
      const redis = storeName === 'redis' ? await startRedis() : undefined;
      const env = {
        DATA_DIR: await tempDir('cradle-paycrash-'),
        API_ADMIN_TOKEN: TOKEN,
        PAYMENT_PID: '7',
        PAYMENT_KEY: 'k',
        LOG_LEVEL: 'warn',
        ...(redis ? { REDIS_URL: redis.url } : {}),
      };
      try {
        for (const [i, killAfterMs] of [0, 3, 10, 40].entries()) {
          const email = `crash${i}@example.com`;
          const fields: Record<string, string> = {
            pid: '7',
            trade_no: `CRASH-${i}`,
            out_trade_no: `O-${i}`,
            money: '10',
            trade_status: 'TRADE_SUCCESS',
            param: JSON.stringify({ email, type: 'activation', credits: 10 }),
          };
          const body = new URLSearchParams({
            ...fields,
            sign: epaySign(fields, 'k'),
            sign_type: 'MD5',
          }).toString();
          const post = (url: string) =>
            fetch(`${url}/api/v1/payment/notify`, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body,
            }).then((r) => r.text());
          const first = await startGatewayProcess({ env });
          const attempt = post(first.url).catch(() => 'no answer');
          await new Promise((r) => setTimeout(r, killAfterMs));
          first.child.kill('SIGKILL');
          await first.exited;
          await attempt;
          const second = await startGatewayProcess({ env });
          try {
            assert.equal(await post(second.url), 'success', 'the provider retry is answered success');
            assert.equal(await post(second.url), 'success');
            const balance = await getJson(
              `${second.url}/api/v1/license/balance/${encodeURIComponent(email)}`,
              admin,
            );
            assert.equal(balance.body.credits, 10, `credited exactly once (kill after ${killAfterMs} ms)`);
          } finally {
            second.child.kill('SIGTERM');
            await second.exited;
          }
        }
      } finally {
        await redis?.stop();
      }
    });
  }
});

describe('shutdown', () => {
  for (const storeName of ['embedded', 'redis'] as const) {
    test(`a stream cut when SIGTERM's drain ends is settled on what was delivered, day included (${storeName})`, async () => {
      const { startUpstream } = await import('./fixtures/upstream.ts');
      const { startRedis } = await import('./fixtures/redis.ts');
      const redis = storeName === 'redis' ? await startRedis() : undefined;
      // 40 words a second apart: the stream outlives the drain by far.
      const upstream = await startUpstream({
        reply: Array.from({ length: 40 }, (_, i) => ` word${i}`),
        chunkDelayMs: 100,
      });
      const dir = await tempDir('cradle-shutdown-');
      const config = join(dir, 'gateway.yaml');
      await writeFile(
        config,
        `server: { host: "\${HOST}", port: "\${PORT}", shutdown_timeout_ms: 300 }
routes:
  - { method: GET, path: /api/v1/health, plugins: [health] }
  - method: POST
    path: /api/v1/license/generate
    plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: generate } }]
  - { method: GET, path: /api/v1/license/ledger/:key, plugins: [{ admin-auth: { tokens: ${TOKEN} } }, { license-api: { action: ledger } }] }
  - method: POST
    path: /v1/chat/completions
    plugins:
      - license: {}
      - daily-charge: { amount: 0.33 }
      - billing: { prices: [{ model: '*', input: 1000, output: 100000 }] }
      - upstream: { url: '${upstream.url}/v1/chat/completions' }
`,
      );
      const env = {
        DATA_DIR: join(dir, 'data'),
        LOG_LEVEL: 'warn',
        ...(redis ? { REDIS_URL: redis.url } : {}),
      };
      try {
        const first = await startGatewayProcess({ env, config });
        const created = await postJson(
          `${first.url}/api/v1/license/generate`,
          { email: 'cut@example.com', credits: 100 },
          admin,
        );
        const key = created.body.license_key as string;
        const stream = await fetch(`${first.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-license-key': key, 'x-device-id': 'd' },
          body: JSON.stringify({
            model: 'm',
            stream: true,
            max_tokens: 100,
            messages: [{ role: 'user', content: 'hi' }],
          }),
        });
        assert.equal(stream.status, 200);
        const reader = stream.body!.getReader();
        let received = '';
        while (!received.includes('word2')) {
          const { value, done } = await reader.read();
          assert.ok(!done, `the stream ended early: ${received}`);
          received += new TextDecoder().decode(value);
        }
        first.child.kill('SIGTERM');
        await reader.closed.catch(() => undefined);
        assert.equal(await first.exited, 0);
        assert.doesNotMatch(first.output(), /store is closed|onFinish failed/);

        const second = await startGatewayProcess({ env, config });
        try {
          const ledger = await getJson(`${second.url}/api/v1/license/ledger/${key}`, admin);
          const entries = ledger.body.entries as { kind: string; completion_tokens?: number }[];
          assert.deepEqual(
            entries.map((e) => e.kind),
            ['usage', 'daily_charge', 'grant'],
            'the cut stream paid for its day and what it delivered',
          );
          assert.ok(entries[0]!.completion_tokens! >= 3 && entries[0]!.completion_tokens! < 40);
        } finally {
          second.child.kill('SIGTERM');
          await second.exited;
        }
      } finally {
        await upstream.close();
        await redis?.stop();
      }
    });
  }
});
