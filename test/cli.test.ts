/** The operator CLI works on the configured store, and refuses clearly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cradle } from './fixtures/cli.ts';
import { startTestGateway } from './fixtures/gateway.ts';
import { KEY, notification, notify, PID } from './fixtures/payment.ts';
import { tempDir } from './fixtures/temp.ts';

describe('cradle CLI', () => {
  test('license create, recharge, info, list and a store backup that opens', async () => {
    const env = { DATA_DIR: await tempDir('cradle-cli-') };
    const created = await cradle(
      ['license', 'create', '--email', 'Ops@Example.com', '--credits', '2.5', '--max-devices', '3'],
      env,
    );
    assert.equal(created.status, 0, created.stderr);
    const { license_key } = JSON.parse(created.stdout);
    assert.equal((await cradle(['license', 'create', '--email', 'ops@example.com'], env)).status, 1);
    const recharged = await cradle(['license', 'recharge', 'ops@example.com', '0.25'], env);
    assert.equal(JSON.parse(recharged.stdout).credits, 2.75);
    const info = JSON.parse((await cradle(['license', 'info', license_key], env)).stdout);
    assert.deepEqual([info.email, info.credits, info.max_devices], ['ops@example.com', 2.75, 3]);
    assert.equal(JSON.parse((await cradle(['license', 'list'], env)).stdout).length, 1);
    const backupDir = join(await tempDir('cradle-bak-'), 'copy');
    assert.equal((await cradle(['store', 'backup', backupDir], env)).status, 0);
    const fromBackup = JSON.parse(
      (await cradle(['license', 'info', license_key], { DATA_DIR: backupDir })).stdout,
    );
    assert.equal(fromBackup.credits, 2.75);
    const bad = await cradle(['license', 'recharge', license_key, 'three'], env);
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
      const result = await cradle(['license', 'create', ...flags], env);
      assert.equal(result.status, 1, flags.join(' '));
      assert.match(result.stderr, message);
    }
    assert.deepEqual(JSON.parse((await cradle(['license', 'list'], env)).stdout), []);
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
      (await cradle(['license', 'create', '--email', 'five@example.com', '--credits', '5'], env)).stdout,
    );
    const tooMuch = await cradle(['license', 'deduct', license_key, '6'], env);
    assert.equal(tooMuch.status, 1);
    assert.match(tooMuch.stderr, /deduct refused: insufficient/);
    assert.equal(
      JSON.parse((await cradle(['license', 'deduct', 'five@example.com', '2'], env)).stdout).credits,
      3,
    );
    const ledger = JSON.parse((await cradle(['license', 'ledger', license_key], env)).stdout) as {
      kind: string;
    }[];
    assert.deepEqual(
      ledger.map((e) => e.kind),
      ['deduct', 'grant'],
    );
    assert.match(human(['license', 'info', license_key]).stdout, /credits 3 \(held 0\)/, 'people read lines');
    assert.equal(
      JSON.parse((await cradle(['license', 'reset-devices', license_key], env)).stdout).devices.length,
      0,
    );
    assert.equal(
      JSON.parse((await cradle(['license', 'revoke', license_key], env)).stdout).status,
      'revoked',
    );
    assert.equal((await cradle(['license', 'revoke', 'CRDL-NONE'], env)).status, 1);
    assert.equal((await cradle(['license', 'frobnicate'], env)).status, 2);
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
          (await cradle(['license', 'create', '--email', 'books@example.com', '--credits', '5'], env)).stdout,
        );
        await cradle(['license', 'recharge', license_key, '2.5'], env);
        await cradle(['license', 'deduct', license_key, '1'], env);
        const verified = await cradle(['store', 'verify'], env);
        assert.equal(verified.status, 0, verified.stderr);
        assert.deepEqual(JSON.parse(verified.stdout), { licenses: 1, differences: [] });
        if (!('REDIS_URL' in env)) continue;
        // A balance changed behind the ledger's back.
        const client = new Redis(redis.url);
        await client.hincrby(`{lic:${license_key}}`, 'credits', 1);
        client.disconnect();
        const caught = await cradle(['store', 'verify'], env);
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
    const checked = await cradle(['config', 'check', '--config', file], {});
    assert.equal(checked.status, 1);
    assert.match(checked.stderr, /bad\.yaml:2 at routes\[0\]\.plugins\[0\]: unknown plugin "nothing"/);
    assert.equal((await cradle(['config', 'check'], {})).status, 0);
    const unknown = await cradle(['frobnicate'], {});
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /Usage: cradle/);
  });

  test('store restore puts a backup in place, keeps what it replaced, and refuses what would lose data', async () => {
    const env = { DATA_DIR: await tempDir('cradle-restore-') };
    const { license_key } = JSON.parse(
      (await cradle(['license', 'create', '--email', 'r@example.com', '--credits', '5'], env)).stdout,
    );
    const backupDir = join(await tempDir('cradle-bak-'), 'copy');
    assert.equal((await cradle(['store', 'backup', backupDir], env)).status, 0);
    await cradle(['license', 'deduct', license_key, '2'], env);

    const refused = await cradle(['store', 'restore', backupDir], env);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /already holds a store: --replace/);
    const notBackup = await cradle(['store', 'restore', await tempDir('cradle-empty-'), '--replace'], env);
    assert.equal(notBackup.status, 1);
    assert.match(notBackup.stderr, /holds no store backup/);
    const credits = async (dataDir: string) =>
      JSON.parse((await cradle(['license', 'info', license_key], { DATA_DIR: dataDir })).stdout).credits;
    assert.equal(await credits(env.DATA_DIR), 3, 'nothing refused changed the store');

    const restored = await cradle(['store', 'restore', backupDir, '--replace'], env);
    assert.equal(restored.status, 0, restored.stderr);
    const { replaced, licenses } = JSON.parse(restored.stdout);
    assert.equal(licenses, 1);
    assert.equal(await credits(env.DATA_DIR), 5, 'the backup is in place');
    assert.equal(await credits(replaced), 3, 'what it replaced is kept');
    assert.equal((await cradle(['store', 'verify'], env)).status, 0);

    const serving = 'routes:\n  - { path: /list, plugins: [{ license-api: { action: list } }] }\n';
    const running = await startTestGateway(serving, { env, dir: env.DATA_DIR });
    try {
      assert.equal((await fetch(`${running.url}/list`)).status, 200);
      const inUse = await cradle(['store', 'restore', backupDir, '--replace'], env);
      assert.equal(inUse.status, 1);
      assert.match(inUse.stderr, /in use by process/);
    } finally {
      await running.close();
    }
  });

  test('payment list shows what the payment callback credited, newest first', async () => {
    const env = { DATA_DIR: await tempDir('cradle-pay-'), PAYMENT_PID: PID, PAYMENT_KEY: KEY };
    const shipped = await readFile('config/gateway.yaml', 'utf8');
    const gw = await startTestGateway(shipped, { env, dir: env.DATA_DIR });
    const first = notification({ email: 'buyer@example.com', type: 'activation', credits: 7 });
    const second = notification({ email: 'buyer@example.com', type: 'recharge', credits: 3 });
    try {
      assert.equal(await notify(gw, first), 'success');
      assert.equal(await notify(gw, second), 'success');
    } finally {
      await gw.close();
    }
    const listed = await cradle(['payment', 'list'], { DATA_DIR: env.DATA_DIR });
    assert.equal(listed.status, 0, listed.stderr);
    const payments = JSON.parse(listed.stdout) as Record<string, unknown>[];
    assert.deepEqual(
      payments.map((p) => [p.trade_no, p.credits, p.email]),
      [
        [second.trade_no, 3, 'buyer@example.com'],
        [first.trade_no, 7, 'buyer@example.com'],
      ],
    );
    assert.equal((await cradle(['payment', 'list', '--limit', 'ten'], env)).status, 1);
  });
});
