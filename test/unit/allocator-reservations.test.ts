// The allocator with reserved resources: reserved resources go only to their role, unreserved ones
// to everybody, DRF shares count reserved allocations under the plain resource name. Examples, then
// properties over random clusters with static and dynamic reservations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  allocate,
  DEFAULT_MIN_ALLOCATABLE,
  type Allocation,
  type AllocationInput,
  type AllocatorAgent,
  type AllocatorFramework,
  type OfferFilter,
} from '../../src/core/allocator/index.ts';
import { keyRole } from '../../src/core/resource-keys.ts';
import { keysOf } from '../../src/core/reservations.ts';
import {
  addResources,
  allocatableTo,
  containsResources,
  emptyResources,
  isEmptyResources,
  parseResourceString,
  subtractResources,
  type Resources,
} from '../../src/core/resources.ts';

const NOW = 1_700_000_000_000;
const R = (s: string): Resources => parseResourceString(s);

function agent(id: string, total: string, available = total): AllocatorAgent {
  return { id, hostname: `${id}.example`, total: R(total), available: R(available), active: true };
}

function framework(id: string, roles: string[], opts: Partial<AllocatorFramework> = {}): AllocatorFramework {
  return { id, roles, active: true, suppressedRoles: [], capabilities: [], allocated: {}, ...opts };
}

function run(partial: Partial<AllocationInput> & Pick<AllocationInput, 'agents' | 'frameworks'>): Allocation[] {
  return allocate({
    now: NOW,
    weights: {},
    filters: [],
    minAllocatable: DEFAULT_MIN_ALLOCATABLE.map((s) => ({ ...s })),
    random: () => 0.999999,
    ...partial,
  });
}

test('static reservation: offered only to its role; the unreserved part to whoever is first', () => {
  const out = run({
    agents: [agent('a1', 'cpus(ops):2;mem(ops):1024;cpus:2;mem:1024')],
    frameworks: [framework('web', ['web']), framework('ops', ['ops'])],
  });
  // Both roles have share 0: 'ops' sorts first and takes unreserved + its reservation in one offer.
  assert.deepEqual(out, [{ frameworkId: 'ops', role: 'ops', agentId: 'a1', resources: R('cpus(ops):2;mem(ops):1024;cpus:2;mem:1024') }]);

  // With ops already ahead in share, web gets the unreserved part and ops still gets its reservation.
  const out2 = run({
    agents: [agent('a1', 'cpus(ops):2;mem(ops):1024;cpus:2;mem:1024'), agent('a0', 'cpus:2;mem:1024', '')],
    frameworks: [framework('web', ['web']), framework('ops', ['ops'], { allocated: { ops: R('cpus:1') } })],
  });
  assert.deepEqual(out2, [
    { frameworkId: 'web', role: 'web', agentId: 'a1', resources: R('cpus:2;mem:1024') },
    { frameworkId: 'ops', role: 'ops', agentId: 'a1', resources: R('cpus(ops):2;mem(ops):1024') },
  ]);
});

test('reserved resources with nobody in their role stay unoffered', () => {
  const out = run({ agents: [agent('a1', 'cpus(ops):2;mem(ops):1024')], frameworks: [framework('web', ['web']), framework('any', ['*'])] });
  assert.deepEqual(out, []);
});

test('a multi-role framework gets each reservation under its own role', () => {
  const out = run({
    agents: [agent('a1', 'cpus(a):1;mem(a):64;cpus(b):1;mem(b):64')],
    frameworks: [framework('f', ['a', 'b'])],
  });
  assert.deepEqual(
    out.map((o) => [o.role, o.resources]),
    [
      ['a', R('cpus(a):1;mem(a):64')],
      ['b', R('cpus(b):1;mem(b):64')],
    ],
  );
});

test('DRF counts reserved allocations under the plain name', () => {
  // ops holds 6 of the 8 cluster cpus, all of them reserved: web (share 0) comes first for unreserved.
  const out = run({
    agents: [agent('a1', 'cpus(ops):6;mem(ops):64', ''), agent('a2', 'cpus:2;mem:1024')],
    frameworks: [framework('ops', ['ops'], { allocated: { ops: R('cpus(ops):6;mem(ops):64') } }), framework('web', ['web'])],
  });
  assert.deepEqual(out, [{ frameworkId: 'web', role: 'web', agentId: 'a2', resources: R('cpus:2;mem:1024') }]);
});

test('filters and min_allocatable look at what the role may have', () => {
  const filter: OfferFilter = { frameworkId: 'ops', role: 'ops', agentId: 'a1', resources: R('cpus(ops):2;mem(ops):1024'), expiresAt: NOW + 1000 };
  const out = run({ agents: [agent('a1', 'cpus(ops):2;mem(ops):1024')], frameworks: [framework('ops', ['ops'])], filters: [filter] });
  assert.deepEqual(out, []);
  // 0.005 reserved cpus + 0.005 unreserved cpus: only together above min_allocatable's cpus:0.01.
  const out2 = run({ agents: [agent('a1', 'cpus(ops):0.005;cpus:0.005')], frameworks: [framework('ops', ['ops'])] });
  assert.deepEqual(out2, [{ frameworkId: 'ops', role: 'ops', agentId: 'a1', resources: R('cpus(ops):0.005;cpus:0.005') }]);
});

