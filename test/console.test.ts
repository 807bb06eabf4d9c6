/**
 * The operator console at /admin/, in headless Chromium (Debian's, driven by playwright-core) against a real
 * gateway on the shipped config: sign in, create a license, recharge it (a double click charges once), find
 * a chat in the request log with its tokens and cost, see it in the day's figures, revoke the license. Any
 * error in the browser's console fails the test. Every page is saved as a screenshot at 1280 and 390 px
 * (test-results/console/), works by keyboard, labels its controls, and fits the width.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const TOKEN = 'console-admin-token';
const SHOTS = new URL('../test-results/console/', import.meta.url);
const shipped = await readFile(new URL('../config/gateway.yaml', import.meta.url), 'utf8');
const PAGE_FILES = [
  'pages/limits.js',
  'pages/overview.js',
  'pages/licenses.js',
  'pages/license.js',
  'pages/requests.js',
  'pages/payments.js',
  'pages/upstreams.js',
  'pages/config.js',
];
const PAGES = ['#/', '#/licenses', '#/requests', '#/payments', '#/upstreams', '#/config'];

describe('operator console', () => {
  let openrouter: FixtureUpstream;
  let gateway: TestGateway;
  let browser: Browser;
  let page: Page;
  const browserErrors: string[] = [];

  before(async () => {
    openrouter = await startUpstream();
    gateway = await startTestGateway(shipped, {
      env: {
        API_ADMIN_TOKEN: TOKEN,
        OPENROUTER_BASE_URL: `${openrouter.url}/api/v1`,
        OPENROUTER_API_KEY: 'or-key',
      },
    });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // Root in a container has no user namespaces for Chromium's sandbox.
      args: ['--no-sandbox'],
      timeout: 30_000,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
    page.setDefaultTimeout(10_000);
    page.on('console', (message) => {
      if (message.type() === 'error') browserErrors.push(message.text());
    });
    page.on('pageerror', (error) => browserErrors.push(error.message));
    await mkdir(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await openrouter?.close();
  });

  const shot = (name: string) =>
    page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true });
  const chat = (key: string) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'x-device-id': 'laptop',
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hello, console' }],
      }),
    });

  test('sign in by keyboard: a wrong token is refused, the right one opens the overview', async () => {
    await page.goto(`${gateway.url}/admin/`);
    await page.getByLabel('Admin token').waitFor();
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'token',
      'the token field has the focus',
    );
    await page.keyboard.type('wrong-token');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
    // Chromium reports the refused sign-in (401) as a console error: that one was asked for.
    browserErrors.length = 0;
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    assert.equal(
      await page.evaluate(() => sessionStorage.getItem('cradle-admin-token')),
      TOKEN,
      'the token is kept for this tab only',
    );
    // The menu is reached and followed by keyboard alone.
    const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim());
    for (let tabs = 0; tabs < 10 && (await focused()) !== 'Licenses'; tabs++)
      await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Licenses', level: 1 }).waitFor();
  });

  test('what the operator typed to create a license is kept when the list arrives after it', async () => {
    // A slow list: its answer reaches the page only once the form is filled in.
    let answerList = () => {};
    const typed = new Promise<void>((resolve) => (answerList = resolve));
    let listAsked = () => {};
    const asked = new Promise<void>((resolve) => (listAsked = resolve));
    await page.route('**/api/v1/license/list*', async (route) => {
      listAsked();
      await typed;
      await route.continue();
    });
    // Away from the licenses page and back, the overview shown between: two hash changes in a row can both
    // be read as the second one, which leaves the page as it was, and its list is not asked for again.
    await page.goto(`${gateway.url}/admin/#/`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.goto(`${gateway.url}/admin/#/licenses`);
    await asked;
    await page.getByLabel('Email', { exact: true }).fill('early@example.com');
    await page.getByLabel('Credits').fill('7');
    await page.getByLabel('Devices allowed').fill('3');
    answerList();
    await page.getByRole('region', { name: 'Licenses' }).waitFor();
    await page.unroute('**/api/v1/license/list*');
    await page.getByRole('button', { name: 'Create license' }).click();
    await page.getByRole('heading', { name: 'early@example.com' }).waitFor();
    const key = decodeURIComponent(page.url().split('#/licenses/')[1]!);
    const info = await getJson(`${gateway.url}/api/v1/license/info/${key}`, { 'x-admin-token': TOKEN });
    const created = info.body.license_info as { credits: number; max_devices: number };
    assert.deepEqual([created.credits, created.max_devices], [7, 3]);
  });

  let licenseKey = '';
  test('create a license, then recharge it: a double click charges once', async () => {
    await page.goto(`${gateway.url}/admin/#/licenses`);
    await page.getByLabel('Email', { exact: true }).fill('customer@example.com');
    await page.getByLabel('Credits').fill('10');
    await page.getByRole('button', { name: 'Create license' }).click();
    await page.getByRole('heading', { name: 'customer@example.com' }).waitFor();
    licenseKey = decodeURIComponent(page.url().split('#/licenses/')[1]!);
    assert.match(licenseKey, /^CRDL-/);

    await page.getByLabel('Amount').fill('5');
    await page.getByLabel('Reason').fill('welcome gift');
    // Two clicks in one go, before the page can disable the button: both requests reach the gateway.
    await page.getByRole('button', { name: 'Recharge', exact: true }).evaluate((button: HTMLElement) => {
      button.click();
      button.click();
    });
    await page.getByRole('status').filter({ hasText: 'Done' }).waitFor();
    const ledger = await getJson(`${gateway.url}/api/v1/license/ledger/${licenseKey}`, {
      'x-admin-token': TOKEN,
    });
    const recharges = (ledger.body.entries as { kind: string; reference?: string }[]).filter(
      (entry) => entry.kind === 'recharge',
    );
    assert.deepEqual(
      recharges.map((entry) => entry.reference),
      ['welcome gift'],
      'one recharge, not two',
    );
    await page.getByRole('table', { name: 'Ledger' }).getByText('welcome gift').waitFor();
    const info = await getJson(`${gateway.url}/api/v1/license/info/${licenseKey}`, {
      'x-admin-token': TOKEN,
    });
    assert.equal((info.body.license_info as { credits: number }).credits, 15);
    await page.getByText('15', { exact: true }).first().waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).first().click(),
    ]);
    const csv = await readFile((await download.path())!, 'utf8');
    assert.match(csv, /^id,time,kind,amount,balance_after,reference,/);
    assert.match(csv, /,recharge,5,15,welcome gift,/, 'the ledger exports as CSV');
    const limits = page.locator('form[aria-labelledby="limits-title"]');
    await limits.getByLabel('Models it may call').fill('openai/*, gpt-4o');
    await limits.getByLabel('Requests a minute').fill('30');
    await limits.getByRole('button', { name: 'Save' }).click();
    await limits.getByRole('status').filter({ hasText: 'Done' }).waitFor();
    const limited = await getJson(`${gateway.url}/api/v1/license/info/${licenseKey}`, {
      'x-admin-token': TOKEN,
    });
    assert.deepEqual((limited.body.license_info as { limits: unknown }).limits, {
      models: ['openai/*', 'gpt-4o'],
      rate_limit_per_minute: 30,
    });
    await shot('license-1280');
  });

  test("a chat shows in the request log with its tokens and cost, and in the day's figures", async () => {
    const res = await chat(licenseKey);
    assert.equal(res.status, 200);
    const usage = ((await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } })
      .usage;
    await page.goto(`${gateway.url}/admin/#/requests`);
    await page.getByLabel('Email', { exact: true }).fill('customer@example.com');
    const row = page
      .getByRole('table', { name: 'Request log' })
      .getByRole('row')
      .filter({ hasText: 'gpt-4o-mini' });
    // Records are written in batches: filter again until the request is there.
    for (let tries = 0; tries < 20 && (await row.count()) === 0; tries++) {
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForTimeout(150);
    }
    const text = (await row.first().innerText()).replace(/\s+/g, ' ');
    assert.ok(text.includes(`${usage.prompt_tokens} / ${usage.completion_tokens}`), text);
    const ledger = await getJson(`${gateway.url}/api/v1/license/ledger/${licenseKey}`, {
      'x-admin-token': TOKEN,
    });
    const charged = (ledger.body.entries as { kind: string; amount: number }[])
      .filter((entry) => entry.kind === 'usage' || entry.kind === 'daily_charge')
      .reduce((sum, entry) => sum - entry.amount, 0);
    assert.ok(
      text.includes(charged.toLocaleString('en-US', { maximumFractionDigits: 6 })),
      `${text} / ${charged}`,
    );
    await shot('requests-1280');

    await page.goto(`${gateway.url}/admin/#/`);
    const requestsToday = page.locator('dl.figures div').filter({ hasText: 'Requests today' }).locator('dd');
    await requestsToday.filter({ hasText: /^[1-9]/ }).waitFor();
    assert.equal(
      await page
        .locator('dl.figures div')
        .filter({ hasText: 'Licenses active today' })
        .locator('dd')
        .innerText(),
      '1',
    );
    assert.equal(
      await page.locator('figure.chart canvas').count(),
      2,
      'the 24-hour and 30-day charts are drawn',
    );
  });

  test('revoking the license refuses its next chat', async () => {
    await page.goto(`${gateway.url}/admin/#/licenses/${encodeURIComponent(licenseKey)}`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.locator('dl.facts div').filter({ hasText: 'Status' }).getByText('revoked').waitFor();
    assert.equal((await chat(licenseKey)).status, 403);
  });

  test('Export CSV saves the whole ledger, however many pages of the API it takes', async () => {
    const admin = { 'x-admin-token': TOKEN };
    const created = await postJson(
      `${gateway.url}/api/v1/license/generate`,
      { email: 'busy@example.com', credits: 1 },
      admin,
    );
    const key = created.body.license_key as string;
    // More entries than a page of the export holds (1,000): the grant and 1,050 recharges.
    for (let batch = 0; batch < 21; batch++)
      await Promise.all(
        Array.from({ length: 50 }, () =>
          postJson(`${gateway.url}/api/v1/license/recharge`, { license_key: key, amount: 0.000001 }, admin),
        ),
      );
    await page.goto(`${gateway.url}/admin/#/licenses/${encodeURIComponent(key)}`);
    await page.getByRole('heading', { name: 'busy@example.com' }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).first().click(),
    ]);
    const lines = (await readFile((await download.path())!, 'utf8')).trimEnd().split('\r\n');
    assert.match(lines[0]!, /^id,time,kind,/);
    const ids = lines.slice(1).map((line) => line.split(',')[0]);
    assert.equal(ids.length, 1_051);
    assert.equal(new Set(ids).size, ids.length, 'no entry twice');
  });

  test('every page fits 1280 and 390 px, labels its controls, and is saved as a screenshot', async () => {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      for (const hash of PAGES) {
        await page.goto(`${gateway.url}/admin/${hash}`);
        await page.locator('main h1').waitFor();
        await page.waitForLoadState('networkidle');
        const fit = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
        assert.ok(fit, `${hash} is wider than ${width} px`);
        const unlabelled = await page.evaluate(() =>
          [...document.querySelectorAll('input, button, select, textarea')]
            .filter((el) => {
              const control = el as HTMLInputElement;
              return !(
                control.labels?.length ||
                control.getAttribute('aria-label') ||
                control.textContent?.trim()
              );
            })
            .map((el) => el.outerHTML),
        );
        assert.deepEqual(unlabelled, [], `${hash} has controls without a label`);
        if (hash === '#/config') {
          const yaml = await page.locator('pre.yaml').innerText();
          assert.ok(yaml.includes("api_key: '${OPENROUTER_API_KEY:-}'"), 'the config in force is shown');
          assert.ok(!yaml.includes('or-key') && !yaml.includes(TOKEN), 'no secret from the environment');
        }
        await shot(`${hash.replace(/[#/]/g, '') || 'overview'}-${width}`);
      }
    }
    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('link', { name: '请求日志' }).waitFor();
    await shot('requests-zh-390');
  });

  test('a file the browser holds already is not sent again: it is revalidated by its ETag', async () => {
    const url = `${gateway.url}/admin/vendor/uplot.mjs`;
    const first = await fetch(url);
    const etag = first.headers.get('etag');
    assert.ok(etag && (await first.arrayBuffer()).byteLength > 0, 'the file, with its ETag');
    const again = await fetch(url, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await again.arrayBuffer()).byteLength, 0, 'no body the second time');
    const changed = await fetch(url, { headers: { 'if-none-match': '"another"' } });
    assert.equal(changed.status, 200);
    assert.equal(changed.headers.get('etag'), etag);
    await changed.arrayBuffer();
  });

  test('no error appeared in the browser console', () => {
    assert.deepEqual(browserErrors, []);
  });

  // Last: it shuts this address out of the admin API.
  test('signing in while this address is shut out says so, and keeps no token', async () => {
    for (let i = 0; i < 20; i++)
      await getJson(`${gateway.url}/api/v1/license/list`, { 'x-admin-token': `guess-${i}` });
    const fresh = await browser.newPage({ locale: 'en-US' });
    try {
      await fresh.goto(`${gateway.url}/admin/`);
      await fresh.getByLabel('Admin token').fill(TOKEN);
      await fresh.keyboard.press('Enter');
      await fresh.getByRole('alert').filter({ hasText: 'too many requests' }).waitFor();
      assert.equal(await fresh.evaluate(() => sessionStorage.length), 0, 'no token kept');
      await fresh.reload();
      await fresh.getByLabel('Admin token').waitFor();
    } finally {
      await fresh.close();
    }
  });
});

