// The fetcher cache: LRU bookkeeping (pure) and the I/O cache's sharing of one download between concurrent
// fetches, its cancellation once nobody waits, and eviction of files on disk.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { CacheIndex } from '../../src/agent/fetcher/cache-index.ts';
import { cacheKey, FetcherCache } from '../../src/agent/fetcher/cache.ts';
import { FetchAbortedError, FetchError } from '../../src/agent/fetcher/fetch-error.ts';
import { silentLogger } from '../../src/runtime/log.ts';

describe('CacheIndex (LRU)', () => {
  test('evicts the least recently used unpinned entries until the new one fits', () => {
    const ix = new CacheIndex(100);
    assert.deepEqual(ix.admit('a', 'fa', 40, 0), { admitted: true, evicted: [] });
    assert.equal(ix.admit('b', 'fb', 40, 0).admitted, true);
    assert.equal(ix.used, 80);
    ix.acquire('a'); // a becomes the most recently used
    ix.release('a', 'fa');
    const r = ix.admit('c', 'fc', 40, 0);
    assert.equal(r.admitted, true);
    assert.deepEqual(r.evicted.map((e) => e.key), ['b']);
    assert.deepEqual(ix.lruOrder(), ['a', 'c']);
    assert.equal(ix.used, 80);
  });

  test('pinned entries are never evicted; what cannot fit is not admitted and evicts nothing', () => {
    const ix = new CacheIndex(100);
    ix.admit('a', 'fa', 60, 1); // pinned by the fetch that downloaded it
    assert.deepEqual(ix.admit('b', 'fb', 50, 0), { admitted: false, evicted: [] });
    assert.equal(ix.has('a'), true);
    ix.release('a', 'fa');
    assert.deepEqual(ix.admit('b', 'fb', 50, 0).evicted.map((e) => e.key), ['a']);
    assert.deepEqual(ix.admit('huge', 'fh', 101, 0), { admitted: false, evicted: [] });
    assert.equal(ix.has('b'), true);
    assert.ok(ix.used <= ix.capacity);
  });

  test('a stale release does not unpin a newer entry of the same key', () => {
    const ix = new CacheIndex(100);
    ix.admit('a', 'f1', 10, 1);
    ix.release('a', 'f1');
    ix.admit('x', 'fx', 95, 0); // evicts a
    assert.equal(ix.has('a'), false);
    ix.admit('a', 'f2', 5, 1);
    ix.release('a', 'f1'); // from a fetch that used the old file
    assert.deepEqual(ix.admit('y', 'fy', 96, 0), { admitted: false, evicted: [] }, 'a is still pinned');
  });

  test('counts never go negative and used always equals the sum of entries (random operations)', () => {
    const ix = new CacheIndex(1000);
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const pinned = new Map<string, string[]>();
    for (let i = 0; i < 2000; i++) {
      const key = `k${rnd(30)}`;
      const op = rnd(3);
      if (op === 0) ix.admit(key, `${key}.${i}`, rnd(400), rnd(2));
      else if (op === 1) {
        const e = ix.acquire(key);
        if (e) pinned.set(key, [...(pinned.get(key) ?? []), e.file]);
      } else {
        const files = pinned.get(key);
        if (files?.length) ix.release(key, files.pop()!);
      }
      assert.ok(ix.used <= ix.capacity && ix.used >= 0);
    }
  });
});

