/** What every command of the operator CLI shares: the program, printing, refusals and the store. */
import { Command } from 'commander';
import { createLoggers } from '../../gateway/log.ts';
import { Metrics } from '../../gateway/metrics.ts';
import type { Services } from '../../gateway/plugin.ts';
import { Resources } from '../../gateway/resources.ts';
import { licenseStore } from '../../licensing/resource.ts';
import type { ChangeResult, License, LicenseStore } from '../../licensing/types.ts';

/** A refusal the operator is told about: exit 1 with its message. */
export class Refused extends Error {}

/** A flag's text as the JSON value it spells (`3` → 3), else the text itself, for the API's validators. */
export function jsonValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export const program = new Command('cradle')
  .description('Operate Cradle Gateway: licenses, credits, payments, mail, config and the store')
  .option('--json', 'print JSON, for scripts')
  .showHelpAfterError()
  .exitOverride();

/** Prints a result: JSON with --json, else the lines a person reads. */
export function print(value: unknown, lines: () => string[]): void {
  const text = program.opts<{ json?: boolean }>().json ? JSON.stringify(value, null, 2) : lines().join('\n');
  process.stdout.write(`${text}\n`);
}

/** A whole number from a flag, within bounds, or a refusal naming the flag. */
export function wholeNumber(text: string, flag: string, bounds: { min: number; max?: number }): number {
  const value = Number(text);
  const { min, max } = bounds;
  if (!Number.isInteger(value) || value < min || (max !== undefined && value > max))
    throw new Refused(`${flag} must be a whole number from ${min}${max === undefined ? '' : ` to ${max}`}`);
  return value;
}

/** The gateway's services as this process's environment makes them, closed when `run` is done. */
export async function withServices<T>(
  run: (services: Services) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const resources = new Resources();
  const services: Services = {
    log: createLoggers({ level: 'warn' }).log,
    metrics: new Metrics({ processMetrics: false }),
    clock: { now: () => Date.now() },
    resources,
    env,
    configDir: process.cwd(),
    configStatus: () => ({ file: '', text: '', loadedAt: '', routes: [] }),
  };
  try {
    return await run(services);
  } finally {
    await resources.closeAll();
  }
}

export function withStore<T>(
  run: (store: LicenseStore) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  return withServices(async (services) => run(await licenseStore(services).store()), env);
}

/** A license by key, or by email when the text holds an @. */
export async function licenseOf(store: LicenseStore, who: string): Promise<License> {
  const license = who.includes('@') ? await store.findByEmail(who) : await store.get(who);
  if (!license) throw new Refused('license not found');
  return license;
}

export function changed(result: ChangeResult, what: string): License {
  if (result.status === 'ok' || result.status === 'replayed') return result.license;
  throw new Refused(`${what} refused: ${result.status.replace('_', ' ')}`);
}
