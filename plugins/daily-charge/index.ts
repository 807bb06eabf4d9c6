/**
 * The flat daily charge: every calendar day (in `timezone`) on which a license has a successful proxied
 * request costs `amount`, once per license and day across requests and instances (the store decides). It is
 * held with the request before forwarding (402 when the balance cannot cover it) and taken in the settle of
 * the day's first request that succeeds: a refused or failed request leaves no entry.
 */
import { growingLru } from '../../gateway/lru.ts';
import { ContextKey } from '../../gateway/context.ts';
import { bucketsIn } from '../../licensing/time.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { parseAmount } from '../../licensing/money.ts';
import { creditsCharged } from '../../licensing/metrics.ts';
import { RequestCharge, type ChargePart } from '../../licensing/request-charge.ts';
import { licenseStore } from '../../licensing/resource.ts';
import { LICENSE } from '../keys.ts';
import { licensingRefusal } from '../refusals.ts';

export interface DailyChargeConfig {
  amount: number | string;
  timezone: string;
}

const PART = new ContextKey<ChargePart>('daily-charge.part');

export default definePlugin<DailyChargeConfig>({
  name: 'daily-charge',
  mapError: licensingRefusal,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      amount: { anyOf: [{ type: 'number' }, { type: 'string' }], default: 0.33 },
      timezone: { type: 'string', default: 'Asia/Shanghai' },
    },
  },
  create(config, services) {
    const amount = parseAmount(config.amount, 'daily-charge.amount');
    const dayOf = calendarDay(config.timezone);
    const resource = licenseStore(services);
    const charged = creditsCharged(services.metrics).labels({ kind: 'daily_charge' });
    // Licenses known to have paid a day, so most requests hold nothing for it. A paid day is never given
    // back, so the entry stays true for that day; the size bound alone limits it.
    const paid = services.resources.get('daily-charge-paid', () => ({
      lru: growingLru<string, string>({ entries: 100_000 }),
    })).lru;
    return {
      async onRequest(ctx) {
        const license = ctx.get(LICENSE);
        if (!license || license.unlimited) return;
        const day = dayOf(services.clock.now());
        const known = paid.get(license.key);
        if (known !== undefined && known >= day) return;
        const store = await resource.store();
        const part = RequestCharge.join(ctx, {
          license,
          store,
          onSettled: (result) => {
            if (result.daily) charged.inc(-result.daily.amount);
            if (result.dayPaid && !(paid.get(license.key)! >= day)) paid.set(license.key, day);
          },
        });
        ctx.set(PART, part);
        await part.hold(0, {
          day: { day, amount },
          refusal: () => 'insufficient credits for the daily charge; please recharge',
        });
      },
      onFinish(ctx, outcome) {
        return ctx.get(PART)?.report(outcome);
      },
    };
  },
});

/** The calendar day (YYYY-MM-DD) in a time zone; refuses, naming it, a zone that is not one. */
function calendarDay(timeZone: string): (now: number) => string {
  try {
    return bucketsIn(timeZone).day;
  } catch {
    throw new Error(`daily-charge.timezone "${timeZone}" is not a time zone (e.g. Asia/Shanghai)`);
  }
}
