/** Active health checks, apart from selection: a timer probes each member and marks it healthy or not. */
import type { Logger } from 'pino';
import { isWebPage } from '../../gateway/content-type.ts';
import type { Pool } from './pool.ts';

export interface HealthCheckConfig {
  path: string;
  interval_s: number;
  timeout_ms: number;
  /** Consecutive good checks that make an unhealthy member healthy again (Caddy's `passes`). */
  passes: number;
  /** Consecutive bad checks that make a healthy member unhealthy (Caddy's `fails`). */
  fails: number;
}

/**
 * A check passes on a 2xx answer that is not a web page: a 404, or a sleeping Space's HTML page in place of
 * its API, is no health.
 */
function passed(res: Response): boolean {
  return res.status >= 200 && res.status < 300 && !isWebPage(res.headers.get('content-type'));
}

export function startHealthChecks(pool: Pool, config: HealthCheckConfig, log: Logger): () => void {
  if (config.interval_s <= 0) return () => undefined;
  // Results in a row that disagree with the member's state: at `passes` or `fails` its state turns.
  const streaks = new WeakMap<object, number>();
  const probe = async () => {
    await Promise.all(
      pool.members.map(async (member) => {
        let good: boolean;
        try {
          const res = await fetch(`${member.url}${config.path}`, {
            headers: member.target.headers ?? {},
            signal: AbortSignal.timeout(config.timeout_ms),
          });
          await res.arrayBuffer();
          good = passed(res);
        } catch {
          good = false;
        }
        const streak = good === member.healthy ? 0 : (streaks.get(member) ?? 0) + 1;
        streaks.set(member, streak);
        if (streak < (good ? config.passes : config.fails)) return;
        streaks.set(member, 0);
        member.healthy = good;
        log.warn({ member: member.name, healthy: good }, 'upstream health changed');
      }),
    );
  };
  const timer = setInterval(() => void probe(), config.interval_s * 1000);
  timer.unref();
  void probe();
  return () => clearInterval(timer);
}
