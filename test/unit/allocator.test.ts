import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allocate,
  DEFAULT_MIN_ALLOCATABLE,
  isFiltered,
  meetsMinAllocatable,
  parseMinAllocatable,
  pruneExpiredFilters,
  refuseSecondsToMs,
  shuffleAgents,
  type Allocation,
  type AllocationInput,
  type AllocatorAgent,
  type AllocatorFramework,
  type OfferFilter,
} from '../../src/core/allocator/index.ts';
import { emptyResources, parseResourceString, type Resources } from '../../src/core/resources.ts';

const NOW = 1_700_000_000_000;
const R = (s: string): Resources => parseResourceString(s);

function agent(id: string, total: string, opts: { available?: string; active?: boolean } = {}): AllocatorAgent {
  return {
    id,
    hostname: `${id}.example`,
    total: R(total),
    available: opts.available === undefined ? R(total) : R(opts.available),
    active: opts.active ?? true,
  };
}

function framework(id: string, roles: string[] = ['*'], opts: Partial<AllocatorFramework> = {}): AllocatorFramework {
  return { id, roles, active: true, suppressedRoles: [], capabilities: [], allocated: {}, ...opts };
}

function run(partial: Partial<AllocationInput> & Pick<AllocationInput, 'agents' | 'frameworks'>): Allocation[] {
  return allocate({
    now: NOW,
    weights: {},
    filters: [],
    minAllocatable: DEFAULT_MIN_ALLOCATABLE.map((s) => ({ ...s })),
    random: () => 0.999999, // Fisher–Yates with j = i: agents walked in input order
    ...partial,
  });
}

const byFramework = (out: Allocation[]) =>
  out.reduce<Record<string, number>>((acc, a) => ((acc[a.frameworkId] = (acc[a.frameworkId] ?? 0) + 1), acc), {});

const NODE = 'cpus:4;mem:4096;disk:1000;ports:[31000-31009]';

test('a single framework gets the whole agent', () => {
  const out = run({ agents: [agent('a1', NODE)], frameworks: [framework('f1')] });
  assert.deepEqual(out, [{ frameworkId: 'f1', role: '*', agentId: 'a1', resources: R(NODE) }]);
});

test('offers what is available, not the total', () => {
  const out = run({
    agents: [agent('a1', NODE, { available: 'cpus:1.5;mem:1024;ports:[31005-31009]' })],
    frameworks: [framework('f1')],
  });
  assert.deepEqual(out, [{ frameworkId: 'f1', role: '*', agentId: 'a1', resources: R('cpus:1.5;mem:1024;ports:[31005-31009]') }]);
});

test('offers are copies: mutating them does not touch the input', () => {
  const a = agent('a1', NODE);
  const out = run({ agents: [a], frameworks: [framework('f1')] });
  out[0]!.resources.scalars.cpus = 0;
  out[0]!.resources.ranges.ports![0]!.begin = 1;
  assert.deepEqual(a.available, R(NODE));
});

test('agents with nothing available get no offers', () => {
  const out = run({ agents: [agent('a1', NODE, { available: '' }), agent('a2', NODE)], frameworks: [framework('f1')] });
  assert.deepEqual(out.map((o) => o.agentId), ['a2']);
});

test('two frameworks in one role alternate (DRF, ties by name)', () => {
  const agents = ['a1', 'a2', 'a3', 'a4'].map((id) => agent(id, NODE));
  const out = run({ agents, frameworks: [framework('fb'), framework('fa')] });
  assert.deepEqual(
    out.map((o) => [o.agentId, o.frameworkId]),
    [['a1', 'fa'], ['a2', 'fb'], ['a3', 'fa'], ['a4', 'fb']],
  );
});

