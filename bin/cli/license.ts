/** `cradle license …`: licenses and their credits, by the admin API's own rules. */
import { generateLicenseKey, normalizeEmail } from '../../licensing/keys.ts';
import { limitsFrom } from '../../licensing/limits.ts';
import { parseAmount } from '../../licensing/money.ts';
import { newLicenseInput } from '../../plugins/license-api/input.ts';
import { entryView, licenseInfo } from '../../plugins/license-api/views.ts';
import { changed, jsonValue, licenseOf, print, program, Refused, wholeNumber, withStore } from './program.ts';

const licenseLines = (l: ReturnType<typeof licenseInfo>) => [
  `${l.license_key}  ${l.email}  ${l.status}`,
  `  credits ${l.credits} (held ${l.held})  devices ${l.devices.length}/${l.max_devices}${l.unlimited ? '  unlimited' : ''}`,
  ...(l.limits
    ? [
        `  limits: models ${l.limits.models?.join(', ') ?? 'any'}, ${l.limits.rate_limit_per_minute ?? "the route's"} requests a minute`,
      ]
    : []),
];

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
    const limit = wholeNumber(options.limit, '--limit', { min: 1 });
    const offset = wholeNumber(options.offset, '--offset', { min: 0 });
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
  .command('limits <key-or-email>')
  .description("set a license's own limits; without options, clear them")
  .option('--models <globs>', 'the models it may call, comma-separated globs (openai/*,gpt-4o)')
  .option('--rate <n>', 'requests a minute, instead of the route limit')
  .action(async (who: string, options: { models?: string; rate?: string }) => {
    const rate =
      options.rate === undefined ? undefined : wholeNumber(options.rate, '--rate', { min: 1, max: 100_000 });
    const models = options.models
      ?.split(',')
      .map((glob) => glob.trim())
      .filter(Boolean);
    const limits = limitsFrom({
      ...(models ? { models } : {}),
      ...(rate ? { rate_limit_per_minute: rate } : {}),
    });
    const done = await withStore(async (store) => store.setLimits((await licenseOf(store, who)).key, limits));
    if (!done) throw new Refused('license not found');
    const info = licenseInfo(done);
    print(info, () => licenseLines(info));
  });

license
  .command('ledger <key-or-email>')
  .description("a license's ledger, newest first")
  .option('--limit <n>', 'how many entries', '50')
  .action(async (who: string, options: { limit: string }) => {
    const limit = wholeNumber(options.limit, '--limit', { min: 1, max: 1000 });
    const page = await withStore(async (store) => store.ledger((await licenseOf(store, who)).key, { limit }));
    const entries = page.entries.map(entryView);
    print(entries, () =>
      entries.map((e) => `${e.id}  ${e.time}  ${e.kind}  ${e.amount}  → ${e.balance_after}`),
    );
  });
