// An in-memory Store with exactly the embedded store's semantics (both are
// BackendStore over a different Backend), for pure tests and the simulator.
import { BackendStore, type Backend, type StoreOptions } from './core.ts';
import { compareKeys, type KeyValue } from './store.ts';

class MemoryBackend implements Backend {
  private readonly data = new Map<string, KeyValue>();
  /** Keys in compareKeys order; rebuilt lazily after a key is added or removed. */
  private sorted: string[] | null = [];
  private rev = 0;
  /** Undo log of the running atomically() call; null outside one. */
  private undo: (() => void)[] | null = null;

  get(key: string): KeyValue | undefined {
    return this.data.get(key);
  }

  range(prefix: string): KeyValue[] {
    if (this.sorted === null) this.sorted = [...this.data.keys()].sort(compareKeys);
    const keys = this.sorted;
    // Binary search for the first key >= prefix; matches are contiguous from there.
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(keys[mid]!, prefix) < 0) lo = mid + 1;
      else hi = mid;
    }
    const out: KeyValue[] = [];
    for (let i = lo; i < keys.length && keys[i]!.startsWith(prefix); i++) out.push(this.data.get(keys[i]!)!);
    return out;
  }

  revision(): number {
    return this.rev;
  }

  atomically<T>(fn: () => T): T {
    if (this.undo) return fn(); // nested: part of the outer unit
    const undo: (() => void)[] = [];
    this.undo = undo;
    try {
      return fn();
    } catch (err) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      throw err;
    } finally {
      this.undo = null;
    }
  }

  write(kv: KeyValue): void {
    const prev = this.data.get(kv.key);
    this.data.set(kv.key, kv);
    if (!prev) this.sorted = null;
    this.undo?.push(() => this.restore(kv.key, prev));
  }

  remove(key: string): void {
    const prev = this.data.get(key);
    if (!prev) return;
    this.data.delete(key);
    this.sorted = null;
    this.undo?.push(() => this.restore(key, prev));
  }

  setRevision(rev: number): void {
    const prev = this.rev;
    this.rev = rev;
    this.undo?.push(() => void (this.rev = prev));
  }

  close(): void {
    this.data.clear();
    this.sorted = [];
  }

  private restore(key: string, prev: KeyValue | undefined): void {
    if (prev) this.data.set(key, prev);
    else this.data.delete(key);
    this.sorted = null;
  }
}

export function createMemoryStore(opts: StoreOptions = {}): BackendStore {
  return new BackendStore(new MemoryBackend(), '(memory)', opts);
}
