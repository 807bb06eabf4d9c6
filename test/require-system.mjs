// Runs before the tests (`npm test`): some suites start or call system programs, which must be there. As
// root with apt (a fresh Debian machine, CI) the missing ones are installed the way .ci/run does; otherwise
// the tests stop at once with the one command to run.
import { spawnSync } from 'node:child_process';
import process from 'node:process';

/** Program → the Debian package that brings it. */
const NEEDED = {
  'redis-server': 'redis-server',
  'systemd-analyze': 'systemd',
  nginx: 'nginx',
  chromium: 'chromium',
};

const found = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const missing = Object.entries(NEEDED).filter(([command]) => !found(command));
const packages = [...new Set(missing.map(([, name]) => name))].join(' ');

if (missing.length > 0) {
  if (process.getuid?.() === 0 && found('apt-get')) {
    process.stderr.write(`installing Debian packages for the tests: ${packages}\n`);
    const install = spawnSync(
      'sh',
      ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages}`],
      { stdio: 'inherit' },
    );
    // Debian starts a system Redis and nginx; the tests start their own on free ports.
    spawnSync('sh', ['-c', 'service redis-server stop; service nginx stop'], { stdio: 'ignore' });
    if (install.status !== 0 || missing.some(([command]) => !found(command))) process.exit(1);
  } else {
    process.stderr.write(`The tests need ${packages}. Install first: sudo apt-get install ${packages}\n`);
    process.exit(1);
  }
}
