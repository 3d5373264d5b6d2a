// The fetcher: before a command task starts, gets each of its CommandInfo.uris into the sandbox (in order, as
// Mesos's mesos-fetcher does), through the agent-wide cache when `cache` is set, then makes it executable or
// extracts it. What it does is appended to the sandbox's `stderr`, as Mesos's fetcher output is. The first
// failure stops the fetch with a message in Mesos's words naming the URI and the cause.
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../runtime/clock.ts';
import type { Logger } from '../../runtime/log.ts';
import { extractArchive, unlinkIfSymlink } from './archive.ts';
import { FetcherCache } from './cache.ts';
import { obtain, type DownloadOptions, type FetchFn } from './download.ts';
import { FetchAbortedError, FetchError } from './fetch-error.ts';
import type { FetcherSettings } from './options.ts';
import { planFetch, type CommandURI, type FetchItem } from './uri.ts';

export interface FetcherDeps extends FetcherSettings {
  clock: Clock;
  log: Logger;
  /** Only for tests: replaces the global fetch. */
  fetchFn?: FetchFn;
}

export interface FetchRequest {
  uris: readonly CommandURI[];
  /** The run's sandbox (exists). */
  sandbox: string;
  containerId: string;
  signal: AbortSignal;
  /** The task's user when the agent switches users: fetched files are handed to it. */
  owner?: { uid: number; gid: number };
}

/** Progress lines in the sandbox at most every this many bytes. */
const PROGRESS_EVERY_BYTES = 64 * 1024 * 1024;

export class Fetcher {
  readonly cache: FetcherCache;
  readonly counters = { succeeded: 0, failed: 0 };

  constructor(private deps: FetcherDeps) {
    this.cache = new FetcherCache(deps.cacheDir, deps.cacheSizeBytes, deps.log.child('cache'));
  }

  init(): Promise<void> {
    return this.cache.init();
  }

  close(): void {
    this.cache.close();
  }

  /**
   * Fetches every URI into the sandbox. Rejects with a FetchError whose message reads as Mesos's ("Failed to fetch
   * all URIs for container '<id>': …"), or FetchAbortedError when `signal` fired.
   */
  async fetchAll(req: FetchRequest): Promise<void> {
    const sandboxLog = new SandboxLog(path.join(req.sandbox, 'stderr'), this.deps.clock, this.deps.log);
    try {
      for (const uri of req.uris) await this.fetchOne(uri, req, sandboxLog);
      if (req.owner) await chownTree(req.sandbox, req.owner, req.signal);
      this.counters.succeeded++;
      await sandboxLog.line(`Fetched ${req.uris.length} URI(s) into the sandbox`);
    } catch (e) {
      if (req.signal.aborted || e instanceof FetchAbortedError) {
        await sandboxLog.line('Fetch cancelled');
        throw new FetchAbortedError();
      }
      this.counters.failed++;
      const message = `Failed to fetch all URIs for container '${req.containerId}': ${(e as Error).message}`;
      await sandboxLog.line(message);
      throw e instanceof FetchError ? new FetchError(e.code, message, e.details) : new FetchError('UNAVAILABLE', message);
    }
  }

  private async fetchOne(uri: CommandURI, req: FetchRequest, log: SandboxLog): Promise<void> {
    let item: FetchItem;
    try {
      item = planFetch(uri);
    } catch (e) {
      throw new FetchError((e as FetchError).code ?? 'BAD_REQUEST', `Failed to fetch '${uri.value}': ${(e as Error).message}`);
    }
    const fail = (e: unknown): never => {
      if (e instanceof FetchAbortedError || req.signal.aborted) throw new FetchAbortedError();
      throw new FetchError(e instanceof FetchError ? e.code : 'UNAVAILABLE', `Failed to fetch '${item.uri}': ${(e as Error).message}`, { uri: item.uri });
    };
    const started = this.deps.clock.now();
    await log.line(`Fetching URI '${item.uri}'${item.cache ? ' (cached)' : ''}`);
    let dest: string;
    let bytes: number;
    try {
      dest = await this.destination(req.sandbox, item.dest);
      bytes = item.cache ? await this.viaCache(item, dest, req, log) : await this.direct(item, dest, req, log);
    } catch (e) {
      return fail(e);
    }
    this.deps.log.info('fetched', { uri: item.uri, bytes, ms: this.deps.clock.now() - started, cache: item.cache, container: req.containerId });
    try {
      if (item.executable) {
        await fs.promises.chmod(dest, 0o755);
        await log.line(`Made '${item.dest}' executable`);
      } else if (item.extract) {
        await log.line(`Extracting '${item.dest}' (${item.extract}) into the sandbox`);
        const into = item.extract === 'gzip' ? path.dirname(dest) : req.sandbox;
        await extractArchive(dest, item.extract, into, { signal: req.signal, maxBytes: this.deps.maxSizeBytes });
      }
    } catch (e) {
      return fail(e);
    }
    await log.line(`Fetched '${item.uri}' to '${item.dest}' (${bytes} bytes)`);
  }

