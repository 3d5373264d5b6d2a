// The logic shared by every local Store: validation, revision bookkeeping,
// compare-and-set, and in-process watch delivery. An implementation supplies a
// small synchronous Backend (a map in memory, or SQLite on disk); everything
// observable through the Store interface is decided here, once.
import { ConflictError, CorralError, UnavailableError } from '../protocol/errors.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import {
  validateCommit,
  validateKey,
  validatePrefix,
  validateRevision,
  validateValue,
  type Condition,
  type KeyValue,
  type Op,
  type Store,
  type WatchEvent,
  type WatchHandle,
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
  write(kv: KeyValue): void;
  remove(key: string): void;
  setRevision(rev: number): void;
  close(): void;
}

export interface StoreOptions {
  /** Where listener failures are reported. */
  logger?: Logger;
}

interface Watcher {
  prefix: string;
  listener: (ev: WatchEvent) => void;
  /** Only events at or after this revision: the watch sees what was committed after it began. */
  fromRevision: number;
  cancelled: boolean;
}

export class BackendStore implements Store {
  private closed = false;
  private readonly watchers = new Set<Watcher>();
  private readonly pending: WatchEvent[] = [];
  private delivering = false;
  private readonly log: Logger;

  constructor(
    private readonly backend: Backend,
    private readonly description: string,
    opts: StoreOptions = {},
  ) {
    this.log = opts.logger ?? createLogger('store');
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    validateKey(key);
    return this.guard(() => this.backend.get(key));
  }

  async put(key: string, value: string, opts: { expectedRevision?: number } = {}): Promise<number> {
    this.ensureOpen();
    validateKey(key);
    validateValue(value);
    const conditions = this.expectation(key, opts);
    return this.apply(conditions, [{ type: 'put', key, value }]).revision;
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

  async commit(conditions: Condition[], ops: Op[]): Promise<number> {
    this.ensureOpen();
    validateCommit(conditions, ops);
    return this.apply(conditions, ops).revision;
  }

  watch(prefix: string, listener: (ev: WatchEvent) => void): WatchHandle {
    this.ensureOpen();
    validatePrefix(prefix);
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const w: Watcher = { prefix, listener, fromRevision: this.backend.revision() + 1, cancelled: false };
    this.watchers.add(w);
    return {
      cancel: () => {
        w.cancelled = true;
        this.watchers.delete(w);
      },
    };
  }

  async revision(): Promise<number> {
    this.ensureOpen();
    return this.guard(() => this.backend.revision());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watchers) w.cancelled = true;
    this.watchers.clear();
    this.pending.length = 0;
    this.backend.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError(`store ${this.description} is closed`);
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
            this.backend.write(kv);
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
    // Only now is the commit durable: publish it.
    this.deliver(result.events);
    return result;
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
        const key = ev.type === 'put' ? ev.kv.key : ev.key;
        const rev = ev.type === 'put' ? ev.kv.revision : ev.revision;
        for (const w of [...this.watchers]) {
          if (w.cancelled || rev < w.fromRevision || !key.startsWith(w.prefix)) continue;
          this.call(w, ev);
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
