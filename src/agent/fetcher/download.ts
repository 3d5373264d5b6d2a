// Gets one URI's bytes into a file: HTTP(S) with node's fetch (redirects followed, a size bound checked against
// Content-Length and while streaming, a stall timeout, cancellable), or a copy of a local file. Never synchronous
// I/O: big artifacts must not block the agent's event loop.
import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Clock } from '../../runtime/clock.ts';
import { describeCause, FetchAbortedError, FetchError } from './fetch-error.ts';
import type { FetchSource } from './uri.ts';

export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

export interface DownloadOptions {
  signal: AbortSignal;
  clock: Clock;
  maxBytes: number;
  /** A download that receives nothing (headers or body) for this long fails. */
  stallTimeoutMs: number;
  /** Called as bytes arrive (throttling is the caller's business). */
  onProgress?: (bytes: number, total: number | undefined) => void;
  /** Only for tests: replaces the global fetch. */
  fetchFn?: FetchFn;
  /** When set, a local file must be readable by this user (the task's), not just by the agent. */
  owner?: { uid: number; gid: number };
}

/** Writes the source to `dest` (created or truncated); resolves with the number of bytes written. */
export function obtain(source: FetchSource, dest: string, o: DownloadOptions): Promise<number> {
  return source.kind === 'http' ? downloadHttp(source.url, dest, o) : copyLocal(source.path, dest, o);
}

function tooLarge(max: number, what: string): FetchError {
  return new FetchError('PAYLOAD_TOO_LARGE', `${what} is larger than the agent's --fetcher-max-size (${max} bytes)`);
}

export async function downloadHttp(url: URL, dest: string, o: DownloadOptions): Promise<number> {
  if (o.signal.aborted) throw new FetchAbortedError();
  const ac = new AbortController();
  let stalled = false;
  let last = o.clock.now();
  const onAbort = () => ac.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  // One coarse timer instead of re-arming one per chunk.
  const watchdog = o.clock.setInterval(
    () => {
      if (o.clock.now() - last < o.stallTimeoutMs) return;
      stalled = true;
      ac.abort();
    },
    Math.max(10, Math.min(1000, o.stallTimeoutMs / 4)),
  );
  let written = 0;
  try {
    const res = await (o.fetchFn ?? fetch)(url.href, { signal: ac.signal, redirect: 'follow', headers: { 'user-agent': 'corral-fetcher' } });
    last = o.clock.now();
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchError('UNAVAILABLE', `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, { status: res.status });
    }
    const header = res.headers.get('content-length');
    const total = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
    if (total !== undefined && total > o.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw tooLarge(o.maxBytes, `the download (${total} bytes)`);
    }
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        written += chunk.length;
        last = o.clock.now();
        if (written > o.maxBytes) return done(tooLarge(o.maxBytes, 'the download'));
        o.onProgress?.(written, total);
        done(null, chunk);
      },
    });
    const body = res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
    await pipeline(body, count, fs.createWriteStream(dest, { mode: 0o644 }), { signal: ac.signal });
    if (total !== undefined && written !== total) throw new FetchError('UNAVAILABLE', `the connection closed after ${written} of ${total} bytes`);
    return written;
  } catch (e) {
    if (e instanceof FetchError) throw e;
    if (o.signal.aborted) throw new FetchAbortedError();
    if (stalled) throw new FetchError('UNAVAILABLE', `no data received for ${o.stallTimeoutMs} ms (--fetcher-stall-timeout) after ${written} bytes`);
    throw new FetchError('UNAVAILABLE', describeCause(e));
  } finally {
    watchdog.cancel();
    o.signal.removeEventListener('abort', onAbort);
  }
}

/** Permission bits only (no ACLs or supplementary groups): conservative, it may refuse what the user could read. */
function readableBy(st: fs.Stats, owner: { uid: number; gid: number }): boolean {
  if (owner.uid === 0) return true;
  if (st.uid === owner.uid) return (st.mode & 0o400) !== 0;
  if (st.gid === owner.gid) return (st.mode & 0o040) !== 0;
  return (st.mode & 0o004) !== 0;
}

export async function copyLocal(src: string, dest: string, o: DownloadOptions): Promise<number> {
  if (o.signal.aborted) throw new FetchAbortedError();
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(src);
  } catch (e) {
    throw new FetchError('UNAVAILABLE', (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file on the agent' : describeCause(e));
  }
  if (!st.isFile()) throw new FetchError('BAD_REQUEST', 'not a regular file');
  if (st.size > o.maxBytes) throw tooLarge(o.maxBytes, `the file (${st.size} bytes)`);
  if (o.owner && !readableBy(st, o.owner)) throw new FetchError('FORBIDDEN', `the task's user (uid ${o.owner.uid}) may not read it`);
  try {
    // Runs on libuv's pool (copy_file_range / reflink where the file system has it).
    await fs.promises.copyFile(src, dest);
  } catch (e) {
    throw new FetchError('UNAVAILABLE', describeCause(e));
  }
  if (o.signal.aborted) throw new FetchAbortedError();
  o.onProgress?.(st.size, st.size);
  return st.size;
}
