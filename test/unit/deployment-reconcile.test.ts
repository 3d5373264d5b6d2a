import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcileApp, unreachableTransitions, type AppSpec, type InstanceView } from '../../src/core/deployment/index.ts';

function spec(instances: number, over: Partial<AppSpec> = {}): AppSpec {
  return {
    id: '/app',
    version: 'v1',
    instances,
    dependencies: [],
    upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    hasHealthChecks: false,
    hasReadinessChecks: false,
    killSelection: 'YOUNGEST_FIRST',
    backoff: { seconds: 1, factor: 1.15, maxLaunchDelaySeconds: 300 },
    unreachable: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
    configHash: 'c1',
    ...over,
  };
}
const S = 1000;
const inst = (id: string, over: Partial<InstanceView> = {}): InstanceView => ({
  instanceId: id,
  version: 'v1',
  condition: 'Running',
  stagedAt: 0,
  startedAt: 1,
  ...over,
});

test('reconcileApp: the unreachable timeline — never terminal early, replaced when inactive, surplus killed after heal', () => {
  const app = spec(1);
  let insts: InstanceView[] = [inst('A')];
  const step = (now: number) => reconcileApp(app, insts, now);

  // Healthy steady state.
  assert.deepEqual(step(0), { launch: 0, kill: [], markInactive: [], expunge: [] });

  // A becomes unreachable at t=10 s: it still counts, no replacement before inactiveAfter.
  insts = [inst('A', { condition: 'Unreachable', unreachableSince: 10 * S })];
  for (const t of [10, 100, 309.999]) assert.deepEqual(step(t * S), { launch: 0, kill: [], markInactive: [], expunge: [] }, `t=${t}`);

  // t=310 s: inactive → mark it, and a replacement is launched in the same tick.
  assert.deepEqual(step(310 * S), { launch: 1, kill: [], markInactive: ['A'], expunge: [] });
  insts = [inst('A', { condition: 'UnreachableInactive', unreachableSince: 10 * S }), inst('B', { stagedAt: 310 * S, startedAt: 311 * S })];
  assert.deepEqual(step(320 * S), { launch: 0, kill: [], markInactive: [], expunge: [] });

  // t=400 s: A comes back (the partition healed) → one too many; A goes.
  insts = [inst('A', { wasUnreachable: true }), insts[1]!];
  const healed = step(400 * S);
  assert.deepEqual(healed.kill, [{ instanceId: 'A', reason: 'surplus after partition heal' }]);
  assert.equal(healed.launch, 0);
  insts = [{ ...insts[0]!, condition: 'Killing' }, insts[1]!];
  assert.deepEqual(step(401 * S), { launch: 0, kill: [], markInactive: [], expunge: [] });
  insts = insts.filter((i) => i.condition !== 'Killing');
  assert.deepEqual(insts.map((i) => i.instanceId), ['B'], 'exactly `instances` left');
  assert.deepEqual(step(402 * S), { launch: 0, kill: [], markInactive: [], expunge: [] });
});

test('reconcileApp: expunge after expungeAfterSeconds', () => {
  const app = spec(1);
  const insts = [inst('A', { condition: 'UnreachableInactive', unreachableSince: 0 }), inst('B')];
  assert.deepEqual(reconcileApp(app, insts, 599 * S).expunge, []);
  const r = reconcileApp(app, insts, 600 * S);
  assert.deepEqual(r, { launch: 0, kill: [], markInactive: [], expunge: ['A'] });
  // Straight from Unreachable past both limits: expunged (not first marked) and replaced.
  const r2 = reconcileApp(app, [inst('A', { condition: 'Unreachable', unreachableSince: 0 })], 700 * S);
  assert.deepEqual(r2, { launch: 1, kill: [], markInactive: [], expunge: ['A'] });
});

test("reconcileApp: the current default {0,0} replaces at once; 'disabled' waits forever", () => {
  const lost = [inst('A', { condition: 'Unreachable', unreachableSince: 5 * S })];
  assert.deepEqual(reconcileApp(spec(1, { unreachable: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 } }), lost, 5 * S), {
    launch: 1,
    kill: [],
    markInactive: [],
    expunge: ['A'],
  });
  assert.deepEqual(reconcileApp(spec(1, { unreachable: { inactiveAfterSeconds: 0, expungeAfterSeconds: 60 } }), lost, 5 * S), {
    launch: 1,
    kill: [],
    markInactive: ['A'],
    expunge: [],
  });
  assert.deepEqual(reconcileApp(spec(1, { unreachable: 'disabled' }), lost, 1e12), { launch: 0, kill: [], markInactive: [], expunge: [] });
});

test('unreachableTransitions: no timestamp means "since now"', () => {
  const app = spec(1);
  assert.deepEqual(unreachableTransitions(app, [inst('A', { condition: 'Unreachable' })], 1e9), { markInactive: [], expunge: [] });
});

const cases: { name: string; app: AppSpec; instances: InstanceView[]; launch: number; kill: [string, string][] }[] = [
  { name: 'missing instances are launched (terminal ones are absent)', app: spec(3), instances: [inst('a')], launch: 2, kill: [] },
  { name: 'an instance being killed is replaced', app: spec(2), instances: [inst('a'), inst('b', { condition: 'Killing' })], launch: 1, kill: [] },
  { name: 'staging and scheduled instances count', app: spec(2), instances: [inst('a', { condition: 'Staging' }), inst('b', { condition: 'Scheduled' })], launch: 0, kill: [] },
  {
    name: 'surplus without a partition: killSelection',
    app: spec(1),
    instances: [inst('a', { startedAt: 10 }), inst('b', { startedAt: 20 })],
    launch: 0,
    kill: [['b', 'surplus above 1 instances']],
  },
  {
    name: 'surplus: unhealthy before healthy (health checks)',
    app: spec(1, { hasHealthChecks: true }),
    instances: [inst('a', { startedAt: 10, healthy: false }), inst('b', { startedAt: 20, healthy: true })],
    launch: 0,
    kill: [['a', 'surplus above 1 instances']],
  },
  {
    name: 'heal without the marker: the one without a health result goes',
    app: spec(1, { hasHealthChecks: true }),
    instances: [inst('back', { startedAt: 10 }), inst('repl', { startedAt: 20, healthy: true })],
    launch: 0,
    kill: [['back', 'surplus above 1 instances']],
  },
  {
    name: 'heal: the returned instance goes even if it is the older one (OLDEST_FIRST irrelevant)',
    app: spec(2, { killSelection: 'OLDEST_FIRST' }),
    instances: [inst('x', { startedAt: 1 }), inst('back', { startedAt: 5, wasUnreachable: true }), inst('repl', { startedAt: 50 })],
    launch: 0,
    kill: [['back', 'surplus after partition heal']],
  },
  {
    name: 'still-Unreachable instance counts: an extra healthy one is surplus, the unreachable goes first',
    app: spec(1),
    instances: [inst('u', { condition: 'Unreachable', unreachableSince: 0 }), inst('r')],
    launch: 0,
    kill: [['u', 'surplus above 1 instances']],
  },
];
for (const c of cases) {
  test(`reconcileApp: ${c.name}`, () => {
    const r = reconcileApp(c.app, c.instances, 1 * S);
    assert.equal(r.launch, c.launch);
    assert.deepEqual(r.kill.map((k) => [k.instanceId, k.reason]), c.kill);
  });
}
