// What one task's StatsD samples add up to: counters (total and rate per second), gauges (last value),
// timers (rate per second and latency percentiles over the last minute). At most `maxSeries` names per
// task: samples of further names are dropped and counted, so a task cannot grow the agent's memory.
import type { StatsdSample } from './statsd-parse.ts';
import { WindowTimer, type TimerStats } from '../metrics/timer.ts';

export const RATE_WINDOW_MS = 60_000;
const BUCKET_MS = 5_000;
const BUCKETS = RATE_WINDOW_MS / BUCKET_MS;
/** Timer samples kept per series for percentiles (a ring: busier series get a shorter effective window). */
const TIMER_CAPACITY = 1024;
export const DEFAULT_MAX_SERIES = 100;

/** Events per second over the last minute (or since the series began, when younger). */
export class RateWindow {
  private readonly ids = new Float64Array(BUCKETS).fill(-1);
  private readonly sums = new Float64Array(BUCKETS);

  constructor(private readonly since: number) {}

  add(now: number, n: number): void {
    const id = Math.floor(now / BUCKET_MS);
    const i = id % BUCKETS;
    if (this.ids[i] !== id) {
      this.ids[i] = id;
      this.sums[i] = 0;
    }
    this.sums[i]! += n;
  }

  perSecond(now: number): number {
    const current = Math.floor(now / BUCKET_MS);
    let sum = 0;
    for (let i = 0; i < BUCKETS; i++) if (this.ids[i]! > current - BUCKETS) sum += this.sums[i]!;
    // The window ends with the current bucket: it spans whole past buckets plus the part of this one.
    // A series younger than one bucket counts as one bucket old: samples seen in the very millisecond it
    // was created still make a (conservative) rate instead of a division by zero.
    const windowMs = Math.max(BUCKET_MS, Math.min((BUCKETS - 1) * BUCKET_MS + (now % BUCKET_MS), now - this.since));
    return (sum * 1000) / windowMs;
  }
}

export interface CounterView {
  total: number;
  rate_per_second: number;
}

export interface TimerView {
  count: number;
  rate_per_second: number;
  /** Over the last minute, in ms. */
  min?: number;
  max?: number;
  p50?: number;
  p90?: number;
  p95?: number;
  p99?: number;
  /** Since the task started: for Prometheus summaries. */
  total_count: number;
  total_sum_ms: number;
}

export interface AppMetricsView {
  counters: Record<string, CounterView>;
  gauges: Record<string, number>;
  timers: Record<string, TimerView>;
  dropped_samples: number;
  malformed_lines: number;
  unsupported_lines: number;
}

type Series =
  | { type: 'counter'; total: number; rate: RateWindow }
  | { type: 'gauge'; value: number }
  | { type: 'timer'; timer: WindowTimer; rate: RateWindow };

export class TaskAppMetrics {
  private readonly series = new Map<string, Series>();
  droppedSamples = 0;
  malformedLines = 0;
  unsupportedLines = 0;

  constructor(
    private readonly now: () => number,
    private readonly maxSeries = DEFAULT_MAX_SERIES,
  ) {}

  ingest(samples: readonly StatsdSample[]): void {
    const now = this.now();
    for (const s of samples) {
      let series = this.series.get(s.name);
      // A name keeps the type it was first seen with; a sample of another type is dropped.
      if (series && series.type !== s.type) {
        this.droppedSamples++;
        continue;
      }
      if (!series) {
        if (this.series.size >= this.maxSeries) {
          this.droppedSamples++;
          continue;
        }
        series =
          s.type === 'counter'
            ? { type: 'counter', total: 0, rate: new RateWindow(now) }
            : s.type === 'gauge'
              ? { type: 'gauge', value: 0 }
              : { type: 'timer', timer: new WindowTimer(this.now, RATE_WINDOW_MS, TIMER_CAPACITY), rate: new RateWindow(now) };
        this.series.set(s.name, series);
      }
      if (series.type === 'counter') {
        const n = s.value / s.rate;
        series.total += n;
        series.rate.add(now, n);
      } else if (series.type === 'gauge') series.value = s.delta ? series.value + s.value : s.value;
      else {
        series.timer.record(s.value);
        series.rate.add(now, 1 / s.rate);
      }
    }
  }

  view(): AppMetricsView {
    const now = this.now();
    const out: AppMetricsView = {
      counters: {},
      gauges: {},
      timers: {},
      dropped_samples: this.droppedSamples,
      malformed_lines: this.malformedLines,
      unsupported_lines: this.unsupportedLines,
    };
    for (const [name, s] of this.series) {
      if (s.type === 'counter') out.counters[name] = { total: s.total, rate_per_second: s.rate.perSecond(now) };
      else if (s.type === 'gauge') out.gauges[name] = s.value;
      else out.timers[name] = timerView(s.timer.stats(), s.rate.perSecond(now));
    }
    return out;
  }
}

function timerView(st: TimerStats, rate: number): TimerView {
  const p = st.percentiles;
  return {
    count: st.count,
    rate_per_second: rate,
    ...(st.min !== undefined ? { min: st.min, max: st.max } : {}),
    ...(p.p50 !== undefined ? { p50: p.p50, p90: p.p90, p95: p.p95, p99: p.p99 } : {}),
    total_count: st.totalCount,
    total_sum_ms: st.totalSumMs,
  };
}
