// The fetcher cache's bookkeeping, without I/O: which URIs are cached in which file, how big, how recently used,
// and how many fetches are using each right now (pinned entries are never evicted). Admission evicts least recently
// used unpinned entries until the new one fits; an entry that cannot fit is not admitted (the caller uses it once
// and deletes it), so `used` never exceeds `capacity`.

export interface CacheEntry {
  key: string;
  file: string;
  size: number;
  lastUsed: number;
  pins: number;
}

export interface Admission {
  admitted: boolean;
  /** Entries removed to make room: their files are the caller's to delete. */
  evicted: CacheEntry[];
}

export class CacheIndex {
  private entries = new Map<string, CacheEntry>();
  private tick = 0;
  private usedBytes = 0;

  constructor(readonly capacity: number) {}

  get used(): number {
    return this.usedBytes;
  }

  get count(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** A hit: the entry is pinned (release it when done with its file) and becomes the most recently used. */
  acquire(key: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    e.pins++;
    e.lastUsed = ++this.tick;
    return e;
  }

  release(key: string, file: string): void {
    const e = this.entries.get(key);
    // The file check: a release for an entry that was since replaced must not unpin its successor.
    if (e && e.file === file && e.pins > 0) e.pins--;
  }

  /** Adds a downloaded file, pinned `pins` times (once per fetch waiting for it). */
  admit(key: string, file: string, size: number, pins: number): Admission {
    if (this.entries.has(key) || size > this.capacity) return { admitted: false, evicted: [] };
    const candidates = [...this.entries.values()].filter((e) => e.pins === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    const evicted: CacheEntry[] = [];
    let used = this.usedBytes;
    for (const c of candidates) {
      if (used + size <= this.capacity) break;
      evicted.push(c);
      used -= c.size;
    }
    if (used + size > this.capacity) return { admitted: false, evicted: [] };
    for (const e of evicted) this.entries.delete(e.key);
    this.entries.set(key, { key, file, size, lastUsed: ++this.tick, pins });
    this.usedBytes = used + size;
    return { admitted: true, evicted };
  }

  /** Keys from least to most recently used (for tests and views). */
  lruOrder(): string[] {
    return [...this.entries.values()].sort((a, b) => a.lastUsed - b.lastUsed).map((e) => e.key);
  }
}