  /** The absolute destination; output_file's directories are created and must resolve inside the sandbox. */
  private async destination(sandbox: string, rel: string): Promise<string> {
    const dest = path.join(sandbox, rel);
    const dir = path.dirname(dest);
    await fs.promises.mkdir(dir, { recursive: true });
    const [realSandbox, realDir] = await Promise.all([fs.promises.realpath(sandbox), fs.promises.realpath(dir)]);
    if (realDir !== realSandbox && !realDir.startsWith(realSandbox + path.sep)) throw new FetchError('BAD_REQUEST', `output_file '${rel}' resolves outside the sandbox`);
    await unlinkIfSymlink(dest);
    return dest;
  }

  private downloadOptions(req: FetchRequest, log: SandboxLog, signal: AbortSignal): DownloadOptions {
    let nextReport = PROGRESS_EVERY_BYTES;
    return {
      signal,
      clock: this.deps.clock,
      maxBytes: this.deps.maxSizeBytes,
      stallTimeoutMs: this.deps.stallTimeoutMs,
      ...(this.deps.fetchFn ? { fetchFn: this.deps.fetchFn } : {}),
      ...(req.owner ? { owner: req.owner } : {}),
      onProgress: (bytes, total) => {
        if (bytes < nextReport) return;
        nextReport = bytes + PROGRESS_EVERY_BYTES;
        void log.line(`Downloaded ${mib(bytes)}${total !== undefined ? ` of ${mib(total)}` : ''}`);
      },
    };
  }

  private async direct(item: FetchItem, dest: string, req: FetchRequest, log: SandboxLog): Promise<number> {
    try {
      return await obtain(item.source, dest, this.downloadOptions(req, log, req.signal));
    } catch (e) {
      await fs.promises.rm(dest, { force: true }).catch(() => undefined);
      throw e;
    }
  }

  private async viaCache(item: FetchItem, dest: string, req: FetchRequest, log: SandboxLog): Promise<number> {
    // The shared download is not tied to this task's signal: the cache cancels it once nobody waits any more.
    // Keyed by user too (as Mesos's cache is), so a user never gets a local file only another user may read.
    const key = req.owner ? `${req.owner.uid}:${item.uri}` : item.uri;
    const cached = await this.cache.get(key, (file, signal) => obtain(item.source, file, this.downloadOptions(req, log, signal)), req.signal);
    try {
      await log.line(cached.hit ? `Using the cached copy of '${item.uri}'` : `Downloaded '${item.uri}' into the cache`);
      await fs.promises.copyFile(cached.path, dest);
      return (await fs.promises.stat(dest)).size;
    } finally {
      cached.release();
    }
  }

  /** Mesos's containerizer/fetcher/* metrics. */
  metrics(): Record<string, number> {
    return {
      'containerizer/fetcher/cache_size_total_bytes': this.cache.index.capacity,
      'containerizer/fetcher/cache_size_used_bytes': this.cache.index.used,
      'containerizer/fetcher/task_fetches_succeeded': this.counters.succeeded,
      'containerizer/fetcher/task_fetches_failed': this.counters.failed,
    };
  }
}

const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

/** Appends lines to the sandbox's stderr (the task's own output is appended after them). */
class SandboxLog {
  constructor(
    private file: string,
    private clock: Clock,
    private log: Logger,
  ) {}

  async line(text: string): Promise<void> {
    this.log.debug(text);
    await fs.promises.appendFile(this.file, `${new Date(this.clock.now()).toISOString()} fetcher: ${text}\n`).catch(() => undefined);
  }
}

/** Hands everything in the sandbox to the task's user (the fetch ran as the agent's). */
async function chownTree(root: string, owner: { uid: number; gid: number }, signal: AbortSignal): Promise<void> {
  const stack = [root];
  while (stack.length) {
    if (signal.aborted) throw new FetchAbortedError();
    const dir = stack.pop()!;
    for (const d of await fs.promises.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      await fs.promises.lchown(p, owner.uid, owner.gid);
      if (d.isDirectory()) stack.push(p);
    }
  }
}
