// Unit tests of the orchestrator's I/O-free parts: TaskInfo building, ids, the instance
// tracker's status handling, the record → core mapping, the event bus, store deadlines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { healthOf, toInstanceView, toAppSpec, sameConfig } from '../../src/orchestrator/decide.ts';
import { EventBus } from '../../src/orchestrator/events.ts';
import { InstanceTracker } from '../../src/orchestrator/instances.ts';
import { Persistence } from '../../src/orchestrator/persist.ts';
import type { AppDefinition, InstanceRecord, MarathonEvent } from '../../src/orchestrator/service.ts';
import { LockedError } from '../../src/orchestrator/service.ts';
import { buildTaskInfo, taskNameOf } from '../../src/orchestrator/task-builder.ts';
import { appIdOfTask, instanceIdOfTask, newInstanceIdFor, safeId, taskIdFor } from '../../src/orchestrator/task-ids.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/store.ts';

const baseApp: AppDefinition = { id: '/prod/web', cmd: 'serve', instances: 2, cpus: 0.5, mem: 64, disk: 10, gpus: 0, version: '2024-01-01T00:00:00.000Z' };

function inst(extra: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    instanceId: 'prod_web.instance-1',
    taskId: 'prod_web.instance-1._app.1',
    appId: '/prod/web',
    version: 'v1',
    configVersion: 'v1',
    agentId: 'A1',
    host: 'h1',
    ports: [31000],
    state: 'TASK_STAGING',
    condition: 'Provisioned',
    goal: 'Running',
    stagedAt: '2024-01-01T00:00:00.000Z',
    healthCheckResults: [],
    ...extra,
  };
}

describe('task builder', () => {
  it('maps cmd, resources, ports, env, labels, kill policy and a MESOS_HTTP check', () => {
    const app: AppDefinition = {
      ...baseApp,
      env: { A: 'b' },
      labels: { team: 'x' },
      portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }],
      taskKillGracePeriodSeconds: 7,
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/health', portIndex: 1, intervalSeconds: 5, maxConsecutiveFailures: 2 }],
    };
    const t = buildTaskInfo({ app, taskId: 't1', agentId: 'A1', hostPorts: [31005, 31006] });
    assert.equal(t.name, 'web.prod');
    assert.deepEqual(t.command?.shell, true);
    assert.equal(t.command?.value, 'serve');
    const res = Object.fromEntries(t.resources.map((r) => [r.name, r]));
    assert.equal(res.cpus!.scalar!.value, 0.5);
    assert.equal(res.mem!.scalar!.value, 64);
    assert.equal(res.disk!.scalar!.value, 10);
    assert.equal(res.gpus, undefined);
    assert.deepEqual(res.ports!.ranges!.range, [{ begin: 31005, end: 31006 }]);
    const env = Object.fromEntries((t.command?.environment?.variables ?? []).map((v) => [v.name, v.value]));
    assert.equal(env.A, 'b');
    assert.equal(env.MARATHON_APP_ID, '/prod/web');
    assert.equal(env.MARATHON_APP_VERSION, baseApp.version);
    assert.equal(env.PORT_HTTP, '31005');
    assert.equal(env.MARATHON_APP_LABEL_TEAM, 'x');
    assert.deepEqual(t.labels, { labels: [{ key: 'team', value: 'x' }] });
    assert.deepEqual(t.kill_policy, { grace_period: { nanoseconds: 7e9 } });
    assert.deepEqual(t.health_check, {
      type: 'HTTP',
      http: { scheme: 'http', port: 31006, path: '/health' },
      delay_seconds: 15,
      interval_seconds: 5,
      timeout_seconds: 20,
      consecutive_failures: 2,
      grace_period_seconds: 300,
    });
  });

  it('args run without a shell; Marathon-level checks are not sent to Mesos; COMMAND/TCP map', () => {
    const t = buildTaskInfo({ app: { ...baseApp, cmd: undefined, args: ['/bin/echo', 'hi'], portDefinitions: [], healthChecks: [{ protocol: 'HTTP' }] }, taskId: 't', agentId: 'A', hostPorts: [] });
    assert.equal(t.command?.shell, false);
    assert.equal(t.command?.value, '/bin/echo');
    assert.deepEqual(t.command?.arguments, ['/bin/echo', 'hi']);
    assert.equal(t.health_check, undefined);
    assert.equal(t.resources.some((r) => r.name === 'ports'), false);
    const c = buildTaskInfo({ app: { ...baseApp, healthChecks: [{ protocol: 'COMMAND', command: { value: 'true' } }] }, taskId: 't', agentId: 'A', hostPorts: [1] });
    assert.deepEqual((c.health_check as { command: unknown }).command, { shell: true, value: 'true' });
    const tcp = buildTaskInfo({ app: { ...baseApp, healthChecks: [{ protocol: 'MESOS_TCP', port: 9000 }] }, taskId: 't', agentId: 'A', hostPorts: [1] });
    assert.deepEqual((tcp.health_check as { tcp: unknown }).tcp, { port: 9000 });
    assert.equal(taskNameOf('/a'), 'a');
  });
});

