// Shared CLI plumbing: errors with exit codes, option parsers, output
// (aligned tables, JSON), signals, and formatting of legacy resources.
import { InvalidArgumentError, Option } from 'commander';
import { CorralError, UnavailableError } from '../protocol/errors.ts';
import type { LegacyResources } from '../client/operator-client.ts';
import { parseMasterSpec } from '../client/master-spec.ts';

export const DEFAULT_MASTER = 'http://127.0.0.1:5050';

/** An expected failure: one line on stderr, no stack trace, `exitCode` (1 by default). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad invocation (exit code 2, like commander's own usage errors). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * `--master` with CORRAL_MASTER as the fallback: a master URL, a comma-separated list of master URLs,
 * or etcd://host:port[,host:port] (the masters' etcd; the leader is read from its election). Checked
 * here so that a typo is a usage error naming the bad part; the value stays the text as given.
 */
export function masterOption(description = 'master URL'): Option {
  return new Option('--master <master>', `${description}: http://host:port, a comma-separated list of them, or etcd://host:port[,host:port]`)
    .env('CORRAL_MASTER')
    .default(DEFAULT_MASTER)
    .argParser(parseMasterArg);
}

export function parseMasterArg(value: string): string {
  try {
    parseMasterSpec(value, 'master');
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^master: /, ''));
  }
  return value.trim();
}

/** The one-line message for an error; adds hints for the common cases. */
export function describeError(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof UnavailableError && err.details.peer === 'master' && /^cannot reach (any )?master/.test(err.message)) {
    return `${err.message} (is \`corral dev\` running? set --master or CORRAL_MASTER to point elsewhere)`;
  }
  if (err instanceof CorralError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Is this error one we anticipate (no stack trace)? */
export function isExpected(err: unknown): boolean {
  return err instanceof CliError || err instanceof CorralError;
}

// ---- option parsers (throwing InvalidArgumentError makes commander report a usage error) ----

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port number between 0 and 65535');
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

export function parseNonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseLogLevel(value: string): 'debug' | 'info' | 'warn' | 'error' {
  if (value === 'debug' || value === 'info' || value === 'warn' || value === 'error') return value;
  throw new InvalidArgumentError('expected debug, info, warn or error');
}

// ---- output ----

const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
export const bold = (s: string): string => (useColor() ? `\x1b[1m${s}\x1b[22m` : s);

/** Aligned columns separated by two spaces; the header is bold on a TTY only. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [bold(line(headers)), ...cells.map(line)].join('\n') + '\n';
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** One JSON object per line (streams: `corral dev --json`, `corral task run --json`). */
export function jsonLine(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

// ---- resources ----

export function scalar(res: LegacyResources | undefined, name: string): number {
  const v = res?.[name];
  return typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : 0;
}

const round = (n: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export function fmtCpus(n: number): string {
  return String(round(n, 2));
}

/** MB → "512M", "1.5G". */
export function fmtMb(mb: number): string {
  if (mb >= 1024 * 1024) return `${round(mb / (1024 * 1024), 1)}T`;
  if (mb >= 1024) return `${round(mb / 1024, 1)}G`;
  return `${round(mb, 0)}M`;
}

export function usedTotal(used: LegacyResources | undefined, total: LegacyResources | undefined, name: 'cpus' | 'mem' | 'disk'): string {
  const f = name === 'cpus' ? fmtCpus : fmtMb;
  return `${f(scalar(used, name))}/${f(scalar(total, name))}`;
}

/** Scalars of interest as numbers: {cpus, mem, disk, gpus}. */
export function scalars(res: LegacyResources | undefined): { cpus: number; mem: number; disk: number; gpus: number } {
  return { cpus: scalar(res, 'cpus'), mem: scalar(res, 'mem'), disk: scalar(res, 'disk'), gpus: scalar(res, 'gpus') };
}

// ---- time ----

export function isoTime(seconds: number | undefined): string {
  return new Date(seconds !== undefined ? seconds * 1000 : Date.now()).toISOString();
}

export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

// ---- signals ----

export type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * Calls `onFirst` on the first SIGINT/SIGTERM and `onSecond` on any later one (e.g. to force an
 * exit while a graceful stop is in progress). Returns a function that removes the handlers.
 */
export function onStopSignals(onFirst: (sig: StopSignal) => void, onSecond?: (sig: StopSignal) => void): () => void {
  let count = 0;
  const handler = (sig: StopSignal) => {
    count++;
    if (count === 1) onFirst(sig);
    else onSecond?.(sig);
  };
  const int = () => handler('SIGINT');
  const term = () => handler('SIGTERM');
  process.on('SIGINT', int);
  process.on('SIGTERM', term);
  return () => {
    process.off('SIGINT', int);
    process.off('SIGTERM', term);
  };
}

/**
 * Resolves with the first SIGINT/SIGTERM, for a server running in the foreground; a second signal
 * exits at once (a stuck shutdown can always be interrupted).
 */
export function untilStopSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    onStopSignals(resolve, () => {
      err('second signal: exiting at once');
      process.exit(1);
    });
  });
}

export const signalExitCode = (sig: StopSignal): number => (sig === 'SIGINT' ? 130 : 143);

/** Resolves after `ms` (keeps the process alive meanwhile, as a poll loop must). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or `fallback()` after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: () => T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'__timeout__'>((resolve) => {
    timer = setTimeout(() => resolve('__timeout__'), ms);
  });
  try {
    const r = await Promise.race([promise, t]);
    return r === '__timeout__' ? await fallback() : (r as T);
  } finally {
    clearTimeout(timer);
  }
}

/** Is `err` a listen failure because the port is taken? */
export function isAddrInUse(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!e) return false;
  if (e.code === 'EADDRINUSE') return true;
  if (typeof e.message === 'string' && e.message.includes('EADDRINUSE')) return true;
  return e.cause ? isAddrInUse(e.cause) : false;
}

/** Is `err` the embedded store refusing a second opener? */
export function isStoreLocked(err: unknown): boolean {
  return err instanceof UnavailableError && /already open/.test(err.message);
}

/**
 * JSON event lines that may happen before the `ready` line (leadership changes while starting): they
 * are held back until ready() has printed it, so that `ready` is always the first line.
 */
export function eventsAfterReady<E>(json: boolean | undefined): { report: (e: E) => void; ready: (line: Record<string, unknown>) => void } {
  let isReady = false;
  const pending: E[] = [];
  return {
    report(e) {
      if (!json) return;
      if (isReady) jsonLine(e);
      else pending.push(e);
    },
    ready(line) {
      if (json) jsonLine(line);
      isReady = true;
      for (const e of pending.splice(0)) jsonLine(e);
    },
  };
}

/**
 * The foreground servers' way out: stop the server (what `what` names), then close its store; print
 * {"event":"stopped","ok":…} with --json; a failure of either makes the exit status 1.
 */
export async function stopServerAndStore(
  log: { error(msg: string, fields?: Record<string, unknown>): void },
  what: string,
  server: { close(): Promise<void> },
  store: { close(): Promise<void> },
  json: boolean | undefined,
): Promise<void> {
  let ok = true;
  await server.close().catch((e: Error) => {
    ok = false;
    log.error(`stopping the ${what} failed`, { error: e.message });
  });
  await store.close().catch((e: Error) => {
    ok = false;
    log.error('closing the store failed', { error: e.message });
  });
  if (json) jsonLine({ event: 'stopped', ok });
  if (!ok) process.exitCode = 1;
}
