/** Config: env interpolation, numbered env lists, validation errors naming file, line and YAML path. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildRuntime } from '../gateway/config/build.ts';
import { parseConfigText } from '../gateway/config/load.ts';
import { createLoggers } from '../gateway/log.ts';
import { Metrics } from '../gateway/metrics.ts';
import { Resources } from '../gateway/resources.ts';
import { builtinPlugins } from '../plugins/index.ts';
import { GATEWAY_ARGS } from './fixtures/process.ts';
import { tempDir } from './fixtures/temp.ts';

const services = () => ({
  log: createLoggers({ level: 'silent' }).log,
  metrics: new Metrics({ processMetrics: false }),
  clock: { now: () => Date.now() },
  resources: new Resources(),
  env: {},
  configStatus: () => ({ file: '', text: '', loadedAt: '', routes: [] }),
});
const plugins = new Map(builtinPlugins.map((p) => [p.name, p]));
const build = async (text: string, env: NodeJS.ProcessEnv = {}) =>
  buildRuntime(parseConfigText(text, { file: '/etc/cradle/gateway.yaml', env }), {
    plugins,
    services: services(),
  });

describe('config', () => {
  test('${VAR} and ${VAR:-default} are filled from the environment, and typed by the schema', async () => {
    const loaded = parseConfigText(
      'server: { port: "${PORT:-8080}", host: "${HOST}" }\nroutes: []\nx: "a-${NAME:-none}-b"',
      {
        file: 'g.yaml',
        env: { HOST: '127.0.0.9' },
      },
    );
    assert.deepEqual(loaded.value, {
      server: { port: '8080', host: '127.0.0.9' },
      routes: [],
      x: 'a-none-b',
    });
    const runtime = await build('server: { port: "${PORT:-8080}" }\nroutes: []', { PORT: '9999' });
    assert.equal(runtime.config.server.port, 9999);
  });

  test('an env value cannot inject YAML', () => {
    const loaded = parseConfigText('a: "${EVIL}"', { file: 'g.yaml', env: { EVIL: 'x\nb: injected' } });
    assert.deepEqual(loaded.value, { a: 'x\nb: injected' });
  });

  test('$numbered_env expands HF_SPACE_URL_n / HF_SPACE_PASSWORD_n pairs into a list', () => {
    const text = `
spaces:
  - $numbered_env: { url: "\${HF_SPACE_URL_{n}}", password: "\${HF_SPACE_PASSWORD_{n}}" }
  - { url: http://fixed, password: p }
`;
    const env = {
      HF_SPACE_URL_1: 'http://one',
      HF_SPACE_PASSWORD_1: 'p1',
      HF_SPACE_URL_2: 'http://two',
      HF_SPACE_PASSWORD_2: 'p2',
      HF_SPACE_URL_4: 'http://gap',
    };
    const loaded = parseConfigText(text, { file: 'g.yaml', env });
    assert.deepEqual((loaded.value as { spaces: unknown }).spaces, [
      { url: 'http://one', password: 'p1' },
      { url: 'http://two', password: 'p2' },
      { url: 'http://fixed', password: 'p' },
    ]);
  });

  test('a bad plugin option is reported with file, line and YAML path', async () => {
    const text = `routes:
  - path: /a
    plugins:
      - upstream:
          url: ftp://nope
`;
    await assert.rejects(build(text), (error: Error) => {
      assert.match(
        error.message,
        /\/etc\/cradle\/gateway\.yaml:5 at routes\[0\]\.plugins\[0\]\.upstream\.url/,
      );
      assert.match(error.message, /must match pattern/);
      return true;
    });
  });

  test('unknown plugins, unknown keys, unknown chains and broken YAML are named', async () => {
    await assert.rejects(
      build('routes:\n  - { path: /a, plugins: [nosuch] }'),
      /unknown plugin "nosuch" \(known: admin-auth, balancer, billing, /,
    );
    await assert.rejects(build('routes: []\nsever: {}'), /gateway\.yaml:2 at sever is an unknown key/);
    await assert.rejects(
      build('routes:\n  - { path: /a, plugins: [{ use: paid }] }'),
      /no chain named "paid"/,
    );
    await assert.rejects(build('routes: [\n  - a: b'), /gateway\.yaml:2:\d+: invalid YAML/);
  });

  test('an unknown key is reported at its own line, not its parent’s', async () => {
    const text = `routes:
  - path: /a
    plugins:
      - upstream:
          url: http://127.0.0.1:1/
          name: one
          timeout_ms: 5
          idle_timeuot_ms: 100
`;
    await assert.rejects(
      build(text),
      /gateway\.yaml:8 at routes\[0\]\.plugins\[0\]\.upstream\.idle_timeuot_ms is an unknown key/,
    );
  });

  test('a method HTTP does not have and a route written twice are refused where they are written', async () => {
    await assert.rejects(
      build('routes:\n  - path: /a\n    method: [GET, PUSH]\n    plugins: [health]\n'),
      /gateway\.yaml:3 at routes\[0\]\.method: unknown method "PUSH" \(known: GET, HEAD, POST/,
    );
    const twice = `routes:
  - { method: GET, path: /health, plugins: [health] }
  - { method: [POST], path: /other, plugins: [health] }
  - { method: [post, get], path: /health, plugins: [health] }
`;
    await assert.rejects(
      build(twice),
      /gateway\.yaml:4 at routes\[2\]\.path: GET \/health is already routed by routes\[0\] \(\/etc\/cradle\/gateway\.yaml:2 at routes\[0\]\.path\)/,
    );
    await build(
      'routes:\n  - { method: GET, path: /a, plugins: [health] }\n  - { path: /a, plugins: [health] }\n',
    );
  });

  test('an error inside an anchored value is reported at the anchor, where it must be mended', async () => {
    const text = `chains:
  spare:
    - upstream: &up
        url: ftp://nope
        name: shared
routes:
  - path: /a
    plugins:
      - upstream: *up
`;
    await assert.rejects(
      build(text),
      /gateway\.yaml:4 at routes\[0\]\.plugins\[0\]\.upstream\.url \(in the anchor &up\) must match pattern/,
    );
  });

  test('--check-config validates a file and exits non-zero with the reason', async () => {
    const dir = await tempDir('cradle-check-');
    const good = join(dir, 'good.yaml');
    const bad = join(dir, 'bad.yaml');
    await writeFile(good, 'routes:\n  - { path: /health, plugins: [health] }\n');
    await writeFile(bad, 'routes:\n  - { path: /health, plugins: [{ health: { extra: 1 } }] }\n');
    const run = (file: string) =>
      spawnSync(process.execPath, [...GATEWAY_ARGS, '--check-config', '--config', file], {
        encoding: 'utf8',
      });
    const ok = run(good);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /ok/);
    const failed = run(bad);
    assert.equal(failed.status, 1);
    assert.match(failed.stderr, /bad\.yaml:2 at routes\[0\]\.plugins\[0\]\.health\.extra is an unknown key/);
  });

  test('a wrong value from the environment is named with its line and its variable', async () => {
    const dataDir = await tempDir('cradle-check-env-');
    const shipped = (await readFile('config/gateway.yaml', 'utf8')).split('\n');
    const check = (env: Record<string, string>) =>
      spawnSync(process.execPath, [...GATEWAY_ARGS, '--check-config'], {
        encoding: 'utf8',
        env: { ...process.env, CONFIG: '', DATA_DIR: dataDir, ...env },
      });
    const lineOf = (text: string) => shipped.findIndex((line) => line.includes(text)) + 1;
    const limit = check({ PROXY_RATE_LIMIT: '-5' });
    assert.equal(limit.status, 1);
    const limitLine = lineOf('${PROXY_RATE_LIMIT');
    assert.match(
      limit.stderr,
      new RegExp(
        `gateway\\.yaml:${limitLine} at chains\\.licensed\\[1\\]\\.rate-limit\\.limit .*\\(its value comes from PROXY_RATE_LIMIT\\)`,
      ),
    );
    const charge = check({ DAILY_CHARGE: '-1' });
    assert.equal(charge.status, 1);
    const [, line] = /gateway\.yaml:(\d+) at /.exec(charge.stderr) ?? [];
    assert.match(charge.stderr, /daily_charge must be a positive number.*its value comes from DAILY_CHARGE/);
    const entry = shipped.slice(Number(line) - 1, Number(line) + 5).join('\n');
    assert.match(entry, /\$\{DAILY_CHARGE/, `line ${line} begins the entry that reads DAILY_CHARGE`);
  });

  test('the shipped config/gateway.yaml is valid', () => {
    const result = spawnSync(process.execPath, [...GATEWAY_ARGS, '--check-config'], {
      encoding: 'utf8',
      env: { ...process.env, CONFIG: '' },
    });
    assert.equal(result.status, 0, result.stderr);
  });
});

describe('config/deploy/.env.example', () => {
  test('lists every variable the shipped config and the code read', async () => {
    const { readFile, readdir } = await import('node:fs/promises');
    const root = new URL('../', import.meta.url);
    const listed = new Set(
      [
        ...(await readFile(new URL('config/deploy/.env.example', root), 'utf8')).matchAll(
          /^#? ?([A-Z][A-Z0-9_]+)=/gm,
        ),
      ].map((m) => m[1]!),
    );
    const read = new Set<string>();
    const shipped = await readFile(new URL('config/gateway.yaml', root), 'utf8');
    for (const m of shipped.matchAll(/\$\{([A-Z][A-Z0-9_]*?)(?:_\{n\})?(?::-[^}]*)?\}/g)) read.add(m[1]!);
    for (const folder of ['gateway', 'licensing', 'plugins', 'bin']) {
      const files = await readdir(new URL(`${folder}/`, root), { recursive: true });
      for (const file of files.filter((f) => f.endsWith('.ts'))) {
        const text = await readFile(new URL(`${folder}/${file}`, root), 'utf8');
        for (const m of text.matchAll(/env\.([A-Z][A-Z0-9_]+)/g)) read.add(m[1]!);
      }
    }
    const missing = [...read].filter((name) => !listed.has(name) && !listed.has(`${name}_1`));
    assert.deepEqual(missing, []);
  });
});
