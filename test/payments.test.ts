/** Payments (epay callback) credit exactly once and mail the buyer; mail survives a down SMTP peer and restarts. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { freePort } from './fixtures/redis.ts';
import { startSmtp, waitForMail, type TestSmtp } from './fixtures/smtp.ts';
import { cradle } from './fixtures/cli.ts';
import { KEY, notification, notify, PID } from './fixtures/payment.ts';
import { forEachStore } from './fixtures/stores.ts';
import { tempDir } from './fixtures/temp.ts';

const TOKEN = 'pay-admin';
const admin = { 'x-admin-token': TOKEN };
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
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

    test('the operator lists payments newest first, each trade once, with its license and credits', async () => {
      const email = `listed-${storeName}@example.com`;
      const first = notification({ email, type: 'activation', credits: 12 });
      const second = notification({ email, type: 'recharge', credits: 5 });
      assert.equal(await notify(gw, first), 'success');
      await Promise.all(Array.from({ length: 5 }, () => notify(gw, second)));
      const { license_key } = await balanceOf(gw, email);
      const listed = await getJson(`${gw.url}/api/v1/payments?limit=1000`, admin);
      assert.equal(listed.status, 200);
      const payments = listed.body.payments as Record<string, unknown>[];
      const ours = payments.filter((p) => p.email === email);
      assert.deepEqual(
        ours.map((p) => [p.trade_no, p.credits, p.license_key]),
        [
          [second.trade_no, 5, license_key],
          [first.trade_no, 12, license_key],
        ],
      );
      const trades = payments.map((p) => p.trade_no);
      assert.equal(new Set(trades).size, trades.length, 'no trade is listed twice');
      const paged = await getJson(`${gw.url}/api/v1/payments?limit=1&offset=1`, admin);
      assert.deepEqual(paged.body.payments, [payments[1]]);
      assert.equal((await getJson(`${gw.url}/api/v1/payments?limit=0`, admin)).status, 400);
      assert.equal((await getJson(`${gw.url}/api/v1/payments`)).status, 401);
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
      for (const notAnObject of ['null', '[]', '"activation"'])
        assert.equal(await notify(gw, notification(param, { param: notAnObject })), 'fail');
      assert.equal(
        gw.logs.filter((line) => line.includes('param is not a JSON object')).length,
        3,
        'the log says what is wrong',
      );
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
      const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
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
      // 0.33 daily leaves 1.00005; the first usage charge (openai/gpt-4o at the fixture catalogue's price ×
      // the shipped markup: 0.000054) crosses the shipped threshold of 1 credit.
      const created = await postJson(
        `${gw.url}/api/v1/license/generate`,
        { email: 'low@example.com', credits: 1.33005 },
        admin,
      );
      const headers = { 'x-license-key': created.body.license_key as string, 'x-device-id': 'd' };
      for (let i = 0; i < 3; i++) {
        const res = await postJson(
          `${gw.url}/v1/chat/completions`,
          { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hello there' }] },
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

describe('mail that cannot be delivered', () => {
  test('is given up after MAIL_GIVE_UP_H, kept dead with its last error and counted; the operator retries it by API and CLI', async () => {
    const dir = await tempDir('cradle-dead-mail-');
    const port = await freePort();
    let now = Date.now();
    const env = {
      DATA_DIR: dir,
      API_ADMIN_TOKEN: TOKEN,
      PAYMENT_PID: PID,
      PAYMENT_KEY: KEY,
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      MAIL_RETRY_MS: '50',
      MAIL_GIVE_UP_H: '48',
    };
    type MailView = { id: string; to: string; attempts: number; last_error?: string; dead_at?: string };
    const mails = async (gw: TestGateway, state: string) =>
      (await getJson(`${gw.url}/api/v1/mail?state=${state}&limit=1000`, admin)).body.mails as MailView[];
    const until = async <T>(find: () => Promise<T | undefined>): Promise<T> => {
      for (let tries = 0; tries < 200; tries++) {
        const found = await find();
        if (found !== undefined) return found;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('not found in time');
    };
    const to = (email: string) => (m: MailView) => m.to === email;

    let gw = await startTestGateway(shipped, { env, dir, clock: { now: () => now } });
    let smtp: TestSmtp | undefined;
    try {
      for (const email of ['dead1@example.com', 'dead2@example.com'])
        assert.equal(await notify(gw, notification({ email, type: 'activation', credits: 2 })), 'success');
      const failing = await until(async () =>
        (await mails(gw, 'pending')).find((m) => m.to === 'dead2@example.com' && m.attempts >= 2),
      );
      assert.match(failing.last_error!, /ECONNREFUSED/);

      now += 49 * 60 * 60 * 1000;
      const dead1 = await until(async () => (await mails(gw, 'dead')).find(to('dead1@example.com')));
      const dead2 = await until(async () => (await mails(gw, 'dead')).find(to('dead2@example.com')));
      assert.match(dead2.last_error!, /ECONNREFUSED/);
      assert.ok(dead2.dead_at);
      await new Promise((r) => setTimeout(r, 300));
      const still = (await mails(gw, 'dead')).find(to('dead2@example.com'))!;
      assert.equal(still.attempts, dead2.attempts, 'a dead mail is not tried again by itself');
      assert.deepEqual(await mails(gw, 'pending'), []);
      const metrics = await (await fetch(`${gw.url}/metrics`, { headers: admin })).text();
      assert.match(metrics, /cradle_mail_deliveries_total\{result="dead"\} 2/);

      const refused = await postJson(`${gw.url}/api/v1/mail/${dead1.id}/retry`, {}, admin);
      assert.equal(refused.status, 502, 'SMTP is still down');
      assert.match(refused.body.error as string, /could not be sent/);
      await gw.close();

      const listed = await cradle(['mail', 'list', '--state', 'dead'], { DATA_DIR: dir });
      assert.equal(listed.status, 0, listed.stderr);
      assert.deepEqual((JSON.parse(listed.stdout) as MailView[]).map((m) => m.to).sort(), [
        'dead1@example.com',
        'dead2@example.com',
      ]);
      const cliEnv = { DATA_DIR: dir, SMTP_URL: env.SMTP_URL };
      const downAgain = await cradle(['mail', 'retry', dead2.id], cliEnv);
      assert.equal(downAgain.status, 1);
      assert.match(downAgain.stderr, /could not be sent/);

      smtp = await startSmtp(port);
      const retried = await cradle(['mail', 'retry', dead2.id], cliEnv);
      assert.equal(retried.status, 0, retried.stderr);
      await waitForMail(smtp, (m) => m.to.includes('dead2@example.com'));

      gw = await startTestGateway(shipped, { env, dir, clock: { now: () => now } });
      assert.equal((await postJson(`${gw.url}/api/v1/mail/${dead1.id}/retry`, {}, admin)).status, 200);
      await waitForMail(smtp, (m) => m.to.includes('dead1@example.com'));
      assert.equal((await postJson(`${gw.url}/api/v1/mail/${dead1.id}/retry`, {}, admin)).status, 409);
      assert.equal((await postJson(`${gw.url}/api/v1/mail/no-such-mail/retry`, {}, admin)).status, 404);
      assert.deepEqual(await mails(gw, 'dead'), []);
      const sent = (await mails(gw, 'sent')).map((m) => m.to).sort();
      assert.deepEqual(sent, ['dead1@example.com', 'dead2@example.com']);
      assert.equal(smtp.mails.length, 2, 'each mail arrived once');
      assert.equal((await getJson(`${gw.url}/api/v1/mail?state=lost`, admin)).status, 400);
    } finally {
      await gw.close();
      await smtp?.close();
    }
  });
});
