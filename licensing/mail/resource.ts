/** The process's one mailer, from SMTP_URL / MAIL_FROM / DATA_DIR, shared by every plugin that mails. */
import { resolve } from 'node:path';
import type { Services } from '../../gateway/plugin.ts';
import type { LedgerEntry } from '../types.ts';
import { Mailer } from './mailer.ts';
import { lowBalanceMail } from './templates.ts';

/** The gateway's mailer: it delivers what it is given and what a previous run left waiting. */
export function mailer(services: Services): Mailer {
  return services.resources.get('mailer', () => {
    const instance = mailerFromEnv(services);
    instance
      .start()
      .catch((error: unknown) => services.log.error({ err: error }, 'mail queue could not start'));
    return instance;
  });
}

/** A mailer on the same outbox that delivers nothing by itself: the operator's tools look and retry. */
export function outboxTools(services: Services): Mailer {
  return services.resources.get('mail-outbox-tools', () => {
    const instance = mailerFromEnv(services);
    void instance.open().catch(() => undefined);
    return instance;
  });
}

function mailerFromEnv(services: Services): Mailer {
  const { env } = services;
  return new Mailer({
    dir: resolve(env.DATA_DIR || './data'),
    smtpUrl: env.SMTP_URL || undefined,
    from: env.MAIL_FROM || 'Cradle <no-reply@localhost>',
    log: services.log,
    metrics: services.metrics,
    clock: services.clock,
    retryMs: Number(env.MAIL_RETRY_MS) || 5000,
    giveUpMs: (Number(env.MAIL_GIVE_UP_H) || 48) * 60 * 60 * 1000,
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