describe('FetcherCache (I/O)', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const newCache = async (capacity = 1000) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-fcache-'));
    dirs.push(dir);
    const c = new FetcherCache(dir, capacity, silentLogger);
    await c.init();
    return c;
  };
  /** A download the test completes (or fails) by hand; counts calls and sees its abort signal. */
  const manualDownload = () => {
    const calls: { file: string; signal: AbortSignal; finish: (text: string) => Promise<void>; fail: (e: Error) => void }[] = [];
    const fn = (file: string, signal: AbortSignal) =>
      new Promise<number>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(new FetchAbortedError()));
        calls.push({
          file,
          signal,
          finish: async (text) => {
            await fs.promises.writeFile(file, text);
            resolve(text.length);
          },
          fail: reject,
        });
      });
    return { fn, calls };
  };
  const tick = () => new Promise((r) => setImmediate(r));

  test('concurrent gets of one URI share one download; later gets are hits', async () => {
    const cache = await newCache();
    const dl = manualDownload();
    const never = new AbortController().signal;
    const p1 = cache.get('http://h/a', dl.fn, never);
    const p2 = cache.get('http://h/a', dl.fn, never);
    await tick();
    assert.equal(dl.calls.length, 1);
    await dl.calls[0]!.finish('hello');
    const [a, b] = await Promise.all([p1, p2]);
    assert.equal(a.path, b.path);
    assert.equal(fs.readFileSync(a.path, 'utf8'), 'hello');
    assert.equal(path.basename(a.path).startsWith(cacheKey('http://h/a')), true);
    a.release();
    b.release();
    const c = await cache.get('http://h/a', dl.fn, never);
    assert.equal(c.hit, true);
    c.release();
    assert.equal(dl.calls.length, 1);
    assert.deepEqual(cache.counters, { hits: 1, misses: 1, shared: 1 });
  });

  test('a failed download fails every waiter and is not cached', async () => {
    const cache = await newCache();
    const dl = manualDownload();
    const never = new AbortController().signal;
    const p1 = cache.get('http://h/x', dl.fn, never);
    const p2 = cache.get('http://h/x', dl.fn, never);
    await tick();
    dl.calls[0]!.fail(new FetchError('UNAVAILABLE', 'HTTP 404 Not Found'));
    await assert.rejects(p1, /HTTP 404/);
    await assert.rejects(p2, /HTTP 404/);
    const p3 = cache.get('http://h/x', dl.fn, never);
    await tick();
    assert.equal(dl.calls.length, 2, 'a failure is retried by the next fetch');
    await dl.calls[1]!.finish('ok');
    (await p3).release();
  });

  test('the shared download is cancelled only when every waiter has given up', async () => {
    const cache = await newCache();
    const dl = manualDownload();
    const a1 = new AbortController();
    const a2 = new AbortController();
    const p1 = cache.get('http://h/slow', dl.fn, a1.signal);
    const p2 = cache.get('http://h/slow', dl.fn, a2.signal);
    await tick();
    a1.abort();
    await assert.rejects(p1, FetchAbortedError);
    assert.equal(dl.calls[0]!.signal.aborted, false, 'the other fetch still waits');
    a2.abort();
    await assert.rejects(p2, FetchAbortedError);
    assert.equal(dl.calls[0]!.signal.aborted, true);
    // A new fetch starts afresh rather than joining the cancelled download.
    const p3 = cache.get('http://h/slow', dl.fn, new AbortController().signal);
    await tick();
    assert.equal(dl.calls.length, 2);
    await dl.calls[1]!.finish('fresh');
    const got = await p3;
    assert.equal(fs.readFileSync(got.path, 'utf8'), 'fresh');
    got.release();
  });

  test('eviction deletes the least recently used file; a file bigger than the cache is used once and deleted', async () => {
    const cache = await newCache(10);
    const dl = manualDownload();
    const never = new AbortController().signal;
    const get = async (uri: string, text: string) => {
      const p = cache.get(uri, dl.fn, never);
      await tick();
      await dl.calls.at(-1)!.finish(text);
      const f = await p;
      f.release();
      return f.path;
    };
    const a = await get('u:a', 'aaaa');
    const b = await get('u:b', 'bbbb');
    const c = await get('u:c', 'cccc'); // evicts a
    assert.equal(cache.index.used, 8);
    await waitFor(() => !fs.existsSync(a));
    assert.ok(fs.existsSync(b) && fs.existsSync(c));
    const big = await get('u:big', 'x'.repeat(11));
    await waitFor(() => !fs.existsSync(big));
    assert.equal(cache.index.has(cacheKey('u:big')), false);
    assert.ok(fs.existsSync(b) && fs.existsSync(c), 'a file that cannot fit evicts nothing');
  });

  test('init empties what an earlier agent left, and only the cache files', async () => {
    const cache = await newCache();
    fs.writeFileSync(path.join(cache.dir, `${cacheKey('u')}.3`), 'old');
    fs.writeFileSync(path.join(cache.dir, 'not-ours.txt'), 'keep');
    await cache.init();
    assert.deepEqual(fs.readdirSync(cache.dir), ['not-ours.txt']);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}
