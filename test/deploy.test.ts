/**
 * The shipped deployment files work: the systemd unit is valid, and its command runs the way systemd runs it
 * (`ProtectSystem=strict`: the whole tree read-only, only the data folder writable); the loader its TypeScript
 * runs through leaves the code as written; nginx.conf in front of the gateway streams, passes the real client
 * address and nothing a client made up, over TLS 1.3.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startGatewayProcess } from './fixtures/process.ts';
import { freePort } from './fixtures/redis.ts';
import { tempDir } from './fixtures/temp.ts';
import { startUpstream } from './fixtures/upstream.ts';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const unitFile = join(root, 'config/deploy/cradle-gateway.service');

describe('systemd unit', () => {
  test('systemd-analyze verify finds nothing wrong with it', () => {
    const result = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /error|invalid|unknown/i);
  });

  test('its ExecStart serves from a read-only tree with only the data folder writable, and stops on SIGTERM', async () => {
    const unit = await readFile(unitFile, 'utf8');
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!;
    assert.doesNotMatch(unit, /^ExecStartPre=/m, 'nothing runs before it that writes to the tree');
    const data = await tempDir('cradle-unit-data-');
    const port = await freePort();
    // A mount namespace of its own (a user namespace too, so no privilege is needed): the checkout is
    // mounted read-only over itself, as ProtectSystem=strict leaves /opt/cradle-gateway.
    const script = `mount --bind "${root}" "${root}" && mount -o remount,bind,ro "${root}" && cd "${root}" && exec ${execStart}`;
    const child = spawn('unshare', ['-rm', 'sh', '-c', script], {
      env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: data },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      let ready = false;
      for (let i = 0; i < 150 && !ready && child.exitCode === null; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/api/v1/health`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ready, `the unit's command did not serve: ${output}`);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** The shipped site file with a test's ports and certificate, inside the http {} block nginx needs. */
