// A Store seen through a leadership term: every write is a commit whose conditions include the
// term's fence (its election key at its revision, see election.ts), so once the term is over, no
// write of the old leader can land, however late it arrives. Reads, watches and leases pass
// through unchanged. A write that fails on the fence seals the store (every later write is refused
// without reaching the store, even one whose fence might still hold for a moment) and calls
// onFenced once, so the owner can step down as soon as it learns, by acting, that it was deposed.
import { ConflictError, UnavailableError } from '../protocol/errors.ts';
import type { Condition, KeyValue, Lease, Op, Store, WatchEvent, WatchHandle, WatchOptions } from '../store/store.ts';

export interface FencedStoreOptions {
  /** The term's fence (Term.fence): conditions added to every write. */
  fence: readonly Condition[];
  /** Called once, with the failed commit's error, when a write fails because the fence no longer holds. */
  onFenced?: (err: ConflictError) => void;
}

export interface FencedStore extends Store {
  /** True once a write failed on the fence or seal() was called. */
  readonly sealed: boolean;
  /** Refuses every later write (the term ended). Idempotent. */
  seal(): void;
}

/** Bounded retries of delete()'s read-then-delete when the key keeps changing underneath. */
const DELETE_ATTEMPTS = 5;

/** Wraps `store` (not owned: close() seals the wrapper and leaves `store` open). */
export function fencedStore(store: Store, opts: FencedStoreOptions): FencedStore {
  return new FencedStoreImpl(store, opts);
}

class FencedStoreImpl implements FencedStore {
  private readonly fence: Condition[];
  private readonly fenceKeys: Set<string>;
  private isSealed = false;
  private closed = false;
  private reported = false;

  constructor(
    private readonly inner: Store,
    private readonly opts: FencedStoreOptions,
  ) {
    this.fence = opts.fence.map((c) => ({ key: c.key, revision: c.revision }));
    this.fenceKeys = new Set(this.fence.map((c) => c.key));
  }

  get sealed(): boolean {
    return this.isSealed;
  }

  seal(): void {
    this.isSealed = true;
  }

  // ─── reads pass through ───────────────────────────────────────────────────

  get(key: string): Promise<KeyValue | undefined> {
    return this.open() ?? this.inner.get(key);
  }
  range(prefix: string): Promise<KeyValue[]> {
    return this.open() ?? this.inner.range(prefix);
  }
  snapshot(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    return this.open() ?? this.inner.snapshot(prefix);
  }
  revision(): Promise<number> {
    return this.open() ?? this.inner.revision();
  }
  watch(prefix: string, listener: (ev: WatchEvent) => void, opts?: WatchOptions): WatchHandle {
    if (this.closed) throw closedError();
    return this.inner.watch(prefix, listener, opts);
  }
  grantLease(ttlMs: number): Promise<Lease> {
    return this.open() ?? this.inner.grantLease(ttlMs);
  }

  // ─── writes carry the fence ───────────────────────────────────────────────

  async commit(conditions: Condition[], ops: Op[]): Promise<number> {
    return this.fencedCommit(conditions, ops);
  }

  async put(key: string, value: string, opts: { expectedRevision?: number; lease?: Lease } = {}): Promise<number> {
    const conds = opts.expectedRevision === undefined ? [] : [{ key, revision: opts.expectedRevision }];
    const op: Op = opts.lease ? { type: 'put', key, value, lease: opts.lease.id } : { type: 'put', key, value };
    return this.fencedCommit(conds, [op]);
  }

  async delete(key: string, opts: { expectedRevision?: number } = {}): Promise<boolean> {
    if (opts.expectedRevision !== undefined) {
      // The condition decides whether the key existed: revision 0 = absent, nothing to delete.
      await this.fencedCommit([{ key, revision: opts.expectedRevision }], opts.expectedRevision === 0 ? [] : [{ type: 'delete', key }]);
      return opts.expectedRevision !== 0;
    }
    // A commit does not say whether a delete removed anything: read, then delete exactly what was read.
    for (let attempt = 1; ; attempt++) {
      const refused = this.refuseWrite(key);
      if (refused) throw refused;
      const kv = await this.inner.get(key);
      if (!kv) return false;
      try {
        await this.fencedCommit([{ key, revision: kv.revision }], [{ type: 'delete', key }]);
        return true;
      } catch (e) {
        // Only a change of the key itself is retried (someone wrote it in between).
        if (!(e instanceof ConflictError) || attempt >= DELETE_ATTEMPTS) throw e;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.isSealed = true;
  }

  // ─── internals ────────────────────────────────────────────────────────────

  private open(): Promise<never> | undefined {
    return this.closed ? Promise.reject(closedError()) : undefined;
  }

  private refuseWrite(key: string): Error | undefined {
    if (this.closed) return closedError();
    if (this.isSealed) return deposedError(key);
    return undefined;
  }

  private async fencedCommit(conditions: Condition[], ops: Op[]): Promise<number> {
    const refused = this.refuseWrite(ops[0]?.key ?? conditions[0]?.key ?? '');
    if (refused) throw refused;
    try {
      return await this.inner.commit([...this.fence, ...conditions], ops);
    } catch (e) {
      if (!(e instanceof ConflictError) || !(await this.fenceFailed(e))) throw e;
      this.isSealed = true;
      if (!this.reported) {
        this.reported = true;
        this.opts.onFenced?.(e);
      }
      throw deposedError(ops[0]?.key ?? '', e.message);
    }
  }

  /** Did this conflict come from the fence (rather than from the caller's own conditions)? */
  private async fenceFailed(e: ConflictError): Promise<boolean> {
    const failed = (e.details as { failed?: unknown }).failed;
    if (Array.isArray(failed)) return failed.some((f) => this.fenceKeys.has((f as { key?: string })?.key ?? ''));
    // A store that does not say which compare failed: look at the fence keys themselves.
    for (const c of this.fence) {
      const kv = await this.inner.get(c.key).catch(() => undefined);
      if ((kv?.revision ?? 0) !== c.revision) return true;
    }
    return false;
  }
}

function closedError(): UnavailableError {
  return new UnavailableError('this fenced store is closed');
}

/** 503, not 409: the caller did nothing wrong; another instance now leads and should be asked. */
function deposedError(key: string, cause?: string): UnavailableError {
  return new UnavailableError('no longer the leader (its election term ended): write refused', { key, ...(cause ? { cause } : {}) });
}
