/** Payments (epay callback) credit exactly once and mail the buyer; mail survives a down SMTP peer and restarts. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { epaySign } from '../plugins/payment-notify/epay.ts';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { freePort } from './fixtures/redis.ts';
import { startSmtp, waitForMail, type TestSmtp } from './fixtures/smtp.ts';
import { forEachStore, tempDir } from './fixtures/stores.ts';

const TOKEN = 'pay-admin';
const admin = { 'x-admin-token': TOKEN };
const PID = '1001';
const KEY = 'merchant-secret';
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
let trades = 0;

function notification(
  param: Record<string, unknown>,
  overrides: Record<string, string> = {},
  key = KEY,
): Record<string, string> {
  const fields: Record<string, string> = {
    pid: PID,
    trade_no: `T${Date.now()}${++trades}`,
    out_trade_no: `O${trades}`,
    type: 'alipay',
    name: 'Cradle credits',
    money: '30.00',
    trade_status: 'TRADE_SUCCESS',
    param: JSON.stringify(param),
    sign_type: 'MD5',
    ...overrides,
  };
  return { ...fields, sign: epaySign(fields, key) };
}

async function notify(
  gw: { url: string },
  fields: Record<string, string>,
  method: 'GET' | 'POST' = 'POST',
): Promise<string> {
  const form = new URLSearchParams(fields).toString();
  const res =
    method === 'GET'
      ? await fetch(`${gw.url}/api/v1/payment/notify?${form}`)
      : await fetch(`${gw.url}/api/v1/payment/notify`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form,
        });
  return res.text();
}

const balanceOf = async (gw: { url: string }, email: string) =>
  (await getJson(`${gw.url}/api/v1/license/balance/${encodeURIComponent(email)}`, admin)).body as {
    credits?: number;
    license_key?: string;
  };

function paymentSuite(storeName: string, env: () => Record<string, string>) {
  describe(`payments (${storeName} store)`, () => {
    let smtp: TestSmtp;
    let gw: TestGateway;
    before(async () => {
      smtp = await startSmtp();
      gw = await startTestGateway(shipped, {
        env: {
          API_ADMIN_TOKEN: TOKEN,
          PAYMENT_PID: PID,
          PAYMENT_KEY: KEY,
          SMTP_URL: smtp.url,
          MAIL_FROM: 'Cradle <pay@cradle.test>',
          ...env(),
        },
      });
    });
    after(async () => {
      await gw.close();
      await smtp.close();
    });

    test('a signed activation creates the license, credits it once and mails the key', async () => {
      const email = `act-${storeName}@example.com`;
      const fields = notification({ email, type: 'activation', credits: 150, original_amount: '30.00' });
      assert.equal(await notify(gw, fields), 'success');
      const balance = await balanceOf(gw, email);
      assert.equal(balance.credits, 150);
      const mail = await waitForMail(smtp, (m) => m.to.includes(email));
      assert.ok(mail.text.includes(balance.license_key!), 'the mail carries the key');
      assert.match(mail.text, /X-License-Key/);
      const ledger = await getJson(`${gw.url}/api/v1/license/ledger/${balance.license_key}`, admin);
      const [entry] = ledger.body.entries as Record<string, unknown>[];
      assert.deepEqual([entry!.kind, entry!.amount, entry!.trade_no], ['payment', 150, fields.trade_no]);
    });

    test('20 concurrent replays of one trade credit once and all answer success', async () => {
      const email = `replay-${storeName}@example.com`;
      const fields = notification({ email, type: 'activation', credits: 30 });
      const answers = await Promise.all(Array.from({ length: 20 }, () => notify(gw, fields)));
      assert.deepEqual([...new Set(answers)], ['success']);
      assert.equal((await balanceOf(gw, email)).credits, 30);
    });

    test('a payment is credited once ever: a replay after its license was revoked makes no license and credits nothing', async () => {
      const email = `revoked-${storeName}@example.com`;
      const fields = notification({ email, type: 'activation', credits: 10 });
      assert.equal(await notify(gw, fields), 'success');
      const first = await balanceOf(gw, email);
      const revoked = await postJson(`${gw.url}/api/v1/license/revoke/${first.license_key}`, {}, admin);
      assert.equal(revoked.status, 200);
      assert.equal(await notify(gw, fields), 'success', 'the provider is told it is done');
      const list = await getJson(`${gw.url}/api/v1/license/list?limit=1000`, admin);
      const ofEmail = (list.body.licenses as { email: string; credits: number }[]).filter(
        (l) => l.email === email,
      );
      assert.deepEqual(
        ofEmail.map((l) => l.credits),
        [10],
        'one license, credited once',
      );
    });

    test('a notify whose money is not a positive amount is refused with fail and changes nothing', async () => {
      const email = `money-${storeName}@example.com`;
      for (const money of ['0', '0.00', '-10', 'abc', '1e3', '']) {
        const fields = notification({ email, type: 'activation', credits: 10 }, { money });
        assert.equal(await notify(gw, fields), 'fail', `money ${JSON.stringify(money)}`);
      }
      assert.equal((await getJson(`${gw.url}/api/v1/license/balance/${email}`, admin)).status, 404);
    });

    test('a recharge credits the existing license (GET works too) and mails the new balance', async () => {
      const email = `rch-${storeName}@example.com`;
      await notify(gw, notification({ email, type: 'activation', credits: 10 }));
      assert.equal(
        await notify(gw, notification({ email, type: 'recharge', credits: 5.5 }), 'GET'),
        'success',
      );
      assert.equal((await balanceOf(gw, email)).credits, 15.5);
      const mail = await waitForMail(smtp, (m) => m.to.includes(email) && m.text.includes('15.5'));
      assert.match(mail.text, /5\.5 credits were added/);
    });

    test('a recharge for an email with no license is never lost: a license is made and credited', async () => {
      const email = `orphan-${storeName}@example.com`;
      assert.equal(await notify(gw, notification({ email, type: 'recharge', credits: 8 })), 'success');
      assert.equal((await balanceOf(gw, email)).credits, 8);
    });

    test('bad signature, wrong pid, bad param and unpaid statuses change nothing', async () => {
      const email = `bad-${storeName}@example.com`;
      const param = { email, type: 'activation', credits: 99 };
      assert.equal(await notify(gw, notification(param, {}, 'wrong-key')), 'fail');
      assert.equal(await notify(gw, notification(param, { pid: '9999' })), 'fail');
      const tampered = notification(param);
      assert.equal(await notify(gw, { ...tampered, money: '0.01' }), 'fail');
      assert.equal(await notify(gw, notification({ ...param, credits: 'lots' })), 'fail');
      assert.equal(await notify(gw, notification(param, { trade_status: 'WAIT_BUYER_PAY' })), 'success');
      assert.equal(
        (await getJson(`${gw.url}/api/v1/license/balance/${encodeURIComponent(email)}`, admin)).status,
        404,
      );
    });

    test('the admin can send the license mail again', async () => {
      const email = `again-${storeName}@example.com`;
      await notify(gw, notification({ email, type: 'activation', credits: 1 }));
      const before = smtp.mails.filter((m) => m.to.includes(email)).length;
      const res = await postJson(`${gw.url}/api/v1/send-license-email`, { email }, admin);
      assert.equal(res.status, 200);
      await waitForMail(smtp, () => smtp.mails.filter((m) => m.to.includes(email)).length > before);
    });
  });
}

forEachStore(paymentSuite);

/** The shipped config with a real SMTP peer and a fixture OpenRouter, for mails that follow charges. */
async function mailingGateway() {
  const { startUpstream } = await import('./fixtures/upstream.ts');
  const [smtp, openrouter] = await Promise.all([startSmtp(), startUpstream()]);
  const gw = await startTestGateway(shipped, {
    env: {
      API_ADMIN_TOKEN: TOKEN,
      SMTP_URL: smtp.url,
      OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
      OPENROUTER_API_KEY: 'k',
    },
  });
  return { smtp, openrouter, gw };
}

