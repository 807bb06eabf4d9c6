/** A crash loses nothing acknowledged: SIGKILL in the middle of a burst of recharges on the embedded store. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getJson, postJson } from './fixtures/gateway.ts';
import { startGatewayProcess } from './fixtures/process.ts';
import { tempDir } from './fixtures/stores.ts';

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
