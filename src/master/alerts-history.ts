// A bounded in-memory history of metric snapshots for the alert engine: every key's samples over the
// last `retentionMs`, recorded whenever the alert service evaluates. (The master's general metrics
// history serves charts; alerts keep their own small one so that they depend only on snapshots.)
import type { MetricHistory, Sample } from '../core/alerts/index.ts';

export class SnapshotHistory implements MetricHistory {
  private readonly data = new Map<string, Sample[]>();

  constructor(private readonly retentionMs: number) {}

  record(t: number, snapshot: Readonly<Record<string, number>>): void {
    const oldest = t - this.retentionMs;
    for (const [key, v] of Object.entries(snapshot)) {
      if (!Number.isFinite(v)) continue;
      let s = this.data.get(key);
      if (!s) this.data.set(key, (s = []));
      s.push({ t, v });
      // Trim in batches: one splice per ~64 expired samples rather than a shift per record.
      if (s.length > 64 && s[63]!.t < oldest) s.splice(0, s.findIndex((x) => x.t >= oldest));
    }
  }

  series(key: string, since: number): readonly Sample[] {
    const s = this.data.get(key);
    if (!s) return [];
    const oldest = Math.max(since, (s.at(-1)?.t ?? 0) - this.retentionMs);
    let i = s.length;
    while (i > 0 && s[i - 1]!.t >= oldest) i--;
    return i === 0 ? s : s.slice(i);
  }
}