test('existing allocations count: the framework with less goes first', () => {
  const agents = ['a1', 'a2', 'a3'].map((id) => agent(id, NODE));
  const fa = framework('fa', ['*'], { allocated: { '*': R('cpus:8;mem:100') } });
  const out = run({ agents: [...agents, agent('busy1', NODE, { available: '' }), agent('busy2', NODE, { available: '' })], frameworks: [fa, framework('fb')] });
  // total cpus 20: fa starts at 8/20; fb gets agents until it passes fa.
  assert.deepEqual(out.map((o) => o.frameworkId), ['fb', 'fb', 'fa']);
});

test('roles are sorted by weighted share; weight 2 gets twice as much', () => {
  const agents = Array.from({ length: 6 }, (_, i) => agent(`a${i}`, NODE));
  const out = run({ agents, frameworks: [framework('f1', ['r1']), framework('f2', ['r2'])], weights: { r1: 2 } });
  assert.deepEqual(out.map((o) => o.role), ['r1', 'r2', 'r1', 'r1', 'r2', 'r1']);
  assert.deepEqual(byFramework(out), { f1: 4, f2: 2 });
});

test('invalid weights fall back to 1', () => {
  const agents = Array.from({ length: 4 }, (_, i) => agent(`a${i}`, NODE));
  const out = run({ agents, frameworks: [framework('f1', ['r1']), framework('f2', ['r2'])], weights: { r1: 0, r2: Number.NaN } });
  assert.deepEqual(byFramework(out), { f1: 2, f2: 2 });
});

test('role share counts allocations of frameworks that get no offers (suppressed, inactive)', () => {
  const agents = [agent('a1', NODE), agent('a2', NODE)];
  const hog = framework('hog', ['r1'], { active: false, allocated: { r1: R('cpus:4') } });
  const out = run({ agents, frameworks: [hog, framework('f1', ['r1']), framework('f2', ['r2'])] });
  assert.deepEqual(out.map((o) => o.frameworkId), ['f2', 'f1']);
});

test('suppressed roles get no offers; the framework still gets offers for its other roles', () => {
  const agents = [agent('a1', NODE), agent('a2', NODE)];
  const f = framework('f1', ['r1', 'r2'], { suppressedRoles: ['r1'] });
  const out = run({ agents, frameworks: [f] });
  assert.deepEqual(out.map((o) => [o.frameworkId, o.role]), [['f1', 'r2'], ['f1', 'r2']]);
  assert.deepEqual(run({ agents, frameworks: [framework('f1', ['r1'], { suppressedRoles: ['r1'] })] }), []);
});

test('a multi-role framework gets offers for each role in DRF order', () => {
  const agents = [agent('a1', NODE), agent('a2', NODE)];
  const out = run({ agents, frameworks: [framework('f1', ['r2', 'r1'])] });
  assert.deepEqual(out.map((o) => o.role), ['r1', 'r2']);
});

test('inactive frameworks get nothing', () => {
  const agents = [agent('a1', NODE), agent('a2', NODE)];
  const out = run({ agents, frameworks: [framework('fa', ['*'], { active: false }), framework('fb')] });
  assert.deepEqual(out.map((o) => o.frameworkId), ['fb', 'fb']);
  assert.deepEqual(run({ agents, frameworks: [framework('fa', ['*'], { active: false })] }), []);
});

test('inactive agents get no offers but still count in the cluster total', () => {
  const out = run({
    agents: [agent('a1', NODE, { active: false }), agent('a2', NODE), agent('a3', NODE)],
    frameworks: [framework('fa', ['*'], { allocated: { '*': R('cpus:3') } }), framework('fb')],
  });
  assert.deepEqual(out.map((o) => o.agentId), ['a2', 'a3']);
  // total cpus 12: fa at 3/12; fb takes a2 (4/12), then fa (3/12 < 4/12) takes a3.
  assert.deepEqual(out.map((o) => o.frameworkId), ['fb', 'fa']);
});

