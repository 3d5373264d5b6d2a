// The fetcher's agent flags (Mesos's --fetcher_cache_dir, --fetcher_cache_size, --fetcher_stall_timeout, plus a
// per-artifact size bound Mesos leaves to the disk isolator) and their defaults.
import path from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../../protocol/validate.ts';

/** Mesos's default --fetcher_cache_size. */
export const DEFAULT_CACHE_SIZE_BYTES = 2 * 1024 ** 3;
/** One artifact (download, copy or extracted archive) may not exceed this; a runaway URL must not fill the disk. */
export const DEFAULT_MAX_SIZE_BYTES = 4 * 1024 ** 3;
/** Mesos's default --fetcher_stall_timeout: a download that receives nothing for this long fails. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export const defaultCacheDir = (workDir: string): string => path.join(workDir, 'fetcher-cache');

export interface FetcherSettings {
  cacheDir: string;
  cacheSizeBytes: number;
  maxSizeBytes: number;
  stallTimeoutMs: number;
}

const UNIT_BYTES: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A Mesos byte size ("2GB", "512MB", "10KB", "100B") or a plain number of bytes → bytes. */
export const ByteSizeText = z.string().transform((text, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = (m?.[2] || 'B').toUpperCase();
  const size = UNIT_BYTES[unit];
  if (!m || size === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 2GB, 512MB, 10KB or a number of bytes, got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  const bytes = Math.floor(Number(m[1]) * size);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: `must be a positive size, got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  return bytes;
});

/** Throws a ValidationError (prefixed with `what`) when `text` is not a byte size. */
export const parseByteSize = (text: string, what = ''): number => parseOrThrow(ByteSizeText, text, what);

/** 2147483648 → "2GB" (as /flags shows Mesos's Bytes). */
export function formatBytes(n: number): string {
  for (const unit of ['TB', 'GB', 'MB', 'KB'] as const) {
    const size = UNIT_BYTES[unit]!;
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n}B`;
}

/** The agent options that configure the fetcher (AgentOptions has them under these names). */
export interface FetcherOptions {
  fetcherCacheDir?: string;
  fetcherCacheSizeBytes?: number;
  fetcherMaxSizeBytes?: number;
  fetcherStallTimeoutMs?: number;
}

export function fetcherSettings(o: FetcherOptions, workDir: string): FetcherSettings {
  return {
    cacheDir: path.resolve(workDir, o.fetcherCacheDir ?? defaultCacheDir(workDir)),
    cacheSizeBytes: o.fetcherCacheSizeBytes ?? DEFAULT_CACHE_SIZE_BYTES,
    maxSizeBytes: o.fetcherMaxSizeBytes ?? DEFAULT_MAX_SIZE_BYTES,
    stallTimeoutMs: o.fetcherStallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
  };
}

/** The agent's /flags entries, in Mesos's names. */
export function fetcherFlags(s: FetcherSettings): Record<string, string> {
  return {
    fetcher_cache_dir: s.cacheDir,
    fetcher_cache_size: formatBytes(s.cacheSizeBytes),
    fetcher_max_size: formatBytes(s.maxSizeBytes),
    fetcher_stall_timeout: `${s.stallTimeoutMs}ms`,
  };
}
