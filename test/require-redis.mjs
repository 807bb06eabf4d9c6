// Runs before the tests (`npm test`): the store suites start their own redis-server, so the binary must be
// there. As root with apt (a fresh Debian machine, CI) it is installed the way .ci/run does; otherwise the
// tests stop at once with the one command to run.
import { spawnSync } from 'node:child_process';
import process from 'node:process';

const found = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

if (!found('redis-server')) {
  if (process.getuid?.() === 0 && found('apt-get')) {
    process.stderr.write('redis-server is missing: installing Debian package redis-server for the tests\n');
    const install = spawnSync(
      'sh',
      ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server'],
      { stdio: 'inherit' },
    );
    // Debian starts a system instance; the tests start their own on free ports.
    spawnSync('sh', ['-c', 'service redis-server stop'], { stdio: 'ignore' });
    if (install.status !== 0 || !found('redis-server')) process.exit(1);
  } else {
    process.stderr.write('The tests need redis-server. Install it first: sudo apt-get install redis-server\n');
    process.exit(1);
  }
}
