/** `cradle payment …` and `cradle mail …`: payments credited, and the mail outbox with its retry. */
import { MAIL_STATES, type MailState } from '../../licensing/mail/outbox.ts';
import { outboxTools } from '../../licensing/mail/resource.ts';
import { mailView, paymentView } from '../../plugins/operator-api/views.ts';
import { print, program, Refused, wholeNumber, withServices, withStore } from './program.ts';

program
  .command('payment')
  .description('payments credited by the payment callback')
  .command('list')
  .description('payments, newest first')
  .option('--limit <n>', 'how many', '50')
  .option('--offset <n>', 'how many to pass over', '0')
  .action(async (options: { limit: string; offset: string }) => {
    const limit = wholeNumber(options.limit, '--limit', { min: 1, max: 1000 });
    const offset = wholeNumber(options.offset, '--offset', { min: 0 });
    const payments = (await withStore((store) => store.payments({ limit, offset }))).map(paymentView);
    print(payments, () =>
      payments.map((p) => `${p.time}  ${p.trade_no}  ${p.credits}  ${p.email}  ${p.license_key}`),
    );
  });

const mail = program.command('mail').description("the mail outbox of this instance's DATA_DIR");

mail
  .command('list')
  .description('mails in a state, newest first: pending (still tried), sent, or dead (given up)')
  .option('--state <state>', MAIL_STATES.join(', '), 'dead')
  .option('--limit <n>', 'how many', '50')
  .action(async (options: { state: string; limit: string }) => {
    if (!(MAIL_STATES as readonly string[]).includes(options.state))
      throw new Refused(`--state must be one of ${MAIL_STATES.join(', ')}`);
    const limit = wholeNumber(options.limit, '--limit', { min: 1, max: 1000 });
    const records = await withServices((services) =>
      outboxTools(services).outbox.list(options.state as MailState, { limit }),
    );
    const mails = records.map(mailView);
    print(mails, () =>
      mails.map(
        (m) =>
          `${m.id}  ${m.queued_at}  ${m.kind}  ${m.to}  ${m.attempts} attempts${m.last_error ? `  ${m.last_error}` : ''}`,
      ),
    );
  });

mail
  .command('retry <id>')
  .description('send a dead mail again, now (exit 1 when it fails again: it stays dead with the new error)')
  .action(async (id: string) => {
    const result = await withServices((services) => outboxTools(services).retry(id));
    if (result.status === 'not_found') throw new Refused('no mail with this id');
    if (result.status === 'not_dead')
      throw new Refused('only a mail given up can be retried; this one is not');
    if (result.status === 'failed') throw new Refused(`the mail could not be sent: ${result.error}`);
    print({ id, status: 'sent' }, () => [`${id}: sent`]);
  });
