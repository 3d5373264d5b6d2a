// The orchestrator runtime against a real in-process master and agent: create, scale, replace
// with backoff, rolling upgrades (capacity invariant sampled on every instance change), kills
// and removal.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { healthOf } from '../../src/orchestrator/decide.ts';
import type { AppDefinition, MarathonEvent } from '../../src/orchestrator/service.ts';
import { app, eventually, masterTasks, running, startHarness, waitDeploymentsDone, waitRunning, type Harness } from './orchestrator-runtime-harness.ts';

const NODE = process.execPath;
/** A tiny HTTP server on $PORT0 answering 200. */
const HTTP_SERVER = `${NODE} -e "require('http').createServer((q,s)=>s.end('ok')).listen(+process.env.PORT0)"`;

/** Samples, on every instance/health event, how many instances of `appId` are running (and healthy, with checks). */
function sampleServing(h: Harness, appId: string): { min: () => number; stop: () => void } {
  let min = Infinity;
  const sample = () => {
    const st = h.orch.getApp(appId);
    if (!st) return;
    const serving = st.instances.filter(
      (i) => i.condition === 'Running' && i.goal === 'Running' && ((st.app.healthChecks ?? []).length === 0 || healthOf(st.app, i) === true),
    ).length;
    min = Math.min(min, serving);
  };
  const stop = h.orch.events.subscribe(sample, ['instance_changed_event', 'status_update_event', 'health_status_changed_event']);
  return { min: () => min, stop };
}

