/**
 * `GET|POST /api/v1/payment/notify`: the payment provider's callback. A valid, successful payment credits
 * the email's license (creating it, and mailing the key, when there is none: a paid amount is never lost),
 * exactly once per trade number, recorded in the same atomic step as the credit. The answer is `success`
 * only once that is durable; a replay answers `success` and changes nothing; anything invalid is `fail`.
 */
import { definePlugin, type Answer } from '../../gateway/plugin.ts';
import type { Context } from '../../gateway/context.ts';
import { generateLicenseKey } from '../../licensing/keys.ts';
import { mailer } from '../../licensing/mail/resource.ts';
import { creditsMail, licenseMail } from '../../licensing/mail/templates.ts';
import { licenseStore } from '../../licensing/resource.ts';
import { readParam, signatureValid, type PaymentParam } from './epay.ts';
import { licensingRefusal } from '../refusals.ts';

export interface PaymentNotifyConfig {
  pid: string;
  key: string;
  default_max_devices: number;
}

const text = (body: string): Answer => ({ body, headers: { 'content-type': 'text/plain; charset=utf-8' } });

export default definePlugin<PaymentNotifyConfig>({
  name: 'payment-notify',
  mapError: licensingRefusal,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      pid: { type: 'string', default: '' },
      key: { type: 'string', default: '' },
      default_max_devices: { type: 'integer', minimum: 1, default: 1 },
    },
  },
  create(config, services) {
    const resource = licenseStore(services);
    const mail = mailer(services);
    const payments = services.metrics.counter('cradle_payments_total', 'Payment notifications by result', [
      'result',
    ]);

    async function handle(ctx: Context): Promise<Answer> {
      if (!config.key || !config.pid) {
        ctx.log.error('payment notify refused: PAYMENT_PID and PAYMENT_KEY must be set');
        return text('fail');
      }
      let fields: Record<string, string>;
      try {
        fields = await readFields(ctx);
      } catch {
        return text('fail');
      }
      if (!signatureValid(fields, config.key) || fields.pid !== config.pid) {
        payments.inc({ result: 'bad_signature' });
        ctx.log.warn({ trade_no: fields.trade_no }, 'payment notify with a bad signature or pid');
        return text('fail');
      }
      if (fields.trade_status !== 'TRADE_SUCCESS') {
        payments.inc({ result: 'not_success' });
        return text('success');
      }
      if (!fields.trade_no) return text('fail');
      if (!positiveAmount(fields.money)) {
        payments.inc({ result: 'bad_money' });
        ctx.log.warn({ trade_no: fields.trade_no }, 'payment notify whose money is not a positive amount');
        return text('fail');
      }
      let param: PaymentParam;
      try {
        param = readParam(fields.param ?? '');
      } catch (error) {
        payments.inc({ result: 'bad_param' });
        ctx.log.warn(
          { trade_no: fields.trade_no, error: (error as Error).message },
          'payment notify with a bad param',
        );
        return text('fail');
      }
      const store = await resource.store();
      const result = await store.pay({
        tradeNo: fields.trade_no,
        email: param.email,
        credits: param.credits,
        newLicense: { key: generateLicenseKey(), maxDevices: config.default_max_devices },
        details: {
          reference:
            `${param.type} ${fields.out_trade_no ?? ''} paid ${fields.money ?? ''}${param.originalAmount ? ` (original ${param.originalAmount})` : ''}`.trim(),
        },
      });
      if (result.status === 'duplicate') {
        payments.inc({ result: 'duplicate' });
        return text('success');
      }
      if (result.status === 'balance_limit') {
        payments.inc({ result: 'balance_limit' });
        ctx.log.error({ trade_no: fields.trade_no }, 'payment refused: the balance would pass its limit');
        return text('fail');
      }
      const { license, created } = result;
      payments.inc({ result: 'credited' });
      const balance = result.entry?.balanceAfter ?? result.license.credits;
      // An activation always mails the key: after a crash between creating and crediting, the retry finds
      // the license already made, and the buyer must still get it.
      if (created || param.type === 'activation')
        mail.send(licenseMail({ email: param.email, key: license.key, credits: balance }));
      else mail.send(creditsMail({ email: param.email, added: param.credits, balance }));
      return text('success');
    }

    return { onRequest: (ctx) => handle(ctx) };
  },
});

/** The paid amount as the provider writes it: a plain decimal above zero. */
function positiveAmount(money: string | undefined): boolean {
  return money !== undefined && /^\d{1,12}(\.\d{1,8})?$/.test(money) && Number(money) > 0;
}

/** Fields from the query (GET) or the body (form or JSON, POST). */
async function readFields(ctx: Context): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  for (const [k, v] of ctx.query) fields[k] = v;
  if (ctx.method === 'POST') {
    const raw = (await ctx.body()).toString('utf8');
    if ((ctx.header('content-type') ?? '').includes('json')) {
      const json = JSON.parse(raw || '{}') as Record<string, unknown>;
      for (const [k, v] of Object.entries(json)) fields[k] = String(v);
    } else {
      for (const [k, v] of new URLSearchParams(raw)) fields[k] = v;
    }
  }
  return fields;
}
