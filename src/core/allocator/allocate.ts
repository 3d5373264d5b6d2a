// One batch allocation cycle of Mesos's HierarchicalDRF allocator
// (src/master/allocator/mesos/hierarchical.cpp `__allocate`, stage 2; no quota),
// as a pure function of its input.
//
//   shuffle agents (injected randomness)
//   for each active agent with available resources:
//     for each role in weighted-DRF order (role sorter):
//       offerable = the agent's unreserved resources + those reserved for exactly this role
//       for each framework of the role in DRF order (that role's framework sorter):
//         skip if inactive / role suppressed / GPU agent without GPU_RESOURCES /
//              offerable below min_allocatable / filtered by a refusal;
//         offer ALL of offerable to (framework, role), account it in both sorters;
//     agents without reservations are done after one offer; on an agent with
//     reservations the walk repeats over what is left (other roles' reservations),
//     so every role gets its reserved resources and nobody else ever does.
//
// Shares are computed against the cluster total of every agent in the input
// (inactive agents included, as Mesos keeps deactivated agents in its sorters)
// and count every framework's `allocated` (tasks + outstanding offers) in the
// role, including suppressed or disconnected frameworks. Shares are per resource
// NAME: reserved `cpus@ops` counts as `cpus` (Mesos strips reservations from the
// quantities its sorters see), so reserved allocations weigh on their role's share.
import { keyName } from '../resource-keys.ts';
import { allocatableTo, collapseByName, hasReservations, subtractResources, type Resources } from '../resources.ts';
import { indexFilters, isFilteredIndexed } from './filters.ts';
import { meetsMinAllocatable, type MinAllocatable } from './min-allocatable.ts';
import { DrfSorter } from './sorter.ts';
import type { Allocation, AllocationInput, AllocatorAgent } from './types.ts';

export const GPU_RESOURCES_CAPABILITY = 'GPU_RESOURCES';
export const DEFAULT_WEIGHT = 1;

interface Candidate {
  readonly gpu: boolean;
  /** Per-role override of min_allocatable; undefined = use the global one. */
  readonly min: MinAllocatable | undefined;
}

interface RoleState {
  readonly candidates: Map<string, Candidate>;
  readonly frameworkSorter: DrfSorter;
  /** Candidates with GPU_RESOURCES: GPU agents skip roles that have none. */
  gpuCandidates: number;
}

function own<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

function weightOf(weights: Record<string, number>, role: string): number {
  const w = own(weights, role);
  return typeof w === 'number' && Number.isFinite(w) && w > 0 ? w : DEFAULT_WEIGHT;
}

/** Adds scalars by resource name (reserved keys count under their plain name); true when some key was reserved. */
function addScalarsInto(into: Record<string, number>, scalars: Record<string, number>): boolean {
  let reserved = false;
  for (const k in scalars) {
    const v = scalars[k]!;
    if (!(v > 0)) continue;
    const n = keyName(k);
    if (n !== k) reserved = true;
    into[n] = (into[n] ?? 0) + v;
  }
  return reserved;
}

function anyReservedKey(r: Record<string, unknown>): boolean {
  for (const k in r) if (keyName(k) !== k) return true;
  return false;
}

/** `scalars` keyed by resource name, for the sorters; the same object when nothing is reserved (hot path). */
function namedScalars(scalars: Record<string, number>): Record<string, number> {
  for (const k in scalars) {
    if (keyName(k) !== k) {
      const out: Record<string, number> = Object.create(null);
      addScalarsInto(out, scalars);
      return out;
    }
  }
  return scalars;
}

/** Quantity of GPUs on an agent, reserved ones included. */
function gpusOf(total: Resources, reserved: boolean): number {
  if (!reserved) return own(total.scalars, 'gpus') ?? 0;
  let n = 0;
  for (const k in total.scalars) if (keyName(k) === 'gpus') n += total.scalars[k]!;
  return n;
}

