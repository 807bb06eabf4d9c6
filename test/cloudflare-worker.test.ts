/**
 * config/deploy/cloudflare-worker.js in workerd (Cloudflare's Workers runtime, from npm) in front of the
 * gateway: only public paths pass, CORS is answered for the origins named, the client address Cloudflare
 * gives (CF-Connecting-IP) reaches the gateway's rate limits, and a stream is not buffered.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startGatewayProcess, type GatewayProcess } from './fixtures/process.ts';
import { freePort } from './fixtures/redis.ts';
import { tempDir } from './fixtures/temp.ts';
import { startUpstream, type FixtureUpstream } from './fixtures/upstream.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const ADMIN = 'worker-admin';
const APP = 'https://app.example.com';

/** workerd's own config: the shipped worker, its variables, and a network that may reach loopback. */
const workerdConfig = (port: number, origin: string) => `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edge),
    (name = "origin-network", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "edge")],
);

const edge :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "cloudflare-worker.js")],
  compatibilityDate = "2024-09-23",
  bindings = [
    (name = "ORIGIN", text = "${origin}"),
    (name = "ALLOWED_ORIGINS", text = "${APP}"),
  ],
  globalOutbound = "origin-network",
);
`;

describe('the Cloudflare Worker in workerd, in front of the gateway', () => {
  let upstream: FixtureUpstream;
  let gateway: GatewayProcess;
  let workerd: ReturnType<typeof spawn>;
  let edge: string;
  let workerdOutput = '';

  before(async () => {
    upstream = await startUpstream({ reply: [' one', ' two', ' three', ' four'], chunkDelayMs: 150 });
    gateway = await startGatewayProcess({
      env: {
        DATA_DIR: await tempDir('cradle-worker-'),
        API_ADMIN_TOKEN: ADMIN,
        OPENROUTER_BASE_URL: `${upstream.url}/api/v1`,
        OPENROUTER_API_KEY: 'k',
        TRUST_PROXY: 'loopback',
        BEHIND_CLOUDFLARE: 'true',
        PUBLIC_RATE_LIMIT: '3',
      },
    });
    const dir = await tempDir('cradle-workerd-');
    await copyFile(join(root, 'config/deploy/cloudflare-worker.js'), join(dir, 'cloudflare-worker.js'));
    const port = await freePort();
    await writeFile(join(dir, 'config.capnp'), workerdConfig(port, gateway.url));
    workerd = spawn(join(root, 'node_modules/.bin/workerd'), ['serve', join(dir, 'config.capnp')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    workerd.stdout!.on('data', (d) => (workerdOutput += d));
    workerd.stderr!.on('data', (d) => (workerdOutput += d));
    edge = `http://127.0.0.1:${port}`;
    for (let tries = 0; ; tries++) {
      const up = await fetch(`${edge}/api/v1/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (tries > 100) throw new Error(`workerd did not serve: ${workerdOutput}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    workerd.kill('SIGTERM');
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    await upstream.close();
  });

  const newLicense = async (email: string) => {
    const res = await fetch(`${gateway.url}/api/v1/license/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-admin-token': ADMIN },
      body: JSON.stringify({ email, credits: 10 }),
    });
    return ((await res.json()) as { license_key: string }).license_key;
  };

  test('a stream arrives chunk by chunk, not buffered', async () => {
    const key = await newLicense('stream@example.com');
    const started = performance.now();
    const res = await fetch(`${edge}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-device-id': 'd' },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    assert.equal(res.status, 200, workerdOutput);
    const times: number[] = [];
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      times.push(performance.now() - started);
      text += decoder.decode(chunk as Uint8Array, { stream: true });
    }
    assert.match(text, /three/);
    assert.ok(times.length >= 3 && times.at(-1)! - times[0]! > 300, `chunks at ${times.map(Math.round)}`);
  });

  test('only public paths pass: the admin API and /metrics are not reachable through it', async () => {
    const admin = { 'x-admin-token': ADMIN };
    assert.equal((await fetch(`${gateway.url}/api/v1/license/list`, { headers: admin })).status, 200);
    for (const path of ['/api/v1/license/list', '/metrics', '/api/v1/payments', '/admin/']) {
      const res = await fetch(`${edge}${path}`, { headers: admin });
      assert.equal(res.status, 404, path);
      assert.deepEqual(await res.json(), { success: false, error: 'not found', code: 'NOT_FOUND' });
    }
    assert.equal((await fetch(`${edge}/api/v1/pricing`)).status, 200);
    assert.equal((await fetch(`${edge}/v1/models`)).status, 200);
  });

  test('CORS is answered for the allowed origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${edge}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-license-key, x-device-id, content-type',
        },
      });
    const allowed = await preflight(APP);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), APP);
    assert.match(allowed.headers.get('access-control-allow-headers')!, /X-License-Key/);
    assert.match(allowed.headers.get('access-control-allow-headers')!, /X-Device-Id/);
    const other = await preflight('https://evil.example.com');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const answer = await fetch(`${edge}/api/v1/pricing`, { headers: { origin: APP } });
    assert.equal(answer.headers.get('access-control-allow-origin'), APP);
    assert.match(answer.headers.get('access-control-expose-headers')!, /X-Request-Id/);
  });

  test('the client address Cloudflare gives reaches the rate limit; a written X-Forwarded-For does not', async () => {
    const verify = (client: string, extra: Record<string, string> = {}) =>
      fetch(`${edge}/api/v1/license/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cf-connecting-ip': client, ...extra },
        body: JSON.stringify({ license_key: 'CRDL-NONE', device_id: 'd' }),
      }).then((r) => r.status);
    const first: number[] = [];
    for (let i = 0; i < 5; i++)
      first.push(await verify('203.0.113.7', { 'x-forwarded-for': `198.51.100.${i}` }));
    assert.deepEqual(
      first.map((s) => s === 429),
      [false, false, false, true, true],
      `statuses ${first.join(', ')}`,
    );
    assert.notEqual(await verify('203.0.113.8'), 429, 'another client has its own budget');
  });
});
