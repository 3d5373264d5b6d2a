// One snapshot of a component's metrics, typed: each value is a counter or a gauge (or a timer's
// statistics) under its Mesos key. The same set renders as Mesos's flat /metrics/snapshot JSON and as
// the Prometheus exposition (prometheus.ts), so the two can never disagree.
import { TIMER_PERCENTILES, type TimerStats } from './timer.ts';

export type MetricKind = 'counter' | 'gauge';

export interface MetricValue {
  /** The Mesos key, e.g. `master/tasks_running`. */
  key: string;
  kind: MetricKind;
  value: number;
}

export interface TimerValue {
  /** The Mesos key of the last value, e.g. `allocator/mesos/allocation_run_ms`. */
  key: string;
  stats: TimerStats;
}

export class MetricSet {
  readonly values: MetricValue[] = [];
  readonly timers: TimerValue[] = [];

  gauge(key: string, value: number): this {
    this.values.push({ key, kind: 'gauge', value });
    return this;
  }

  counter(key: string, value: number): this {
    this.values.push({ key, kind: 'counter', value });
    return this;
  }

  timer(key: string, stats: TimerStats): this {
    this.timers.push({ key, stats });
    return this;
  }

  /** Adds flat values whose kind a classifier tells (values from other modules' flat snapshots). */
  addFlat(flat: Readonly<Record<string, number>>, kindOf: (key: string) => MetricKind): this {
    for (const [key, value] of Object.entries(flat)) this.values.push({ key, kind: kindOf(key), value });
    return this;
  }

  /** Mesos's /metrics/snapshot object. Non-finite values are left out (JSON has no NaN). */
  flat(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const v of this.values) if (Number.isFinite(v.value)) out[v.key] = v.value;
    for (const t of this.timers) Object.assign(out, timerKeys(t.key, t.stats));
    return out;
  }
}

/** A timer as libprocess exports it: `<key>` (last), `<key>/count`, and min/max/percentiles once sampled. */
export function timerKeys(key: string, s: TimerStats): Record<string, number> {
  const out: Record<string, number> = { [`${key}/count`]: s.count };
  if (s.last !== undefined) out[key] = s.last;
  if (s.min !== undefined) out[`${key}/min`] = s.min;
  if (s.max !== undefined) out[`${key}/max`] = s.max;
  for (const [suffix] of TIMER_PERCENTILES) if (s.percentiles[suffix] !== undefined) out[`${key}/${suffix}`] = s.percentiles[suffix]!;
  return out;
}