describe("the admin API's OpenAPI document", () => {
  let gateway: TestGateway;
  let doc: {
    openapi: string;
    paths: Record<string, Record<string, Operation>>;
  };
  interface Operation {
    security?: unknown[];
    responses: Record<string, unknown>;
    requestBody?: { content: { 'application/json': { schema: { required?: string[] } } } };
    parameters?: { name: string; in: string; schema: { enum?: string[] } }[];
  }
  before(async () => {
    gateway = await startTestGateway(shipped, { env: { API_ADMIN_TOKEN: TOKEN } });
    const res = await fetch(`${gateway.url}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    doc = (await res.json()) as typeof doc;
  });
  after(() => gateway.close());

  test('is OpenAPI 3.1 and describes every admin route the console calls, with the admin token', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const sources = await Promise.all(
      ['api.js', 'app.js', ...PAGE_FILES].map((name) =>
        readFile(new URL(`../plugins/console/web/${name}`, import.meta.url), 'utf8'),
      ),
    );
    const called = new Set(
      sources.flatMap((text) => [...text.matchAll(/['`](\/api\/[^'`?$]*)/g)].map((m) => m[1]!)),
    );
    assert.ok(called.size >= 10, `the console calls ${called.size} routes`);
    const documented = Object.keys(doc.paths);
    for (const path of called) {
      const match = documented.find((name) => name.startsWith(path) || name.replace(/\{\w+\}/g, '') === path);
      assert.ok(match, `${path}, which the console calls, is documented`);
      for (const operation of Object.values(doc.paths[match]!))
        assert.ok(
          operation.security?.some((scheme) => 'adminToken' in (scheme as object)),
          `${match} takes the admin token`,
        );
    }
    // Every route that reads an admin token says how it refuses a wrong one, and too many of them.
    for (const [path, operations] of Object.entries(doc.paths))
      for (const operation of Object.values(operations))
        if (operation.security)
          assert.deepEqual(
            ['401', '429'].filter((status) => status in operation.responses),
            ['401', '429'],
            path,
          );
  });

  test('the schemas it shows are the ones that refuse a request: each required field and each choice', async () => {
    let checked = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const url = `${gateway.url}${path.replace(/\{\w+\}/g, 'x')}`;
        const required = operation.requestBody?.content['application/json'].schema.required ?? [];
        if (required.length > 0) {
          const res = await postJson(url, {}, { 'x-admin-token': TOKEN });
          assert.equal(res.status, 400, `${method} ${path} without a body`);
          assert.equal(res.body.error, `${required[0]} is required`, `${method} ${path}`);
          checked++;
        }
        for (const parameter of operation.parameters ?? []) {
          if (parameter.in !== 'query' || !parameter.schema.enum) continue;
          const res = await getJson(`${url}?${parameter.name}=not-a-choice`, { 'x-admin-token': TOKEN });
          assert.equal(res.status, 400, `${method} ${path}?${parameter.name}`);
          assert.match(String(res.body.error), new RegExp(`^${parameter.name} must be`));
          checked++;
        }
      }
    }
    assert.ok(checked >= 10, `${checked} refusals checked`);
  });
});
