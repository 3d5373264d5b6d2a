import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DependencyCycleError,
  planDeployment,
  revertPlan,
  resolvePathId,
  type AppSpec,
  type DeploymentStep,
} from '../../src/core/deployment/index.ts';

function app(id: string, over: Partial<AppSpec> = {}): AppSpec {
  return {
    id,
    version: 'v1',
    instances: 1,
    dependencies: [],
    upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    hasHealthChecks: false,
    hasReadinessChecks: false,
    killSelection: 'YOUNGEST_FIRST',
    backoff: { seconds: 1, factor: 1.15, maxLaunchDelaySeconds: 300 },
    unreachable: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 },
    configHash: 'c1',
    ...over,
  };
}

/** Compact rendering: one string per step, "Action:/app" joined by commas. */
const render = (steps: DeploymentStep[]): string[] => steps.map((s) => s.actions.map((a) => `${a.action.replace('Application', '')}:${a.app}`).join(','));

const a = app('/a');
const b = app('/b');

const cases: { name: string; original: AppSpec[]; target: AppSpec[]; steps: string[]; affected: string[] }[] = [
  { name: 'new app: start with 0, then scale', original: [], target: [a], steps: ['Start:/a', 'Scale:/a'], affected: ['/a'] },
  { name: 'removed app: stop', original: [a, b], target: [a], steps: ['Stop:/b'], affected: ['/b'] },
  { name: 'scale-only change', original: [a], target: [{ ...a, instances: 5, version: 'v1' }], steps: ['Scale:/a'], affected: ['/a'] },
  { name: 'scale to 0 is a scale', original: [a], target: [{ ...a, instances: 0 }], steps: ['Scale:/a'], affected: ['/a'] },
  { name: 'config change: restart', original: [a], target: [{ ...a, configHash: 'c2', version: 'v2' }], steps: ['Restart:/a'], affected: ['/a'] },
  {
    name: 'config + scale change: restart',
    original: [a],
    target: [{ ...a, configHash: 'c2', version: 'v2', instances: 3 }],
    steps: ['Restart:/a'],
    affected: ['/a'],
  },
  { name: 'restart (version bump only): restart', original: [a], target: [{ ...a, version: 'v2' }], steps: ['Restart:/a'], affected: ['/a'] },
  {
    name: 'upgradeStrategy change is a config change',
    original: [a],
    target: [{ ...a, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } }],
    steps: ['Restart:/a'],
    affected: ['/a'],
  },
  { name: 'unchanged: empty plan', original: [a, b], target: [a, b], steps: [], affected: [] },
  { name: 'dependency order of deps is irrelevant', original: [app('/x', { dependencies: ['/a', '/b'] }), a, b], target: [app('/x', { dependencies: ['/b', '/a'] }), a, b], steps: [], affected: [] },
  {
    name: 'chain a→b→c (a depends on b, b on c): c, b, a',
    original: [],
    target: [app('/a', { dependencies: ['/b'] }), app('/b', { dependencies: ['/c'] }), app('/c')],
    steps: ['Start:/a,Start:/b,Start:/c', 'Scale:/c', 'Scale:/b', 'Scale:/a'],
    affected: ['/a', '/b', '/c'],
  },
  {
    name: 'diamond: d; b,c; a',
    original: [],
    target: [app('/a', { dependencies: ['/b', '/c'] }), app('/b', { dependencies: ['/d'] }), app('/c', { dependencies: ['/d'] }), app('/d')],
    steps: ['Start:/a,Start:/b,Start:/c,Start:/d', 'Scale:/d', 'Scale:/b,Scale:/c', 'Scale:/a'],
    affected: ['/a', '/b', '/c', '/d'],
  },
  {
    name: 'unchanged dependency still orders the class (longest path over the whole target)',
    original: [app('/db'), app('/web', { dependencies: ['/db'] }), app('/solo')],
    target: [app('/db'), app('/web', { dependencies: ['/db'], configHash: 'c2' }), app('/solo', { configHash: 'c2' })],
    steps: ['Restart:/solo', 'Restart:/web'],
    affected: ['/solo', '/web'],
  },
  {
    name: 'mixed: stop, start, then classes; unchanged apps have no action',
    original: [app('/db'), app('/old'), app('/web', { dependencies: ['/db'] }), app('/same')],
    target: [app('/db', { instances: 3 }), app('/web', { dependencies: ['/db'], configHash: 'c9' }), app('/api', { dependencies: ['/db'] }), app('/same')],
    steps: ['Stop:/old', 'Start:/api', 'Scale:/db', 'Scale:/api,Restart:/web'],
    affected: ['/api', '/db', '/old', '/web'],
  },
  {
    name: 'stop dependents first',
    original: [app('/front', { dependencies: ['/mid'] }), app('/mid', { dependencies: ['/db'] }), app('/db'), app('/keep')],
    target: [app('/keep')],
    steps: ['Stop:/front', 'Stop:/mid', 'Stop:/db'],
    affected: ['/db', '/front', '/mid'],
  },
  {
    name: 'unrelated removals stop in one step',
    original: [a, b, app('/c')],
    target: [],
    steps: ['Stop:/a,Stop:/b,Stop:/c'],
    affected: ['/a', '/b', '/c'],
  },
  {
    name: 'group dependency means every app under the group',
    original: [],
    target: [app('/g/x'), app('/g/y', { dependencies: ['/g/x'] }), app('/web', { dependencies: ['/g'] })],
    steps: ['Start:/g/x,Start:/g/y,Start:/web', 'Scale:/g/x', 'Scale:/g/y', 'Scale:/web'],
    affected: ['/g/x', '/g/y', '/web'],
  },
  {
    name: 'relative dependency ids resolve against the parent group',
    original: [],
    target: [app('/prod/db'), app('/prod/web', { dependencies: ['db'] }), app('/prod/api', { dependencies: ['../prod/web'] })],
    steps: ['Start:/prod/api,Start:/prod/db,Start:/prod/web', 'Scale:/prod/db', 'Scale:/prod/web', 'Scale:/prod/api'],
    affected: ['/prod/api', '/prod/db', '/prod/web'],
  },
];

