// Property tests for the pure allocator: safety invariants, an exact
// comparison against a naive re-sort-everything reference, and fairness
// (convergence of dominant shares, weights) over repeated cycles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  allocate,
  DEFAULT_MIN_ALLOCATABLE,
  isFiltered,
  meetsMinAllocatable,
  shuffleAgents,
  type Allocation,
  type AllocationInput,
  type AllocatorAgent,
  type AllocatorFramework,
  type OfferFilter,
} from '../../src/core/allocator/index.ts';
import {
  addResources,
  containsResources,
  emptyResources,
  isEmptyResources,
  resourcesEqual,
  roundScalar,
  subtractResources,
  type Resources,
} from '../../src/core/resources.ts';

const NOW = 1_000_000;
const ROLE_POOL = ['a', 'b', 'c', 'eng/web'];

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------- arbitrary clusters ----------

const agentSpec = fc.record({
  cpus: fc.integer({ min: 0, max: 64_000 }).map((x) => x / 1000),
  mem: fc.integer({ min: 0, max: 65_536 }),
  gpus: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 })),
  portsFrom: fc.integer({ min: 31_000, max: 31_100 }),
  portsCount: fc.integer({ min: 0, max: 20 }),
  usedCpus: fc.double({ min: 0, max: 1, noNaN: true }),
  usedMem: fc.double({ min: 0, max: 1, noNaN: true }),
  usedPorts: fc.integer({ min: 0, max: 5 }),
  active: fc.integer({ min: 0, max: 4 }).map((x) => x > 0),
});

const frameworkSpec = fc.record({
  roles: fc.subarray(ROLE_POOL, { minLength: 1 }),
  active: fc.integer({ min: 0, max: 5 }).map((x) => x > 0),
  suppressed: fc.subarray(ROLE_POOL, { maxLength: 2 }),
  gpu: fc.boolean(),
  allocatedCpus: fc.array(fc.integer({ min: 0, max: 40_000 }).map((x) => x / 1000), { minLength: ROLE_POOL.length, maxLength: ROLE_POOL.length }),
  minOverride: fc.option(
    fc.record({ role: fc.constantFrom(...ROLE_POOL), min: fc.constantFrom<Array<Record<string, number>>>([], [{ cpus: 1 }], [{ mem: 1000, cpus: 0.5 }], [{ ports: 3 }]) }),
    { nil: undefined },
  ),
});

const filterSpec = fc.record({
  fw: fc.nat(),
  agent: fc.nat(),
  role: fc.constantFrom(...ROLE_POOL),
  kind: fc.constantFrom('available', 'total', 'small'),
  expiresDelta: fc.integer({ min: -2000, max: 2000 }),
});

const clusterSpec = fc.record({
  agents: fc.array(agentSpec, { maxLength: 25 }),
  frameworks: fc.array(frameworkSpec, { maxLength: 8 }),
  filters: fc.array(filterSpec, { maxLength: 12 }),
  weights: fc.record(Object.fromEntries(ROLE_POOL.map((r) => [r, fc.constantFrom(0.5, 1, 1, 2, 3)])) as Record<string, fc.Arbitrary<number>>),
  minAllocatable: fc.constantFrom<Array<Record<string, number>>>(
    DEFAULT_MIN_ALLOCATABLE.map((s) => ({ ...s })),
    [],
    [{ cpus: 1, mem: 64 }],
    [{ ports: 2 }, { cpus: 4 }],
  ),
  seed: fc.integer(),
});

type ClusterSpec = typeof clusterSpec extends fc.Arbitrary<infer T> ? T : never;