describe('task ids', () => {
  it('builds and parses Marathon instance and task ids', () => {
    assert.equal(safeId('/prod/web'), 'prod_web');
    const iid = newInstanceIdFor('/prod/web', 'abc-1');
    assert.equal(iid, 'prod_web.instance-abc-1');
    const tid = taskIdFor(iid);
    assert.equal(tid, 'prod_web.instance-abc-1._app.1');
    assert.equal(appIdOfTask(tid), '/prod/web');
    assert.equal(instanceIdOfTask(tid), iid);
    assert.equal(instanceIdOfTask(iid), iid);
    assert.equal(appIdOfTask('x'), undefined);
  });
});

describe('instance tracker', () => {
  const tracker = () => new InstanceTracker(new Persistence(createMemoryStore(), new ManualClock(), silentLogger));

  it('maps states to conditions and keeps unreachable bookkeeping', async () => {
    const t = tracker();
    await t.save(inst());
    const st = (state: string, extra = {}) => t.applyStatus({ task_id: { value: 'prod_web.instance-1._app.1' }, state: state as 'TASK_RUNNING', ...extra }, 1_700_000_000_000);
    assert.equal(st('TASK_RUNNING')!.instance.condition, 'Running');
    assert.ok(t.get('prod_web.instance-1')!.startedAt);
    const u = st('TASK_UNREACHABLE', { unreachable_time: { nanoseconds: 1_600_000_000_000 * 1e6 } })!;
    assert.equal(u.instance.condition, 'Unreachable');
    assert.equal(u.instance.unreachableSince, new Date(1_600_000_000_000).toISOString());
    u.instance.condition = 'UnreachableInactive';
    assert.equal(st('TASK_UNREACHABLE')!.instance.condition, 'UnreachableInactive', 'inactive stays inactive');
    const back = st('TASK_RUNNING')!;
    assert.equal(back.instance.condition, 'Running');
    assert.equal(back.instance.wasUnreachable, true);
    assert.equal(back.instance.unreachableSince, undefined);
    assert.equal(st('TASK_GONE')!.terminal, true);
    assert.equal(t.applyStatus({ task_id: { value: 'other' }, state: 'TASK_RUNNING' }, 0), undefined);
  });
});

describe('instance tracker: re-delivered updates', () => {
  it('a late copy of an already applied update does not roll the state back', async () => {
    const t = new InstanceTracker(new Persistence(createMemoryStore(), new ManualClock(), silentLogger));
    await t.save(inst());
    const up = (state: string, uuid: string) => t.applyStatus({ task_id: { value: 'prod_web.instance-1._app.1' }, state: state as 'TASK_RUNNING', uuid }, 0)!;
    assert.equal(up('TASK_STARTING', 'u1').instance.condition, 'Starting');
    assert.equal(up('TASK_RUNNING', 'u2').instance.condition, 'Running');
    const late = up('TASK_STARTING', 'u1');
    assert.equal(late.duplicate, true);
    assert.equal(late.instance.condition, 'Running');
    assert.equal(late.instance.state, 'TASK_RUNNING');
  });
});