describe('orchestrator runtime: apps on a real master and agent', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: 1 });
  });
  after(async () => {
    await h?.stop();
  });

  it('creates an app: both instances running, deployment done, events in order', async () => {
    const r = await h.orch.createApp(app('/web', { instances: 2 }));
    assert.ok(r.deploymentId);
    assert.equal(h.orch.getApp('/web')?.deployments[0], r.deploymentId);
    await assert.rejects(h.orch.createApp(app('/web')), /already exists/);
    await waitRunning(h, '/web', 2);
    await waitDeploymentsDone(h);
    const types = h.events.map((e) => e.eventType);
    assert.ok(types.indexOf('group_change_success') < types.indexOf('deployment_info'));
    assert.ok(types.includes('deployment_success'));
    const tasks = await masterTasks(h);
    assert.equal(tasks.filter((t) => t.state === 'TASK_RUNNING').length, 2);
    const st = h.orch.getApp('/web')!;
    assert.equal(st.counts.running, 2);
    assert.match(st.instances[0]!.taskId, /^web\.instance-[0-9a-f-]+\._app\.1$/);
  });

  it('scales up to 4 and down to 1, killing the youngest first', async () => {
    const before = h.orch.getApp('/web')!;
    const oldest = [...before.instances].sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''))[0]!;
    const v1 = before.app.versionInfo!;
    await h.orch.putApps([{ ...before.app, instances: 4 }]);
    await waitRunning(h, '/web', 4);
    await waitDeploymentsDone(h);
    const scaled = h.orch.getApp('/web')!.app;
    assert.equal(scaled.versionInfo!.lastConfigChangeAt, v1.lastConfigChangeAt, 'a scale is not a config change');
    assert.notEqual(scaled.versionInfo!.lastScalingAt, v1.lastScalingAt);
    await h.orch.putApps([{ ...scaled, instances: 1 }]);
    const st = await waitRunning(h, '/web', 1);
    assert.equal(st.instances[0]!.instanceId, oldest.instanceId, 'YOUNGEST_FIRST keeps the oldest');
    await waitDeploymentsDone(h);
    await eventually(async () => (await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length === 1, 10_000, 'master to show 1 task');
  });

  it('replaces a task that exits, with backoff, and records lastTaskFailure', async () => {
    await h.orch.createApp(app('/crashy', { cmd: 'exit 3', instances: 1, backoffSeconds: 0.3, backoffFactor: 2, maxLaunchDelaySeconds: 10 }));
    const failures: number[] = [];
    const stop = h.orch.events.subscribe((e) => {
      if (e.eventType === 'status_update_event' && e.appId === '/crashy' && e.taskStatus === 'TASK_FAILED') failures.push(Date.now());
    });
    await eventually(() => failures.length >= 3, 15_000, '3 failures');
    stop();
    const st = h.orch.getApp('/crashy')!;
    assert.equal(st.lastTaskFailure?.state, 'TASK_FAILED');
    assert.equal(st.lastTaskFailure?.appId, '/crashy');
    // Delays grow: 0.3 s, 0.6 s, … (gap 2 ≥ gap 1 + most of the extra 0.3 s).
    const gap1 = failures[1]! - failures[0]!;
    const gap2 = failures[2]! - failures[1]!;
    assert.ok(gap1 >= 250, `first relaunch waited ${gap1} ms`);
    assert.ok(gap2 >= gap1 + 150, `backoff grows (${gap1} → ${gap2} ms)`);
    // The queue shows it waiting with a delay at some point; reset works while queued.
    await eventually(() => h.orch.queue().some((q) => q.app.id === '/crashy'), 10_000, '/crashy in the queue');
    await h.orch.deleteApp('/crashy', { force: true });
    await eventually(() => !h.orch.getApp('/crashy') && h.orch.listInstances().every((i) => i.appId !== '/crashy'), 10_000, '/crashy gone');
    await eventually(() => h.events.some((e) => e.eventType === 'app_terminated_event' && e.appId === '/crashy'), 10_000, 'app_terminated_event');
  });

  it('rolling upgrade with minimumHealthCapacity 1 / maximumOverCapacity 1 and HTTP health checks never drops below 3 healthy', async () => {
    const def: AppDefinition = app('/roll', {
      cmd: HTTP_SERVER,
      instances: 3,
      portDefinitions: [{ port: 0, name: 'http' }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 0.2, timeoutSeconds: 1, gracePeriodSeconds: 10, maxConsecutiveFailures: 3 }],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    });
    await h.orch.createApp(def);
    await waitRunning(h, '/roll', 3, 20_000, (l) => l.every((i) => i.healthCheckResults[0]?.alive === true));
    await waitDeploymentsDone(h);
    assert.ok(h.events.some((e) => e.eventType === 'health_status_changed_event' && e.appId === '/roll' && e.alive));
    const v1 = h.orch.getApp('/roll')!.app.versionInfo!.lastConfigChangeAt;
    const sampler = sampleServing(h, '/roll');
    const r = await h.orch.putApps([{ ...h.orch.getApp('/roll')!.app, env: { COLOR: 'blue' } }]);
    assert.deepEqual(r.deployment.steps, [{ actions: [{ action: 'RestartApplication', app: '/roll' }] }]);
    await waitDeploymentsDone(h, 30_000);
    const st = await waitRunning(h, '/roll', 3, 10_000);
    sampler.stop();
    assert.ok(st.instances.every((i) => i.configVersion !== v1), 'all instances run the new version');
    assert.ok(Number.isFinite(sampler.min()), 'sampled');
    assert.equal(sampler.min(), 3, `healthy count dropped to ${sampler.min()}`);
    await h.orch.deleteApp('/roll');
  });

  it('rolling upgrade with 0.5 / 0 keeps at least half running', async () => {
    await h.orch.createApp(app('/half', { instances: 4, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } }));
    await waitRunning(h, '/half', 4);
    await waitDeploymentsDone(h);
    const sampler = sampleServing(h, '/half');
    let maxLive = 0;
    const stopMax = h.orch.events.subscribe(() => {
      const st = h.orch.getApp('/half');
      if (st) maxLive = Math.max(maxLive, st.instances.filter((i) => i.goal === 'Running').length);
    }, ['instance_changed_event']);
    await h.orch.putApps([{ ...h.orch.getApp('/half')!.app, env: { V: '2' } }]);
    await waitDeploymentsDone(h, 30_000);
    await waitRunning(h, '/half', 4);
    sampler.stop();
    stopMax();
    assert.ok(Number.isFinite(sampler.min()), 'sampled');
    assert.ok(sampler.min() >= 2, `running count dropped to ${sampler.min()}`);
    assert.ok(sampler.min() < 4, 'the upgrade used the allowed headroom (kills before launches)');
    assert.ok(maxLive <= 4, `over capacity: ${maxLive}`);
    await h.orch.deleteApp('/half');
  });

  it('kills tasks: without scale they are replaced, with scale the app shrinks', async () => {
    await h.orch.createApp(app('/k', { instances: 3 }));
    const st = await waitRunning(h, '/k', 3);
    await waitDeploymentsDone(h);
    const victim = st.instances[0]!;
    const r1 = await h.orch.killTasks({ ids: [victim.taskId] });
    assert.equal(r1.scaled, false);
    await waitRunning(h, '/k', 3, 15_000, (l) => l.every((i) => i.instanceId !== victim.instanceId));
    await assert.rejects(h.orch.killTasks({ ids: ['nope.instance-1._app.1'] }), /does not exist/);
    const two = h.orch.getApp('/k')!.instances.slice(0, 2).map((i) => i.instanceId);
    const r2 = await h.orch.killTasks({ ids: two, scale: true });
    assert.equal(r2.scaled, true);
    const after = await waitRunning(h, '/k', 1);
    assert.ok(!two.includes(after.instances[0]!.instanceId), 'the sentenced instances were the ones killed');
    assert.equal(h.orch.getApp('/k')!.app.instances, 1);
    await waitDeploymentsDone(h);
    await h.orch.deleteApp('/k');
  });

  it('deletes an app: tasks killed, app_terminated_event, versions gone', async () => {
    const r = await h.orch.deleteApp('/web');
    assert.deepEqual(r.deployment.steps, [{ actions: [{ action: 'StopApplication', app: '/web' }] }]);
    assert.equal(h.orch.getApp('/web'), undefined);
    await eventually(() => h.events.some((e: MarathonEvent) => e.eventType === 'app_terminated_event' && e.appId === '/web'), 10_000, 'app_terminated_event');
    await waitDeploymentsDone(h);
    await eventually(async () => (await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length === 0, 10_000, 'no running tasks');
    await assert.rejects(h.orch.appVersions('/web'), /does not exist/);
  });
});