function buildInput(spec: ClusterSpec): AllocationInput {
  const agents: AllocatorAgent[] = spec.agents.map((a, i) => {
    const total: Resources = emptyResources();
    if (a.cpus > 0) total.scalars.cpus = a.cpus;
    if (a.mem > 0) total.scalars.mem = a.mem;
    if (a.gpus > 0) total.scalars.gpus = a.gpus;
    if (a.portsCount > 0) total.ranges.ports = [{ begin: a.portsFrom, end: a.portsFrom + a.portsCount - 1 }];
    const used: Resources = {
      scalars: { cpus: roundScalar(a.cpus * a.usedCpus), mem: Math.floor(a.mem * a.usedMem) },
      ranges: a.usedPorts > 0 ? { ports: [{ begin: a.portsFrom, end: a.portsFrom + a.usedPorts - 1 }] } : {},
      sets: {},
    };
    return { id: `agent-${i}`, hostname: `h${i}`, total, available: subtractResources(total, used), active: a.active };
  });
  const frameworks: AllocatorFramework[] = spec.frameworks.map((f, i) => {
    const allocated: Record<string, Resources> = {};
    ROLE_POOL.forEach((role, k) => {
      const cpus = f.allocatedCpus[k]!;
      if (cpus > 0 && (f.roles.includes(role) || k % 2 === 0)) allocated[role] = { scalars: { cpus, mem: Math.round(cpus * 100) }, ranges: {}, sets: {} };
    });
    return {
      id: `fw-${i}`,
      roles: f.roles,
      active: f.active,
      suppressedRoles: f.suppressed,
      capabilities: f.gpu ? ['GPU_RESOURCES'] : [],
      allocated,
      ...(f.minOverride ? { minAllocatable: { [f.minOverride.role]: f.minOverride.min } } : {}),
    };
  });
  const filters: OfferFilter[] = [];
  if (agents.length && frameworks.length) {
    for (const f of spec.filters) {
      const agent = agents[f.agent % agents.length]!;
      const resources = f.kind === 'available' ? agent.available : f.kind === 'total' ? agent.total : { scalars: { cpus: 0.5 }, ranges: {}, sets: {} };
      filters.push({ frameworkId: frameworks[f.fw % frameworks.length]!.id, role: f.role, agentId: agent.id, resources, expiresAt: NOW + f.expiresDelta });
    }
  }
  return { now: NOW, agents, frameworks, weights: spec.weights, filters, minAllocatable: spec.minAllocatable, random: seeded(spec.seed) };
}

function eligible(input: AllocationInput, fw: AllocatorFramework, role: string, agent: AllocatorAgent): boolean {
  if (!fw.active || !fw.roles.includes(role) || fw.suppressedRoles.includes(role)) return false;
  if ((agent.total.scalars.gpus ?? 0) > 0 && !fw.capabilities.includes('GPU_RESOURCES')) return false;
  const min = fw.minAllocatable && Object.hasOwn(fw.minAllocatable, role) ? fw.minAllocatable[role]! : input.minAllocatable;
  if (!meetsMinAllocatable(agent.available, min)) return false;
  return !isFiltered(input.filters, fw.id, role, agent.id, agent.available, input.now);
}

// ---------- naive reference: recompute and fully re-sort for every agent ----------

function referenceAllocate(input: AllocationInput): Allocation[] {
  const raw: Record<string, number> = {};
  for (const a of input.agents) for (const [k, v] of Object.entries(a.total.scalars)) if (v > 0) raw[k] = (raw[k] ?? 0) + v;
  const total: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) total[k] = Math.round(v * 1000) / 1000;
  const shareOf = (alloc: Record<string, number>, w: number) => {
    let s = 0;
    for (const [k, t] of Object.entries(total)) if (t > 0 && alloc[k] !== undefined) s = Math.max(s, alloc[k]! / t);
    return s / w;
  };
  const roleAlloc: Record<string, Record<string, number>> = {};
  for (const fw of input.frameworks)
    for (const [role, r] of Object.entries(fw.allocated))
      for (const [k, v] of Object.entries(r.scalars)) if (v > 0) (roleAlloc[role] ??= {})[k] = (roleAlloc[role]![k] ?? 0) + v;
  for (const acc of Object.values(roleAlloc)) for (const k of Object.keys(acc)) acc[k] = roundScalar(acc[k]!);
  const fwAlloc = new Map<string, Record<string, number>>();
  const key = (fw: string, role: string) => `${fw}\u0000${role}`;
  for (const fw of input.frameworks)
    for (const [role, r] of Object.entries(fw.allocated)) {
      const acc: Record<string, number> = {};
      for (const [k, v] of Object.entries(r.scalars)) if (v > 0) acc[k] = roundScalar(v);
      fwAlloc.set(key(fw.id, role), acc);
    }
  const add = (acc: Record<string, number>, s: Record<string, number>) => {
    for (const [k, v] of Object.entries(s)) if (v > 0) acc[k] = roundScalar((acc[k] ?? 0) + v);
  };
  const weight = (role: string) => {
    const w = input.weights[role];
    return typeof w === 'number' && Number.isFinite(w) && w > 0 ? w : 1;
  };
  const cmp = (a: [string, number], b: [string, number]) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const out: Allocation[] = [];
  for (const agent of shuffleAgents(input.agents, input.random)) {
    if (!agent.active || isEmptyResources(agent.available)) continue;
    const roles = [...new Set(input.frameworks.filter((f) => f.active).flatMap((f) => f.roles.filter((r) => !f.suppressedRoles.includes(r))))];
    const sortedRoles = roles.map((r): [string, number] => [r, shareOf(roleAlloc[r] ?? {}, weight(r))]).sort(cmp);
    let done = false;
    for (const [role] of sortedRoles) {
      const fws = input.frameworks.filter((f) => f.active && f.roles.includes(role) && !f.suppressedRoles.includes(role));
      const sortedFws = fws.map((f): [string, number] => [f.id, shareOf(fwAlloc.get(key(f.id, role)) ?? {}, 1)]).sort(cmp);
      for (const [id] of sortedFws) {
        const fw = input.frameworks.find((f) => f.id === id)!;
        if (!eligible(input, fw, role, agent)) continue;
        out.push({ frameworkId: id, role, agentId: agent.id, resources: agent.available });
        add((roleAlloc[role] ??= {}), agent.available.scalars);
        const k = key(id, role);
        if (!fwAlloc.has(k)) fwAlloc.set(k, {});
        add(fwAlloc.get(k)!, agent.available.scalars);
        done = true;
        break;
      }
      if (done) break;
    }
  }
  return out;
}

