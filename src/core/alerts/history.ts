// What the alert engine reads: a bounded history of metric samples per key. The master's metrics
// history implements it; tests pass plain arrays (seriesHistory).

export interface Sample {
  /** Milliseconds since the epoch. */
  t: number;
  v: number;
}

export interface MetricHistory {
  /** Samples of `key` taken at or after `since`, oldest first ([] when the key is unknown). */
  series(key: string, since: number): readonly Sample[];
}

/** A MetricHistory over fixed data (tests, replays). */
export function seriesHistory(data: Record<string, readonly Sample[]>): MetricHistory {
  return {
    series(key, since) {
      return (data[key] ?? []).filter((s) => s.t >= since);
    },
  };
}
