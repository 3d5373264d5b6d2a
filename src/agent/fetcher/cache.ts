// The agent-wide fetcher cache (`cache: true` URIs): files under --fetcher-cache-dir keyed by URI, bounded by
// --fetcher-cache-size with LRU eviction (cache-index.ts). Concurrent fetches of one URI share one download; the
// download is cancelled only when every fetch waiting for it was. Each download gets a file of its own name, so a
// late eviction never deletes a newer copy. Like Mesos's, the cache does not outlive the agent: it is emptied on start.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../runtime/log.ts';
import { CacheIndex } from './cache-index.ts';
import { FetchAbortedError } from './fetch-error.ts';

export interface CachedFile {
  path: string;
  /** Served from the cache without downloading. */
  hit: boolean;
  /** Call once done reading `path` (it may be evicted or deleted afterwards). */
  release(): void;
}

interface Result {
  file: string;
  admitted: boolean;
  /** Waiters still to release a file that was not admitted (deleted at 0). */
  transientRefs: number;
}

interface Shared {
  promise: Promise<Result>;
  controller: AbortController;
  waiters: number;
  result?: Result;
}

/** Our files: <sha256(uri) prefix>.<n>; nothing else in the directory is ever touched. */
const FILE_RE = /^[0-9a-f]{40}\.\d+$/;

export const cacheKey = (uri: string): string => createHash('sha256').update(uri).digest('hex').slice(0, 40);

export class FetcherCache {
  readonly index: CacheIndex;
  readonly counters = { hits: 0, misses: 0, shared: 0 };
  private inflight = new Map<string, Shared>();
  private seq = 0;

  constructor(
    readonly dir: string,
    capacityBytes: number,
    private log: Logger,
  ) {
    this.index = new CacheIndex(capacityBytes);
  }

  /** Creates the directory and removes what an earlier agent left in it. */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const names = await fs.promises.readdir(this.dir);
    await Promise.all(names.filter((n) => FILE_RE.test(n)).map((n) => fs.promises.rm(path.join(this.dir, n), { force: true })));
  }

  /**
   * The cached file for `uri`, downloading it with `download(tmpFile, signal)` (resolving with its size) on a miss.
   * Rejects with the download's error, or FetchAbortedError when `signal` fires first.
   */
  get(uri: string, download: (file: string, signal: AbortSignal) => Promise<number>, signal: AbortSignal): Promise<CachedFile> {
    if (signal.aborted) return Promise.reject(new FetchAbortedError());
    const key = cacheKey(uri);
    const hit = this.index.acquire(key);
    if (hit) {
      this.counters.hits++;
      return Promise.resolve({ path: hit.file, hit: true, release: once(() => this.index.release(key, hit.file)) });
    }
    let sh = this.inflight.get(key);
    if (sh) this.counters.shared++;
    else {
      this.counters.misses++;
      sh = this.start(key, download);
    }
    const shared = sh;
    shared.waiters++;
    return new Promise<CachedFile>((resolve, reject) => {
      let done = false;
      const onAbort = () => {
        if (done) return;
        done = true;
        // Completed but not yet handed over: this waiter was counted among the pins.
        if (shared.result) this.releaseResult(key, shared.result);
        else if (--shared.waiters === 0) {
          // Nobody wants it any more: a later fetch of the URI starts afresh instead of joining a cancelled one.
          if (this.inflight.get(key) === shared) this.inflight.delete(key);
          shared.controller.abort();
        }
        reject(new FetchAbortedError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      shared.promise.then(
        (r) => {
          signal.removeEventListener('abort', onAbort);
          if (done) return;
          done = true;
          resolve({ path: r.file, hit: false, release: once(() => this.releaseResult(key, r)) });
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          if (done) return;
          done = true;
          reject(e);
        },
      );
    });
  }

  private start(key: string, download: (file: string, signal: AbortSignal) => Promise<number>): Shared {
    const controller = new AbortController();
    const file = path.join(this.dir, `${key}.${++this.seq}`);
    const sh: Shared = { controller, waiters: 0, promise: undefined as unknown as Promise<Result> };
    sh.promise = (async () => {
      let size: number;
      try {
        size = await download(file, controller.signal);
      } catch (e) {
        if (this.inflight.get(key) === sh) this.inflight.delete(key);
        await fs.promises.rm(file, { force: true }).catch(() => undefined);
        throw e;
      }
      // From here to the return, one synchronous step: no lookup can see the key neither in flight nor indexed.
      if (this.inflight.get(key) === sh) this.inflight.delete(key);
      const { admitted, evicted } = this.index.admit(key, file, size, sh.waiters);
      for (const e of evicted) {
        this.log.debug('fetcher cache: evicting', { file: e.file, size: e.size });
        void fs.promises.rm(e.file, { force: true }).catch(() => undefined);
      }
      if (!admitted) this.log.info('fetcher cache: the file does not fit in the cache; it is used once', { size, capacity: this.index.capacity });
      const result: Result = { file, admitted, transientRefs: sh.waiters };
      sh.result = result;
      if (!admitted && result.transientRefs === 0) void fs.promises.rm(file, { force: true }).catch(() => undefined);
      return result;
    })();
    // Waiters attach their own handlers; this one keeps an all-cancelled download's failure from going unhandled.
    sh.promise.catch(() => undefined);
    this.inflight.set(key, sh);
    return sh;
  }

  private releaseResult(key: string, r: Result): void {
    if (r.admitted) return this.index.release(key, r.file);
    if (--r.transientRefs === 0) void fs.promises.rm(r.file, { force: true }).catch(() => undefined);
  }

  /** Cancels downloads in flight (the agent is stopping). */
  close(): void {
    for (const sh of this.inflight.values()) sh.controller.abort();
  }
}

function once(fn: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    fn();
  };
}
