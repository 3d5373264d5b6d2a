// A candidate in etcd's election recipe over the Store interface (the read side, the key layout and
// the leader rule are in leader.ts). campaign() grants a lease, puts `prefix + lease.id` with it and
// waits until that key is the oldest one under the prefix: then this candidate leads, and its key's
// revision is the term's fencing token. The term ends (deposed) when the lease ends, when the key
// disappears, or on resign().
import { UnavailableError } from '../protocol/errors.ts';
import type { Logger } from '../runtime/log.ts';
import type { Condition, Lease, Store, WatchHandle } from '../store/store.ts';
import { watchLeader, type Leader, type LeaderRecord } from './leader.ts';

export interface ElectionOptions {
  /** Lease TTL: how long a dead or paused leader keeps leading. */
  ttlMs: number;
  log: Logger;
}

export interface Term {
  /** The election key this candidate holds. */
  readonly key: string;
  /** The key's revision when the term began: writes conditional on it fail once the key is gone. */
  readonly revision: number;
  /** `[{ key, revision }]`: pass as (part of) the conditions of every write made for the term. */
  readonly fence: Condition[];
  readonly leader: Leader;
  /** True once the term ended. */
  readonly ended: boolean;
  /** Resolves with the reason once the term ends (lease lost, key deleted, resigned). Never rejects. */
  readonly lost: Promise<string>;
  /** cb(reason) once the term ends; at once (asynchronously) if it already has. */
  onLost(cb: (reason: string) => void): void;
}

class TermImpl implements Term {
  ended = false;
  readonly fence: Condition[];
  readonly lost: Promise<string>;
  private resolveLost!: (reason: string) => void;

  constructor(
    readonly key: string,
    readonly revision: number,
    readonly leader: Leader,
  ) {
    this.fence = [{ key, revision }];
    this.lost = new Promise((r) => (this.resolveLost = r));
  }

  onLost(cb: (reason: string) => void): void {
    void this.lost.then(cb);
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveLost(reason);
  }
}

function abortError(): Error {
  const e = new Error('campaign aborted');
  e.name = 'AbortError';
  return e;
}

/** One candidate. campaign() may be called again after a term ended or a campaign failed (never concurrently). */
export class Election {
  private lease?: Lease;
  private watches: WatchHandle[] = [];
  private term?: TermImpl;
  private campaigning = false;

  constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private readonly record: LeaderRecord,
    private readonly opts: ElectionOptions,
  ) {}

  /** The current term, while it lasts. */
  get current(): Term | undefined {
    return this.term && !this.term.ended ? this.term : undefined;
  }

  /**
   * Resolves with a Term once this candidate leads. Rejects with UnavailableError when the lease is
   * lost or the key vanishes before that (or the store fails), and with an AbortError on abort; in
   * both cases the candidacy is withdrawn (lease revoked).
   */
  async campaign(signal?: AbortSignal): Promise<Term> {
    if (this.campaigning) throw new Error('campaign() is already running');
    if (this.current) return this.current;
    if (signal?.aborted) throw abortError();
    this.campaigning = true;
    try {
      return await this.run(signal);
    } catch (e) {
      await this.withdraw();
      throw e;
    } finally {
      this.campaigning = false;
    }
  }

  private async run(signal: AbortSignal | undefined): Promise<Term> {
    const lease = await this.store.grantLease(this.opts.ttlMs);
    this.lease = lease;
    const key = this.prefix + lease.id;
    // The key must be new: a create revision older than ours would be someone else's place in line.
    const revision = await this.store.commit([{ key, revision: 0 }], [{ type: 'put', key, value: JSON.stringify(this.record), lease: lease.id }]);
    this.opts.log.debug('campaigning', { key, revision });

    return new Promise<Term>((resolve, reject) => {
      let settled = false;
      let leaderWatch: WatchHandle | undefined;
      // The leader watch only serves the wait: the term itself ends through the lease or the key watch.
      const settle = () => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        leaderWatch?.cancel();
      };
      const fail = (e: Error) => {
        if (settled) return;
        settle();
        reject(e);
      };
      const onAbort = () => fail(abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) return onAbort();
      // Loss before the win fails the campaign; after it, ends the term.
      const lose = (reason: string) => {
        if (this.term && this.term.key === key) this.endTerm(reason);
        else fail(new UnavailableError(`election candidacy lost: ${reason}`, { key }));
      };
      lease.onLost((reason) => lose(`lease lost (${reason})`));
      try {
        this.watches.push(
          this.store.watch(
            key,
            (ev) => {
              if (ev.type === 'delete' && ev.key === key) lose('election key deleted');
            },
            { fromRevision: revision + 1 },
          ),
        );
      } catch (e) {
        fail(e as Error);
        return;
      }
      watchLeader(this.store, this.prefix, (leader) => {
        if (settled || !leader || leader.key !== key) return;
        settle();
        const term = new TermImpl(key, leader.revision, leader);
        this.term = term;
        // The lease may have ended between the watch event and now.
        if (lease.lost) {
          this.endTerm('lease lost');
          reject(new UnavailableError('election candidacy lost: lease lost', { key }));
          return;
        }
        this.opts.log.info('elected', { key, revision: leader.revision });
        resolve(term);
      }).then(
        (h) => {
          if (settled) h.cancel();
          else leaderWatch = h;
        },
        (e: Error) => fail(e),
      );
    });
  }

  private endTerm(reason: string): void {
    const term = this.term;
    if (!term || term.ended) return;
    this.opts.log.warn('leadership lost', { key: term.key, reason });
    this.stopWatches();
    term.end(reason);
    // A lost key with a live lease (someone deleted it) leaves nothing to keep alive.
    void this.lease?.revoke().catch(() => undefined);
  }

  private stopWatches(): void {
    for (const w of this.watches.splice(0)) w.cancel();
  }

  private async withdraw(): Promise<void> {
    this.stopWatches();
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke().catch(() => undefined);
  }

  /** Gives up leadership (or the candidacy) now: revokes the lease, which deletes the key. */
  async resign(): Promise<void> {
    const term = this.term;
    this.stopWatches();
    if (term && !term.ended) {
      term.end('resigned');
      this.opts.log.info('resigned', { key: term.key });
    }
    await this.withdraw();
  }
}
