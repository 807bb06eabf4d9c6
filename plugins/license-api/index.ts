/**
 * The license and credit API of the seed: one plugin, one `action` per route (see config/gateway.yaml).
 * Put `admin-auth` before it on admin routes; the balance route takes it as `optional` to unmask keys.
 */
import { csvAnswer } from '../../gateway/csv.ts';
import { GatewayError, badRequest, notFound } from '../../gateway/errors.ts';
import type { Context } from '../../gateway/context.ts';
import { definePlugin, type Answer } from '../../gateway/plugin.ts';
import { generateLicenseKey, normalizeEmail } from '../../licensing/keys.ts';
import { MICRO, parseAmount, toCredits } from '../../licensing/money.ts';
import { mailer, warnIfLow } from '../../licensing/mail/resource.ts';
import { licenseMail } from '../../licensing/mail/templates.ts';
import { licenseChecks } from '../../licensing/metrics.ts';
import { licenseStore } from '../../licensing/resource.ts';
import type { EntryKind, LicenseStore } from '../../licensing/types.ts';
import { IS_ADMIN } from '../keys.ts';
import { asObject, email, entryDetails, newLicenseInput, requiredString } from './input.ts';
import { balanceView, entryView, LEDGER_CSV_HEADER, licenseInfo } from './views.ts';
import { idempotency, pick, settled, target } from './changes.ts';
import { limitsFrom, limitsView, type LimitsView } from '../../licensing/limits.ts';
import { LICENSE_API_CONTRACTS } from './contracts.ts';
import { dailyCharge } from './daily.ts';
import { licensingRefusal } from '../refusals.ts';

const ACTIONS = [
  'verify',
  'balance',
  'generate',
  'revoke',
  'info',
  'recharge',
  'deduct',
  'ledger',
  'reset_devices',
  'limits',
  'list',
  'send_email',
  'daily_charge',
] as const;
type Action = (typeof ACTIONS)[number];

export interface LicenseApiConfig {
  action: Action;
  /** Credits of a new license when `generate` names none. */
  default_credits: number;
  default_max_devices: number;
  /** Accounts that may hold many licenses and are never charged (comma-separated or a list). */
  unlimited_emails: string | string[];
  /** A deduct that takes the balance below this (credits) mails the owner once; 0 turns it off. */
  low_balance_threshold: number;
}

const DEDUCT_KINDS: readonly EntryKind[] = ['deduct', 'daily_charge', 'usage'];

