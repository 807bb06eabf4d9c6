/**
 * Metrics recorded on every request. prom-client validates and hashes label sets on each call; here a
 * label set is bound once (a route, an upstream) and recording is a few increments. prom-client still
 * formats them: each class is a registry metric with `get()`.
 */
import type { Registry } from 'prom-client';

/** What the registry reads from a metric's get() when it formats the scrape. */
interface MetricValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}
interface Values {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: MetricValue[];
}
type Registrable = Parameters<Registry['registerMetric']>[0];

export class HistogramSeries {
  /** counts[i] = observations ≤ buckets[i] and > buckets[i-1]; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(value: number): void {
    const { buckets } = this;
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    // The registry only reads name, type and get(); this object is a Metric in every way it uses.
    registry.registerMetric(this as unknown as Registrable);
  }

  bind(labelValue: string): HistogramSeries {
    let series = this.series.get(labelValue);
    if (!series) {
      series = new HistogramSeries(this.buckets);
      this.series.set(labelValue, series);
    }
    return series;
  }

  get(): Values {
    const values: MetricValue[] = [];
    for (const [labelValue, series] of this.series) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push(this.value('_bucket', { le: bound, [this.labelName]: labelValue }, cumulative));
      });
      values.push(this.value('_bucket', { le: '+Inf', [this.labelName]: labelValue }, series.count));
      values.push(this.value('_sum', { [this.labelName]: labelValue }, series.sum));
      values.push(this.value('_count', { [this.labelName]: labelValue }, series.count));
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }

  /** Part of the registry's metric contract (`registry.resetMetrics()`). */
  reset(): void {
    this.series.clear();
  }

  private value(suffix: string, labels: Record<string, string | number>, value: number): MetricValue {
    return { metricName: `${this.name}${suffix}`, labels, value };
  }
}

/** A counter with one bound label and one recorded per call (e.g. route bound, status per request). */
export class HotCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Map<string | number, number>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly [string, string],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Registrable);
  }

  bind(first: string): Map<string | number, number> {
    let counts = this.series.get(first);
    if (!counts) {
      counts = new Map();
      this.series.set(first, counts);
    }
    return counts;
  }

  static inc(counts: Map<string | number, number>, second: string | number): void {
    counts.set(second, (counts.get(second) ?? 0) + 1);
  }

  get(): Values {
    const [a, b] = this.labelNames;
    const values: MetricValue[] = [];
    for (const [first, counts] of this.series) {
      for (const [second, value] of counts) values.push({ labels: { [a]: first, [b]: second }, value });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }

  /** Part of the registry's metric contract (`registry.resetMetrics()`). */
  reset(): void {
    this.series.clear();
  }
}
