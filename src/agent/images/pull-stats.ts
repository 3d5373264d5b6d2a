// Image pull counters and timings for the agent's /metrics/snapshot. Mesos has no metric for its docker
// store's pulls, so these use slave/* names; the timer follows Mesos's Timer shape (<name>_ms is the last
// value, with /count, /max, /p50, /p99 over a window of recent pulls).
const WINDOW = 100;

export class PullStats {
  pulls = 0;
  errors = 0;
  cacheHits = 0;
  private lastMs?: number;
  private maxMs = 0;
  private recent: number[] = [];

  pulled(ms: number): void {
    this.pulls++;
    this.lastMs = ms;
    this.maxMs = Math.max(this.maxMs, ms);
    this.recent.push(ms);
    if (this.recent.length > WINDOW) this.recent.shift();
  }

  snapshot(imagesCached: number): Record<string, number> {
    const sorted = [...this.recent].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
    return {
      'slave/image_pulls': this.pulls,
      'slave/image_pull_errors': this.errors,
      'slave/image_cache_hits': this.cacheHits,
      'slave/images_cached': imagesCached,
      ...(this.lastMs !== undefined
        ? {
            'slave/image_pull_ms': this.lastMs,
            'slave/image_pull_ms/count': this.pulls,
            'slave/image_pull_ms/max': this.maxMs,
            'slave/image_pull_ms/p50': pct(0.5),
            'slave/image_pull_ms/p99': pct(0.99),
          }
        : {}),
    };
  }
}
