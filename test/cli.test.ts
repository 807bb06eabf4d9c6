/** The operator CLI works on the configured store, and refuses clearly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tempDir } from './fixtures/stores.ts';

const cradle = (args: string[], env: Record<string, string>) =>
  spawnSync(process.execPath, ['bin/cradle.mjs', ...args], {
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

  test('config check validates a file; unknown commands print the usage', async () => {
    const file = join(await tempDir('cradle-cfg-'), 'bad.yaml');
    await writeFile(file, 'routes:\n  - { path: /x, plugins: [nothing] }\n');
    const checked = cradle(['config', 'check', '--config', file], {});
    assert.equal(checked.status, 1);
    assert.match(checked.stderr, /bad\.yaml:2 at routes\[0\]\.plugins\[0\]: unknown plugin "nothing"/);
    assert.equal(cradle(['config', 'check'], {}).status, 0);
    const unknown = cradle(['frobnicate'], {});
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /usage:/);
  });
});
