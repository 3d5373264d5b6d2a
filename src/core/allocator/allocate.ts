// One batch allocation cycle of Mesos's HierarchicalDRF allocator
// (src/master/allocator/mesos/hierarchical.cpp `__allocate`, stage 2; no quota,
// no reservations), as a pure function of its input.
//
//   shuffle agents (injected randomness)
//   for each active agent with available resources:
//     for each role in weighted-DRF order (role sorter):
//       for each framework of the role in DRF order (that role's framework sorter):
//         skip if inactive / role suppressed / GPU agent without GPU_RESOURCES /
//              available below min_allocatable / filtered by a refusal;
//         offer ALL of the agent's available resources to (framework, role),
//         account them in both sorters, and move to the next agent.
//
// Shares are computed against the cluster total of every agent in the input
// (inactive agents included, as Mesos keeps deactivated agents in its sorters)
// and count every framework's `allocated` (tasks + outstanding offers) in the
// role, including suppressed or disconnected frameworks.
import type { Resources } from '../resources.ts';
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

function addScalarsInto(into: Record<string, number>, scalars: Record<string, number>): void {
  for (const k in scalars) {
    const v = scalars[k]!;
    if (v > 0) into[k] = (into[k] ?? 0) + v;
  }
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
  for (const agent of input.agents) {
    if (seenAgents.has(agent.id)) continue;
    seenAgents.add(agent.id);
    agents.push(agent);
    addScalarsInto(rawTotal, agent.total.scalars);
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
      if (mine) state.frameworkSorter.allocate(fw.id, mine.scalars);
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

  for (const agent of shuffleAgents(agents, random)) {
    if (!agent.active) continue;
    const available = agent.available;
    if (!hasAny(available)) continue;
    const gpuAgent = (own(agent.total.scalars, 'gpus') ?? 0) > 0;
    if (gpuAgent && !anyGpuCandidate) continue;
    const globalOk = meetsMinAllocatable(available, globalMin);
    if (!globalOk && !anyMinOverride) continue;
    const agentFilters = filters.get(agent.id);

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
