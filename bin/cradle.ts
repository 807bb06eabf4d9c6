/**
 * Operator CLI on the configured store (DATA_DIR or REDIS_URL, as the gateway uses them):
 *   cradle license create --email E [--credits N] [--max-devices N]
 *   cradle license info KEY | recharge KEY|EMAIL AMOUNT | list [--limit N] [--offset N]
 *   cradle config check [--config FILE]
 *   cradle store backup DEST        (embedded store; the gateway must be stopped: one process per folder)
 * The embedded store admits one process at a time: while the gateway runs, use the admin API instead.
 */
import { cp, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkConfig } from '../gateway/app.ts';
import { createLoggers } from '../gateway/log.ts';
import { Metrics } from '../gateway/metrics.ts';
import { Resources } from '../gateway/resources.ts';
import { generateLicenseKey, normalizeEmail } from '../licensing/keys.ts';
import { parseAmount } from '../licensing/money.ts';
import { licenseStore } from '../licensing/resource.ts';
import type { LicenseStore } from '../licensing/types.ts';
import { builtinPlugins } from '../plugins/index.ts';
import { newLicenseInput } from '../plugins/license-api/input.ts';
import { licenseInfo } from '../plugins/license-api/views.ts';

const USAGE = `usage:
  cradle license create --email E [--credits N] [--max-devices N]
  cradle license info KEY
  cradle license recharge KEY|EMAIL AMOUNT
  cradle license list [--limit N] [--offset N]
  cradle config check [--config FILE]
  cradle store backup DEST`;

const parse = () =>
  parseArgs({
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      credits: { type: 'string', default: '0' },
      'max-devices': { type: 'string' },
      limit: { type: 'string', default: '100' },
      offset: { type: 'string', default: '0' },
      config: { type: 'string' },
    },
  });

/** A flag's text as the JSON value it spells (`3` → 3), else the text itself, for the API's validators. */
function jsonValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

async function withStore(run: (store: LicenseStore) => Promise<void>): Promise<void> {
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
    await run(await licenseStore(services).store());
  } finally {
    await resources.closeAll();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parse();
  const [group, command, ...rest] = positionals;
  switch (`${group} ${command}`) {
    case 'license create':
      return withStore(async (store) => {
        // The admin API's rules: a flag's text is read as the JSON value it would be there.
        const input = newLicenseInput(
          { email: values.email, credits: values.credits, max_devices: jsonValue(values['max-devices']) },
          { credits: 0, maxDevices: 1 },
        );
        const unlimited = (process.env.UNLIMITED_EMAILS ?? '')
          .split(',')
          .map(normalizeEmail)
          .includes(input.email);
        const result = await store.create({ key: generateLicenseKey(), ...input, unlimited });
        if (result.status === 'email_taken') throw new Error(`${input.email} already has an active license`);
        print({ license_key: result.license.key, license_info: licenseInfo(result.license) });
      });
    case 'license info':
      return withStore(async (store) => {
        const license = await store.get(rest[0] ?? '');
        if (!license) throw new Error('license not found');
        print(licenseInfo(license));
      });
    case 'license recharge':
      return withStore(async (store) => {
        const [who, amountText] = rest;
        const license = who?.includes('@') ? await store.findByEmail(who) : await store.get(who ?? '');
        if (!license) throw new Error('license not found');
        const result = await store.change({
          key: license.key,
          amount: parseAmount(amountText, 'AMOUNT'),
          kind: 'recharge',
          details: { reference: 'cli' },
        });
        if (result.status !== 'ok') throw new Error(`recharge refused: ${result.status}`);
        print(licenseInfo(result.license));
      });
    case 'license list':
      return withStore(async (store) => {
        const licenses = await store.list({ limit: Number(values.limit), offset: Number(values.offset) });
        print(licenses.map((l) => licenseInfo(l)));
      });
    case 'config check': {
      const configFile = values.config || process.env.CONFIG || 'config/gateway.yaml';
      await checkConfig({ configFile, plugins: builtinPlugins });
      process.stdout.write(`${configFile}: ok\n`);
      return;
    }
    case 'store backup': {
      const destination = resolve(rest[0] ?? '');
      if (!rest[0]) throw new Error('store backup needs a destination folder');
      if (process.env.REDIS_URL)
        throw new Error('the Redis store is backed up by Redis itself (BGSAVE / the RDB and AOF files)');
      // Opening the store takes its lock and folds the journal into a fresh snapshot: the copy is consistent.
      await withStore(async () => undefined);
      const source = resolve(process.env.DATA_DIR || './data');
      await mkdir(destination, { recursive: true });
      for (const name of ['snapshot.json', 'key-check', 'ledger']) {
        await cp(join(source, name), join(destination, name), { recursive: true, force: true }).catch(
          (error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error;
          },
        );
      }
      process.stdout.write(`backed up ${source} to ${destination}\n`);
      return;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      process.exitCode = 2;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`cradle: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
