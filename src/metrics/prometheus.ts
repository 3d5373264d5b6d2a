// GET /metrics: the Prometheus text exposition (format 0.0.4) of a MetricSet, plus families built
// elsewhere (app metrics with labels) and this process's own metrics (prom-client's default set:
// CPU, memory, event loop lag, GC…), all rendered by prom-client.
import client from 'prom-client';
import type { MetricSet } from './metric-set.ts';
import { familyName, promSeries, withBaseUnits, type NamingOptions } from './prometheus-names.ts';
import { TIMER_PERCENTILES } from './timer.ts';

export const PROMETHEUS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;

export type PromType = 'counter' | 'gauge' | 'summary';

export interface PromSample {
  labels?: Record<string, string>;
  value: number;
  /** `_sum` / `_count` of a summary. */
  suffix?: string;
}

export interface PromFamily {
  name: string;
  help: string;
  type: PromType;
  samples: PromSample[];
}

const QUANTILES = new Map(TIMER_PERCENTILES.map(([suffix, q]) => [suffix, String(q)]));

/** Collects samples into families; a sample whose family has another type, or whose labels repeat, is left out. */
export class FamilyBuilder {
  private readonly families = new Map<string, PromFamily & { seen: Set<string> }>();

  add(name: string, type: PromType, help: string, sample: PromSample): void {
    if (!Number.isFinite(sample.value)) return;
    let f = this.families.get(name);
    if (!f) this.families.set(name, (f = { name, type, help, samples: [], seen: new Set() }));
    if (f.type !== type) return;
    const id = (sample.suffix ?? '') + JSON.stringify(sample.labels ?? {});
    if (f.seen.has(id)) return;
    f.seen.add(id);
    f.samples.push(sample);
  }

  addFamilies(families: Iterable<PromFamily>): void {
    for (const f of families) for (const s of f.samples) this.add(f.name, f.type, f.help, s);
  }

  build(): PromFamily[] {
    return [...this.families.values()].map(({ seen: _seen, ...f }) => f);
  }
}

/** The families of a MetricSet under the naming rules. */
export function familiesOf(set: MetricSet, naming: NamingOptions, b = new FamilyBuilder()): FamilyBuilder {
  for (const v of set.values) {
    const s = promSeries(v.key, v.kind, naming);
    b.add(s.name, v.kind, s.help ?? `Mesos metric ${v.key}`, { labels: s.labels, value: v.value * s.scale });
  }
  for (const t of set.timers) {
    // `allocator/mesos/allocation_run_ms` → summary mesos_allocator_mesos_allocation_run_seconds plus
    // gauges …_last_seconds, …_min_seconds, …_max_seconds and …_window_samples.
    const s = promSeries(t.key, 'gauge', naming);
    const unit = s.name.endsWith('_seconds') ? '_seconds' : '';
    const base = s.name.slice(0, s.name.length - unit.length);
    const help = `Mesos timer ${t.key}`;
    for (const [suffix, q] of QUANTILES) {
      const p = t.stats.percentiles[suffix];
      if (p !== undefined) b.add(s.name, 'summary', `${help} (quantiles over the last hour)`, { labels: { ...s.labels, quantile: q }, value: p * s.scale });
    }
    b.add(s.name, 'summary', `${help} (quantiles over the last hour)`, { labels: s.labels, suffix: '_sum', value: t.stats.totalSumMs * s.scale });
    b.add(s.name, 'summary', `${help} (quantiles over the last hour)`, { labels: s.labels, suffix: '_count', value: t.stats.totalCount });
    const gauge = (what: string, value: number | undefined, scale: number) =>
      value !== undefined && b.add(`${base}_${what}${unit}`, 'gauge', `${help}: ${what}`, { labels: s.labels, value: value * scale });
    gauge('last', t.stats.last, s.scale);
    gauge('min', t.stats.min, s.scale);
    gauge('max', t.stats.max, s.scale);
    b.add(`${base}_window_samples`, 'gauge', `${help}: samples in the window`, { labels: s.labels, value: t.stats.count });
  }
  return b;
}

/** A family for values that are not Mesos keys (its name is taken as given, with prefix and suffix rules). */
export function namedFamily(prefix: string, family: string, type: 'counter' | 'gauge', help: string, samples: PromSample[]): PromFamily {
  const { name, scale } = withBaseUnits(family);
  return { name: familyName(prefix, name, type), type, help, samples: samples.map((s) => ({ ...s, value: s.value * scale })) };
}

let processRegistry: client.Registry | undefined;

/**
 * This process's metrics, shared by every component in it (one event-loop monitor per process).
 * Created on the first scrape, so a cluster nobody scrapes pays nothing for it.
 */
function processMetrics(): client.Registry {
  if (!processRegistry) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 50 });
    // prom-client's nodejs_active_{handles,requests,resources}_total are gauges, which Prometheus's
    // naming rules (promtool check metrics) refuse; the per-type nodejs_active_* gauges sum to them.
    for (const m of processRegistry.getMetricsAsArray()) {
      const { name, type } = m as unknown as { name: string; type: string };
      if (type === 'gauge' && name.endsWith('_total')) processRegistry.removeSingleMetric(name);
    }
  }
  return processRegistry;
}

/** prom-client's metric shape, for values computed at scrape time. */
function staticMetric(f: PromFamily): client.Metric {
  const values = f.samples.map((s) => ({
    value: s.value,
    labels: s.labels ?? {},
    ...(s.suffix ? { metricName: f.name + s.suffix } : {}),
  }));
  const data = { name: f.name, help: f.help, type: f.type, aggregator: 'sum' as const, values };
  return { name: f.name, help: f.help, type: f.type, aggregator: 'sum', get: async () => data } as unknown as client.Metric;
}

/** The exposition text: the families, then the process's metrics. */
export async function exposition(families: readonly PromFamily[], opts: { processMetrics?: boolean } = {}): Promise<string> {
  const own = new client.Registry();
  for (const f of families) if (f.samples.length) own.registerMetric(staticMetric(f));
  const registry = opts.processMetrics === false ? own : client.Registry.merge([own, processMetrics()]);
  return registry.metrics();
}
