// libprocess's Timer: the last duration plus window statistics (count, min, max, p50 … p9999) of the
// samples of the last `windowMs` (Mesos: 1 hour), exported as `<name>`, `<name>/count`, `<name>/p99` …
// Memory is bounded: at most `capacity` samples are kept (a ring), so under a very high rate the window
// is effectively shorter than `windowMs`. Totals since creation feed Prometheus summaries (_sum, _count),
// which must never go down.

export const TIMER_PERCENTILES: ReadonlyArray<readonly [suffix: string, q: number]> = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p95', 0.95],
  ['p99', 0.99],
  ['p999', 0.999],
  ['p9999', 0.9999],
];

export const DEFAULT_TIMER_WINDOW_MS = 60 * 60_000;
export const DEFAULT_TIMER_CAPACITY = 4096;

export interface TimerStats {
  /** The latest sample (ms); undefined before the first. */
  last?: number;
  /** Samples in the window. */
  count: number;
  min?: number;
  max?: number;
  /** By suffix (p50 …), present when count > 0. */
  percentiles: Record<string, number>;
  /** Since creation: for Prometheus summaries. */
  totalCount: number;
  totalSumMs: number;
}

/** The q-quantile of sorted values, linearly interpolated between the closest ranks. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export class WindowTimer {
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private size = 0;
  private last?: number;
  private totalCount = 0;
  private totalSumMs = 0;
  /** The stats of the last call, valid while no sample was added and none aged out (sorting is the cost). */
  private cache?: { firstSeq: number; totalCount: number; stats: TimerStats };

  constructor(
    private readonly now: () => number,
    private readonly windowMs = DEFAULT_TIMER_WINDOW_MS,
    capacity = DEFAULT_TIMER_CAPACITY,
  ) {
    if (!(capacity > 0)) throw new RangeError(`timer capacity must be positive, got ${capacity}`);
    this.values = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const v = Math.max(0, ms);
    const slot = this.totalCount % this.values.length;
    this.values[slot] = v;
    this.times[slot] = this.now();
    this.size = Math.min(this.size + 1, this.values.length);
    this.last = v;
    this.totalCount++;
    this.totalSumMs += v;
  }

  /** Times a synchronous function. */
  time<T>(fn: () => T): T {
    const started = performance.now();
    try {
      return fn();
    } finally {
      this.record(performance.now() - started);
    }
  }

  stats(): TimerStats {
    const cap = this.values.length;
    const oldest = this.now() - this.windowMs;
    // Samples are kept in arrival order, so the window is a suffix of the ring.
    let firstSeq = this.totalCount - this.size;
    while (firstSeq < this.totalCount && this.times[firstSeq % cap]! < oldest) firstSeq++;
    if (this.cache && this.cache.firstSeq === firstSeq && this.cache.totalCount === this.totalCount) return this.cache.stats;
    const window = new Float64Array(this.totalCount - firstSeq);
    for (let seq = firstSeq; seq < this.totalCount; seq++) window[seq - firstSeq] = this.values[seq % cap]!;
    window.sort();
    const stats: TimerStats = { count: window.length, percentiles: {}, totalCount: this.totalCount, totalSumMs: this.totalSumMs };
    if (this.last !== undefined) stats.last = this.last;
    if (window.length) {
      stats.min = window[0]!;
      stats.max = window[window.length - 1]!;
      for (const [suffix, q] of TIMER_PERCENTILES) stats.percentiles[suffix] = quantile(window, q);
    }
    this.cache = { firstSeq, totalCount: this.totalCount, stats };
    return stats;
  }
}