describe('mail delivery', () => {
  test("a low-balance warning follows every debit: the day's charge and an admin deduct too", async () => {
    const { smtp, openrouter, gw } = await mailingGateway();
    try {
      // 1.2 credits: the day's 0.33 alone takes it below the shipped threshold of 1.
      const daily = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: 'daily-low@example.com', credits: 1.2 },
        admin,
      );
      const headers = { 'x-license-key': daily.body.license_key as string, 'x-device-id': 'd' };
      const chat = { model: 'openai/x', messages: [{ role: 'user', content: 'hi' }] };
      assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chat, headers)).status, 200);
      await waitForMail(
        smtp,
        (m) => m.to.includes('daily-low@example.com') && /balance is 0\.8/.test(m.text),
      );

      await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: 'deduct-low@example.com', credits: 1.5 },
        admin,
      );
      const deducted = await postJson(
        `${gw.url}/api/v1/license/deduct`,
        { email: 'deduct-low@example.com', amount: 1 },
        admin,
      );
      assert.equal(deducted.status, 200);
      const mail = await waitForMail(smtp, (m) => m.to.includes('deduct-low@example.com'));
      assert.match(mail.text, /Your balance is 0\.5 credits/);
    } finally {
      await gw.close();
      await smtp.close();
      await openrouter.close();
    }
  });

  test('a usage charge that takes the balance below the threshold mails a low-balance warning, once', async () => {
    const { smtp, openrouter, gw } = await mailingGateway();
    try {
      // 0.33 daily leaves 1.00005; the first usage charge crosses the shipped threshold of 1 credit.
      const created = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: 'low@example.com', credits: 1.33005 },
        admin,
      );
      const headers = { 'x-license-key': created.body.license_key as string, 'x-device-id': 'd' };
      for (let i = 0; i < 3; i++) {
        const res = await postJson(
          `${gw.url}/v1/chat/completions`,
          { model: 'openai/x', messages: [{ role: 'user', content: 'hello there' }] },
          headers,
        );
        assert.equal(res.status, 200);
      }
      const mail = await waitForMail(smtp, (m) => m.to.includes('low@example.com'));
      assert.match(mail.text, /Your balance is 0\.99/);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(
        smtp.mails.filter((m) => m.to.includes('low@example.com')).length,
        1,
        'one warning, not one per request',
      );
    } finally {
      await gw.close();
      await smtp.close();
      await openrouter.close();
    }
  });

  test('without SMTP, mails are written as .eml files to DATA_DIR/outbox', async () => {
    const dir = await tempDir('cradle-outbox-');
    const gw = await startTestGateway(shipped, {
      env: { DATA_DIR: dir, PAYMENT_PID: PID, PAYMENT_KEY: KEY },
    });
    try {
      assert.equal(
        await notify(gw, notification({ email: 'outbox@example.com', type: 'activation', credits: 3 })),
        'success',
      );
      let files: string[] = [];
      for (let i = 0; i < 100 && files.length === 0; i++) {
        files = (await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml'));
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(files.length, 1);
      const eml = await readFile(join(dir, 'outbox', files[0]!), 'utf8');
      assert.match(eml, /^To: outbox@example\.com/m);
    } finally {
      await gw.close();
    }
  });

  test('a mail that could not be sent is retried, also after a restart, until the SMTP peer takes it', async () => {
    const dir = await tempDir('cradle-retry-');
    const port = await freePort();
    const env = {
      DATA_DIR: dir,
      PAYMENT_PID: PID,
      PAYMENT_KEY: KEY,
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      MAIL_RETRY_MS: '100',
    };
    const first = await startTestGateway(shipped, { env, dir });
    const started = Date.now();
    assert.equal(
      await notify(first, notification({ email: 'late@example.com', type: 'activation', credits: 2 })),
      'success',
    );
    assert.ok(Date.now() - started < 2000, 'the payment answer did not wait for mail');
    await new Promise((r) => setTimeout(r, 300));
    await first.close();
    const smtp = await startSmtp(port);
    const second = await startTestGateway(shipped, { env, dir });
    try {
      const mail = await waitForMail(smtp, (m) => m.to.includes('late@example.com'));
      assert.match(mail.text, /CRDL-/);
      assert.equal(smtp.mails.filter((m) => m.to.includes('late@example.com')).length, 1);
    } finally {
      await second.close();
      await smtp.close();
    }
  });
});
