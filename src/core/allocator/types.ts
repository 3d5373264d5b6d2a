// Input/output shapes of the pure allocator (Mesos HierarchicalDRF, no quota;
// reservations are keys of the resources, see core/resource-keys.ts). Everything the allocator needs is passed in; it keeps no
// state between calls, so the caller (the master's allocator actor) owns time,
// filters, suppression and accounting of what it hands out.
import type { Resources } from '../resources.ts';

export interface AllocatorAgent {
  id: string;
  hostname: string;
  total: Resources;
  /** total minus what is used by tasks and outstanding offers (so it has no key `total` lacks) */
  available: Resources;
  /** inactive/deactivated agents get no offers (their totals still count in shares, as in Mesos) */
  active: boolean;
}

export interface AllocatorFramework {
  id: string;
  /** roles it is subscribed to */
  roles: string[];
  /** disconnected frameworks get no offers */
  active: boolean;
  suppressedRoles: string[];
  /** e.g. 'GPU_RESOURCES'; agents with gpus > 0 are only offered to frameworks having it */
  capabilities: string[];
  /** per role: resources currently used by its tasks + its outstanding offers (all agents) */
  allocated: Record<string, Resources>;
  /** per-role override of minAllocatable (FrameworkInfo.offer_filters); [] = no minimum */
  minAllocatable?: Record<string, Array<Record<string, number>>>;
}

/** A refusal installed by DECLINE / partial ACCEPT with `filters.refuse_seconds`. */
export interface OfferFilter {
  frameworkId: string;
  role: string;
  agentId: string;
  resources: Resources;
  /** ms epoch; the filter is in force while expiresAt > now */
  expiresAt: number;
}

export interface AllocationInput {
  now: number;
  agents: AllocatorAgent[];
  frameworks: AllocatorFramework[];
  /** role -> weight, default 1 */
  weights: Record<string, number>;
  filters: OfferFilter[];
  /** OR of AND-sets, Mesos default [{cpus:0.01},{mem:32}]; quantity of ranges/sets = element count; [] = no minimum */
  minAllocatable: Array<Record<string, number>>;
  /** injected randomness in [0, 1) for agent shuffling (Mesos shuffles agents each cycle) */
  random: () => number;
}

/** One offer: all of one agent's available resources, to one role of one framework. */
export interface Allocation {
  frameworkId: string;
  role: string;
  agentId: string;
  resources: Resources;
}