// ---------------------------------------------------------------- properties

const ROLES = ['a', 'b', 'c', 'eng/web'];
const reservationText = fc.record({
  role: fc.constantFrom(...ROLES),
  cpus: fc.integer({ min: 1, max: 4000 }).map((x) => x / 1000),
  mem: fc.integer({ min: 0, max: 4096 }),
});

const agentArb = fc.record({
  cpus: fc.integer({ min: 0, max: 8000 }).map((x) => x / 1000),
  mem: fc.integer({ min: 0, max: 8192 }),
  reserved: fc.array(reservationText, { maxLength: 3 }),
  dynamicPrincipal: fc.option(fc.constantFrom('p1', 'p2'), { nil: undefined }),
  takenFraction: fc.double({ min: 0, max: 1, noNaN: true }),
});

const frameworkArb = fc.record({
  roles: fc.subarray([...ROLES, '*'], { minLength: 1 }),
  active: fc.boolean(),
  suppressed: fc.subarray(ROLES),
});

type Spec<A> = A extends fc.Arbitrary<infer T> ? T : never;

function buildCluster(agents: Spec<typeof agentArb>[], frameworks: Spec<typeof frameworkArb>[], seed: number): AllocationInput {
  const agentList: AllocatorAgent[] = agents.map((a, i) => {
    let total = R(`cpus:${a.cpus};mem:${a.mem}`);
    for (const r of a.reserved) {
      // Static (`cpus(role)`) or dynamic (`cpus@role~p`) reservations: both are reserved keys.
      const text = a.dynamicPrincipal ? '' : `cpus(${r.role}):${r.cpus};mem(${r.role}):${r.mem}`;
      const res = text ? R(text) : { scalars: { [`cpus@${r.role}~${a.dynamicPrincipal}`]: r.cpus, [`mem@${r.role}~${a.dynamicPrincipal}`]: r.mem }, ranges: {}, sets: {} };
      total = addResources(total, res);
    }
    // Some of everything is in use: scale every key down by takenFraction.
    const used = emptyResources();
    for (const [k, v] of Object.entries(total.scalars)) used.scalars[k] = Math.floor(v * a.takenFraction * 1000) / 1000;
    return { id: `a${i}`, hostname: `h${i}`, total, available: subtractResources(total, used), active: true };
  });
  const fwList: AllocatorFramework[] = frameworks.map((f, i) => framework(`f${i}`, f.roles, { active: f.active, suppressedRoles: f.suppressed }));
  let s = seed >>> 0;
  return {
    now: NOW,
    agents: agentList,
    frameworks: fwList,
    weights: {},
    filters: [],
    minAllocatable: [],
    random: () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32),
  };
}

const clusterArb = fc.tuple(fc.array(agentArb, { minLength: 1, maxLength: 6 }), fc.array(frameworkArb, { minLength: 1, maxLength: 5 }), fc.integer());

test('property: a reserved resource is never offered to another role, nor twice, nor beyond what is available', () => {
  fc.assert(
    fc.property(clusterArb, ([agents, frameworks, seed]) => {
      const input = buildCluster(agents, frameworks, seed);
      const out = allocate(input);
      const offered = new Map<string, Resources>();
      for (const o of out) {
        const fw = input.frameworks.find((f) => f.id === o.frameworkId)!;
        assert.ok(fw.active && fw.roles.includes(o.role) && !fw.suppressedRoles.includes(o.role), `offer to an ineligible framework/role ${o.frameworkId}/${o.role}`);
        for (const k of keysOf(o.resources)) {
          const role = keyRole(k);
          assert.ok(role === undefined || role === o.role, `${k} offered to role ${o.role}`);
        }
        offered.set(o.agentId, addResources(offered.get(o.agentId) ?? emptyResources(), o.resources));
      }
      for (const a of input.agents) {
        const sum = offered.get(a.id) ?? emptyResources();
        assert.ok(containsResources(a.available, sum), `agent ${a.id}: offered more than available`);
      }
    }),
    { numRuns: 400 },
  );
});

test('property: nothing is left on an agent that an eligible framework could have been offered', () => {
  fc.assert(
    fc.property(clusterArb, ([agents, frameworks, seed]) => {
      const input = buildCluster(agents, frameworks, seed);
      const out = allocate(input);
      for (const a of input.agents) {
        let left = a.available;
        for (const o of out) if (o.agentId === a.id) left = subtractResources(left, o.resources);
        for (const fw of input.frameworks) {
          if (!fw.active) continue;
          for (const role of fw.roles) {
            if (fw.suppressedRoles.includes(role)) continue;
            assert.ok(isEmptyResources(allocatableTo(left, role)), `agent ${a.id} kept resources role ${role} (framework ${fw.id}) could use`);
          }
        }
      }
    }),
    { numRuns: 400 },
  );
});
