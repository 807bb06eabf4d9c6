/**
 * The operator CLI (`npx cradle --help`), on the configured store (DATA_DIR or REDIS_URL, as the gateway uses
 * them). Input is checked by the admin API's own rules. Exit codes: 0 done, 1 refused or failed, 2 a command
 * or option that does not exist. `--json` prints what scripts read. The embedded store admits one process
 * at a time: while the gateway runs, use the admin API instead.
 */
import { cp, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { checkConfig } from '../gateway/app.ts';
import { createLoggers } from '../gateway/log.ts';
import { Metrics } from '../gateway/metrics.ts';
import { Resources } from '../gateway/resources.ts';
import { generateLicenseKey, normalizeEmail } from '../licensing/keys.ts';
import { parseAmount } from '../licensing/money.ts';
import { licenseStore } from '../licensing/resource.ts';
import type { ChangeResult, License, LicenseStore } from '../licensing/types.ts';
import { verifyBooks } from '../licensing/verify.ts';
import { builtinPlugins } from '../plugins/index.ts';
import { newLicenseInput } from '../plugins/license-api/input.ts';
import { entryView, licenseInfo } from '../plugins/license-api/views.ts';

/** A refusal the operator is told about: exit 1 with its message. */
class Refused extends Error {}

/** A flag's text as the JSON value it spells (`3` → 3), else the text itself, for the API's validators. */
function jsonValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const program = new Command('cradle')
  .description('Operate Cradle Gateway: licenses, credits, config and the store')
  .option('--json', 'print JSON, for scripts')
  .showHelpAfterError()
  .exitOverride();

/** Prints a result: JSON with --json, else the lines a person reads. */
function print(value: unknown, lines: () => string[]): void {
  const text = program.opts<{ json?: boolean }>().json ? JSON.stringify(value, null, 2) : lines().join('\n');
  process.stdout.write(`${text}\n`);
}

const licenseLines = (l: ReturnType<typeof licenseInfo>) => [
  `${l.license_key}  ${l.email}  ${l.status}`,
  `  credits ${l.credits} (held ${l.held})  devices ${l.devices.length}/${l.max_devices}${l.unlimited ? '  unlimited' : ''}`,
];

async function withStore<T>(run: (store: LicenseStore) => Promise<T>): Promise<T> {
  const resources = new Resources();
  const services = {
    log: createLoggers({ level: 'warn' }).log,
    metrics: new Metrics({ processMetrics: false }),
    clock: { now: () => Date.now() },
    resources,
    env: process.env,
    configDir: process.cwd(),
  };
  try {
    return await run(await licenseStore(services).store());
  } finally {
    await resources.closeAll();
  }
}

/** A license by key, or by email when the text holds an @. */
async function licenseOf(store: LicenseStore, who: string): Promise<License> {
  const license = who.includes('@') ? await store.findByEmail(who) : await store.get(who);
  if (!license) throw new Refused('license not found');
  return license;
}

function changed(result: ChangeResult, what: string): License {
  if (result.status === 'ok' || result.status === 'replayed') return result.license;
  throw new Refused(`${what} refused: ${result.status.replace('_', ' ')}`);
}

const license = program.command('license').description('licenses and their credits');

license
  .command('create')
  .description('make a license')
  .option('--email <email>', "the owner's email")
  .option('--credits <n>', 'credits it starts with', '0')
  .option('--max-devices <n>', 'devices it may be used on', '1')
  .action(async (options: { email?: string; credits: string; maxDevices: string }) => {
    const input = newLicenseInput(
      { email: options.email, credits: options.credits, max_devices: jsonValue(options.maxDevices) },
      { credits: 0, maxDevices: 1 },
    );
    const unlimited = (process.env.UNLIMITED_EMAILS ?? '')
      .split(',')
      .map(normalizeEmail)
      .includes(input.email);
    const made = await withStore((store) => store.create({ key: generateLicenseKey(), ...input, unlimited }));
    if (made.status === 'email_taken') throw new Refused(`${input.email} already has an active license`);
    const info = licenseInfo(made.license);
    print({ license_key: made.license.key, license_info: info }, () => licenseLines(info));
  });

license
  .command('info <key-or-email>')
  .description("a license's balance, devices and status")
  .action(async (who: string) => {
    const info = licenseInfo(await withStore((store) => licenseOf(store, who)));
    print(info, () => licenseLines(info));
  });

license
  .command('list')
  .description('licenses, a page at a time')
  .option('--limit <n>', 'how many', '100')
  .option('--offset <n>', 'how many to pass over', '0')
  .action(async (options: { limit: string; offset: string }) => {
    const limit = Number(options.limit);
    const offset = Number(options.offset);
    if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(offset) || offset < 0)
      throw new Refused('--limit must be a positive integer and --offset a whole number');
    const infos = (await withStore((store) => store.list({ limit, offset }))).map((l) => licenseInfo(l));
    print(infos, () => infos.map((l) => `${l.license_key}  ${l.email}  ${l.status}  ${l.credits}`));
  });

