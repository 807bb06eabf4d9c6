/**
 * The shipped deployment files work: the systemd unit is valid, and its command runs the way systemd runs it
 * (`ProtectSystem=strict`: the whole tree read-only, only the data folder writable).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from './fixtures/redis.ts';
import { tempDir } from './fixtures/stores.ts';

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
