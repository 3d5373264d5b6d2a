import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionTick, scaleTick, stopTick, type AppSpec, type InstanceView } from '../../src/core/deployment/index.ts';

function spec(instances: number, over: Partial<AppSpec> = {}): AppSpec {
  return {
    id: '/app',
    version: 'v1',
    instances,
    dependencies: [],
    upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    hasHealthChecks: true,
    hasReadinessChecks: false,
    killSelection: 'YOUNGEST_FIRST',
    backoff: { seconds: 1, factor: 1.15, maxLaunchDelaySeconds: 300 },
    unreachable: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 },
    configHash: 'c1',
    ...over,
  };
}

const inst = (id: string, startedAt: number, over: Partial<InstanceView> = {}): InstanceView => ({
  instanceId: id,
  version: 'v1',
  condition: 'Running',
  healthy: true,
  stagedAt: startedAt - 1,
  startedAt,
  ...over,
});
const five = (): InstanceView[] => [1, 2, 3, 4, 5].map((k) => inst(`i${k}`, k * 100));

const cases: {
  name: string;
  app: AppSpec;
  instances: InstanceView[];
  sentenced?: string[];
  kill: string[];
  launch: number;
  done: boolean;
}[] = [
  { name: 'scale up 2 → 5', app: spec(5), instances: five().slice(0, 2), kill: [], launch: 3, done: false },
  { name: 'start from nothing', app: spec(3), instances: [], kill: [], launch: 3, done: false },
  { name: 'nothing to do', app: spec(5), instances: five(), kill: [], launch: 0, done: true },
  { name: 'scale down 5 → 3, YOUNGEST_FIRST', app: spec(3), instances: five(), kill: ['i5', 'i4'], launch: 0, done: false },
  { name: 'scale down 5 → 3, OLDEST_FIRST', app: spec(3, { killSelection: 'OLDEST_FIRST' }), instances: five(), kill: ['i1', 'i2'], launch: 0, done: false },
  {
    name: 'scale down prefers unreachable → unhealthy → staging',
    app: spec(2),
    instances: [
      inst('ok1', 100),
      inst('stg', 999, { condition: 'Staging', healthy: undefined, startedAt: undefined }),
      inst('sick', 200, { healthy: false }),
      inst('ok2', 300),
      inst('lost', 50, { condition: 'Unreachable', unreachableSince: 60 }),
    ],
    kill: ['lost', 'sick', 'stg'],
    launch: 0,
    done: false,
  },
  {
    name: 'sentenced with scale=true: exactly those go',
    app: spec(3),
    instances: five(),
    sentenced: ['i1', 'i3'],
    kill: ['i1', 'i3'],
    launch: 0,
    done: false,
  },
  {
    name: 'sentenced without scale: they are replaced',
    app: spec(5),
    instances: five(),
    sentenced: ['i2'],
    kill: ['i2'],
    launch: 1,
    done: false,
  },
  {
    name: 'more sentenced than the scale-down: all go, the difference is relaunched',
    app: spec(4),
    instances: five(),
    sentenced: ['i1', 'i2'],
    kill: ['i1', 'i2'],
    launch: 1,
    done: false,
  },
  {
    name: 'sentenced plus further scale-down by killSelection',
    app: spec(2),
    instances: five(),
    sentenced: ['i1'],
    kill: ['i1', 'i5', 'i4'],
    launch: 0,
    done: false,
  },
  { name: 'unknown sentenced ids are ignored', app: spec(5), instances: five(), sentenced: ['nope'], kill: [], launch: 0, done: true },
  {
    name: 'instances being killed do not count, and the step waits for them',
    app: spec(3),
    instances: [...five().slice(0, 3), inst('k', 1, { condition: 'Killing' })],
    kill: [],
    launch: 0,
    done: false,
  },
  {
    name: 'UnreachableInactive does not count: a replacement is launched',
    app: spec(2),
    instances: [inst('a', 1), inst('b', 2, { condition: 'UnreachableInactive', unreachableSince: 0 })],
    kill: [],
    launch: 1,
    done: false,
  },
  {
    name: 'not done while an instance has no health result',
    app: spec(2),
    instances: [inst('a', 1), inst('b', 2, { healthy: undefined })],
    kill: [],
    launch: 0,
    done: false,
  },
  {
    name: 'readiness: not done until ready',
    app: spec(1, { hasReadinessChecks: true }),
    instances: [inst('a', 1)],
    kill: [],
    launch: 0,
    done: false,
  },
  {
    name: 'readiness: done when ready',
    app: spec(1, { hasReadinessChecks: true }),
    instances: [inst('a', 1, { ready: true })],
    kill: [],
    launch: 0,
    done: true,
  },
  {
    name: 'no health checks: Running is enough',
    app: spec(2, { hasHealthChecks: false }),
    instances: [inst('a', 1, { healthy: undefined }), inst('b', 2, { healthy: false })],
    kill: [],
    launch: 0,
    done: true,
  },
  { name: 'scale to 0', app: spec(0), instances: five().slice(0, 2), kill: ['i2', 'i1'], launch: 0, done: false },
  { name: 'scale to 0, all gone', app: spec(0), instances: [], kill: [], launch: 0, done: true },
];