for (const [name, amountSign] of [
  ['recharge', 1],
  ['deduct', -1],
] as const) {
  license
    .command(`${name} <key-or-email> <amount>`)
    .description(
      name === 'recharge' ? 'add credits' : 'take credits (never those held by requests in flight)',
    )
    .option('--reference <text>', 'why, for the ledger', 'cli')
    .action(async (who: string, amountText: string, options: { reference: string }) => {
      const amount = parseAmount(amountText, 'AMOUNT');
      const after = await withStore(async (store) => {
        const target = await licenseOf(store, who);
        const kind = name === 'recharge' ? 'recharge' : 'deduct';
        const result = await store.change({
          key: target.key,
          amount: amountSign * amount,
          kind,
          details: { reference: options.reference },
        });
        return changed(result, name);
      });
      const info = licenseInfo(after);
      print(info, () => licenseLines(info));
    });
}

for (const [name, description] of [
  ['revoke', 'revoke a license: it can no longer be used'],
  ['reset-devices', 'forget the devices bound to a license'],
] as const) {
  license
    .command(`${name} <key>`)
    .description(description)
    .action(async (key: string) => {
      const done = await withStore((store) =>
        name === 'revoke' ? store.revoke(key) : store.resetDevices(key),
      );
      if (!done) throw new Refused('license not found');
      const info = licenseInfo(done);
      print(info, () => licenseLines(info));
    });
}

license
  .command('ledger <key-or-email>')
  .description("a license's ledger, newest first")
  .option('--limit <n>', 'how many entries', '50')
  .action(async (who: string, options: { limit: string }) => {
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new Refused('--limit must be an integer from 1 to 1000');
    const page = await withStore(async (store) => store.ledger((await licenseOf(store, who)).key, { limit }));
    const entries = page.entries.map(entryView);
    print(entries, () =>
      entries.map((e) => `${e.id}  ${e.time}  ${e.kind}  ${e.amount}  → ${e.balance_after}`),
    );
  });

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

storeCommand
  .command('backup <destination>')
  .description('copy the embedded store (the gateway stopped: one process per folder)')
  .action(async (destination: string) => {
    if (process.env.REDIS_URL)
      throw new Refused('the Redis store is backed up by Redis itself (BGSAVE / the RDB and AOF files)');
    // Opening the store takes its lock and folds the journal into a fresh snapshot: the copy is consistent.
    await withStore(async () => undefined);
    const source = resolve(process.env.DATA_DIR || './data');
    const target = resolve(destination);
    await mkdir(target, { recursive: true });
    for (const name of ['snapshot.json', 'key-check', 'ledger']) {
      await cp(join(source, name), join(target, name), { recursive: true, force: true }).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        },
      );
    }
    print({ backed_up: source, to: target }, () => [`backed up ${source} to ${target}`]);
  });

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
