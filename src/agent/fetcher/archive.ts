// Extracts a fetched archive into the sandbox with the system's GNU tar and Info-ZIP unzip (as Mesos's fetcher
// does), after listing it and checking every member (archive-entries.ts) and every path it would write against
// symlinks already in the sandbox. Single .gz files are gunzipped in-process. All of it is asynchronous and
// cancellable: child processes are killed on abort.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parseTarListing, parseZipListing, pathsWritten, unsafeEntry, ListingError, type ArchiveEntry } from './archive-entries.ts';
import { FetchAbortedError, FetchError } from './fetch-error.ts';
import type { ArchiveKind } from './uri.ts';

/** A listing bigger than this is refused rather than held in memory (~100k members). */
const MAX_LISTING_BYTES = 32 * 1024 * 1024;

export interface ExtractOptions {
  signal: AbortSignal;
  /** Bound on the total size written. */
  maxBytes: number;
}

interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCommand(cmd: string, args: string[], signal: AbortSignal, maxStdout = MAX_LISTING_BYTES): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new FetchAbortedError());
    // C locale: stable, byte-escaped listings whatever the agent's environment.
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failure: Error | undefined;
    const onAbort = () => {
      failure ??= new FetchAbortedError();
      child.kill('SIGKILL');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > maxStdout) {
        failure ??= new FetchError('PAYLOAD_TOO_LARGE', `${cmd}'s listing is larger than ${maxStdout} bytes`);
        child.kill('SIGKILL');
        return;
      }
      out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      failure ??= new FetchError('UNAVAILABLE', e.code === 'ENOENT' ? `'${cmd}' is not installed on this agent` : `${cmd}: ${e.message}`);
    });
    child.once('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: err });
    });
  });
}

const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';

async function list(file: string, kind: 'tar' | 'zip', signal: AbortSignal): Promise<ArchiveEntry[]> {
  const r =
    kind === 'tar'
      ? await runCommand('tar', ['-t', '-v', '-P', '--quoting-style=c', '--numeric-owner', '--full-time', '-f', file], signal)
      : await runCommand('unzip', ['-Z', '-s', file], signal);
  if (r.code !== 0) throw new FetchError('BAD_REQUEST', `cannot read the archive: ${lastLine(r.stderr) || lastLine(r.stdout) || `exit status ${r.code}`}`);
  try {
    return kind === 'tar' ? parseTarListing(r.stdout) : parseZipListing(r.stdout);
  } catch (e) {
    if (e instanceof ListingError) throw new FetchError('BAD_REQUEST', `cannot check the archive: ${e.message}`);
    throw e;
  }
}

/** No path the archive writes may already be a symlink in the sandbox (from an earlier URI of the same task). */
async function checkExisting(destDir: string, paths: string[]): Promise<void> {
  for (const rel of paths) {
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(path.join(destDir, rel));
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) throw new FetchError('BAD_REQUEST', `unsafe archive: it would write through the existing symlink '${rel}' in the sandbox`);
  }
}

/** Extracts `file` (a tar in any compression tar detects, a zip, or one gzipped file) into `destDir`. */
export async function extractArchive(file: string, kind: ArchiveKind, destDir: string, o: ExtractOptions): Promise<void> {
  if (kind === 'gzip') return gunzipFile(file, o);
  const entries = await list(file, kind, o.signal);
  const backslash = kind === 'zip';
  const unsafe = unsafeEntry(entries, { maxBytes: o.maxBytes, backslash });
  if (unsafe) throw new FetchError('BAD_REQUEST', `unsafe archive: ${unsafe}`);
  await checkExisting(destDir, pathsWritten(entries, backslash));
  const r =
    kind === 'tar'
      ? await runCommand('tar', ['-x', '-f', file, '-C', destDir, '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir'], o.signal)
      : await runCommand('unzip', ['-o', '-q', file, '-d', destDir], o.signal);
  if (r.code !== 0) throw new FetchError('BAD_REQUEST', `extraction failed: ${lastLine(r.stderr) || lastLine(r.stdout) || `exit status ${r.code}`}`);
}

/** A file about to be (re)written: a symlink in its place is replaced, never written through (as tar does). */
export async function unlinkIfSymlink(file: string): Promise<void> {
  const st = await fs.promises.lstat(file).catch(() => undefined);
  if (st?.isSymbolicLink()) await fs.promises.unlink(file);
}

/** `x.gz` → `x` next to it (as Mesos's `gzip -dc`), bounded in size. */
async function gunzipFile(file: string, o: ExtractOptions): Promise<void> {
  const dest = file.replace(/\.gz$/i, '');
  await unlinkIfSymlink(dest);
  let written = 0;
  const bound = new Transform({
    transform(chunk: Buffer, _enc, done) {
      written += chunk.length;
      if (written > o.maxBytes) done(new FetchError('PAYLOAD_TOO_LARGE', `the decompressed file is larger than ${o.maxBytes} bytes`));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(fs.createReadStream(file), createGunzip(), bound, fs.createWriteStream(dest, { mode: 0o644 }), { signal: o.signal });
  } catch (e) {
    await fs.promises.rm(dest, { force: true }).catch(() => undefined);
    if (o.signal.aborted) throw new FetchAbortedError();
    if (e instanceof FetchError) throw e;
    throw new FetchError('BAD_REQUEST', `cannot gunzip: ${(e as Error).message}`);
  }
}
