/**
 * The flat daily charge: the first successful proxied request of each calendar day (in `timezone`) costs
 * `amount`, once per license and day across requests and instances (the store decides). Refused with 402
 * before forwarding when the balance cannot cover it; given back when that request fails upstream.
 */
import { growingLru } from '../../gateway/lru.ts';
import { ContextKey, type Context } from '../../gateway/context.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { parseAmount } from '../../licensing/money.ts';
import { creditsCharged } from '../../licensing/metrics.ts';
import { licenseStore } from '../../licensing/resource.ts';
import { insufficientCredits, licenseRevoked } from '../../licensing/refusals.ts';
import { LICENSE } from '../license/index.ts';

export interface DailyChargeConfig {
  amount: number | string;
  timezone: string;
}

const CHARGED_HERE = new ContextKey<string>('daily-charge.day');

export default definePlugin<DailyChargeConfig>({
  name: 'daily-charge',
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
    const charged = creditsCharged(services.metrics);
    // Licenses known to have paid today, so most requests cost no store call. Kept a minute at most: another
    // instance may give a day's charge back, and then the store must be asked again.
    const paid = services.resources.get('daily-charge-paid', () => ({
      // The clock read at most every 100 ms, not every millisecond with a timer armed each time.
      lru: growingLru<string, string>({ entries: 100_000, ttl: 60_000, ttlResolution: 100 }),
    })).lru;
    const charge = async (ctx: Context, key: string, day: string) => {
      const store = resource.opened ?? (await resource.store());
      const result = await store.dailyCharge({ key, day, amount, details: { requestId: ctx.id } });
      if (result === 'insufficient') {
        throw insufficientCredits('insufficient credits for the daily charge; please recharge');
      }
      if (result === 'revoked') throw licenseRevoked();
      if (result === 'charged') {
        ctx.set(CHARGED_HERE, day);
        charged.inc({ kind: 'daily_charge' }, amount);
      }
      paid.set(key, day);
    };
    const refund = async (ctx: Context, key: string, day: string) => {
      paid.delete(key);
      await (await resource.store()).dailyRefund({ key, day, amount, details: { requestId: ctx.id } });
      charged.inc({ kind: 'daily_refund' }, amount);
    };
    return {
      // Synchronous when the day is known paid: no promise on the hot path.
      onRequest(ctx) {
        const license = ctx.get(LICENSE);
        if (!license || license.unlimited) return;
        const day = dayOf(services.clock.now());
        if (paid.get(license.key) !== day) return charge(ctx, license.key, day);
      },
      // Synchronous unless this request took the day's charge and failed: no promise on the hot path.
      onFinish(ctx, outcome) {
        const day = ctx.get(CHARGED_HERE);
        const license = ctx.get(LICENSE);
        if (!day || !license) return;
        const succeeded = outcome.upstream !== undefined && outcome.upstream.status < 400;
        if (!succeeded) return refund(ctx, license.key, day);
      },
    };
  },
});

/**
 * The calendar day (YYYY-MM-DD) in a time zone. Intl formatting costs microseconds, so the answer is kept
 * until the next full minute: a day can only turn on a minute boundary, in every zone there is.
 */
export function calendarDay(timeZone: string): (now: number) => string {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
  } catch {
    throw new Error(`daily-charge.timezone "${timeZone}" is not a time zone (e.g. Asia/Shanghai)`);
  }
  let day = '';
  let from = 0;
  let until = 0;
  return (now) => {
    if (now < from || now >= until) {
      day = format.format(now);
      from = now - (now % 60_000);
      until = from + 60_000;
    }
    return day;
  };
}