async function nginxConfig(options: {
  dir: string;
  gateway: number;
  https: number;
  http: number;
}): Promise<string> {
  const site = (await readFile(join(root, 'config/deploy/nginx.conf'), 'utf8'))
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${options.gateway};`)
    .replace('listen 443 ssl http2;', `listen 127.0.0.1:${options.https} ssl http2;`)
    .replace('listen 80;', `listen 127.0.0.1:${options.http};`)
    .replace(
      /\/etc\/letsencrypt\/live\/api.example.com\/fullchain.pem/,
      join(root, 'test/fixtures/tls/trusted-cert.pem'),
    )
    .replace(
      /\/etc\/letsencrypt\/live\/api.example.com\/privkey.pem/,
      join(root, 'test/fixtures/tls/trusted-key.pem'),
    );
  const file = join(options.dir, 'nginx.conf');
  await mkdir(join(options.dir, 'logs'), { recursive: true });
  await writeFile(
    file,
    `pid ${options.dir}/nginx.pid;
error_log ${options.dir}/logs/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${options.dir}/body;
  proxy_temp_path ${options.dir}/proxy;
${site}
}
`,
  );
  return file;
}

describe('the TypeScript as it ships (gateway/typescript.mjs)', () => {
  test('a module is loaded as written, its types taken out, no closure wrapped to keep its name', async () => {
    type Load = (
      url: string,
      context: object,
      next: () => never,
    ) => Promise<{ format: string; source: string }>;
    const hooks = new URL('../gateway/typescript-hooks.mjs', import.meta.url).href;
    const { load } = (await import(hooks)) as { load: Load };
    const file = join(await tempDir('cradle-loader-'), 'closures.ts');
    await writeFile(
      file,
      'export const make = (v: number) => ({ onData: (text: string): string => text + v });\n',
    );
    const loaded = await load(pathToFileURL(file).href, {}, () => {
      throw new Error('a .ts module is loaded by the hook itself');
    });
    assert.equal(loaded.format, 'module');
    assert.doesNotMatch(loaded.source, /: (number|string)/, 'the types are taken out');
    // Name-keeping wraps each closure made, on every request, in a call that redefines its name.
    assert.doesNotMatch(loaded.source, /__name/);
    const module = (await import(`data:text/javascript,${encodeURIComponent(loaded.source)}`)) as {
      make: (v: number) => { onData: (text: string) => string };
    };
    assert.equal(module.make(1).onData('x'), 'x1');
  });
});

describe('nginx in front of the gateway', () => {
  test('streams chunk by chunk over TLS 1.3, and the rate limit counts the real client, not made-up headers', async () => {
    const upstream = await startUpstream({ reply: [' one', ' two', ' three', ' four'], chunkDelayMs: 150 });
    const gateway = await startGatewayProcess({
      env: {
        DATA_DIR: await tempDir('cradle-nginx-'),
        API_ADMIN_TOKEN: 'nginx-admin',
        OPENROUTER_BASE_URL: `${upstream.url}/api/v1`,
        OPENROUTER_API_KEY: 'k',
        TRUST_PROXY: 'loopback',
        PROXY_RATE_LIMIT: '3',
      },
    });
    const dir = await tempDir('cradle-nginx-conf-');
    const [https, http] = [await freePort(), await freePort()];
    const conf = await nginxConfig({ dir, gateway: Number(new URL(gateway.url).port), https, http });
    const nginx = spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: 'pipe' });
    let nginxOutput = '';
    nginx.stderr.on('data', (d) => (nginxOutput += d));
    const ca = await readFile(join(root, 'test/fixtures/tls/trusted-cert.pem'));
    /** A request through nginx from a loopback address of the client's own, in TLS 1.3 or at most 1.2. */
    const ask = (options: {
      from: string;
      headers?: Record<string, string>;
      body: unknown;
      maxTls?: '1.2';
    }) =>
      new Promise<{ status: number; chunkTimes: number[]; text: string }>((resolve, reject) => {
        const started = performance.now();
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: https,
            path: '/v1/chat/completions',
            method: 'POST',
            ca,
            localAddress: options.from,
            ...(options.maxTls ? { maxVersion: 'TLSv1.2' as const } : {}),
            headers: { 'content-type': 'application/json', 'x-device-id': 'd', ...options.headers },
          },
          (res) => {
            const chunkTimes: number[] = [];
            let text = '';
            res.on('data', (d: Buffer) => {
              chunkTimes.push(performance.now() - started);
              text += d;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, chunkTimes, text }));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(options.body));
      });
    try {
      for (let i = 0; i < 50; i++) {
        const up = await fetch(`http://127.0.0.1:${http}/`).then(
          () => true,
          () => false,
        );
        if (up) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const created = await postJsonTo(gateway.url, '/api/v1/license/generate', {
        email: 'nginx@example.com',
        credits: 10,
      });
      const stream = await ask({
        from: '127.0.0.2',
        headers: { authorization: `Bearer ${created.license_key}` },
        body: { model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      });
      assert.equal(stream.status, 200, nginxOutput);
      const spread = stream.chunkTimes.at(-1)! - stream.chunkTimes[0]!;
      assert.ok(
        stream.chunkTimes.length >= 3 && spread > 300,
        `chunks at ${stream.chunkTimes.map(Math.round)}`,
      );

      // Made-up keys count against the client address: 127.0.0.3 spends its 3, whatever it claims to be.
      const guess = (from: string, i: number, headers: Record<string, string> = {}) =>
        ask({
          from,
          headers: { authorization: `Bearer GUESS-${i}`, ...headers },
          body: { model: 'openai/gpt-4o-mini', messages: [] },
        }).then((r) => r.status);
      const spoofed = [];
      for (let i = 0; i < 6; i++)
        spoofed.push(
          await guess('127.0.0.3', i, {
            'x-forwarded-for': `203.0.113.${i}`,
            'cf-connecting-ip': `198.51.100.${i}`,
          }),
        );
      assert.deepEqual(spoofed, [401, 401, 401, 429, 429, 429]);
      assert.equal(await guess('127.0.0.4', 99), 401, 'another client has its own budget');

      await assert.rejects(
        ask({ from: '127.0.0.5', body: {}, maxTls: '1.2' }),
        'TLS 1.2 is refused: the site speaks TLS 1.3 only',
      );
    } finally {
      nginx.kill('SIGTERM');
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      await upstream.close();
    }
  });
});

async function postJsonTo(base: string, path: string, body: unknown): Promise<Record<string, string>> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-admin-token': 'nginx-admin' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, string>;
}
