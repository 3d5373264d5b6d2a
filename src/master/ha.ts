// The HA master's leadership loop: campaign in the master election, run a term while elected, step
// down when the term ends (lease lost, election key gone, a registry write fenced off), then stand
// again. It also follows who leads, so that a follower can redirect to the leader.
import { Election, type Term } from '../coordination/election.ts';
import { currentLeader, MASTER_ELECTION, watchLeader, type Leader } from '../coordination/leader.ts';
import type { MasterInfo } from '../protocol/mesos.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Store, WatchHandle } from '../store/store.ts';

export type LeadershipEvent =
  | { event: 'elected'; master_id: string; url: string }
  | { event: 'deposed'; master_id: string; reason: string };

export interface LeadershipDeps {
  store: Store;
  clock: Clock;
  ids: IdSource;
  log: Logger;
  ttlMs: number;
  /** This master's base URL (what followers redirect to). */
  url: string;
  /** The MasterInfo this master will advertise under a given master id. */
  infoFor(masterId: string): MasterInfo;
  /** Starts serving as leader under masterId; depose(reason) ends the term early. Throws if it cannot. */
  begin(masterId: string, term: Term, depose: (reason: string) => void): Promise<void>;
  /** Stops serving as leader (idempotent). */
  end(reason: string): void;
  onEvent?(e: LeadershipEvent): void;
}

const MIN_RETRY_MS = 100;

export class Leadership {
  /** The leader as the election prefix says now (undefined: none, or not known yet). */
  leader?: Leader;
  /** This master's id in its current candidacy or term. */
  candidateId?: string;
  private closed = false;
  private readonly abort = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  private watchDone: Promise<void> = Promise.resolve();
  private leaderWatch?: WatchHandle;
  /** Bumped by refollow(): a follow loop or watch of an older generation stops. */
  private followGen = 0;
  private depose?: (reason: string) => void;
  private readonly sleepers = new Set<{ timer: TimerHandle; wake: () => void }>();

  constructor(private readonly d: LeadershipDeps) {}

  start(): void {
    this.watchDone = this.followLeader(this.followGen);
    this.loopDone = this.loop();
  }

  /**
   * Forgets who leads and reads the election afresh. Called when this master's own lease or term
   * ended: that is evidence it lost touch with the store (e.g. etcd lost quorum), and then its watch
   * delivers nothing, so the leader it remembers may be long gone. Until the store answers again
   * the master knows no leader and answers 503 instead of redirecting to a stale one.
   */
  private refollow(): void {
    if (this.closed) return;
    const gen = ++this.followGen;
    this.leaderWatch?.cancel();
    this.leaderWatch = undefined;
    if (this.leader) this.d.log.info('leading master unknown until the election can be read again', { was: this.leader.id });
    this.leader = undefined;
    // The older loop may still be waiting on the store; it gives up by itself (its generation is stale).
    this.watchDone = Promise.all([this.watchDone, this.followLeader(gen)]).then(() => undefined);
  }

  /**
   * Who leads per a fresh read of the election (not the watch, which may lag a client's by a few ms
   * around a failover); undefined when none does or the store does not answer within timeoutMs.
   */
  async readLeader(timeoutMs: number): Promise<Leader | undefined> {
    let timer: TimerHandle | undefined;
    const late = new Promise<undefined>((resolve) => (timer = this.d.clock.setTimeout(() => resolve(undefined), timeoutMs)));
    try {
      return await Promise.race([currentLeader(this.d.store, MASTER_ELECTION).catch(() => undefined), late]);
    } finally {
      timer?.cancel();
    }
  }

  private get maxRetryMs(): number {
    return Math.max(MIN_RETRY_MS, this.d.ttlMs);
  }

  // The leadership loop and the follow loop may sleep at the same time: close() wakes both.
  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.sleepers.delete(sleeper);
        resolve();
      };
      const sleeper = { timer: this.d.clock.setTimeout(wake, ms), wake };
      this.sleepers.add(sleeper);
    });
  }

  private async followLeader(gen: number): Promise<void> {
    let delay = MIN_RETRY_MS;
    while (!this.closed && gen === this.followGen) {
      try {
        const handle = await watchLeader(this.d.store, MASTER_ELECTION, (leader) => {
          if (gen !== this.followGen) return;
          if (leader?.key !== this.leader?.key) this.d.log.info('leading master', { id: leader?.id ?? null, url: leader?.url ?? null });
          this.leader = leader;
        });
        if (this.closed || gen !== this.followGen) handle.cancel();
        else this.leaderWatch = handle;
        return;
      } catch (e) {
        this.d.log.warn('cannot watch the master election; retrying', { error: (e as Error).message, retryMs: delay });
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryMs);
      }
    }
  }

  private async loop(): Promise<void> {
    let delay = MIN_RETRY_MS;
    while (!this.closed) {
      // A fresh master id per candidacy: agents and schedulers tell terms apart by it.
      const id = this.d.ids.uuid();
      this.candidateId = id;
      const election = new Election(
        this.d.store,
        MASTER_ELECTION,
        { id, url: this.d.url, info: this.d.infoFor(id) as unknown as Record<string, unknown> },
        { ttlMs: this.d.ttlMs, log: this.d.log.child('election') },
      );
      let term: Term;
      try {
        term = await election.campaign(this.abort.signal);
      } catch (e) {
        if (this.closed) break;
        this.d.log.warn('master election campaign failed; retrying', { error: (e as Error).message, retryMs: delay });
        this.refollow();
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryMs);
        continue;
      }
      const deposed = new Promise<string>((resolve) => (this.depose = resolve));
      if (this.closed) this.depose?.('master closing');
      try {
        await this.d.begin(id, term, (reason) => this.depose?.(reason));
      } catch (e) {
        this.d.log.error('elected, but could not start leading; resigning', { error: (e as Error).message });
        this.d.end('could not start leading');
        await election.resign();
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxRetryMs);
        continue;
      }
      delay = MIN_RETRY_MS;
      this.d.log.info('elected leading master', { id, revision: term.revision });
      this.d.onEvent?.({ event: 'elected', master_id: id, url: this.d.url });
      const reason = await Promise.race([term.lost, deposed]);
      this.depose = undefined;
      try {
        this.d.end(reason);
      } catch (e) {
        this.d.log.error('stepping down failed', { error: (e as Error).message, stack: (e as Error).stack });
      }
      await election.resign();
      if (this.closed) break;
      this.refollow();
      this.d.log.warn('no longer the leading master; standing again', { id, reason });
      this.d.onEvent?.({ event: 'deposed', master_id: id, reason });
    }
  }

  /** Ends any term, withdraws from the election, stops watching. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.depose?.('master closing');
    for (const s of [...this.sleepers]) {
      s.timer.cancel();
      s.wake();
    }
    await this.loopDone;
    await this.watchDone;
    this.leaderWatch?.cancel();
  }
}
