// A small Prometheus registry with the text exposition format: counters,
// gauges and histograms with labels, and gauges read at scrape time from the
// kernel (per-service packets, drops, conntrack entries).

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort());
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter' as const;
  private values = new Map<string, { labels: Labels; v: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    const e = this.values.get(k) ?? { labels, v: 0 };
    e.v += by;
    this.values.set(k, e);
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.v ?? 0;
  }
  render(): string[] {
    return [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${e.v}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge' as const;
  private values = new Map<string, { labels: Labels; v: number }>();
  constructor(readonly name: string, readonly help: string, private readonly collect?: () => { labels: Labels; value: number }[]) {}
  set(v: number, labels: Labels = {}): void {
    this.values.set(keyOf(labels), { labels, v });
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    this.values.set(k, { labels, v: (this.values.get(k)?.v ?? 0) + by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.v ?? 0;
  }
  render(): string[] {
    const rows = this.collect ? this.collect().map((r) => ({ labels: r.labels, v: r.value })) : [...this.values.values()];
    return rows.map((e) => `${this.name}${labelText(e.labels)} ${e.v}`);
  }
}

/** A metric read at scrape time (kernel counters): its samples come from `collect`. */
export class Collected implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly collect: () => { labels: Labels; value: number }[],
  ) {}
  render(): string[] {
    return this.collect().map((r) => `${this.name}${labelText(r.labels)} ${r.value}`);
  }
}

/**
 * One series of a histogram: the cumulative count of observations at or below each bucket's
 * bound (`_bucket{le}`), their sum, and `value`, their number (`_count`).
 */
export interface HistogramSample {
  labels: Labels;
  value: number;
  counts: readonly number[];
  sum: number;
}

function histogramLines(name: string, buckets: readonly number[], series: Iterable<HistogramSample>): string[] {
  const out: string[] = [];
  for (const s of series) {
    buckets.forEach((b, i) => out.push(`${name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i] ?? 0}`));
    out.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.value}`);
    out.push(`${name}_sum${labelText(s.labels)} ${s.sum}`);
    out.push(`${name}_count${labelText(s.labels)} ${s.value}`);
  }
  return out;
}

export class Histogram implements Metric {
  readonly type = 'histogram' as const;
  private series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(v: number, labels: Labels = {}): void {
    const k = keyOf(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => {
      if (v <= b) s!.counts[i]!++;
    });
    s.sum += v;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.count ?? 0;
  }
  /** Every series as it is now (copies), for a metric read at scrape time elsewhere. */
  samples(): HistogramSample[] {
    return [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.count, counts: [...s.counts], sum: s.sum }));
  }
  render(): string[] {
    return histogramLines(this.name, this.buckets, this.samples());
  }
}

/** A histogram read at scrape time (a dataplane's): its series come from `collect`. */
export class CollectedHistogram implements Metric {
  readonly type = 'histogram' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    private readonly collect: () => HistogramSample[],
  ) {}
  render(): string[] {
    return histogramLines(this.name, this.buckets, this.collect());
  }
}

export class Registry {
  private metrics: Metric[] = [];
  private scrapeHooks: (() => void)[] = [];
  /** `hook` runs once at the start of every scrape: a source read once for many metrics. */
  onScrape(hook: () => void): void {
    this.scrapeHooks.push(hook);
  }
  register<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }
  /** Prometheus text format 0.0.4. */
  render(): string {
    for (const hook of this.scrapeHooks) hook();
    const lines: string[] = [];
    for (const m of this.metrics) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return `${lines.join('\n')}\n`;
  }
}

/** kube-proxy's bucket layout for sync durations (exponential from 1 ms). */
export const SYNC_BUCKETS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];
/** Network programming latency spans ms to minutes. */
export const PROGRAMMING_BUCKETS = [0.25, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 45, 60, 120, 180, 240, 300];
