/** Operations: hot reload under traffic, metrics, CORS, health, SIGHUP and graceful drain on SIGTERM. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from './fixtures/redis.ts';
import { getJson, postJson, startTestGateway, type TestGateway } from './fixtures/gateway.ts';
import { startGatewayProcess, type GatewayProcess } from './fixtures/process.ts';
import { startUpstream, withBehaviour, type FixtureUpstream } from './fixtures/upstream.ts';
import { tempDir } from './fixtures/temp.ts';

const configWith = (upstreamUrl: string, extraRoute = '') => `
server: { port: "\${PORT:-0}", host: 127.0.0.1 }
chains:
  public:
    - cors: { origins: "https://app.example.com, https://other.example.com" }
routes:
  - { method: GET, path: /api/v1/health, plugins: [{ use: public }, health] }
  - { method: GET, path: /metrics, plugins: [metrics] }
  - method: POST
    path: /v1/chat/completions
    error_format: openai
    plugins: [{ use: public }, { upstream: { url: "${upstreamUrl}/v1/chat/completions", name: fixture } }]
${extraRoute}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `run` against the gateway as a process of its own, on `configWith` a fixture upstream; then ends both. */
async function withGatewayProcess(
  run: (gateway: GatewayProcess) => Promise<void>,
  options: { stdout?: number } = {},
): Promise<void> {
  const upstream = await startUpstream();
  const dir = await tempDir('cradle-proc-');
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, configWith(upstream.url));
  const gateway = await startGatewayProcess({ env: {}, config: file, ...options });
  try {
    await run(gateway);
  } finally {
    gateway.child.kill('SIGKILL');
    await upstream.close();
  }
}

