/** Active health checks, apart from selection: a timer probes each member and marks it healthy or not. */
import type { Logger } from 'pino';
import type { Pool } from './pool.ts';

export interface HealthCheckConfig {
  path: string;
  interval_s: number;
  timeout_ms: number;
}

export function startHealthChecks(pool: Pool, config: HealthCheckConfig, log: Logger): () => void {
  if (config.interval_s <= 0) return () => undefined;
  const probe = async () => {
    await Promise.all(
      pool.members.map(async (member) => {
        let healthy: boolean;
        try {
          const res = await fetch(`${member.url}${config.path}`, {
            headers: member.target.headers ?? {},
            signal: AbortSignal.timeout(config.timeout_ms),
          });
          await res.arrayBuffer();
          healthy = res.status < 500;
        } catch {
          healthy = false;
        }
        if (healthy !== member.healthy) log.warn({ member: member.name, healthy }, 'upstream health changed');
        member.healthy = healthy;
      }),
    );
  };
  const timer = setInterval(() => void probe(), config.interval_s * 1000);
  timer.unref();
  void probe();
  return () => clearInterval(timer);
}