for (const c of cases) {
  test(`planDeployment: ${c.name}`, () => {
    const plan = planDeployment(c.original, c.target);
    assert.deepEqual(render(plan.steps), c.steps);
    assert.deepEqual(plan.affectedApps, c.affected);
    for (const s of plan.steps) assert.ok(s.actions.length > 0, 'no empty steps');
  });
}

test('planDeployment: a cycle throws DependencyCycleError naming it', () => {
  const target = [app('/a', { dependencies: ['/b'] }), app('/b', { dependencies: ['/c'] }), app('/c', { dependencies: ['/a'] }), app('/d')];
  assert.throws(
    () => planDeployment([], target),
    (e: unknown) => {
      assert.ok(e instanceof DependencyCycleError);
      assert.deepEqual(e.cycle, ['/a', '/b', '/c', '/a']);
      assert.equal(e.status, 422);
      assert.match(e.message, /cyclic dependencies: \/a -> \/b -> \/c -> \/a/);
      return true;
    },
  );
});

test('planDeployment: a two-app cycle through a group dependency is found', () => {
  assert.throws(() => planDeployment([], [app('/g/x', { dependencies: ['/web'] }), app('/web', { dependencies: ['/g'] })]), DependencyCycleError);
});

test('resolvePathId normalizes', () => {
  assert.equal(resolvePathId('foo'), '/foo');
  assert.equal(resolvePathId('../b', '/x/y'), '/x/b');
  assert.equal(resolvePathId('/a//b/./c/'), '/a/b/c');
});

test('revertPlan: only the affected apps go back, on top of the current state', () => {
  const original = [app('/web', { configHash: 'old', version: 'v1' }), app('/gone'), app('/db', { instances: 2 })];
  const target = [app('/web', { configHash: 'new', version: 'v2' }), app('/fresh'), app('/db', { instances: 4 })];
  // Meanwhile someone else changed /other (not part of this deployment).
  const current = [...target, app('/other', { configHash: 'x2', version: 'v7' })];
  const r = revertPlan({ original, target }, current);
  assert.deepEqual(render(r.steps), ['Stop:/fresh', 'Start:/gone', 'Scale:/db,Scale:/gone,Restart:/web']);
  assert.deepEqual(r.affectedApps, ['/db', '/fresh', '/gone', '/web']);
  const ids = r.target.map((x) => x.id).sort();
  assert.deepEqual(ids, ['/db', '/gone', '/other', '/web']);
  assert.equal(r.target.find((x) => x.id === '/web')!.configHash, 'old');
  assert.equal(r.target.find((x) => x.id === '/db')!.instances, 2);
  assert.equal(r.target.find((x) => x.id === '/other')!.version, 'v7', 'not part of the deployment: untouched');
});

test('revertPlan: an app deleted since is not resurrected; a removed app re-created since is kept', () => {
  const original = [app('/web', { configHash: 'old' }), app('/gone', { configHash: 'g1' })];
  const target = [app('/web', { configHash: 'new', version: 'v2' })];
  const current = [app('/gone', { configHash: 'g2', version: 'v9' })]; // /web deleted later, /gone re-created
  const r = revertPlan({ original, target }, current);
  assert.deepEqual(r.steps, []);
  assert.deepEqual(r.target, current);
});

test('revertPlan honours an explicit affectedApps list', () => {
  const original = [app('/a'), app('/b')];
  const target = [app('/a', { configHash: 'x', version: 'v2' }), app('/b', { configHash: 'y', version: 'v2' })];
  const r = revertPlan({ original, target, affectedApps: ['/a'] }, target);
  assert.deepEqual(render(r.steps), ['Restart:/a']);
});