export default definePlugin<LicenseApiConfig>({
  name: 'license-api',
  mapError: licensingRefusal,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['action'],
    properties: {
      action: { enum: ACTIONS },
      default_credits: { type: 'number', minimum: 0, default: 0 },
      default_max_devices: { type: 'integer', minimum: 1, default: 1 },
      unlimited_emails: {
        anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
        default: '',
      },
      low_balance_threshold: { type: 'number', minimum: 0, default: 1 },
    },
  },
  create(config, services) {
    const resource = licenseStore(services);
    const unlimited = new Set(
      (Array.isArray(config.unlimited_emails) ? config.unlimited_emails : config.unlimited_emails.split(','))
        .map((e) => normalizeEmail(e))
        .filter(Boolean),
    );
    const checks = licenseChecks(services.metrics);
    const handlers: Record<Action, (ctx: Context, store: LicenseStore) => Promise<Answer>> = {
      async verify(ctx, store) {
        const body = asObject(await ctx.json());
        const key = requiredString(body, 'license_key');
        const deviceId = requiredString(body, 'device_id');
        const { code, license } = await store.verify(key, deviceId);
        checks.inc({ result: code });
        return {
          body: {
            success: true,
            valid: code === 'VALID',
            code,
            ...(license && code === 'VALID'
              ? {
                  credits: toCredits(license.credits),
                  max_devices: license.maxDevices,
                  unlimited: license.unlimited,
                  // An edge gateway applies the license's own limits too.
                  ...(license.limits ? { limits: limitsView(license.limits) } : {}),
                }
              : {}),
          },
        };
      },
      async balance(ctx, store) {
        const license = await store.findByEmail(email({ email: ctx.params.email }));
        if (!license) throw notFound('no license for this email', 'NOT_FOUND');
        return { body: balanceView(license, { admin: ctx.get(IS_ADMIN) === true }) };
      },
      async generate(ctx, store) {
        const input = newLicenseInput(asObject(await ctx.json()), {
          credits: Math.round(config.default_credits * MICRO),
          maxDevices: config.default_max_devices,
        });
        const result = await store.create({
          key: generateLicenseKey(),
          ...input,
          unlimited: unlimited.has(input.email),
        });
        if (result.status === 'email_taken') {
          throw new GatewayError(409, 'EMAIL_HAS_LICENSE', 'this email already has an active license');
        }
        return {
          status: 201,
          body: { success: true, license_key: result.license.key, license_info: licenseInfo(result.license) },
        };
      },
      async revoke(ctx, store) {
        const license = await store.revoke(ctx.params.key!);
        if (!license) throw notFound('license not found');
        return { body: { success: true, message: 'license revoked', license_info: licenseInfo(license) } };
      },
      async reset_devices(ctx, store) {
        const license = await store.resetDevices(ctx.params.key!);
        if (!license) throw notFound('license not found');
        return { body: { success: true, message: 'devices reset', license_info: licenseInfo(license) } };
      },
      async limits(ctx, store) {
        const license = await store.setLimits(ctx.params.key!, limitsFrom((await ctx.json()) as LimitsView));
        if (!license) throw notFound('license not found');
        return { body: { success: true, license_info: licenseInfo(license) } };
      },
      async info(ctx, store) {
        const license = await store.get(ctx.params.key!);
        if (!license) throw notFound('license not found');
        return { body: { success: true, license_info: licenseInfo(license) } };
      },
      async list(ctx, store) {
        const limit = Math.min(Number(ctx.query.get('limit') ?? 100) || 100, 1000);
        const offset = Math.max(Number(ctx.query.get('offset') ?? 0) || 0, 0);
        const licenses = await store.list({ limit, offset });
        return { body: { success: true, licenses: licenses.map((l) => licenseInfo(l)) } };
      },
      async ledger(ctx, store) {
        const limit = Number(ctx.query.get('limit') ?? 50);
        const beforeText = ctx.query.get('before');
        const before = beforeText === null ? undefined : Number(beforeText);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
          throw badRequest('limit must be an integer from 1 to 1000', 'INVALID_FIELD');
        if (before !== undefined && !Number.isInteger(before))
          throw badRequest('before must be an entry id (integer)', 'INVALID_FIELD');
        if (!(await store.get(ctx.params.key!))) throw notFound('license not found');
        const page = await store.ledger(ctx.params.key!, {
          limit,
          ...(before !== undefined ? { before } : {}),
        });
        const entries = page.entries.map(entryView);
        if (ctx.query.get('format') === 'csv') return csvAnswer(LEDGER_CSV_HEADER, entries, page);
        return { body: { success: true, entries, next: page.next } };
      },
      async send_email(ctx, store) {
        const license = await store.findByEmail(email(asObject(await ctx.json())));
        if (!license) throw notFound('no license for this email');
        mailer(services).send(
          licenseMail({ email: license.email, key: license.key, credits: license.credits }),
        );
        return { body: { success: true, message: `license email queued for ${license.email}` } };
      },
      async recharge(ctx, store) {
        const body = asObject(await ctx.json());
        const license = await target(store, body);
        const amount = parseAmount(body.amount, 'amount');
        const result = await store.change({
          key: license.key,
          amount,
          kind: 'recharge',
          details: entryDetails(body),
          ...idempotency(ctx, 'recharge', body),
        });
        const { license: after, balance } = settled(result);
        return {
          body: { success: true, license_info: { ...pick(licenseInfo(after, { credits: balance })) } },
        };
      },
      daily_charge: async (ctx, store) => dailyCharge(asObject(await ctx.json()), store),
      async deduct(ctx, store) {
        const body = asObject(await ctx.json());
        const license = await target(store, body);
        const amount = parseAmount(body.amount, 'amount');
        const kind = (body.kind ?? 'deduct') as EntryKind;
        if (!DEDUCT_KINDS.includes(kind))
          throw badRequest(`kind must be one of ${DEDUCT_KINDS.join(', ')}`, 'INVALID_FIELD');
        const result = await store.change({
          key: license.key,
          amount: -amount,
          kind,
          details: entryDetails(body),
          ...idempotency(ctx, 'deduct', body),
        });
        if (result.status === 'insufficient') {
          return {
            status: 402,
            body: {
              success: false,
              error: 'insufficient credits',
              code: 'INSUFFICIENT_CREDITS',
              remaining_credits: toCredits(result.license.credits - result.license.held),
            },
          };
        }
        const { balance } = settled(result);
        if (result.status === 'ok') {
          const threshold = Math.round(config.low_balance_threshold * MICRO);
          warnIfLow(services, { email: license.email, debits: [result.entry], threshold });
        }
        return {
          body: {
            success: true,
            message: `deducted ${toCredits(amount)} credits`,
            remaining_credits: toCredits(balance),
          },
        };
      },
    };
    const handler = handlers[config.action];
    return {
      contract: LICENSE_API_CONTRACTS[config.action],
      async onRequest(ctx) {
        return handler(ctx, await resource.store());
      },
    };
  },
});