describe('record → core mapping', () => {
  it('maps conditions, goals and health', () => {
    const app: AppDefinition = { ...baseApp, healthChecks: [{ protocol: 'HTTP' }] };
    assert.equal(toInstanceView(app, inst({ goal: 'Stopped', condition: 'Running' }))!.condition, 'Killing');
    assert.equal(toInstanceView(app, inst({ condition: 'Provisioned' }))!.condition, 'Staging');
    assert.equal(toInstanceView(app, inst({ condition: 'Killed' })), undefined);
    const ok = { alive: true, consecutiveFailures: 0, firstSuccess: 't', lastSuccess: 't', lastFailure: null, lastFailureCause: null, instanceId: 'i' };
    const bad = { ...ok, alive: false, consecutiveFailures: 2 };
    const none = { ...ok, alive: false, firstSuccess: null, lastSuccess: null };
    assert.equal(healthOf(app, inst({ healthCheckResults: [ok] })), true);
    assert.equal(healthOf(app, inst({ healthCheckResults: [bad] })), false);
    assert.equal(healthOf(app, inst({ healthCheckResults: [none] })), undefined);
    assert.equal(healthOf({ ...baseApp, healthChecks: [{ protocol: 'MESOS_TCP' }] }, inst({ mesosHealthy: false })), false);
    assert.equal(healthOf(baseApp, inst()), undefined);
  });

  it('a scale-only change keeps the config version and config hash', () => {
    const v1 = { ...baseApp, versionInfo: { lastScalingAt: 'a', lastConfigChangeAt: 'a' } };
    const scaled = { ...v1, instances: 5, version: 'b', versionInfo: { lastScalingAt: 'b', lastConfigChangeAt: 'a' } };
    assert.ok(sameConfig(v1, scaled));
    assert.equal(toAppSpec(v1).configHash, toAppSpec(scaled).configHash);
    assert.equal(toAppSpec(scaled).version, 'a');
    assert.ok(!sameConfig(v1, { ...v1, env: { X: '1' } }));
  });
});

describe('event bus and errors', () => {
  it('filters by type, fills timestamps and survives throwing listeners', () => {
    const bus = new EventBus(new ManualClock(0), silentLogger);
    const got: MarathonEvent[] = [];
    bus.subscribe(() => {
      throw new Error('boom');
    });
    const off = bus.subscribe((e) => got.push(e), ['app_terminated_event']);
    bus.publish({ eventType: 'scheduler_disconnected_event' });
    bus.publish({ eventType: 'app_terminated_event', appId: '/a' });
    off();
    bus.publish({ eventType: 'app_terminated_event', appId: '/b' });
    assert.deepEqual(got, [{ eventType: 'app_terminated_event', appId: '/a', timestamp: '1970-01-01T00:00:00.000Z' }]);
  });

  it('LockedError is a 409 carrying the deployments', () => {
    const e = new LockedError(['d1', 'd2']);
    assert.equal(e.status, 409);
    assert.deepEqual(e.details.deployments, [{ id: 'd1' }, { id: 'd2' }]);
    assert.match(e.message, /locked by one or more deployments.*\/v2\/deployments\/d1/);
  });
});

describe('persistence', () => {
  it('every store call has a deadline', async () => {
    const clock = new ManualClock();
    const hung = new Promise<never>(() => {});
    const store = { get: () => hung, put: () => hung, delete: () => hung, range: () => hung, commit: () => hung } as unknown as Store;
    const p = new Persistence(store, clock, silentLogger, 500);
    const save = p.saveInstance(inst());
    const loadFails = assert.rejects(p.load(), /did not answer/);
    await new Promise((r) => setImmediate(r)); // the calls have started and armed their deadlines
    clock.advance(499);
    let settled = false;
    void save.catch(() => (settled = true));
    await Promise.resolve();
    assert.equal(settled, false);
    clock.advance(1);
    await assert.rejects(save, /did not answer within 500 ms/);
    await loadFails;
  });

  it('stores apps with versions and loads everything back', async () => {
    const store = createMemoryStore();
    const p = new Persistence(store, new ManualClock(), silentLogger);
    await p.saveApp({ ...baseApp, version: 'v1' });
    await p.saveApp({ ...baseApp, version: 'v2' });
    await p.saveInstance(inst());
    await p.saveFrameworkId('fw-1');
    assert.deepEqual(await p.versions('/prod/web'), ['v2', 'v1']);
    const s = await p.load();
    assert.equal(s.frameworkId, 'fw-1');
    assert.equal(s.apps[0]!.version, 'v2');
    assert.equal(s.instances[0]!.instanceId, 'prod_web.instance-1');
    await p.deleteApp('/prod/web');
    const after = await p.load();
    assert.equal(after.apps.length + after.instances.length, 0);
    assert.deepEqual(await p.versions('/prod/web'), []);
  });
});
