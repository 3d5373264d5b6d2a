// The logic shared by every local Store: validation, revision bookkeeping,
// compare-and-set, in-process watch delivery, watch history and leases. An
// implementation supplies a small synchronous Backend (a map in memory, or
// SQLite on disk); everything observable through the Store interface is
// decided here, once.
import { CompactedError, CorralError, ConflictError, InvariantError, NotFoundError, UnavailableError } from '../protocol/errors.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { LeaseState } from './lease-state.ts';
import {
  compareKeys,
  validateCommit,
  validateKey,
  validateLease,
  validatePrefix,
  validateRevision,
  validateTtl,
  validateValue,
  validateWatchOptions,
  type Condition,
  type KeyValue,
  type Lease,
  type Op,
  type Store,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from './store.ts';

/** Synchronous storage primitives. Only BackendStore calls these, and only with validated input. */
export interface Backend {
  get(key: string): KeyValue | undefined;
  /** Keys starting with prefix, sorted by compareKeys order. */
  range(prefix: string): KeyValue[];
  revision(): number;
  /**
   * Runs fn as one atomic, durable unit: when it returns, everything it wrote
   * is durable; when it throws, nothing it wrote remains.
   */
  atomically<T>(fn: () => T): T;
  /**
   * lease: the id of the lease the key is attached to (undefined = none). A durable backend records
   * it so that keys of a process that died with its leases can be removed when the store next opens.
   */
  write(kv: KeyValue, lease?: string): void;
  remove(key: string): void;
  setRevision(rev: number): void;
  close(): void;
}

/** Default number of recent events kept for watch({ fromRevision }). */
export const DEFAULT_HISTORY_LIMIT = 10_000;

export interface StoreOptions {
  /** Where listener failures are reported. */
  logger?: Logger;
  /** How many recent events to keep for watch({ fromRevision }); older ones throw CompactedError. */
  historyLimit?: number;
  /** Lease id generator (default: '1', '2', … per store). */
  leaseIds?: () => string;
}

interface Watcher {
  prefix: string;
  listener: (ev: WatchEvent) => void;
  /** Live delivery takes only events at or after this revision; older ones came from history. */
  fromRevision: number;
  cancelled: boolean;
  /** Events not yet handed to the listener while history is being replayed; null once live. */
  backlog: WatchEvent[] | null;
}

const revOf = (ev: WatchEvent) => (ev.type === 'put' ? ev.kv.revision : ev.revision);
const keyOf = (ev: WatchEvent) => (ev.type === 'put' ? ev.kv.key : ev.key);

/**
 * A lease of a local store. Nothing can fail to keep it alive while the store is open (the store
 * lives in this process), so it ends only by revoke(), BackendStore.expireLease() or close().
 */
class LocalLease extends LeaseState implements Lease {
  constructor(
    id: string,
    ttlMs: number,
    private readonly end: (lease: LocalLease, reason: string | undefined) => Promise<void>,
    log: Logger,
  ) {
    super(id, ttlMs, log);
  }

  revoke(): Promise<void> {
    return this.end(this, undefined);
  }

  override markEnded(reason: string | undefined): boolean {
    return super.markEnded(reason);
  }
}

export class BackendStore implements Store {
  private closed = false;
  private closing = false;
  private readonly watchers = new Set<Watcher>();
  private readonly pending: WatchEvent[] = [];
  private delivering = false;
  private readonly log: Logger;

  /** Recent events in revision order, from history[histStart]; everything up to compactedThrough is gone. */
  private history: WatchEvent[] = [];
  private histStart = 0;
  private compactedThrough: number;
  private readonly historyLimit: number;

  private readonly leases = new Map<string, LocalLease>();
  private readonly leaseKeys = new Map<string, Set<string>>();
  private readonly keyLease = new Map<string, string>();
  private readonly newLeaseId: () => string;

  constructor(
    private readonly backend: Backend,
    private readonly description: string,
    opts: StoreOptions = {},
  ) {
    this.log = opts.logger ?? createLogger('store');
    const limit = opts.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new TypeError('historyLimit must be a non-negative integer');
    this.historyLimit = limit;
    // What happened before this store was opened is not known here: history starts now.
    this.compactedThrough = this.guard(() => backend.revision());
    let seq = 0;
    this.newLeaseId = opts.leaseIds ?? (() => String(++seq));
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    validateKey(key);
    return this.guard(() => this.backend.get(key));
  }

  async put(key: string, value: string, opts: { expectedRevision?: number; lease?: Lease } = {}): Promise<number> {
    this.ensureOpen();
    validateKey(key);
    validateValue(value);
    const conditions = this.expectation(key, opts);
    let lease: string | undefined;
    if (opts.lease !== undefined) {
      validateLease(opts.lease);
      // Identity, not just the id: another store's lease may carry the same id.
      if (this.leases.get(opts.lease.id) !== opts.lease) throw this.leaseNotFound(opts.lease.id);
      lease = opts.lease.id;
    }
    return this.apply(conditions, [{ type: 'put', key, value, lease }]).revision;
  }

  async delete(key: string, opts: { expectedRevision?: number } = {}): Promise<boolean> {
    this.ensureOpen();
    validateKey(key);
    const conditions = this.expectation(key, opts);
    return this.apply(conditions, [{ type: 'delete', key }]).events.length > 0;
  }

  async range(prefix: string): Promise<KeyValue[]> {
    this.ensureOpen();
    validatePrefix(prefix);
    return this.guard(() => this.backend.range(prefix));
  }

  async snapshot(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.ensureOpen();
    validatePrefix(prefix);
    // Synchronous, so nothing can commit between the two reads.
    return this.guard(() => ({ kvs: this.backend.range(prefix), revision: this.backend.revision() }));
  }

  async commit(conditions: Condition[], ops: Op[]): Promise<number> {
    this.ensureOpen();
    validateCommit(conditions, ops);
    return this.apply(conditions, ops).revision;
  }

  watch(prefix: string, listener: (ev: WatchEvent) => void, opts?: WatchOptions): WatchHandle {
    this.ensureOpen();
    validatePrefix(prefix);
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    validateWatchOptions(opts);
    const current = this.guard(() => this.backend.revision());
    const from = opts?.fromRevision ?? current + 1;
    if (from <= this.compactedThrough) {
      throw new CompactedError(
        `cannot watch ${this.description} from revision ${from}: history before revision ${this.compactedThrough + 1} is not retained`,
        { fromRevision: from, oldestRevision: this.compactedThrough + 1 },
      );
    }
    const w: Watcher = { prefix, listener, fromRevision: Math.max(from, current + 1), cancelled: false, backlog: null };
    if (from <= current) {
      // Replay asynchronously (the caller has no handle yet). Events committed meanwhile queue behind
      // the replayed ones in w.backlog, so the listener sees one gap-free, duplicate-free sequence.
      w.backlog = this.historySince(from).filter((ev) => keyOf(ev).startsWith(prefix));
      queueMicrotask(() => this.flush(w));
    }
    this.watchers.add(w);
    return {
      cancel: () => {
        w.cancelled = true;
        w.backlog = null;
        this.watchers.delete(w);
      },
    };
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    this.ensureOpen();
    validateTtl(ttlMs);
    const id = this.newLeaseId();
    if (this.leases.has(id)) throw new InvariantError(`lease id ${id} handed out twice`);
    const lease = new LocalLease(id, ttlMs, (l, reason) => this.endLease(l, reason), this.log);
    this.leases.set(id, lease);
    return lease;
  }

  /**
   * Ends a lease as if it had expired: its keys are deleted in one new revision (watchers see the
   * deletes) and its onLost callbacks run with reason 'expired'. Not part of Store: local leases never
   * expire by themselves, and tests of leadership loss need to make one do so, deterministically.
   * A no-op for a lease that already ended or that this store never granted.
   */
  async expireLease(id: string): Promise<void> {
    const lease = this.leases.get(id);
    if (lease) await this.endLease(lease, 'expired');
  }

  async revision(): Promise<number> {
    this.ensureOpen();
    return this.guard(() => this.backend.revision());
  }

  async close(): Promise<void> {
    // closing: a watcher of the lease deletes below may itself call close().
    if (this.closed || this.closing) return;
    this.closing = true;
    const live = [...this.leases.values()];
    // A clean shutdown frees what its leases held at once (the embedded store would otherwise
    // drop those keys only when it is next opened).
    try {
      this.deleteLeaseKeys(live.map((l) => l.id));
    } catch (err) {
      this.log.error('could not delete leased keys while closing', { store: this.description, error: err });
    }
    this.closed = true;
    this.leases.clear();
    for (const w of this.watchers) {
      w.cancelled = true;
      w.backlog = null;
    }
    this.watchers.clear();
    this.pending.length = 0;
    this.history = [];
    try {
      this.backend.close();
    } finally {
      for (const l of live) l.markEnded(`store ${this.description} closed`);
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError(`store ${this.description} is closed`);
  }

  private leaseNotFound(id: string): NotFoundError {
    return new NotFoundError(`lease ${id} not found (it ended, or another store granted it)`, { lease: id });
  }

  private async endLease(lease: LocalLease, reason: string | undefined): Promise<void> {
    if (this.leases.get(lease.id) !== lease) return; // already ended (or the store closed)
    this.leases.delete(lease.id);
    try {
      this.deleteLeaseKeys([lease.id]);
    } finally {
      lease.markEnded(reason);
    }
  }

  /** Deletes every key attached to these leases in one revision. */
  private deleteLeaseKeys(ids: string[]): void {
    const keys: string[] = [];
    for (const id of ids) keys.push(...(this.leaseKeys.get(id) ?? []));
    if (keys.length === 0) return;
    keys.sort(compareKeys);
    this.apply([], keys.map((key) => ({ type: 'delete' as const, key })));
  }

  private expectation(key: string, opts: { expectedRevision?: number }): Condition[] {
    if (opts.expectedRevision === undefined) return [];
    validateRevision(opts.expectedRevision, 'expectedRevision');
    return [{ key, revision: opts.expectedRevision }];
  }

  /** Storage failures (disk full, I/O error) surface as UnavailableError; our own errors pass through. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof CorralError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new UnavailableError(`store ${this.description} failed: ${message}`, { cause: message });
    }
  }

  private apply(conditions: Condition[], ops: Op[]): { revision: number; events: WatchEvent[] } {
    for (const op of ops) {
      if (op.type === 'put' && op.lease !== undefined && !this.leases.has(op.lease)) throw this.leaseNotFound(op.lease);
    }
    const result = this.guard(() =>
      this.backend.atomically(() => {
        const current = this.backend.revision();
        const failed: { key: string; expected: number; actual: number }[] = [];
        for (const c of conditions) {
          const actual = this.backend.get(c.key)?.revision ?? 0;
          if (actual !== c.revision) failed.push({ key: c.key, expected: c.revision, actual });
        }
        if (failed.length > 0) {
          const f = failed[0]!;
          const what = f.expected === 0 ? 'to be absent' : `at revision ${f.expected}`;
          const found = f.actual === 0 ? 'it is absent' : `it is at revision ${f.actual}`;
          throw new ConflictError(`compare failed: expected ${f.key} ${what}, but ${found}`, { failed });
        }
        const rev = current + 1;
        const events: WatchEvent[] = [];
        for (const op of ops) {
          const existing = this.backend.get(op.key);
          if (op.type === 'put') {
            const kv: KeyValue = Object.freeze({
              key: op.key,
              value: op.value,
              revision: rev,
              createRevision: existing?.createRevision ?? rev,
            });
            this.backend.write(kv, op.lease);
            events.push(Object.freeze({ type: 'put', kv }));
          } else if (existing) {
            this.backend.remove(op.key);
            events.push(Object.freeze({ type: 'delete', key: op.key, revision: rev }));
          }
        }
        if (events.length === 0) return { revision: current, events };
        this.backend.setRevision(rev);
        return { revision: rev, events };
      }),
    );
    // Only now is the commit durable: index its leases, remember it, publish it.
    for (const op of ops) this.attach(op.key, op.type === 'put' ? op.lease : undefined);
    this.remember(result.events);
    this.deliver(result.events);
    return result;
  }

  /** Records which lease (if any) a key now belongs to; a put without a lease detaches it, as in etcd. */
  private attach(key: string, lease: string | undefined): void {
    const prev = this.keyLease.get(key);
    if (prev === lease) return;
    if (prev !== undefined) {
      const set = this.leaseKeys.get(prev)!;
      set.delete(key);
      if (set.size === 0) this.leaseKeys.delete(prev);
      this.keyLease.delete(key);
    }
    if (lease !== undefined) {
      this.keyLease.set(key, lease);
      let set = this.leaseKeys.get(lease);
      if (!set) this.leaseKeys.set(lease, (set = new Set()));
      set.add(key);
    }
  }

  private remember(events: WatchEvent[]): void {
    if (events.length === 0) return;
    this.history.push(...events);
    // Trim whole revisions, so a replay never starts in the middle of a commit.
    while (this.history.length - this.histStart > this.historyLimit) {
      const rev = revOf(this.history[this.histStart]!);
      while (this.histStart < this.history.length && revOf(this.history[this.histStart]!) === rev) this.histStart++;
      this.compactedThrough = rev;
    }
    if (this.histStart > 1024 && this.histStart * 2 > this.history.length) {
      this.history = this.history.slice(this.histStart);
      this.histStart = 0;
    }
  }

  /** Retained events with revision >= from (from > compactedThrough). */
  private historySince(from: number): WatchEvent[] {
    let lo = this.histStart;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (revOf(this.history[mid]!) < from) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  private flush(w: Watcher): void {
    const queue = w.backlog;
    if (!queue) return;
    // A listener that writes appends to this same queue (deliver() sees w.backlog), in order.
    for (let i = 0; i < queue.length && !w.cancelled && !this.closed; i++) this.call(w, queue[i]!);
    w.backlog = null;
  }

  /**
   * Delivers synchronously, before the writing call resolves. A write made by a
   * listener is queued behind the event being delivered, so every listener
   * sees events in revision order.
   */
  private deliver(events: WatchEvent[]): void {
    if (events.length === 0 || this.watchers.size === 0) return;
    this.pending.push(...events);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let i = 0; i < this.pending.length && !this.closed; i++) {
        const ev = this.pending[i]!;
        const key = keyOf(ev);
        const rev = revOf(ev);
        for (const w of [...this.watchers]) {
          if (w.cancelled || rev < w.fromRevision || !key.startsWith(w.prefix)) continue;
          if (w.backlog) w.backlog.push(ev);
          else this.call(w, ev);
        }
      }
    } finally {
      this.pending.length = 0;
      this.delivering = false;
    }
  }

  private call(w: Watcher, ev: WatchEvent): void {
    const report = (err: unknown) =>
      this.log.error('watch listener failed', { prefix: w.prefix, event: ev.type, error: err });
    try {
      const r: unknown = w.listener(ev);
      if (r && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as Promise<unknown>).then(undefined, report);
      }
    } catch (err) {
      report(err);
    }
  }
}