// ---------- properties ----------

test('property: offers are whole, available, eligible, and each agent is offered at most once', () => {
  fc.assert(
    fc.property(clusterSpec, (spec) => {
      const input = buildInput(spec);
      const out = allocate(input);
      const agents = new Map(input.agents.map((a) => [a.id, a]));
      const frameworks = new Map(input.frameworks.map((f) => [f.id, f]));
      const offered = new Set<string>();
      for (const o of out) {
        assert.ok(!offered.has(o.agentId), `agent ${o.agentId} offered twice`);
        offered.add(o.agentId);
        const agent = agents.get(o.agentId)!;
        assert.ok(agent.active);
        assert.ok(containsResources(agent.available, o.resources), 'offered more than available');
        assert.ok(resourcesEqual(o.resources, agent.available), 'offer is not the whole available');
        assert.ok(!isEmptyResources(o.resources));
        assert.ok(eligible(input, frameworks.get(o.frameworkId)!, o.role, agent), 'ineligible framework-role');
      }
      // Maximal: an active agent with resources left un-offered has no eligible framework-role at all.
      for (const agent of input.agents) {
        if (offered.has(agent.id) || !agent.active || isEmptyResources(agent.available)) continue;
        for (const fw of input.frameworks)
          for (const role of fw.roles) assert.ok(!eligible(input, fw, role, agent), `${agent.id} left for ${fw.id}/${role}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('property: never offers the same resource twice across allocations in one cycle', () => {
  fc.assert(
    fc.property(clusterSpec, (spec) => {
      const input = buildInput(spec);
      const out = allocate(input);
      const sum = new Map<string, Resources>();
      for (const o of out) sum.set(o.agentId, addResources(sum.get(o.agentId) ?? emptyResources(), o.resources));
      for (const [id, r] of sum) assert.ok(containsResources(input.agents.find((a) => a.id === id)!.available, r));
    }),
    { numRuns: 200 },
  );
});

test('property: matches a naive re-sort-everything reference exactly', () => {
  fc.assert(
    fc.property(clusterSpec, (spec) => {
      const actual = allocate(buildInput(spec));
      const expected = referenceAllocate(buildInput(spec));
      assert.deepEqual(
        actual.map((o) => [o.agentId, o.frameworkId, o.role]),
        expected.map((o) => [o.agentId, o.frameworkId, o.role]),
      );
    }),
    { numRuns: 300 },
  );
});

// Repeated cycles: a random subset of the remaining agents comes up each cycle,
// offers are accepted whole and their tasks never finish.
function simulate(
  agentTotals: Array<{ cpus: number; mem: number }>,
  frameworks: AllocatorFramework[],
  weights: Record<string, number>,
  seed: number,
): { total: Record<string, number> } {
  const rnd = seeded(seed);
  const agents: AllocatorAgent[] = agentTotals.map((t, i) => {
    const total: Resources = { scalars: { cpus: t.cpus, mem: t.mem }, ranges: {}, sets: {} };
    return { id: `a${i}`, hostname: `h${i}`, total, available: total, active: false };
  });
  const consumed = new Set<string>();
  for (let cycle = 0; consumed.size < agents.length; cycle++) {
    assert.ok(cycle < 200, 'simulation did not terminate');
    for (const a of agents) if (!consumed.has(a.id)) a.active = cycle > 20 || rnd() < 0.3;
    const out = allocate({ now: NOW + cycle * 1000, agents, frameworks, weights, filters: [], minAllocatable: DEFAULT_MIN_ALLOCATABLE.map((s) => ({ ...s })), random: rnd });
    for (const o of out) {
      const fw = frameworks.find((f) => f.id === o.frameworkId)!;
      fw.allocated[o.role] = addResources(fw.allocated[o.role] ?? emptyResources(), o.resources);
      const a = agents.find((x) => x.id === o.agentId)!;
      a.available = emptyResources();
      consumed.add(a.id);
    }
  }
  const total: Record<string, number> = { cpus: 0, mem: 0 };
  for (const t of agentTotals) {
    total.cpus! += t.cpus;
    total.mem! += t.mem;
  }
  return { total };
}

const dominant = (alloc: Resources | undefined, total: Record<string, number>) =>
  Math.max(0, ...Object.entries(total).map(([k, t]) => (alloc?.scalars[k] ?? 0) / t));

test('property: with N equal-weight frameworks the dominant shares converge within one agent', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ cpus: fc.integer({ min: 1, max: 32 }), mem: fc.integer({ min: 256, max: 65_536 }) }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 2, max: 6 }),
      fc.boolean(),
      fc.integer(),
      (agentTotals, n, sameRole, seed) => {
        const frameworks: AllocatorFramework[] = Array.from({ length: n }, (_, i) => ({
          id: `fw-${i}`,
          roles: [sameRole ? 'shared' : `role-${i}`],
          active: true,
          suppressedRoles: [],
          capabilities: [],
          allocated: {},
        }));
        const { total } = simulate(agentTotals, frameworks, {}, seed);
        const shares = frameworks.map((f) => dominant(f.allocated[f.roles[0]!], total));
        const oneAgent = Math.max(...agentTotals.map((t) => Math.max(t.cpus / total.cpus!, t.mem / total.mem!)));
        assert.ok(Math.max(...shares) - Math.min(...shares) <= oneAgent + 1e-9, `shares ${shares} spread > ${oneAgent}`);
      },
    ),
    { numRuns: 100 },
  );
});

test('property: weights are honoured in a large homogeneous cluster', () => {
  fc.assert(
    fc.property(fc.integer({ min: 20, max: 300 }), fc.constantFrom(1, 2, 3, 4), fc.integer({ min: 1, max: 3 }), fc.integer(), (nAgents, w, perRole, seed) => {
      const frameworks: AllocatorFramework[] = [];
      for (const role of ['heavy', 'light'])
        for (let i = 0; i < perRole; i++) frameworks.push({ id: `${role}-${i}`, roles: [role], active: true, suppressedRoles: [], capabilities: [], allocated: {} });
      const { total } = simulate(Array.from({ length: nAgents }, () => ({ cpus: 8, mem: 32_768 })), frameworks, { heavy: w }, seed);
      const roleShare = (role: string) => {
        let r = emptyResources();
        for (const f of frameworks) if (f.allocated[role]) r = addResources(r, f.allocated[role]!);
        return dominant(r, total);
      };
      const heavy = roleShare('heavy');
      const light = roleShare('light');
      assert.ok(Math.abs(heavy + light - 1) < 1e-9, 'cluster fully allocated');
      // Weighted shares end within one agent of each other, so heavy ≈ w × light.
      assert.ok(Math.abs(heavy / w - light) <= 1 / nAgents + 1e-9, `heavy ${heavy} light ${light} w ${w}`);
      assert.ok(Math.abs(heavy - w * light) <= w / nAgents + 1e-9);
    }),
    { numRuns: 100 },
  );
});