test('a filter blocks the framework/role on that agent until it expires, and not after', () => {
  const agents = [agent('a1', NODE)];
  const filter: OfferFilter = { frameworkId: 'f1', role: '*', agentId: 'a1', resources: R(NODE), expiresAt: NOW + 5000 };
  assert.deepEqual(run({ agents, frameworks: [framework('f1')], filters: [filter] }), []);
  assert.deepEqual(run({ agents, frameworks: [framework('f1')], filters: [filter], now: NOW + 4999 }), []);
  assert.equal(run({ agents, frameworks: [framework('f1')], filters: [filter], now: NOW + 5000 }).length, 1);
  // Another framework is not blocked.
  const out = run({ agents, frameworks: [framework('f1'), framework('f2')], filters: [filter] });
  assert.deepEqual(out.map((o) => o.frameworkId), ['f2']);
});

test('a filter blocks subsets of the refused resources', () => {
  const agents = [agent('a1', NODE, { available: 'cpus:1;mem:100' })];
  const filter: OfferFilter = { frameworkId: 'f1', role: '*', agentId: 'a1', resources: R(NODE), expiresAt: NOW + 5000 };
  assert.deepEqual(run({ agents, frameworks: [framework('f1')], filters: [filter] }), []);
});

test('a filter with fewer resources than available does not block', () => {
  const agents = [agent('a1', NODE)];
  const filter: OfferFilter = { frameworkId: 'f1', role: '*', agentId: 'a1', resources: R('cpus:1;mem:128'), expiresAt: NOW + 5000 };
  assert.equal(run({ agents, frameworks: [framework('f1')], filters: [filter] }).length, 1);
  // Same quantities but different ports are not a superset either.
  const ports: OfferFilter = { ...filter, resources: R('cpus:4;mem:4096;disk:1000;ports:[32000-32009]') };
  assert.equal(run({ agents, frameworks: [framework('f1')], filters: [ports] }).length, 1);
});

test('a filter only applies to its own framework, role and agent', () => {
  const agents = [agent('a1', NODE), agent('a2', NODE)];
  const f = framework('f1', ['r1', 'r2']);
  const filter: OfferFilter = { frameworkId: 'f1', role: 'r1', agentId: 'a1', resources: R(NODE), expiresAt: NOW + 5000 };
  const out = run({ agents, frameworks: [f], filters: [filter] });
  assert.deepEqual(out.map((o) => [o.agentId, o.role]), [['a1', 'r2'], ['a2', 'r1']]);
});

test('GPU agents are offered only to GPU_RESOURCES frameworks', () => {
  const agents = [agent('gpu', `${NODE};gpus:2`), agent('cpu', NODE)];
  const plain = framework('plain');
  const gpu = framework('gpu-fw', ['*'], { capabilities: ['GPU_RESOURCES'] });
  assert.deepEqual(run({ agents, frameworks: [plain] }).map((o) => o.agentId), ['cpu']);
  const out = run({ agents, frameworks: [plain, gpu] });
  assert.deepEqual(out.map((o) => [o.agentId, o.frameworkId]), [['gpu', 'gpu-fw'], ['cpu', 'plain']]);
  assert.equal(out[0]!.resources.scalars.gpus, 2);
});

test('an agent with GPUs is a GPU agent even when its GPUs are all in use', () => {
  const agents = [agent('gpu', `${NODE};gpus:2`, { available: 'cpus:2;mem:2048' })];
  assert.deepEqual(run({ agents, frameworks: [framework('plain')] }), []);
});

