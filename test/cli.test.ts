/** The operator CLI works on the configured store, and refuses clearly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tempDir } from './fixtures/stores.ts';

const cradle = (args: string[], env: Record<string, string>) =>
  spawnSync(process.execPath, ['bin/cradle.mjs', '--json', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
  });

describe('cradle CLI', () => {
  test('license create, recharge, info, list and a store backup that opens', async () => {
    const env = { DATA_DIR: await tempDir('cradle-cli-') };
    const created = cradle(
      ['license', 'create', '--email', 'Ops@Example.com', '--credits', '2.5', '--max-devices', '3'],
      env,
    );
    assert.equal(created.status, 0, created.stderr);
    const { license_key } = JSON.parse(created.stdout);
    assert.equal(cradle(['license', 'create', '--email', 'ops@example.com'], env).status, 1);
    const recharged = cradle(['license', 'recharge', 'ops@example.com', '0.25'], env);
    assert.equal(JSON.parse(recharged.stdout).credits, 2.75);
    const info = JSON.parse(cradle(['license', 'info', license_key], env).stdout);
    assert.deepEqual([info.email, info.credits, info.max_devices], ['ops@example.com', 2.75, 3]);
    assert.equal(JSON.parse(cradle(['license', 'list'], env).stdout).length, 1);
    const backupDir = join(await tempDir('cradle-bak-'), 'copy');
    assert.equal(cradle(['store', 'backup', backupDir], env).status, 0);
    const fromBackup = JSON.parse(cradle(['license', 'info', license_key], { DATA_DIR: backupDir }).stdout);
    assert.equal(fromBackup.credits, 2.75);
    const bad = cradle(['license', 'recharge', license_key, 'three'], env);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /AMOUNT must be a positive number/);
  });

  test('license create checks its input as the admin API does, and stores nothing it refuses', async () => {
    const env = { DATA_DIR: await tempDir('cradle-cli-') };
    const refused = [
      [['--email', 'a@example.com', '--max-devices', 'abc'], /max_devices must be an integer from 1 to 100/],
      [['--email', 'a@example.com', '--max-devices', '0'], /max_devices must be an integer from 1 to 100/],
      [['--email', 'notanemail'], /email must be an email address/],
      [[], /email must be an email address/],
      [['--email', 'a@example.com', '--credits=-5'], /credits must be a positive number/],
    ] as const;
    for (const [flags, message] of refused) {
      const result = cradle(['license', 'create', ...flags], env);
      assert.equal(result.status, 1, flags.join(' '));
      assert.match(result.stderr, message);
    }
    assert.deepEqual(JSON.parse(cradle(['license', 'list'], env).stdout), []);
  });

  test('--help on every command; deduct, ledger, revoke and reset-devices, with exit codes scripts can trust', async () => {
    const env = { DATA_DIR: await tempDir('cradle-cli-') };
    const human = (args: string[]) =>
      spawnSync(process.execPath, ['bin/cradle.mjs', ...args], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, ...env },
      });
    const help = human(['--help']);
    assert.equal(help.status, 0);
    for (const command of ['license', 'config', 'store']) assert.match(help.stdout, new RegExp(command));
    const licenseHelp = human(['license', '--help']);
    for (const command of [
      'create',
      'info',
      'list',
      'recharge',
      'deduct',
      'revoke',
      'reset-devices',
      'ledger',
    ])
      assert.match(licenseHelp.stdout, new RegExp(`\\b${command}\\b`), command);
    assert.equal(human(['license', 'deduct', '--help']).status, 0);

    const { license_key } = JSON.parse(
      cradle(['license', 'create', '--email', 'five@example.com', '--credits', '5'], env).stdout,
    );
    const tooMuch = cradle(['license', 'deduct', license_key, '6'], env);
    assert.equal(tooMuch.status, 1);
    assert.match(tooMuch.stderr, /deduct refused: insufficient/);
    assert.equal(JSON.parse(cradle(['license', 'deduct', 'five@example.com', '2'], env).stdout).credits, 3);
    const ledger = JSON.parse(cradle(['license', 'ledger', license_key], env).stdout) as { kind: string }[];
    assert.deepEqual(
      ledger.map((e) => e.kind),
      ['deduct', 'grant'],
    );
    assert.match(human(['license', 'info', license_key]).stdout, /credits 3 \(held 0\)/, 'people read lines');
    assert.equal(JSON.parse(cradle(['license', 'reset-devices', license_key], env).stdout).devices.length, 0);
    assert.equal(JSON.parse(cradle(['license', 'revoke', license_key], env).stdout).status, 'revoked');
    assert.equal(cradle(['license', 'revoke', 'CRDL-NONE'], env).status, 1);
    assert.equal(cradle(['license', 'frobnicate'], env).status, 2);
  });

  test('store verify checks every ledger chain against its balance: exit 0 when the books add up, 1 naming what does not', async () => {
    const { startRedis } = await import('./fixtures/redis.ts');
    const { Redis } = await import('ioredis');
    const redis = await startRedis();
    try {
      const stores: Record<string, string>[] = [
        { DATA_DIR: await tempDir('cradle-cli-') },
        { REDIS_URL: redis.url },
      ];
      for (const env of stores) {
        const { license_key } = JSON.parse(
          cradle(['license', 'create', '--email', 'books@example.com', '--credits', '5'], env).stdout,
        );
        cradle(['license', 'recharge', license_key, '2.5'], env);
        cradle(['license', 'deduct', license_key, '1'], env);
        const verified = cradle(['store', 'verify'], env);
        assert.equal(verified.status, 0, verified.stderr);
        assert.deepEqual(JSON.parse(verified.stdout), { licenses: 1, differences: [] });
        if (!('REDIS_URL' in env)) continue;
        // A balance changed behind the ledger's back.
        const client = new Redis(redis.url);
        await client.hincrby(`{lic:${license_key}}`, 'credits', 1);
        client.disconnect();
        const caught = cradle(['store', 'verify'], env);
        assert.equal(caught.status, 1);
        assert.deepEqual(JSON.parse(caught.stdout).differences, [
          { license: license_key, problem: 'the ledger ends at 6500000, the license holds 6500001' },
        ]);
      }
    } finally {
      await redis.stop();
    }
  });

  test('config check validates a file; unknown commands print the usage', async () => {
    const file = join(await tempDir('cradle-cfg-'), 'bad.yaml');
    await writeFile(file, 'routes:\n  - { path: /x, plugins: [nothing] }\n');
    const checked = cradle(['config', 'check', '--config', file], {});
    assert.equal(checked.status, 1);
    assert.match(checked.stderr, /bad\.yaml:2 at routes\[0\]\.plugins\[0\]: unknown plugin "nothing"/);
    assert.equal(cradle(['config', 'check'], {}).status, 0);
    const unknown = cradle(['frobnicate'], {});
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /Usage: cradle/);
  });
});
