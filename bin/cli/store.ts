/** `cradle config …` and `cradle store …`: the config file, and the store's books, backups and restores. */
import { resolve } from 'node:path';
import { checkConfig } from '../../gateway/app.ts';
import { BackupRefused, backupFilesIn, copyStore, restoreStore } from '../../licensing/embedded/backup.ts';
import { StoreInUse } from '../../licensing/embedded/folder.ts';
import { verifyBooks } from '../../licensing/verify.ts';
import { builtinPlugins } from '../../plugins/index.ts';
import { print, program, Refused, withStore } from './program.ts';

program
  .command('config')
  .description('the config file')
  .command('check')
  .description('validate the config file')
  .option('--config <file>', 'the file (default CONFIG or config/gateway.yaml)')
  .action(async (options: { config?: string }) => {
    const configFile = options.config || process.env.CONFIG || 'config/gateway.yaml';
    await checkConfig({ configFile, plugins: builtinPlugins });
    print({ config: configFile, ok: true }, () => [`${configFile}: ok`]);
  });

const storeCommand = program.command('store').description('the store itself');

storeCommand
  .command('verify')
  .description(
    "check every license's ledger chain against its balance and held credits (exit 1 on any difference)",
  )
  .action(async () => {
    const books = await withStore((store) => verifyBooks(store));
    print(books, () => [
      ...books.differences.map((d) => `${d.license}: ${d.problem}`),
      `${books.licenses} licenses, ${books.differences.length} differences`,
    ]);
    if (books.differences.length > 0) process.exitCode = 1;
  });

const redisRefusal = () =>
  new Refused('the Redis store is backed up and restored by Redis itself (its RDB and AOF files)');
const dataDir = () => resolve(process.env.DATA_DIR || './data');

storeCommand
  .command('backup <destination>')
  .description('copy the embedded store (the gateway stopped: one process per folder)')
  .action(async (destination: string) => {
    if (process.env.REDIS_URL) throw redisRefusal();
    // Opening the store takes its lock and folds the journal into a fresh snapshot: the copy is consistent.
    await withStore(async () => undefined);
    const target = resolve(destination);
    await copyStore(dataDir(), target).catch(refusing);
    print({ backed_up: dataDir(), to: target }, () => [`backed up ${dataDir()} to ${target}`]);
  });

storeCommand
  .command('restore <backup>')
  .description(
    'put a backup in place of the embedded store (the gateway stopped); its books are checked first',
  )
  .option('--replace', 'move the store there now aside (DATA_DIR/replaced-<time>) instead of refusing')
  .action(async (backup: string, options: { replace?: boolean }) => {
    if (process.env.REDIS_URL) throw redisRefusal();
    const source = resolve(backup);
    await backupFilesIn(source).catch(refusing);
    const books = await withStore((store) => verifyBooks(store), { ...process.env, DATA_DIR: source });
    if (books.differences.length > 0)
      throw new Refused(`the backup's books do not add up (${books.differences.length} differences)`);
    const replaced = await restoreStore(source, dataDir(), {
      replace: options.replace === true,
      now: new Date(),
    }).catch(refusing);
    print({ restored: source, to: dataDir(), licenses: books.licenses, replaced: replaced ?? null }, () => [
      `restored ${books.licenses} licenses from ${source} to ${dataDir()}`,
      ...(replaced ? [`the store it replaced is in ${replaced}`] : []),
    ]);
  });

/** A backup or restore the folders do not allow is a refusal, told as such. */
function refusing(error: unknown): never {
  if (error instanceof BackupRefused || error instanceof StoreInUse)
    throw new Refused((error as Error).message);
  throw error;
}
