// Which instance of a replicated service leads, as the test process sees it: each instance is asked
// (through its Lab.forward URL) whether it is elected, every `everyMs`. Observation only — the harness
// waits on the processes' own `elected` lines where it measures failover times.
//
// The rule keeps a leader until another one is elected: a slow or silent answer (a paused or
// partitioned leader, a loaded machine) never makes the tracker drop it by itself, because dropping it
// would cut the relayed streams for nothing. A leader that answers "not elected" is dropped. When two
// instances claim leadership at once (a deposed leader that just woke up and has not noticed yet) the
// current one is kept and the overlap is counted.
import { EventEmitter } from 'node:events';

export interface TrackedInstance {
  /** Lab base URL (http://10.254.x.y:port): the instance's identity. */
  key: string;
  /** Its Lab.forward URL. */
  local: string;
}

export type ElectedProbe = (local: string) => Promise<boolean>;

/** `master/elected` of a master's /metrics/snapshot. */
export const masterElected: ElectedProbe = async (local) => {
  const res = await fetch(`${local}/metrics/snapshot`, { signal: AbortSignal.timeout(500), redirect: 'manual' });
  const m = (await res.json()) as Record<string, number>;
  return m['master/elected'] === 1;
};

/** `elected` of an orchestrator's /v2/info (answered by each instance itself). */
export const orchestratorElected: ElectedProbe = async (local) => {
  const res = await fetch(`${local}/v2/info`, { signal: AbortSignal.timeout(500), redirect: 'manual' });
  const info = (await res.json()) as { elected?: boolean };
  return info.elected === true;
};

export class LeaderTracker {
  private readonly emitter = new EventEmitter();
  private readonly busy = new Set<string>();
  /** Each instance's last answer (true/false, undefined: no answer) and when it came. */
  private readonly answers = new Map<string, { elected: boolean | undefined; at: number }>();
  private claimedTogether = false;
  private timer?: NodeJS.Timeout;
  current?: TrackedInstance;
  /** Times two or more instances said they were elected at once. */
  doubleClaims = 0;
  readonly changes: { at: number; key: string | undefined }[] = [];

  constructor(
    private readonly instances: () => TrackedInstance[],
    private readonly probe: ElectedProbe,
    private readonly everyMs = 100,
  ) {
    this.emitter.setMaxListeners(0);
  }

  /**
   * Every instance is asked on its own schedule, so that one that does not answer (paused,
   * partitioned: each probe waits for its timeout) does not delay what the others say.
   */
  start(): void {
    this.timer = setInterval(() => {
      for (const i of this.instances()) void this.ask(i);
    }, this.everyMs);
    this.timer.unref();
    for (const i of this.instances()) void this.ask(i);
  }

  onChange(cb: () => void): () => void {
    this.emitter.on('change', cb);
    return () => void this.emitter.off('change', cb);
  }

  private async ask(i: TrackedInstance): Promise<void> {
    if (this.busy.has(i.key)) return;
    this.busy.add(i.key);
    let answer: boolean | undefined;
    try {
      answer = await this.probe(i.local);
    } catch {
      answer = undefined;
    } finally {
      this.busy.delete(i.key);
    }
    if (!this.timer) return;
    this.answers.set(i.key, { elected: answer, at: Date.now() });
    this.decide();
  }

  /** What an instance says now: an answer older than a few polls is no answer (it stopped answering). */
  private says(key: string): boolean | undefined {
    const a = this.answers.get(key);
    return a && Date.now() - a.at <= 3 * this.everyMs ? a.elected : undefined;
  }

  private decide(): void {
    const all = this.instances();
    const elected = all.filter((i) => this.says(i.key) === true);
    if (elected.length > 1 && !this.claimedTogether) this.doubleClaims++;
    this.claimedTogether = elected.length > 1;
    const cur = this.current;
    let next = cur;
    if (cur && elected.some((i) => i.key === cur.key)) next = cur;
    else if (elected.length === 1) next = elected[0];
    else if (cur && this.says(cur.key) === false) next = undefined;
    if (next?.key !== cur?.key) {
      this.current = next;
      this.changes.push({ at: Date.now(), key: next?.key });
      this.emitter.emit('change');
    }
  }

  /** Resolves with the leader once one is known (other than `not`, if given); rejects at the deadline. */
  waitFor(timeoutMs: number, not?: string): Promise<TrackedInstance> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const c = this.current;
        if (c && c.key !== not) {
          done();
          resolve(c);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no leader${not ? ` other than ${not}` : ''} known after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onChange(check);
      const done = () => {
        clearTimeout(timer);
        off();
      };
      check();
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