test('crumbs below min_allocatable are not offered', () => {
  const frameworks = [framework('f1')];
  assert.deepEqual(run({ agents: [agent('a1', NODE, { available: 'cpus:0.005;mem:16;ports:[31000-31009]' })], frameworks }), []);
  assert.equal(run({ agents: [agent('a1', NODE, { available: 'cpus:0.01' })], frameworks }).length, 1);
  assert.equal(run({ agents: [agent('a1', NODE, { available: 'mem:32' })], frameworks }).length, 1);
  // Ranges count by number of elements.
  const ports = { agents: [agent('a1', NODE, { available: 'ports:[31000-31001]' })], frameworks };
  assert.equal(run({ ...ports, minAllocatable: [{ ports: 2 }] }).length, 1);
  assert.deepEqual(run({ ...ports, minAllocatable: [{ ports: 3 }] }), []);
  // AND within a set.
  assert.deepEqual(run({ agents: [agent('a1', NODE, { available: 'cpus:1;mem:16' })], frameworks, minAllocatable: [{ cpus: 1, mem: 32 }] }), []);
  // [] = no minimum.
  assert.equal(run({ agents: [agent('a1', NODE, { available: 'cpus:0.001' })], frameworks, minAllocatable: [] }).length, 1);
});

test('per-framework min_allocatable overrides the global one, per role', () => {
  const crumbs = [agent('a1', NODE, { available: 'cpus:0.005;mem:16' })];
  const small = framework('f-small', ['r1'], { minAllocatable: { r1: [] } });
  const other = framework('f-other', ['r1']); // sorts before f-small, but the crumbs are below the global minimum
  assert.deepEqual(run({ agents: crumbs, frameworks: [other, small] }).map((o) => o.frameworkId), ['f-small']);
  // The override is per role.
  const wrongRole = framework('f-small', ['r2'], { minAllocatable: { r1: [] } });
  assert.deepEqual(run({ agents: crumbs, frameworks: [wrongRole] }), []);
  // A stricter override skips the agent for that framework; the next one gets it.
  const picky = framework('f-a', ['r1'], { minAllocatable: { r1: [{ cpus: 8 }] } });
  const out = run({ agents: [agent('a1', NODE)], frameworks: [picky, framework('f-b', ['r1'])] });
  assert.deepEqual(out.map((o) => o.frameworkId), ['f-b']);
});

test('each agent is offered to at most one framework-role; duplicate agent ids are ignored', () => {
  const a = agent('a1', NODE);
  const out = run({ agents: [a, { ...a }], frameworks: [framework('f1', ['r1', 'r2']), framework('f2', ['r1'])] });
  assert.equal(out.length, 1);
});

test('the shuffle uses the injected randomness deterministically', () => {
  const agents = Array.from({ length: 20 }, (_, i) => agent(`a${i}`, NODE));
  const seq = (seed: number) => {
    let s = seed;
    return () => ((s = (s * 16807) % 2147483647) / 2147483647);
  };
  const one = run({ agents, frameworks: [framework('f1'), framework('f2')], random: seq(3) });
  const two = run({ agents, frameworks: [framework('f1'), framework('f2')], random: seq(3) });
  const three = run({ agents, frameworks: [framework('f1'), framework('f2')], random: seq(4) });
  assert.deepEqual(one, two);
  assert.notDeepEqual(one.map((o) => o.agentId), three.map((o) => o.agentId));
  assert.deepEqual(shuffleAgents([1, 2, 3], () => 0.999999), [1, 2, 3]);
  assert.deepEqual([...shuffleAgents([1, 2, 3, 4], seq(9))].sort(), [1, 2, 3, 4]);
  assert.deepEqual([...shuffleAgents([1, 2, 3], () => Number.NaN)].sort(), [1, 2, 3]);
});

test('allocate does not mutate its input', () => {
  const input: AllocationInput = {
    now: NOW,
    agents: [agent('a1', NODE), agent('a2', `${NODE};gpus:1`)],
    frameworks: [framework('f1', ['r1'], { allocated: { r1: R('cpus:1') } }), framework('f2', ['r2'], { capabilities: ['GPU_RESOURCES'] })],
    weights: { r1: 2 },
    filters: [{ frameworkId: 'f1', role: 'r1', agentId: 'a1', resources: R('cpus:1'), expiresAt: NOW + 1 }],
    minAllocatable: [{ cpus: 0.01 }],
    random: () => 0.5,
  };
  const before = JSON.stringify({ ...input, random: undefined });
  allocate(input);
  assert.equal(JSON.stringify({ ...input, random: undefined }), before);
});

