// Crash-safe checkpoint files. Two kinds:
//  - snapshots (agent.json, framework.json, task.json): write a temp file, fdatasync, rename over the target.
//    A crash leaves either the old file or the new one, plus maybe a stray temp file that recovery ignores.
//  - journals (a task's `updates`): append whole JSON lines, fdatasync, with group commit (every append made
//    while a flush is pending or in flight shares one write + one fdatasync). A crash can leave a torn last
//    line; `readJournal` stops at the first incomplete or unparsable line and truncates it away.
// The small calls (open/write/rename of a few hundred bytes) are synchronous: they touch the page cache
// and keep ordering simple; the fdatasync, the slow call, runs on the libuv pool so launches overlap.
import fs from 'node:fs';

const fdatasync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
let tempCounter = 0;

export const isTempFile = (name: string): boolean => /\.tmp\.\d+\.\d+$/.test(name);

/** Atomically replaces `path` with `data` (write temp + fdatasync + rename). */
export async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp.${process.pid}.${++tempCounter}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    const buf = Buffer.from(data);
    let off = 0;
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    await fdatasync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, path);
}

export const writeJsonAtomic = (path: string, value: unknown): Promise<void> => writeAtomic(path, JSON.stringify(value));

/** Reads a snapshot: undefined when absent; throws when present but unreadable (a recovery error). */
export function readJsonFile<T = unknown>(path: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}

const knownDirs = new Set<string>();

/**
 * mkdir -p `base`/`segments...` with few syscalls: `base` is created once and remembered, each segment
 * below it is one mkdir (EEXIST is fine). Falls back to a full recursive mkdir if `base` has vanished.
 */
export function makeDirs(base: string, ...segments: string[]): string {
  if (!knownDirs.has(base)) {
    fs.mkdirSync(base, { recursive: true });
    knownDirs.add(base);
  }
  let dir = base;
  for (const seg of segments) {
    dir = `${dir}/${seg}`;
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        knownDirs.delete(base);
        fs.mkdirSync(dir, { recursive: true });
      } else if (code !== 'EEXIST') throw e;
    }
  }
  return dir;
}

/** Removes stray temp files left by a crash mid-write (non-recursive). */
export function removeTempFiles(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) if (isTempFile(n)) fs.rmSync(`${dir}/${n}`, { force: true });
}

interface PendingAppend {
  data: string;
  durable: boolean;
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * An append-only JSON-lines journal with group commit: appends made while a flush is pending or running
 * share the next write and fdatasync. The write itself is synchronous (page cache, microseconds, and it
 * keeps appends in order without a pool round trip); only the fdatasync runs on the libuv pool.
 */
export class Journal {
  private queue: PendingAppend[] = [];
  private busy = false;

  constructor(readonly path: string) {}

  /**
   * Resolves once the records are written and, unless `durable` is false, fdatasync'ed. Non-durable
   * appends (acknowledgements: losing one only causes a duplicate send) skip the fdatasync unless they
   * share a batch with durable ones.
   */
  append(records: readonly unknown[], durable = true): Promise<void> {
    const data = records.map((r) => JSON.stringify(r) + '\n').join('');
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, durable, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  /** Resolves when everything appended so far is written (or failed). */
  async drain(): Promise<void> {
    if (this.busy || this.queue.length) await this.append([], false).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0);
    const data = batch.map((b) => b.data).join('');
    try {
      if (data) {
        const fd = fs.openSync(this.path, 'a', 0o600);
        try {
          const buf = Buffer.from(data);
          let off = 0;
          while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
          if (batch.some((b) => b.durable)) await fdatasync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
      for (const b of batch) b.resolve();
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
    if (this.queue.length) void this.flush();
    else this.busy = false;
  }
}

/**
 * Reads a journal, tolerating a torn tail: parsing stops at the first line that is incomplete (no newline)
 * or not valid JSON, and the file is truncated there so later appends start on a clean line.
 */
export function readJournal(path: string): { records: unknown[]; truncatedBytes: number } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], truncatedBytes: 0 };
    throw e;
  }
  const records: unknown[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const line = buf.subarray(pos, nl).toString('utf8');
    if (line.trim() !== '') {
      try {
        records.push(JSON.parse(line));
      } catch {
        break;
      }
    }
    pos = nl + 1;
  }
  const truncatedBytes = buf.length - pos;
  if (truncatedBytes > 0) fs.truncateSync(path, pos);
  return { records, truncatedBytes };
}
