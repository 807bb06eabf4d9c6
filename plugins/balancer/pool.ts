/**
 * A pool of upstream members (channels: HF Spaces, OpenRouter keys, any OpenAI-compatible endpoint) with
 * their live statistics, shared by every route that names it and kept across config reloads (members are
 * matched by URL and key, so a reload keeps their history).
 */
import type { AttemptResult, UpstreamTarget } from '../../gateway/plugin.ts';
import { OPENROUTER_ERROR_STATUSES } from '../openrouter-errors.ts';

export interface MemberConfig {
  url: string;
  /** Sent as `Authorization: Bearer` (a Space's password, an API key). */
  password?: string;
  api_key?: string;
  weight: number;
  /** Members of the highest priority with one available are asked first; lower ones only when none is. */
  priority?: number;
  name?: string;
  /** Path appended to the URL, instead of the pool's. */
  path?: string;
  headers?: Record<string, string>;
  /** The name this member knows a model by, when it is not the one asked for. */
  model_names?: Record<string, string>;
  /** The member is OpenRouter: a billed request goes with its price ceiling as `provider.max_price`. */
  price_ceiling?: boolean;
}

export interface Member {
  name: string;
  url: string;
  weight: number;
  priority: number;
  modelNames: Record<string, string>;
  priceCeiling: boolean;
  target: UpstreamTarget;
  requests: number;
  failures: number;
  consecutiveFailures: number;
  inFlight: number;
  /** Smoothed latency to response headers (ms); 0 until the first answer. */
  latencyMs: number;
  /** Set by the active health check; passive failures use `cooldownUntil`. */
  healthy: boolean;
  cooldownUntil: number;
  /** Working value of the smooth weighted round-robin. */
  currentWeight: number;
}

export interface PassiveHealth {
  failuresToCooldown: number;
  cooldownMs: number;
}

const LATENCY_SMOOTHING = 0.3;

export class Pool {
  members: Member[] = [];
  cursor = 0;

  constructor(private readonly clock: { now(): number }) {}

  update(
    configs: readonly MemberConfig[],
    options: { path: string; timeoutMs: number; idleTimeoutMs?: number },
  ): void {
    const identity = (url: string, key: string | undefined) => `${url}\n${key ?? ''}`;
    const previous = new Map(this.members.map((m) => [identity(m.url, m.target.headers?.authorization), m]));
    this.members = configs.map((config, i) => {
      const url = config.url.replace(/\/$/, '');
      const key = config.api_key ?? config.password;
      const target: UpstreamTarget = {
        name: config.name ?? `space-${i + 1}`,
        url: new URL(`${url}${config.path ?? options.path}`),
        headers: { ...config.headers, ...(key ? { authorization: `Bearer ${key}` } : {}) },
        timeoutMs: options.timeoutMs,
        ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
        // A member with OpenRouter's price ceiling is OpenRouter: its statuses mean what OpenRouter's do.
        ...(config.price_ceiling ? { errorStatuses: OPENROUTER_ERROR_STATUSES } : {}),
      };
      const settings = {
        name: target.name,
        weight: config.weight,
        priority: config.priority ?? 0,
        modelNames: config.model_names ?? {},
        priceCeiling: config.price_ceiling ?? false,
        target,
      };
      const kept = previous.get(identity(url, target.headers?.authorization));
      if (kept) return Object.assign(kept, settings);
      return {
        ...settings,
        url,
        requests: 0,
        failures: 0,
        consecutiveFailures: 0,
        inFlight: 0,
        latencyMs: 0,
        healthy: true,
        cooldownUntil: 0,
        currentWeight: 0,
      };
    });
  }

  /** Members a strategy may pick: healthy, not cooling down after failures, not excluded. */
  available(exclude: ReadonlySet<Member> = new Set()): Member[] {
    const now = this.clock.now();
    return this.members.filter((m) => m.healthy && m.cooldownUntil <= now && !exclude.has(m));
  }

  /** The available members of the highest priority any available member has: the ones to ask now. */
  firstAvailable(exclude: ReadonlySet<Member> = new Set()): Member[] {
    const available = this.available(exclude);
    const top = Math.max(...available.map((m) => m.priority));
    return available.filter((m) => m.priority === top);
  }

  started(member: Member): void {
    member.inFlight++;
    member.requests++;
  }

  finished(member: Member, result: AttemptResult, passive: PassiveHealth): void {
    member.inFlight = Math.max(0, member.inFlight - 1);
    // Only an answer's time is the member's latency: a failed one's is not.
    if (result.status !== undefined && !result.failure) {
      member.latencyMs =
        member.latencyMs === 0
          ? result.durationMs
          : member.latencyMs + LATENCY_SMOOTHING * (result.durationMs - member.latencyMs);
    }
    if (result.failure) {
      member.failures++;
      member.consecutiveFailures++;
      if (member.consecutiveFailures >= passive.failuresToCooldown)
        member.cooldownUntil = this.clock.now() + passive.cooldownMs;
    } else {
      member.consecutiveFailures = 0;
    }
  }

  /** `GET /api/huggingface/spaces/usage`: per member, never its password. */
  usage() {
    const now = this.clock.now();
    return this.members.map((m) => ({
      name: m.name,
      url: m.url,
      requests: m.requests,
      failures: m.failures,
      in_flight: m.inFlight,
      latency_ms: Math.round(m.latencyMs),
      healthy: m.healthy && m.cooldownUntil <= now,
      cooling_down_s: m.cooldownUntil > now ? Math.ceil((m.cooldownUntil - now) / 1000) : 0,
      weight: m.weight,
      priority: m.priority,
    }));
  }
}