test('no frameworks or no agents: no offers', () => {
  assert.deepEqual(run({ agents: [], frameworks: [framework('f1')] }), []);
  assert.deepEqual(run({ agents: [agent('a1', NODE)], frameworks: [] }), []);
});

test('refuseSecondsToMs follows Mesos defaults and caps', () => {
  assert.equal(refuseSecondsToMs(undefined), 5000);
  assert.equal(refuseSecondsToMs(null), 5000);
  assert.equal(refuseSecondsToMs('10'), 5000);
  assert.equal(refuseSecondsToMs(-1), 5000);
  assert.equal(refuseSecondsToMs(Number.NaN), 5000);
  assert.equal(refuseSecondsToMs(-Infinity), 5000);
  assert.equal(refuseSecondsToMs(0), 0);
  assert.equal(refuseSecondsToMs(2.5), 2500);
  assert.equal(refuseSecondsToMs(365 * 86400), 365 * 86400 * 1000);
  assert.equal(refuseSecondsToMs(365 * 86400 + 1), 365 * 86400 * 1000);
  assert.equal(refuseSecondsToMs(Infinity), 365 * 86400 * 1000);
});

test('pruneExpiredFilters and isFiltered', () => {
  const res = R('cpus:2;mem:64');
  const f = (expiresAt: number, over: Partial<OfferFilter> = {}): OfferFilter => ({ frameworkId: 'f', role: 'r', agentId: 'a', resources: res, expiresAt, ...over });
  const filters = [f(NOW - 1), f(NOW), f(NOW + 1)];
  assert.deepEqual(pruneExpiredFilters(filters, NOW), [f(NOW + 1)]);
  assert.equal(filters.length, 3);
  assert.equal(isFiltered(filters, 'f', 'r', 'a', R('cpus:1'), NOW), true);
  assert.equal(isFiltered(filters, 'f', 'r', 'a', R('cpus:2;mem:64'), NOW), true);
  assert.equal(isFiltered(filters, 'f', 'r', 'a', R('cpus:3'), NOW), false);
  assert.equal(isFiltered(filters, 'f', 'r', 'a', R('cpus:1'), NOW + 1), false);
  assert.equal(isFiltered(filters, 'g', 'r', 'a', R('cpus:1'), NOW), false);
  assert.equal(isFiltered(filters, 'f', 'x', 'a', R('cpus:1'), NOW), false);
  assert.equal(isFiltered(filters, 'f', 'r', 'b', R('cpus:1'), NOW), false);
});

test('min_allocatable helpers', () => {
  assert.deepEqual(parseMinAllocatable('cpus:0.01|mem:32'), DEFAULT_MIN_ALLOCATABLE);
  assert.deepEqual(parseMinAllocatable('disk:1|cpus:1;mem:32;ports:1'), [{ disk: 1 }, { cpus: 1, mem: 32, ports: 1 }]);
  assert.deepEqual(parseMinAllocatable(''), []);
  assert.throws(() => parseMinAllocatable('cpus'), /name:quantity/);
  assert.throws(() => parseMinAllocatable('cpus:-1'), /name:quantity/);
  assert.throws(() => parseMinAllocatable('cpus:1||mem:3'), /empty/);
  assert.equal(meetsMinAllocatable(emptyResources(), []), true);
  assert.equal(meetsMinAllocatable(emptyResources(), [{}]), true);
  assert.equal(meetsMinAllocatable(R('cpus:0.01'), DEFAULT_MIN_ALLOCATABLE), true);
  assert.equal(meetsMinAllocatable(R('cpus:0.009;mem:31.9'), DEFAULT_MIN_ALLOCATABLE), false);
  assert.equal(meetsMinAllocatable(R('zones:{a,b}'), [{ zones: 2 }]), true);
});
