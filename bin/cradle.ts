/**
 * The operator CLI (`npx cradle --help`), on the configured store (DATA_DIR or REDIS_URL, as the gateway uses
 * them). Input is checked by the admin API's own rules. Exit codes: 0 done, 1 refused or failed, 2 a command
 * or option that does not exist. `--json` prints what scripts read. The embedded store admits one process
 * at a time: while the gateway runs, use the admin API instead.
 */
import { CommanderError } from 'commander';
import { program } from './cli/program.ts';
import './cli/license.ts';
import './cli/operations.ts';
import './cli/store.ts';

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are answers; anything else commander refused is a command that does not exist.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`cradle: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