for (const c of cases) {
  test(`scaleTick: ${c.name}`, () => {
    const r = scaleTick(c.app, c.instances, c.sentenced);
    assert.deepEqual(r.kill.map((k) => k.instanceId), c.kill);
    assert.equal(r.launch, c.launch);
    assert.equal(r.done, c.done);
    for (const k of r.kill) assert.ok(k.reason.length > 0);
  });
}

test('scaleTick reasons: on request vs scaled down', () => {
  const r = scaleTick(spec(2), five(), ['i1']);
  assert.deepEqual(
    r.kill.map((k) => k.reason),
    ['killed on request', 'scaled down to 2 instances', 'scaled down to 2 instances'],
  );
});

test('scaleTick runs to completion (scale-down with sentenced, then scale-up)', () => {
  let insts = five();
  let next = 6;
  const run = (app: AppSpec, sentenced: string[] = []): void => {
    for (let t = 0; t < 20; t++) {
      const r = scaleTick(app, insts, sentenced);
      if (r.done) return;
      const killed = new Set(r.kill.map((k) => k.instanceId));
      // World: killed ones vanish, launched ones come up healthy, one step later.
      insts = insts.filter((i) => i.condition !== 'Killing').map((i) => (killed.has(i.instanceId) ? { ...i, condition: 'Killing' as const } : i));
      for (let k = 0; k < r.launch; k++) insts.push(inst(`i${next}`, next++ * 100));
    }
    assert.fail('did not finish');
  };
  run(spec(2), ['i2', 'i4']);
  // Sentenced i2, i4 go first; the third (5 → 2) is the youngest, i5.
  assert.deepEqual(insts.map((i) => i.instanceId).sort(), ['i1', 'i3']);
  run(spec(4));
  assert.equal(insts.length, 4);
});

test('stopTick kills everything (once) and is done when nothing is left', () => {
  const r = stopTick([inst('a', 1), inst('b', 2, { condition: 'Killing' }), inst('c', 3, { condition: 'UnreachableInactive' })]);
  assert.deepEqual(r.kill, [
    { instanceId: 'a', reason: 'app removed' },
    { instanceId: 'c', reason: 'app removed' },
  ]);
  assert.equal(r.done, false);
  assert.equal(stopTick([]).done, true);
});

test('actionTick dispatches plan actions', () => {
  assert.equal(actionTick('StartApplication', spec(3), []).done, true);
  assert.equal(actionTick('ScaleApplication', spec(3), []).launch, 3);
  assert.deepEqual(actionTick('ScaleApplication', spec(5), five(), ['i1']).kill.map((k) => k.instanceId), ['i1']);
  assert.equal(actionTick('RestartApplication', { ...spec(2), version: 'v2' }, five().slice(0, 2)).launch, 2);
  assert.deepEqual(actionTick('StopApplication', spec(2), [inst('a', 1)]).kill, [{ instanceId: 'a', reason: 'app removed' }]);
});
