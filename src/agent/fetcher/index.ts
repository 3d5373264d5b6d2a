// The fetcher component's surface (used by the agent's task manager and wiring).
export { Fetcher, type FetcherDeps, type FetchRequest } from './fetcher.ts';
export { FetchAbortedError, FetchError } from './fetch-error.ts';
export {
  DEFAULT_CACHE_SIZE_BYTES,
  DEFAULT_MAX_SIZE_BYTES,
  DEFAULT_STALL_TIMEOUT_MS,
  defaultCacheDir,
  fetcherFlags,
  fetcherSettings,
  formatBytes,
  parseByteSize,
  type FetcherOptions,
  type FetcherSettings,
} from './options.ts';
