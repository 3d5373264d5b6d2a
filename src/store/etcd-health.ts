// Which etcd member a call should go to: the pure bookkeeping behind EtcdStore's failover (no I/O, no
// timers; every method takes `now`). A member is healthy until an attempt on it times out or finds it
// unreachable, and healthy again as soon as anything it sends back arrives (a probe, a call, watch data).
//
// Calls stick to one preferred member (like clientv3's pinned endpoint): one connection does the work,
// a dead member costs at most one attempt before everything moves, and a member that comes back does
// not pull traffic back and forth. The preferred member moves only when it fails.

export interface EndpointView {
  endpoint: string;
  healthy: boolean;
  preferred: boolean;
  /** When it last answered anything (ms since the epoch; 0 = never). */
  lastOkAt: number;
}

interface State {
  healthy: boolean;
  lastOkAt: number;
  failedAt: number;
}

export class EndpointHealth {
  private readonly states: State[];
  private preferredIndex = 0;

  constructor(readonly endpoints: readonly string[]) {
    if (endpoints.length === 0) throw new Error('at least one endpoint is needed');
    // Unknown members count as healthy: the first call finds out.
    this.states = endpoints.map(() => ({ healthy: true, lastOkAt: 0, failedAt: 0 }));
  }

  get size(): number {
    return this.states.length;
  }

  get preferred(): number {
    return this.preferredIndex;
  }

  isHealthy(i: number): boolean {
    return this.states[i]!.healthy;
  }

  anyHealthy(): boolean {
    return this.states.some((s) => s.healthy);
  }

  /** It answered: healthy. Returns true when that is news (it had been marked failed). */
  ok(i: number, now: number): boolean {
    const s = this.states[i]!;
    s.lastOkAt = Math.max(s.lastOkAt, now);
    if (s.healthy) return false;
    s.healthy = true;
    // With every member failed the preferred one may have been a dead one: the first back takes over.
    if (!this.states[this.preferredIndex]!.healthy) this.preferredIndex = i;
    return true;
  }

  /** An attempt timed out or could not connect. Returns true when that is news (it was healthy). */
  fail(i: number, now: number): boolean {
    const s = this.states[i]!;
    s.failedAt = now;
    if (!s.healthy) return false;
    s.healthy = false;
    if (i === this.preferredIndex) {
      const next = this.ring(i).find((j) => j !== i && this.states[j]!.healthy);
      if (next !== undefined) this.preferredIndex = next;
    }
    return true;
  }

  /** Answered within the last `ms`: recent enough to send a write to without checking first. */
  fresh(i: number, now: number, ms: number): boolean {
    const s = this.states[i]!;
    return s.healthy && now - s.lastOkAt <= ms;
  }

  /** Answered within the last `ms` (healthy or not): no probe needed yet. */
  answeredWithin(i: number, now: number, ms: number): boolean {
    return now - this.states[i]!.lastOkAt <= ms;
  }

  /**
   * The members to try, best first, leaving out `skip`: the healthy ones from the preferred one on (in
   * the configured order), then the failed ones, the one that failed longest ago first (the likeliest
   * to be back). Failed members are still listed: with every member failed, trying them is all there is.
   */
  order(skip: ReadonlySet<number> = new Set()): number[] {
    const ring = this.ring(this.preferredIndex).filter((i) => !skip.has(i));
    const healthy = ring.filter((i) => this.states[i]!.healthy);
    const failed = ring.filter((i) => !this.states[i]!.healthy).sort((a, b) => this.states[a]!.failedAt - this.states[b]!.failedAt);
    return [...healthy, ...failed];
  }

  /** The best member to place something long-lived on (a watch). */
  best(): number {
    return this.order()[0]!;
  }

  view(): EndpointView[] {
    return this.states.map((s, i) => ({ endpoint: this.endpoints[i]!, healthy: s.healthy, preferred: i === this.preferredIndex, lastOkAt: s.lastOkAt }));
  }

  /** Every index once, starting at `from`. */
  private ring(from: number): number[] {
    return this.states.map((_, k) => (from + k) % this.states.length);
  }
}
