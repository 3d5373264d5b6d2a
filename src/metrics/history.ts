// A bounded in-memory history of every metric key: one sample per key every `intervalMs` (5 s) over the
// last `retentionMs` (1 h), for charts (GET /metrics/history) and the alert engine. Memory is fixed up
// front: one ring of sample times shared by every key, and per key one ring of values aligned with it
// (NaN where the key had no value), for at most `maxKeys` keys: keys beyond that are not recorded, unless
// keys that had no value for a whole window (a removed framework's) can be forgotten to make room.
import type { Clock, TimerHandle } from '../runtime/clock.ts';

export const DEFAULT_HISTORY_INTERVAL_MS = 5_000;
export const DEFAULT_HISTORY_RETENTION_MS = 60 * 60_000;
export const DEFAULT_HISTORY_MAX_KEYS = 4096;

export interface HistoryOptions {
  intervalMs?: number;
  retentionMs?: number;
  maxKeys?: number;
}

/** A sample as the alert engine reads it (core/alerts MetricHistory). */
export interface HistorySample {
  t: number;
  v: number;
}

export type HistoryPoint = [t_ms: number, value: number];

export class MetricsHistory {
  readonly intervalMs: number;
  readonly retentionMs: number;
  readonly capacity: number;
  private readonly maxKeys: number;
  private readonly times: Float64Array;
  private readonly byKey = new Map<string, Float64Array>();
  /** Samples recorded so far (the ring holds the last `capacity`). */
  private count = 0;
  /** Keys refused because the history was full. */
  droppedKeys = 0;
  private lastSweep = -Infinity;

  constructor(o: HistoryOptions = {}) {
    this.intervalMs = o.intervalMs ?? DEFAULT_HISTORY_INTERVAL_MS;
    this.retentionMs = o.retentionMs ?? DEFAULT_HISTORY_RETENTION_MS;
    this.maxKeys = o.maxKeys ?? DEFAULT_HISTORY_MAX_KEYS;
    if (!(this.intervalMs > 0) || !(this.retentionMs >= this.intervalMs)) throw new RangeError('history needs 0 < interval ≤ retention');
    this.capacity = Math.ceil(this.retentionMs / this.intervalMs) + 1;
    this.times = new Float64Array(this.capacity);
  }

  /** Records one snapshot taken at `t` (ms since the epoch). */
  record(t: number, snapshot: Readonly<Record<string, number>>): void {
    const slot = this.count % this.capacity;
    this.times[slot] = t;
    // Every known key gets this slot overwritten, so a key missing now reads as "no value" here.
    for (const [key, values] of this.byKey) {
      const v = snapshot[key];
      values[slot] = v !== undefined && Number.isFinite(v) ? v : NaN;
    }
    for (const key in snapshot) {
      if (this.byKey.has(key)) continue;
      const v = snapshot[key]!;
      if (!Number.isFinite(v)) continue;
      if (this.byKey.size >= this.maxKeys && !this.sweep()) {
        this.droppedKeys++;
        continue;
      }
      const values = new Float64Array(this.capacity).fill(NaN);
      values[slot] = v;
      this.byKey.set(key, values);
    }
    this.count++;
  }

  /**
   * Forgets keys with no value left in the window (a removed framework's), at most once per window:
   * true when that made room.
   */
  private sweep(): boolean {
    if (this.count - this.lastSweep < this.capacity) return false;
    this.lastSweep = this.count;
    for (const [key, values] of this.byKey) if (values.every(Number.isNaN)) this.byKey.delete(key);
    return this.byKey.size < this.maxKeys;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  keys(): string[] {
    return [...this.byKey.keys()];
  }

  /** `[t, value]` of `key` at or after `since`, oldest first; [] for an unknown key. */
  points(key: string, since = -Infinity): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    this.each(key, since, (t, v) => out.push([t, v]));
    return out;
  }

  /** The alert engine's view (core/alerts MetricHistory). */
  series(key: string, since: number): HistorySample[] {
    const out: HistorySample[] = [];
    this.each(key, since, (t, v) => out.push({ t, v }));
    return out;
  }

  private each(key: string, since: number, fn: (t: number, v: number) => void): void {
    const values = this.byKey.get(key);
    if (!values) return;
    const n = Math.min(this.count, this.capacity);
    for (let i = 0; i < n; i++) {
      const slot = (this.count - n + i) % this.capacity;
      const t = this.times[slot]!;
      const v = values[slot]!;
      if (t >= since && !Number.isNaN(v)) fn(t, v);
    }
  }
}

/** Samples `snapshot()` into the history now and every intervalMs until stop(). */
export class HistorySampler {
  private timer?: TimerHandle;

  constructor(
    readonly history: MetricsHistory,
    private readonly clock: Clock,
    private readonly snapshot: () => Readonly<Record<string, number>>,
    private readonly onError: (e: Error) => void = () => undefined,
  ) {}

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = this.clock.setInterval(() => this.sample(), this.history.intervalMs);
  }

  sample(): void {
    try {
      this.history.record(this.clock.now(), this.snapshot());
    } catch (e) {
      this.onError(e as Error);
    }
  }

  /** Idempotent. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
