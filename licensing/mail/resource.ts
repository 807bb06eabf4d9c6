/** The process's one mailer, from SMTP_URL / MAIL_FROM / DATA_DIR, shared by every plugin that mails. */
import { resolve } from 'node:path';
import type { Services } from '../../gateway/plugin.ts';
import { Mailer } from './mailer.ts';

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
