// Offer filters (refusals) as Mesos's `RefusedOfferFilter`: a filter installed
// for (framework, role, agent) blocks re-offering any SUBSET of its resources
// to that framework/role on that agent until it expires.
import { containsResources, type Resources } from '../resources.ts';
import type { OfferFilter } from './types.ts';

/** Mesos `Filters.refuse_seconds` default. */
export const DEFAULT_REFUSE_SECONDS = 5;
/** Mesos caps refusals at 365 days. */
export const MAX_REFUSE_SECONDS = 365 * 24 * 60 * 60;

/**
 * `filters.refuse_seconds` → filter duration in ms, as Mesos's
 * `recoverResources`: missing, non-numeric, NaN or negative → 5 s; above
 * 365 days (incl. Infinity) → 365 days. 0 → 0, meaning "install no filter".
 */
export function refuseSecondsToMs(refuseSeconds: unknown): number {
  if (typeof refuseSeconds !== 'number' || Number.isNaN(refuseSeconds) || refuseSeconds < 0) {
    return DEFAULT_REFUSE_SECONDS * 1000;
  }
  if (refuseSeconds > MAX_REFUSE_SECONDS) return MAX_REFUSE_SECONDS * 1000;
  return refuseSeconds * 1000;
}

/** A filter is in force while `expiresAt > now`. */
export function isFilterActive(filter: OfferFilter, now: number): boolean {
  return filter.expiresAt > now;
}

/** The filters still in force at `now` (new array; input untouched). */
export function pruneExpiredFilters(filters: readonly OfferFilter[], now: number): OfferFilter[] {
  return filters.filter((f) => f.expiresAt > now);
}

/**
 * Mesos `isFiltered`: true when an active filter for (framework, role, agent)
 * contains all of `resources` (offering more than was refused is allowed).
 */
export function isFiltered(
  filters: readonly OfferFilter[],
  frameworkId: string,
  role: string,
  agentId: string,
  resources: Resources,
  now: number,
): boolean {
  for (const f of filters) {
    if (
      f.agentId === agentId &&
      f.frameworkId === frameworkId &&
      f.role === role &&
      f.expiresAt > now &&
      containsResources(f.resources, resources)
    ) {
      return true;
    }
  }
  return false;
}

/**
 * Active filters indexed agent → "framework\0role" → refused resources, so a
 * cycle over many agents only pays for the agents that have filters.
 */
export type FilterIndex = Map<string, Map<string, Resources[]>>;

const filterKey = (frameworkId: string, role: string): string => frameworkId + '\u0000' + role;

export function indexFilters(filters: readonly OfferFilter[], now: number): FilterIndex {
  const index: FilterIndex = new Map();
  for (const f of filters) {
    if (!(f.expiresAt > now)) continue;
    let byKey = index.get(f.agentId);
    if (!byKey) index.set(f.agentId, (byKey = new Map()));
    const key = filterKey(f.frameworkId, f.role);
    const list = byKey.get(key);
    if (list) list.push(f.resources);
    else byKey.set(key, [f.resources]);
  }
  return index;
}

/** `isFiltered` over one agent's slice of a `FilterIndex`. */
export function isFilteredIndexed(
  agentFilters: Map<string, Resources[]> | undefined,
  frameworkId: string,
  role: string,
  resources: Resources,
): boolean {
  if (agentFilters === undefined) return false;
  const refused = agentFilters.get(filterKey(frameworkId, role));
  if (!refused) return false;
  for (const r of refused) if (containsResources(r, resources)) return true;
  return false;
}