/** A copy of `r` without empty entries (what goes into an offer). Hot path: plain loops. */
function offerOf(r: Resources): Resources {
  const scalars: Record<string, number> = {};
  const ranges: Resources['ranges'] = {};
  const sets: Resources['sets'] = {};
  for (const k in r.scalars) {
    const v = r.scalars[k]!;
    if (v > 0) scalars[k] = v;
  }
  for (const k in r.ranges) {
    const src = r.ranges[k]!;
    if (src.length === 0) continue;
    const copy = new Array<{ begin: number; end: number }>(src.length);
    for (let i = 0; i < src.length; i++) copy[i] = { begin: src[i]!.begin, end: src[i]!.end };
    ranges[k] = copy;
  }
  for (const k in r.sets) {
    const src = r.sets[k]!;
    if (src.length) sets[k] = src.slice();
  }
  return { scalars, ranges, sets };
}

/** Same answer as `isEmptyResources`, without allocating. */
function hasAny(r: Resources): boolean {
  for (const k in r.scalars) if (r.scalars[k]! > 0) return true;
  for (const k in r.ranges) if (r.ranges[k]!.length > 0) return true;
  for (const k in r.sets) if (r.sets[k]!.length > 0) return true;
  return false;
}

/** Fisher–Yates over a copy, drawing from the injected `random` (n-1 draws). */
export function shuffleAgents<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    let j = Math.floor(random() * (i + 1));
    if (!(j >= 0)) j = 0; // NaN / negative from a bad source
    else if (j > i) j = i;
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

