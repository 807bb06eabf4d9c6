/** The process's one mailer, from SMTP_URL / MAIL_FROM / DATA_DIR, shared by every plugin that mails. */
import { resolve } from 'node:path';
import type { Services } from '../../gateway/plugin.ts';
import type { LedgerEntry } from '../types.ts';
import { Mailer } from './mailer.ts';
import { lowBalanceMail } from './templates.ts';

export function mailer(services: Services): Mailer {
  return services.resources.get('mailer', () => {
    const { env } = services;
    const instance = new Mailer({
      dir: resolve(env.DATA_DIR || './data'),
      smtpUrl: env.SMTP_URL || undefined,
      from: env.MAIL_FROM || 'Cradle <no-reply@localhost>',
      log: services.log,
      retryMs: Number(env.MAIL_RETRY_MS) || 5000,
    });
    instance
      .start()
      .catch((error: unknown) => services.log.error({ err: error }, 'mail queue could not start'));
    return instance;
  });
}

/**
 * After debits (a settle's day and usage charges, an admin deduct): mails the owner once when they took the
 * balance from at or above `threshold` to below it. A threshold of 0 turns it off.
 */
export function warnIfLow(
  services: Services,
  options: { email: string; debits: readonly (LedgerEntry | undefined)[]; threshold: number },
): void {
  const debits = options.debits.filter((entry): entry is LedgerEntry => entry !== undefined);
  if (debits.length === 0 || !options.email) return;
  const before = debits[0]!.balanceAfter - debits[0]!.amount;
  const after = debits.at(-1)!.balanceAfter;
  if (before >= options.threshold && after < options.threshold)
    mailer(services).send(lowBalanceMail({ email: options.email, balance: after }));
}
