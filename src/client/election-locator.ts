// Finding the leader by reading the masters' election in their store (etcd): the leader record
// names its URL, and a watch on the election prefix announces every change, so followers of the
// leader (agents, schedulers) learn of a failover without polling anyone.
//
// invalidate(url) marks the named leader as suspect: a caller could not reach it, but its record
// stays until its lease expires (the election TTL). current() then waits, bounded, for the record to
// change rather than hand out the same dead address again; if nothing changes in time it returns
// the record anyway (the leader may have been only briefly unreachable). Only the record current()
// handed out last can be suspected: a failure of a request sent under an older record says nothing
// about a newer one, even one naming the same master (re-elected: the legitimate new leader).
import { MASTER_ELECTION, watchLeader, type Leader } from '../coordination/leader.ts';
import { CorralError, UnavailableError } from '../protocol/errors.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import type { Store, WatchHandle } from '../store/store.ts';
import { baseOf, normalizeBaseUrl } from './http.ts';
import type { InvalidateReason, LeaderInfo, MasterLocator, MasterLocatorOptions } from './master-locator.ts';

export type ElectionLocatorOptions = MasterLocatorOptions & { description: string } & (
    | { store: Store; open?: undefined }
    | { open: () => Promise<Store>; store?: undefined }
  );

export class ElectionLocator implements MasterLocator {
  readonly kind = 'etcd' as const;
  readonly description: string;
  private readonly prefix: string;
  private readonly log: Logger;
  private store?: Store;
  private watch?: WatchHandle;
  private starting?: Promise<void>;
  private leader?: Leader;
  private leaderUrl?: string;
  /** key@revision of a leader a caller could not reach. */
  private suspect?: string;
  /** key@revision of the record current() returned last. */
  private handedOut?: string;
  private announced?: string;
  private closed = false;
  private readonly listeners = new Set<(l: LeaderInfo | undefined) => void>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly opts: ElectionLocatorOptions) {
    this.description = opts.description;
    this.prefix = opts.electionPrefix ?? MASTER_ELECTION;
    this.log = opts.log ?? silentLogger;
  }

  async current(): Promise<string> {
    await this.ensureStarted();
    const waitMs = this.opts.leaderWaitMs ?? 10_000;
    const deadline = Date.now() + waitMs;
    // Bounded: each pass returns, throws, or waits for a change until the deadline.
    for (;;) {
      this.ensureOpen();
      const l = this.leader;
      if (l && this.leaderUrl && termOf(l) !== this.suspect) return this.handOut(l, this.leaderUrl);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        if (l && this.leaderUrl) {
          this.suspect = undefined;
          return this.handOut(l, this.leaderUrl);
        }
        throw new UnavailableError(
          `no leading master in ${this.description} after ${waitMs} ms (is a \`corral master --store ${this.description}\` running?)`,
          { peer: 'master' },
        );
      }
      await this.nextChange(remaining);
    }
  }

  invalidate(badUrl?: string, why: InvalidateReason = 'unreachable'): void {
    // A 503 from the recorded leader: it is up (elected, still recovering); the record stands.
    if (why === 'refused') return;
    const l = this.leader;
    if (!l || !this.leaderUrl) return;
    if (badUrl !== undefined && !sameBase(badUrl, this.leaderUrl)) return;
    // The record changed since the caller was given its URL: the failure was the older term's.
    if (this.handedOut !== undefined && this.handedOut !== termOf(l)) return;
    this.suspect = termOf(l);
  }

  private handOut(l: Leader, url: string): string {
    this.handedOut = termOf(l);
    return url;
  }

  onChange(cb: (l: LeaderInfo | undefined) => void): () => void {
    this.listeners.add(cb);
    // Starting the watch is what makes changes known; failures surface (and retry) in current().
    this.ensureStarted().catch((e) => this.log.debug('cannot watch the master election yet', { error: (e as Error).message }));
    return () => this.listeners.delete(cb);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.watch?.cancel();
    this.watch = undefined;
    for (const w of [...this.waiters]) w();
    await this.starting?.catch(() => undefined);
    if (this.opts.open && this.store) await this.store.close().catch(() => undefined);
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError(`master locator for ${this.description} is closed`);
  }

  private ensureStarted(): Promise<void> {
    this.ensureOpen();
    this.starting ??= this.start().catch((e: unknown) => {
      this.starting = undefined;
      if (e instanceof UnavailableError && /is closed/.test(e.message)) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof CorralError && e.code !== 'UNAVAILABLE' && e.code !== 'INTERNAL') throw e;
      throw new UnavailableError(`cannot read the master election from ${this.description}: ${msg}`, { peer: 'master' });
    });
    return this.starting;
  }

  private async start(): Promise<void> {
    const store = this.opts.store ?? (await this.opts.open!());
    this.store = store;
    if (this.closed) {
      if (this.opts.open) await store.close().catch(() => undefined);
      this.ensureOpen();
    }
    try {
      const handle = await watchLeader(store, this.prefix, (l) => this.changed(l));
      if (this.closed) handle.cancel();
      else this.watch = handle;
    } catch (e) {
      if (this.opts.open) {
        this.store = undefined;
        await store.close().catch(() => undefined);
      }
      throw e;
    }
  }

  private changed(l: Leader | undefined): void {
    if (this.closed) return;
    let url: string | undefined;
    if (l) {
      try {
        url = normalizeBaseUrl(l.url);
      } catch (e) {
        this.log.warn('ignoring a leader record with a bad url', { key: l.key, url: l.url, error: (e as Error).message });
        l = undefined;
      }
    }
    this.leader = l;
    this.leaderUrl = url;
    if (l && this.suspect !== termOf(l)) this.suspect = undefined;
    for (const w of [...this.waiters]) w();
    const term = l ? termOf(l) : undefined;
    if (term === this.announced) return;
    this.announced = term;
    this.log.info(l ? 'leading master' : 'no leading master', l ? { id: l.id, url } : {});
    const info = l && url ? { url, id: l.id } : undefined;
    for (const cb of [...this.listeners]) {
      try {
        cb(info);
      } catch (e) {
        this.log.error('leader change listener threw', { error: (e as Error).message });
      }
    }
  }

  private nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      // A ref'd timer on purpose: a CLI waiting for a leader must not exit under us.
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

const termOf = (l: Leader): string => `${l.key}@${l.revision}`;

function sameBase(a: string, b: string): boolean {
  try {
    return baseOf(a) === baseOf(b);
  } catch {
    return a === b;
  }
}