export function allocate(input: AllocationInput): Allocation[] {
  const { now, weights, random } = input;
  const globalMin: MinAllocatable = input.minAllocatable;

  // Cluster totals over all (distinct) agents, computed once.
  const agents: AllocatorAgent[] = [];
  const seenAgents = new Set<string>();
  const rawTotal: Record<string, number> = Object.create(null);
  // Agents whose total has reserved keys (an agent's available resources never have keys its total lacks).
  const reservedAgents = new Set<string>();
  for (const agent of input.agents) {
    if (seenAgents.has(agent.id)) continue;
    seenAgents.add(agent.id);
    agents.push(agent);
    const t = agent.total;
    if (addScalarsInto(rawTotal, t.scalars) || anyReservedKey(t.ranges) || anyReservedKey(t.sets)) reservedAgents.add(agent.id);
  }
  const total: Record<string, number> = Object.create(null);
  for (const k in rawTotal) total[k] = Math.round(rawTotal[k]! * 1000) / 1000;

  // Role allocations (every framework) and offer candidates per role.
  const roleAllocation = new Map<string, Record<string, number>>();
  const roles = new Map<string, RoleState>();
  const seenFrameworks = new Set<string>();
  let anyGpuCandidate = false;
  let anyMinOverride = false;
  for (const fw of input.frameworks) {
    if (seenFrameworks.has(fw.id)) continue;
    seenFrameworks.add(fw.id);
    for (const role of Object.keys(fw.allocated)) {
      let acc = roleAllocation.get(role);
      if (!acc) roleAllocation.set(role, (acc = Object.create(null) as Record<string, number>));
      addScalarsInto(acc, fw.allocated[role]!.scalars);
    }
    if (!fw.active) continue;
    const suppressed = new Set(fw.suppressedRoles);
    const gpu = fw.capabilities.includes(GPU_RESOURCES_CAPABILITY);
    for (const role of fw.roles) {
      if (suppressed.has(role)) continue;
      let state = roles.get(role);
      if (!state) {
        const frameworkSorter = new DrfSorter();
        frameworkSorter.setTotal(total);
        roles.set(role, (state = { candidates: new Map(), frameworkSorter, gpuCandidates: 0 }));
      }
      if (state.candidates.has(fw.id)) continue;
      const min = own(fw.minAllocatable, role);
      if (min !== undefined) anyMinOverride = true;
      if (gpu) {
        anyGpuCandidate = true;
        state.gpuCandidates++;
      }
      state.candidates.set(fw.id, { gpu, min });
      state.frameworkSorter.add(fw.id);
      const mine = own(fw.allocated, role);
      if (mine) state.frameworkSorter.allocate(fw.id, namedScalars(mine.scalars));
    }
  }
  if (roles.size === 0) return [];

  // Only roles with someone to offer to take part in the walk; the relative
  // order of those is unaffected by the roles left out.
  const roleSorter = new DrfSorter();
  roleSorter.setTotal(total);
  for (const role of roles.keys()) {
    roleSorter.add(role, weightOf(weights, role));
    const acc = roleAllocation.get(role);
    if (acc) roleSorter.allocate(role, acc);
  }

  const filters = indexFilters(input.filters, now);
  const out: Allocation[] = [];

  /**
   * An agent with reservations: repeatedly offer, in DRF order, what the first eligible (role,
   * framework) may have (unreserved + reserved for that role) until nothing offerable is left. Each
   * round takes every resource allocatable to one role, so it ends after at most roles + 1 rounds.
   */
  const allocateReserved = (agentId: string, available: Resources, gpuAgent: boolean, agentFilters: ReturnType<typeof filters.get>): void => {
    let remaining = available;
    for (let round = 0; round <= roleSorter.size && hasAny(remaining); round++) {
      let chosen: { role: string; state: RoleState; frameworkId: string; offerable: Resources } | undefined;
      roles: for (let ri = 0; ri < roleSorter.size; ri++) {
        const role = roleSorter.nameAt(ri);
        const state = roles.get(role)!;
        if (gpuAgent && state.gpuCandidates === 0) continue;
        const offerable = allocatableTo(remaining, role);
        if (!hasAny(offerable)) continue;
        const quantities = collapseByName(offerable);
        const globalOk = meetsMinAllocatable(quantities, globalMin);
        const sorter = state.frameworkSorter;
        for (let fi = 0; fi < sorter.size; fi++) {
          const frameworkId = sorter.nameAt(fi);
          const c = state.candidates.get(frameworkId)!;
          if (gpuAgent && !c.gpu) continue;
          if (c.min === undefined ? !globalOk : !meetsMinAllocatable(quantities, c.min)) continue;
          if (agentFilters !== undefined && isFilteredIndexed(agentFilters, frameworkId, role, offerable)) continue;
          chosen = { role, state, frameworkId, offerable };
          break roles;
        }
      }
      if (!chosen) return;
      const resources = offerOf(chosen.offerable);
      out.push({ frameworkId: chosen.frameworkId, role: chosen.role, agentId, resources });
      const named = namedScalars(resources.scalars);
      roleSorter.allocate(chosen.role, named);
      chosen.state.frameworkSorter.allocate(chosen.frameworkId, named);
      remaining = subtractResources(remaining, resources);
    }
  };

  for (const agent of shuffleAgents(agents, random)) {
    if (!agent.active) continue;
    const available = agent.available;
    if (!hasAny(available)) continue;
    const reservedAgent = reservedAgents.size > 0 && reservedAgents.has(agent.id);
    const gpuAgent = gpusOf(agent.total, reservedAgent) > 0;
    if (gpuAgent && !anyGpuCandidate) continue;
    const agentFilters = filters.get(agent.id);

    if (reservedAgent && hasReservations(available)) {
      allocateReserved(agent.id, available, gpuAgent, agentFilters);
      continue;
    }

    const globalOk = meetsMinAllocatable(available, globalMin);
    if (!globalOk && !anyMinOverride) continue;
    let chosenRole: string | undefined;
    let chosenState: RoleState | undefined;
    let chosenFramework: string | undefined;
    roles: for (let ri = 0; ri < roleSorter.size; ri++) {
      const role = roleSorter.nameAt(ri);
      const state = roles.get(role)!;
      if (gpuAgent && state.gpuCandidates === 0) continue;
      const sorter = state.frameworkSorter;
      for (let fi = 0; fi < sorter.size; fi++) {
        const frameworkId = sorter.nameAt(fi);
        const c = state.candidates.get(frameworkId)!;
        if (gpuAgent && !c.gpu) continue;
        if (c.min === undefined ? !globalOk : !meetsMinAllocatable(available, c.min)) continue;
        if (agentFilters !== undefined && isFilteredIndexed(agentFilters, frameworkId, role, available)) continue;
        chosenRole = role;
        chosenState = state;
        chosenFramework = frameworkId;
        break roles;
      }
    }
    if (chosenRole === undefined || chosenState === undefined || chosenFramework === undefined) continue;

    // Offer everything; account it in both sorters before the next agent.
    const resources = offerOf(available);
    out.push({ frameworkId: chosenFramework, role: chosenRole, agentId: agent.id, resources });
    roleSorter.allocate(chosenRole, resources.scalars);
    chosenState.frameworkSorter.allocate(chosenFramework, resources.scalars);
  }
  return out;
}
