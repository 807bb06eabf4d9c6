/**
 * Balances requests over a named pool of channels (HF Spaces, OpenRouter keys, any OpenAI-compatible
 * endpoint): among the available members of the highest priority a strategy picks one; a failed attempt that
 * sent nothing to the client (connect error, 5xx, 429) is retried on another member, of a lower priority when
 * none of the higher is left; failures cool a member down (passive health), and an optional timer probes
 * them (active health).
 */
import { ContextKey } from '../../gateway/context.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { globsMatcher } from '../../gateway/glob.ts';
import { definePlugin, idleTimeoutSchema, type Services, type UpstreamTarget } from '../../gateway/plugin.ts';
import { PRICE_CEILING } from '../keys.ts';
import { withoutOperatorCost } from '../operator-cost.ts';
import { providerWithCeiling } from '../price-ceiling.ts';
import { startHealthChecks, type HealthCheckConfig } from './health.ts';
import { Pool, type Member, type MemberConfig } from './pool.ts';
import { strategies, type StrategyName } from './strategies/index.ts';

export interface BalancerConfig {
  /** Pool name: routes naming the same pool share its members and statistics. */
  pool: string;
  strategy: StrategyName;
  members: MemberConfig[];
  /** Path appended to each member's URL. */
  path: string;
  /** Act only for these models (globs); other requests are left to the next upstream plugin. */
  models: string[];
  max_attempts: number;
  retry_statuses: number[];
  failures_to_cooldown: number;
  cooldown_s: number;
  timeout_ms: number;
  idle_timeout_ms: number;
  health: HealthCheckConfig;
  /** Let clients read a member's own accounting of what the request cost the operator (OpenRouter's `usage.cost`). */
  pass_cost: boolean;
}

/** The request went to a member of this pool (not to a target an earlier plugin chose). */
const CHOSEN = new ContextKey<true>('balancer.chosen');

interface PoolResource {
  pool: Pool;
  /** Stops the health checks started by the chain that built the pool last. */
  stopHealth: () => void;
  close(): void;
}

export function poolResource(services: Services, name: string): PoolResource {
  return services.resources.get(`balancer:${name}`, () => {
    const resource: PoolResource = {
      pool: new Pool(services.clock),
      stopHealth: () => undefined,
      close: () => resource.stopHealth(),
    };
    return resource;
  });
}

export default definePlugin<BalancerConfig>({
  name: 'balancer',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['members'],
    properties: {
      pool: { type: 'string', default: 'spaces' },
      strategy: { enum: Object.keys(strategies), default: 'round-robin' },
      members: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', pattern: '^https?://' },
            password: { type: 'string' },
            api_key: { type: 'string' },
            weight: { type: 'integer', minimum: 1, default: 1 },
            priority: { type: 'integer', default: 0 },
            name: { type: 'string' },
            path: { type: 'string' },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
            model_names: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
            price_ceiling: { type: 'boolean', default: false },
          },
        },
      },
      path: { type: 'string', default: '/v1/chat/completions' },
      models: { type: 'array', items: { type: 'string' }, default: ['*'] },
      max_attempts: { type: 'integer', minimum: 1, default: 3 },
      retry_statuses: { type: 'array', items: { type: 'integer' }, default: [429, 500, 502, 503, 504] },
      failures_to_cooldown: { type: 'integer', minimum: 1, default: 2 },
      cooldown_s: { type: 'number', minimum: 0, default: 30 },
      timeout_ms: { type: 'integer', minimum: 1, default: 120000 },
      idle_timeout_ms: idleTimeoutSchema,
      pass_cost: { type: 'boolean', default: false },
      health: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          path: { type: 'string', default: '/health' },
          interval_s: { type: 'number', minimum: 0, default: 0 },
          timeout_ms: { type: 'integer', minimum: 1, default: 5000 },
          passes: { type: 'integer', minimum: 1, default: 2 },
          fails: { type: 'integer', minimum: 1, default: 2 },
        },
      },
    },
  },
  create(config, services) {
    const resource = poolResource(services, config.pool);
    const { pool } = resource;
    pool.update(config.members, {
      path: config.path,
      timeoutMs: config.timeout_ms,
      idleTimeoutMs: config.idle_timeout_ms,
    });
    resource.stopHealth();
    resource.stopHealth = startHealthChecks(pool, config.health, services.log);
    const select = strategies[config.strategy];
    const servesModel = globsMatcher(config.models);
    const retryStatuses = new Set(config.retry_statuses);
    const passive = { failuresToCooldown: config.failures_to_cooldown, cooldownMs: config.cooldown_s * 1000 };
    return {
      async onUpstream(ctx, upstream) {
        if (upstream.target) return;
        const body = await ctx.json<{ model?: unknown; provider?: unknown }>();
        const model = String(body.model ?? '');
        if (!servesModel(model)) return;
        const ceiling = ctx.get(PRICE_CEILING);
        const provider =
          ceiling && pool.members.some((m) => m.priceCeiling)
            ? providerWithCeiling(body.provider, ceiling)
            : undefined;
        const tried = new Set<Member>();
        // This request's targets, by the member they stand for (a renamed model or a ceiling makes its own).
        const members = new Map<UpstreamTarget, Member>();
        const pick = (): UpstreamTarget | undefined => {
          const member = select(pool.firstAvailable(tried), pool);
          if (!member) return undefined;
          tried.add(member);
          const name = member.modelNames[model];
          const fields = {
            ...(name ? { model: name } : {}),
            ...(provider && member.priceCeiling ? { provider } : {}),
          };
          const target =
            Object.keys(fields).length > 0 ? { ...member.target, bodyFields: fields } : member.target;
          members.set(target, member);
          return target;
        };
        const first = pick();
        if (!first)
          throw new GatewayError(503, 'NO_HEALTHY_UPSTREAM', `no healthy upstream in pool ${config.pool}`);
        upstream.target = first;
        ctx.set(CHOSEN, true);
        upstream.retryStatuses = retryStatuses;
        upstream.retry = (_failed, attempt) => (attempt < config.max_attempts ? pick() : undefined);
        upstream.onAttemptStart = (target) => {
          const member = members.get(target);
          if (member) pool.started(member);
        };
        upstream.onAttempt = (result) => {
          const member = members.get(result.target);
          if (member) pool.finished(member, result, passive);
        };
      },
      onResponse(ctx, response) {
        if (!config.pass_cost && ctx.get(CHOSEN)) withoutOperatorCost(response);
      },
    };
  },
});
