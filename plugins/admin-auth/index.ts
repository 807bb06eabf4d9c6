/**
 * Admin token check (`X-Admin-Token`, or `Authorization: Bearer` as Prometheus sends it), constant time,
 * several tokens for rotation. With `optional`, a request without a token goes on as a public one (e.g. the
 * balance route masks the key then), and only `X-Admin-Token` is read: a client's `Authorization` there is
 * its license key. `allow_addresses` lets listed client addresses in without a token (a Prometheus on the
 * host), though not as admins.
 *
 * Wrong tokens are counted per client address, on every route that checks one (`guesses`): past the limit
 * the address is refused until the window ends, the right token included, so a right guess cannot tell
 * itself apart. A wrong token is counted when it is judged, before its answer, so guesses sent at once meet
 * the limit too; a right one is never counted.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { GatewayError, pastLimit, unavailable } from '../../gateway/errors.ts';
import {
  addressMatcher,
  addressSubject,
  trustSchema,
  type TrustSetting,
} from '../../gateway/client-address.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { windowCounter, windowLimitProperties, type WindowLimit } from '../../gateway/window-counter.ts';
import { IS_ADMIN } from '../keys.ts';

export interface AdminAuthConfig {
  /** Accepted tokens: a list, or comma-separated (API_ADMIN_TOKEN, LICENSE_ADMIN_TOKEN). */
  tokens: string | string[];
  optional: boolean;
  /** Client addresses let in without a token: addresses, CIDR ranges, loopback; a list or comma string. */
  allow_addresses: TrustSetting;
  /** Wrong tokens an address may send in a window. */
  guesses: WindowLimit;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

export default definePlugin<AdminAuthConfig>({
  name: 'admin-auth',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      tokens: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], default: '' },
      optional: { type: 'boolean', default: false },
      allow_addresses: { ...trustSchema, default: false },
      guesses: {
        type: 'object',
        additionalProperties: false,
        properties: windowLimitProperties({ limit: 20, window_s: 600 }),
        default: {},
      },
    },
  },
  async create(config, services) {
    const tokens = (Array.isArray(config.tokens) ? config.tokens : config.tokens.split(','))
      .map((t) => t.trim())
      .filter(Boolean)
      .map(digest);
    const allowed = addressMatcher(config.allow_addresses);
    // Digests of equal length make every comparison take the same time, whatever was sent.
    const matches = (given: string) =>
      tokens.reduce((found, token) => timingSafeEqual(token, digest(given)) || found, false);
    const windowMs = config.guesses.window_s * 1000;
    // One count for every admin route: guesses spread over them add up.
    const guesses = await windowCounter(services, { name: 'admin-token-guesses', windowMs });
    return {
      contract: { admin: config.optional ? 'optional' : true },
      async onRequest(ctx) {
        const bearer = config.optional ? undefined : ctx.header('authorization');
        const given =
          ctx.header('x-admin-token') ?? (bearer?.startsWith('Bearer ') ? bearer.slice(7).trim() : undefined);
        const ok = tokens.length > 0 && given !== undefined && matches(given);
        ctx.set(IS_ADMIN, ok);
        // A listed address is let in whatever it sends (a Prometheus with a token rotated away): no guess.
        if (allowed(ctx.clientIp)) return;
        if (tokens.length > 0 && given !== undefined) {
          const now = services.clock.now();
          const window = await guesses.add(`ip:${addressSubject(ctx.clientIp)}`, now, ok ? 0 : 1);
          const limit = config.guesses.limit;
          if (ok ? window.count >= limit : window.count > limit)
            throw pastLimit(window.start + windowMs - now);
        }
        if (ok) return;
        // A wrong token is refused where a token is optional too: answered as public, a route would tell a
        // right guess apart without a refusal to count it.
        if (config.optional && (given === undefined || tokens.length === 0)) return;
        if (tokens.length === 0) {
          throw unavailable(
            'admin API is disabled: set API_ADMIN_TOKEN (comma-separated for rotation) and restart or reload',
            'ADMIN_DISABLED',
          );
        }
        throw new GatewayError(401, 'UNAUTHORIZED', 'a valid X-Admin-Token header is required');
      },
    };
  },
});
