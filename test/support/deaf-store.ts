// A Store wrapper for HA tests: a process whose view of the store lags (paused, partitioned).
import type { Lease, Store, WatchEvent, WatchHandle } from '../../src/store/store.ts';

/**
 * A store as seen by a paused or partitioned process: while deaf, watch events and lease losses are
 * held back (delivered on hear()), so the process keeps believing what it last heard. Reads and
 * writes still reach the real store, as a write from a process that wakes up would.
 */
export class DeafStore implements Store {
  deaf = false;
  private held: (() => void)[] = [];
  constructor(private readonly inner: Store) {}

  hear(): void {
    this.deaf = false;
    for (const fn of this.held.splice(0)) fn();
  }
  private deliver(fn: () => void): void {
    if (this.deaf) this.held.push(fn);
    else fn();
  }

  get = (key: string) => this.inner.get(key);
  put = (key: string, value: string, opts?: { expectedRevision?: number; lease?: Lease }) => this.inner.put(key, value, opts);
  delete = (key: string, opts?: { expectedRevision?: number }) => this.inner.delete(key, opts);
  range = (prefix: string) => this.inner.range(prefix);
  snapshot = (prefix: string) => this.inner.snapshot(prefix);
  commit: Store['commit'] = (c, o) => this.inner.commit(c, o);
  revision = () => this.inner.revision();
  close = () => this.inner.close();

  watch(prefix: string, listener: (ev: WatchEvent) => void, opts?: { fromRevision?: number }): WatchHandle {
    let cancelled = false;
    const h = this.inner.watch(prefix, (ev) => this.deliver(() => !cancelled && listener(ev)), opts);
    return {
      cancel() {
        cancelled = true;
        h.cancel();
      },
    };
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    const inner = await this.inner.grantLease(ttlMs);
    const self = this;
    return {
      id: inner.id,
      ttlMs: inner.ttlMs,
      get lost() {
        return inner.lost && !self.deaf;
      },
      onLost: (cb) => inner.onLost((reason) => self.deliver(() => cb(reason))),
      revoke: () => inner.revoke(),
    };
  }
}
