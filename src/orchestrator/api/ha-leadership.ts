// The leadership loop of one HA orchestrator instance: campaign under ORCHESTRATOR_ELECTION, run a
// term while elected (the runner starts and stops the runtime), step down as soon as the term ends
// — lease lost, election key gone, a write fenced off, abdication — and stand again. It also follows
// who leads, so that a follower knows where to proxy.
import { Election, type Term } from '../../coordination/election.ts';
import { watchLeader, type Leader, type LeaderRecord } from '../../coordination/leader.ts';
import type { Clock, TimerHandle } from '../../runtime/clock.ts';
import type { Logger } from '../../runtime/log.ts';
import type { Store, WatchHandle } from '../../store/store.ts';

export type OrchestratorLeadershipEvent = { event: 'elected'; id: string; url: string } | { event: 'deposed'; id: string; reason: string };

export interface TermRunner {
  /**
   * Starts leading for `term`; depose(reason) ends the term early (e.g. a write was fenced off).
   * Throws when it cannot lead: the candidate resigns and stands again after a pause.
   */
  begin(term: Term, depose: (reason: string) => void): Promise<void>;
  /** Stops leading: everything the term does must stop before this resolves. Idempotent. */
  end(reason: string): Promise<void>;
}

export interface LeadershipOptions {
  store: Store;
  prefix: string;
  record: LeaderRecord;
  ttlMs: number;
  clock: Clock;
  log: Logger;
  runner: TermRunner;
  onEvent?: (e: OrchestratorLeadershipEvent) => void;
}

const MIN_RETRY_MS = 100;

export class Leadership {
  /** The leader as the election prefix says now (undefined: none, or not known yet). */
  leader?: Leader;
  /** True from winning an election until the term's end (the runtime may still be loading). */
  elected = false;
  private closed = false;
  private readonly abort = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  private watchDone: Promise<void> = Promise.resolve();
  private leaderWatch?: WatchHandle;
  private depose?: (reason: string) => void;
  private sleeper?: { timer: TimerHandle; wake: () => void };

  constructor(private readonly o: LeadershipOptions) {}

  start(): void {
    this.watchDone = this.followLeader();
    this.loopDone = this.loop();
  }

  /** Ends the current term (if any); this instance stands again, behind the others already waiting. */
  async abdicate(): Promise<void> {
    this.depose?.('abdicated');
  }

  /** Ends any term (the runner stops), withdraws from the election, stops following the leader. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.depose?.('closing');
    this.wake();
    await this.loopDone;
    await this.watchDone;
    this.leaderWatch?.cancel();
  }

  private get maxRetryMs(): number {
    return Math.max(MIN_RETRY_MS, this.o.ttlMs);
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.sleeper = undefined;
        resolve();
      };
      this.sleeper = { timer: this.o.clock.setTimeout(wake, ms), wake };
    });
  }

  private wake(): void {
    if (!this.sleeper) return;
    this.sleeper.timer.cancel();
    this.sleeper.wake();
  }

  private async followLeader(): Promise<void> {
    let delay = MIN_RETRY_MS;
    while (!this.closed) {
      try {
        const handle = await watchLeader(this.o.store, this.o.prefix, (leader) => {
          if (leader?.key !== this.leader?.key) this.o.log.info('leading orchestrator', { id: leader?.id ?? null, url: leader?.url ?? null });
          this.leader = leader;
        });
        if (this.closed) handle.cancel();
        else this.leaderWatch = handle;
        return;
      } catch (e) {
        this.o.log.warn('cannot watch the orchestrator election; retrying', { error: (e as Error).message, retryMs: delay });
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryMs);
      }
    }
  }

  private async loop(): Promise<void> {
    const { id, url } = this.o.record;
    let delay = MIN_RETRY_MS;
    while (!this.closed) {
      const election = new Election(this.o.store, this.o.prefix, this.o.record, { ttlMs: this.o.ttlMs, log: this.o.log.child('election') });
      let term: Term;
      try {
        term = await election.campaign(this.abort.signal);
      } catch (e) {
        if (this.closed) break;
        this.o.log.warn('orchestrator election campaign failed; retrying', { error: (e as Error).message, retryMs: delay });
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryMs);
        continue;
      }
      const deposed = new Promise<string>((resolve) => (this.depose = resolve));
      if (this.closed) this.depose?.('closing');
      this.elected = true;
      try {
        await this.o.runner.begin(term, (reason) => this.depose?.(reason));
      } catch (e) {
        this.o.log.error('elected, but could not start leading; resigning', { error: (e as Error).message });
        this.elected = false;
        this.depose = undefined;
        await this.o.runner.end('could not start leading');
        await election.resign();
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryMs);
        continue;
      }
      delay = MIN_RETRY_MS;
      const announced = !term.ended && !this.closed;
      if (announced) {
        this.o.log.info('elected leading orchestrator', { id, revision: term.revision });
        this.o.onEvent?.({ event: 'elected', id, url });
      }
      const reason = await Promise.race([term.lost, deposed]);
      this.depose = undefined;
      this.elected = false;
      // Stop acting before giving the key up: the next leader must not meet this one at the master.
      await this.o.runner.end(reason);
      await election.resign();
      if (this.closed) break;
      this.o.log.warn('no longer the leading orchestrator; standing again', { id, reason });
      if (announced) this.o.onEvent?.({ event: 'deposed', id, reason });
    }
  }
}
