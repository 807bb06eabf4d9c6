/** JSON shapes of the operator API, shared with the CLI's `--json`: decimals and snake case at the edge. */
import { toCredits } from '../../licensing/money.ts';
import type { MailRecord } from '../../licensing/mail/outbox.ts';
import type { PaymentRecord } from '../../licensing/types.ts';

export function paymentView(payment: PaymentRecord) {
  return {
    trade_no: payment.tradeNo,
    license_key: payment.key,
    email: payment.email,
    credits: toCredits(payment.credits),
    time: payment.time,
    entry_id: payment.entryId,
  };
}

export function mailView(mail: MailRecord) {
  return {
    id: mail.id,
    state: mail.state,
    kind: mail.kind,
    to: mail.to,
    subject: mail.subject,
    queued_at: mail.queuedAt,
    attempts: mail.attempts,
    ...(mail.lastError === undefined ? {} : { last_error: mail.lastError }),
    ...(mail.sentAt === undefined ? {} : { sent_at: mail.sentAt }),
    ...(mail.deadAt === undefined ? {} : { dead_at: mail.deadAt }),
  };
}