describe('operations', () => {
  let upstream: FixtureUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(configWith(upstream.url), { watch: true });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('file edits reload while traffic flows: no request fails, a valid edit applies, an invalid one is refused', async () => {
    let stop = false;
    const statuses: number[] = [];
    const traffic = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) {
          const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [] });
          statuses.push(res.status);
        }
      }),
    );
    const added = '  - { method: GET, path: /added, plugins: [health] }';
    for (let i = 0; i < 3; i++) {
      await gw.writeConfig(configWith(upstream.url, i % 2 === 0 ? added : ''));
      await sleep(250);
    }
    await gw.writeConfig(configWith(upstream.url, added));
    await sleep(300);
    assert.equal((await getJson(`${gw.url}/added`)).status, 200, 'the valid edit is live');

    await gw.writeConfig(configWith(upstream.url, added).replace('name: fixture', 'name: 42, bogus: true'));
    await sleep(300);
    stop = true;
    await traffic;
    assert.ok(statuses.length > 20, `traffic flowed (${statuses.length} requests)`);
    assert.deepEqual([...new Set(statuses)], [200], 'every request during reloads succeeded');
    assert.equal(
      (await getJson(`${gw.url}/added`)).status,
      200,
      'the invalid edit left the running config in place',
    );
    const failure = gw.logs.map((l) => JSON.parse(l)).find((l) => l.msg?.includes('reload failed'));
    assert.match(
      failure.error,
      /gateway\.yaml:\d+ at routes\[2\]\.plugins\[1\]\.upstream\.bogus is an unknown key/,
    );

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /cradle_config_reloads_total\{result="success"\} [1-9]/);
    assert.match(metrics, /cradle_config_reloads_total\{result="error"\} 1/);
  });

  test('a reload that moves the listening socket says a restart is needed, and keeps serving where it was', async () => {
    await gw.writeConfig(configWith(upstream.url).replace('host: 127.0.0.1', 'host: 127.0.0.2'));
    let notice: { msg: string; restartNeeded: string[] } | undefined;
    for (let tries = 0; !notice && tries < 100; tries++) {
      await sleep(20);
      notice = gw.logs.map((l) => JSON.parse(l)).find((l) => l.restartNeeded);
    }
    assert.ok(notice, 'a notice was logged');
    assert.equal(
      notice.msg,
      'config reloaded, but a change of server.host (127.0.0.1 → 127.0.0.2) needs a restart',
    );
    assert.equal((await getJson(`${gw.url}/api/v1/health`)).status, 200);
    await gw.writeConfig(configWith(upstream.url));
    await sleep(300);
  });

  test('the admin API shows the config in force, its secrets masked, and the last reload with its error line', async () => {
    const text = (secret: string) => `
server: { port: 0, host: 127.0.0.1 }
routes:
  - { method: GET, path: /api/v1/config, plugins: [{ admin-auth: { tokens: "\${ADMIN:-}" } }, config-status] }
  - method: POST
    path: /v1/chat/completions
    plugins: [{ openrouter: { base_url: "${upstream.url}", api_key: ${secret} } }]
`;
    const own = await startTestGateway(text('sk-or-written-in-the-file'), { env: { ADMIN: 'adm' } });
    try {
      const status = async () =>
        (await getJson(`${own.url}/api/v1/config`, { 'x-admin-token': 'adm' })).body as Record<
          string,
          unknown
        >;
      const first = await status();
      assert.ok(!(first.yaml as string).includes('sk-or-written'), 'the key written in the file is masked');
      assert.match(first.yaml as string, /api_key: '\*{8}'/);
      assert.match(
        first.yaml as string,
        /tokens: "\$\{ADMIN:-\}"/,
        'a variable name is shown, not its value',
      );
      assert.equal(first.last_reload, null);

      await own.writeConfig(
        text('sk-or-new').replace('routes:', 'routes:\n  - { method: GET, path: /x, plugins: [nope] }'),
      );
      assert.equal((await own.reload()).ok, false);
      const failed = await status();
      const reload = failed.last_reload as { ok: boolean; error: string };
      assert.equal(reload.ok, false);
      assert.match(reload.error, /gateway\.yaml:4\b.*nope/, 'the error names the file and line');
      assert.equal(failed.yaml, first.yaml, 'the config in force is still the one that loaded');
      assert.equal((await getJson(`${own.url}/api/v1/config`)).status, 401);
    } finally {
      await own.close();
    }
  });

  test('/metrics exports requests by route and status, latency histograms and process metrics', async () => {
    await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [] });
    await getJson(`${gw.url}/nothing-here`);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(text, /cradle_requests_total\{route="POST \/v1\/chat\/completions",status="200"\} \d+/);
    assert.match(text, /cradle_requests_total\{route="unrouted",status="404"\} 1/);
    assert.match(
      text,
      /cradle_request_duration_seconds_bucket\{le="0.005",route="POST \/v1\/chat\/completions"\}/,
    );
    assert.match(text, /cradle_upstream_duration_seconds_count\{upstream="fixture"\} \d+/);
    assert.match(text, /process_resident_memory_bytes/);
    assert.match(text, /nodejs_eventloop_lag_seconds/);
  });

  test('CORS: allowed origins get the headers, preflights are answered, others are not allowed', async () => {
    const preflight = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(preflight.headers.get('access-control-allow-headers')!, /X-License-Key/);
    assert.equal(upstream.requests.filter((r) => r.method === 'OPTIONS').length, 0);

    const proxied = await postJson(
      `${gw.url}/v1/chat/completions`,
      { messages: [] },
      { origin: 'https://other.example.com' },
    );
    assert.equal(proxied.headers.get('access-control-allow-origin'), 'https://other.example.com');
    const denied = await postJson(
      `${gw.url}/v1/chat/completions`,
      { messages: [] },
      { origin: 'https://evil.example.com' },
    );
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
    // An upstream that allows every origin, as OpenRouter and many Spaces do, does not speak for the gateway.
    const open = { 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' };
    await withBehaviour(upstream, { headers: open }, async () => {
      const ask = (origin: string) => postJson(`${gw.url}/v1/chat/completions`, { messages: [] }, { origin });
      const refused = await ask('https://evil.example.com');
      assert.equal(refused.status, 200);
      assert.equal(
        refused.headers.get('access-control-allow-origin'),
        null,
        'a refused origin stays refused',
      );
      const allowed = await ask('https://app.example.com');
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
      assert.equal(allowed.headers.get('access-control-allow-credentials'), null, 'nor the upstream');
    });
  });

  test('health answers ok with the time', async () => {
    const res = await getJson(`${gw.url}/api/v1/health`);
    assert.equal(res.status, 200);
    assert.equal(res.body.success, true);
    assert.equal(res.body.status, 'ok');
  });
});

