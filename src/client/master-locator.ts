// Finding the leading master: the one abstraction every client of the master uses (agents, the
// scheduler client, the orchestrator, the CLI), so that all of them follow a failover the same way.
//
// A locator answers "where is the leader now?" (current), is told when that answer failed
// (invalidate), and, where it can learn of changes without being asked, announces them (onChange).
// The forms of the --master string are in master-spec.ts; the two implementations are
// url-locator.ts (ask masters over HTTP) and election-locator.ts (read the election in etcd).
import type { Store } from '../store/store.ts';
import type { Logger } from '../runtime/log.ts';
import { ElectionLocator } from './election-locator.ts';
import { parseMasterSpec, type MasterSpec } from './master-spec.ts';
import { UrlLocator } from './url-locator.ts';

export { parseMasterSpec, MASTER_FORMS, type MasterSpec } from './master-spec.ts';

export type InvalidateReason = 'unreachable' | 'refused';

/** How a failed request to the master should be reported to its locator, if at all. */
export function invalidateReasonOf(err: unknown): InvalidateReason | undefined {
  const e = err as { code?: unknown; details?: { status?: unknown } } | null;
  if (!e || e.code !== 'UNAVAILABLE') return undefined;
  const status = e.details?.status;
  if (status === undefined) return 'unreachable';
  return status === 503 ? 'refused' : undefined;
}

/** What a change notification says: the leader's base URL and, where known, its id (a new id at the same URL is a new term). */
export interface LeaderInfo {
  url: string;
  id?: string;
}

export interface MasterLocator {
  /** The --master text, for messages. */
  readonly description: string;
  /** The spec's form. */
  readonly kind: MasterSpec['kind'];
  /**
   * The leading master's base URL (http://host:port, no trailing slash). Cached; waits a bounded time
   * when no leader is known yet; UnavailableError when none can be found.
   */
  current(): Promise<string>;
  /**
   * The caller could not use `badUrl` (or the current answer): find the leader again next time.
   * 'unreachable' (default): no answer at all (down, paused, partitioned). 'refused': it answered 503
   * (not leading, or elected and still recovering); an etcd locator ignores that, since the election
   * record is the authority on who leads and that master will serve shortly.
   */
  invalidate(badUrl?: string, why?: InvalidateReason): void;
  /**
   * Calls cb whenever the known leader changes (undefined: none right now). Etcd locators learn of
   * changes by themselves; URL locators only when current() re-resolves. Returns an unsubscribe.
   */
  onChange(cb: (leader: LeaderInfo | undefined) => void): () => void;
  /** Idempotent; pending and later current() calls reject with UnavailableError. */
  close(): Promise<void>;
}

export interface MasterLocatorOptions {
  /** How long current() waits for a leader to appear (etcd) or for masters answering 503 to know one. Default 10 s. */
  leaderWaitMs?: number;
  /** Deadline of each /master/redirect probe (URL forms). Default 5 s. */
  probeTimeoutMs?: number;
  /** Opens the store of an etcd:// spec (default: openStore from src/store/open.ts). */
  openStore?: (url: string) => Promise<Store>;
  /** The election prefix (default MASTER_ELECTION). */
  electionPrefix?: string;
  log?: Logger;
}

/** A locator for a --master string (or an already parsed spec). */
export function createMasterLocator(spec: string | MasterSpec, opts: MasterLocatorOptions = {}): MasterLocator {
  const parsed = typeof spec === 'string' ? parseMasterSpec(spec) : spec;
  if (parsed.kind === 'etcd') {
    const open = opts.openStore ?? defaultOpenStore;
    return new ElectionLocator({ open: () => open(parsed.url), description: parsed.text, ...opts });
  }
  return new UrlLocator(parsed, opts);
}

/**
 * A locator reading the election from a store this process already holds (a master's own store, or
 * a shared in-memory store in tests). The store is not closed by the locator.
 */
export function storeMasterLocator(store: Store, opts: Omit<MasterLocatorOptions, 'openStore'> & { description?: string } = {}): MasterLocator {
  return new ElectionLocator({ store, description: opts.description ?? 'the election in the store', ...opts });
}

/** `locator` as given, or a new one for a --master string; `owned` says whether the caller must close it. */
export function locatorFor(master: string | MasterLocator, opts: MasterLocatorOptions = {}): { locator: MasterLocator; owned: boolean } {
  if (typeof master === 'string') return { locator: createMasterLocator(master, opts), owned: true };
  return { locator: master, owned: false };
}

async function defaultOpenStore(url: string): Promise<Store> {
  const { openStore } = await import('../store/open.ts');
  return openStore(url);
}
