/** Prometheus metrics of the core; plugins register their own on the same registry. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A latency histogram in seconds, by one label. */
function latency<L extends string>(registry: Registry, options: { name: string; help: string; label: L }) {
  return new Histogram<L>({
    name: options.name,
    help: options.help,
    labelNames: [options.label],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'cradle_requests_total',
    help: 'Requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = latency(this.registry, {
    name: 'cradle_request_duration_seconds',
    help: 'Time from request received to response finished, by route',
    label: 'route',
  });
  readonly upstreamDuration = latency(this.registry, {
    name: 'cradle_upstream_duration_seconds',
    help: 'Time from upstream request sent to upstream response headers, by upstream',
    label: 'upstream',
  });
  readonly upstreamFailures = new Counter({
    name: 'cradle_upstream_failures_total',
    help: 'Failed upstream attempts by upstream and reason (connect, timeout, reset, status, refused, web-page)',
    labelNames: ['upstream', 'reason'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'cradle_config_reloads_total',
    help: 'Config reloads by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** Records one finished request of a route. */
  recordRequest(route: string, status: number, seconds: number): void {
    this.requests.inc({ route, status: String(status) });
    this.requestDuration.observe({ route }, seconds);
  }

  constructor(options: { processMetrics: boolean } = { processMetrics: true }) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Returns the registry's metric of that name, creating it on first use (plugins survive reloads this way). */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