describe('process signals', () => {
  test('npm start serves within seconds, and a SIGTERM to npm stops the gateway itself', async () => {
    const port = await freePort();
    const dir = await tempDir('cradle-start-');
    const started = performance.now();
    const npm = spawn('npm', ['start', '--silent'], {
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, 'data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (d) => (output += d));
    npm.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => npm.once('exit', resolve));
    const url = `http://127.0.0.1:${port}/api/v1/health`;
    try {
      let ready = false;
      while (!ready && performance.now() - started < 15_000) {
        ready = await fetch(url).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await sleep(50);
      }
      assert.ok(ready, `npm start did not serve: ${output}`);
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 5, `served after ${seconds.toFixed(1)} s (no build at start)`);
      npm.kill('SIGTERM');
      await exited;
      // The gateway itself stopped: nothing serves on its port any more (no orphan holding the store).
      let serving = true;
      for (let i = 0; i < 40 && serving; i++) {
        serving = await fetch(url).then(
          () => true,
          () => false,
        );
        if (serving) await sleep(100);
      }
      assert.equal(serving, false, 'the gateway was left running');
    } finally {
      npm.kill('SIGKILL');
    }
  });

  test('SIGHUP reloads; SIGTERM drains in-flight requests, then exits 0', async () => {
    const upstream = await startUpstream({ delayMs: 600 });
    const dir = await tempDir('cradle-proc-');
    const file = join(dir, 'gateway.yaml');
    await writeFile(file, configWith(upstream.url));
    const gateway = await startGatewayProcess({ env: {}, config: file });
    const { child, url } = gateway;
    try {
      // The file watcher is on too; SIGHUP must work where it is not (a config mounted from elsewhere).
      await writeFile(file, configWith(upstream.url, '  - { method: GET, path: /added, plugins: [health] }'));
      child.kill('SIGHUP');
      await sleep(400);
      assert.equal((await getJson(`${url}/added`)).status, 200);

      const inFlight = postJson(`${url}/v1/chat/completions`, { model: 'm', messages: [] });
      await sleep(150);
      child.kill('SIGTERM');
      const res = await inFlight;
      assert.equal(res.status, 200, 'the in-flight request finished');
      assert.equal(await gateway.exited, 0);
      assert.match(gateway.output(), /draining/);
      // Stdout is JSON lines, whole, up to the drained request's access line, written before the exit.
      const logged = gateway
        .stdout()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const accessLines = logged.filter((line) => line.route === 'POST /v1/chat/completions');
      assert.deepEqual(
        accessLines.map((line) => [line.status, line.result]),
        [[200, 'proxied']],
      );
    } finally {
      child.kill('SIGKILL');
      await upstream.close();
    }
  });

  test('a log reader that falls behind for a while loses no later lines', async () => {
    await withGatewayProcess(async (gateway) => {
      // Nobody reads stdout for a while (a log shipper that is busy): the pipe fills and writes to it wait.
      gateway.child.stdout!.pause();
      for (let sent = 0; sent < 4000; sent += 100)
        await Promise.all(
          Array.from({ length: 100 }, async () => (await fetch(`${gateway.url}/api/v1/health`)).text()),
        );
      gateway.child.stdout!.resume();
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'after-the-stall' },
        body: JSON.stringify({ model: 'm', messages: [] }),
      });
      assert.equal(res.status, 200);
      const deadline = Date.now() + 5000;
      while (!gateway.stdout().includes('"after-the-stall"') && Date.now() < deadline) await sleep(50);
      assert.ok(
        gateway.stdout().includes('"after-the-stall"'),
        'the access line after the stall was written',
      );
      assert.doesNotMatch(gateway.output(), /log output stopped/);
    });
  });

  test('a stdout that fails (a full disk) stops the log, not the gateway, and SIGTERM still ends it', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      await withGatewayProcess(
        async (gateway) => {
          const res = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'm', messages: [] });
          assert.equal(res.status, 200);
          gateway.child.kill('SIGTERM');
          const code = await Promise.race([gateway.exited, sleep(10_000).then(() => 'still running')]);
          assert.equal(code, 0);
          assert.match(gateway.output(), /log output stopped: ENOSPC/);
        },
        { stdout: full },
      );
    } finally {
      closeSync(full);
    }
  });

  test('a log reader that goes away does not stop the gateway', async () => {
    await withGatewayProcess(async (gateway) => {
      // The reading end of stdout closed: every access line now meets a broken pipe.
      gateway.child.stdout!.destroy();
      for (let i = 0; i < 5; i++) {
        const res = await postJson(`${gateway.url}/v1/chat/completions`, {
          model: 'm',
          messages: [],
        });
        assert.equal(res.status, 200, `request ${i} after the reader left`);
      }
      assert.match(gateway.output(), /log output stopped: .*EPIPE/);
      gateway.child.kill('SIGTERM');
      assert.equal(await gateway.exited, 0);
    });
  });
});
