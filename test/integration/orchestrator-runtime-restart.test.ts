// Orchestrator restart / failover: the same framework id, explicit reconciliation before any
// launch, no duplicate task, no lost task, the interrupted deployment resumes, and a task the
// master runs but the orchestrator does not know is killed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../src/orchestrator/keys.ts';
import { app, eventually, masterTasks, startHarness, waitDeploymentsDone, waitRunning, type Harness } from './orchestrator-runtime-harness.ts';

const NODE = process.execPath;
/** HTTP server on $PORT0: 200 once the file $FLAG exists, 503 before. */
const FLAG_SERVER = `${NODE} -e "require('http').createServer((q,s)=>{s.statusCode=require('fs').existsSync(process.env.FLAG)?200:503;s.end()}).listen(+process.env.PORT0)"`;

describe('orchestrator runtime: restart and failover', () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orch-restart-'));
    h = await startHarness({ agents: 1 });
  });
  after(async () => {
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes an interrupted rolling upgrade without duplicates or lost tasks', async () => {
    const okFlag = join(dir, 'ok');
    const newFlag = join(dir, 'new');
    writeFileSync(okFlag, '');
    const def = app('/r', {
      cmd: FLAG_SERVER,
      instances: 2,
      env: { FLAG: okFlag },
      portDefinitions: [{ port: 0, name: 'http' }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 0.2, timeoutSeconds: 1, gracePeriodSeconds: 30, maxConsecutiveFailures: 0 }],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    });
    await h.orch.createApp(def);
    const v1 = await waitRunning(h, '/r', 2, 15_000, (l) => l.every((i) => i.healthCheckResults[0]?.alive));
    await waitDeploymentsDone(h);
    const fwId = h.orch.info().frameworkId;
    const oldIds = v1.instances.map((i) => i.instanceId).sort();

    // v2 is not healthy until newFlag exists: the upgrade launches 2 new instances and waits.
    const up = await h.orch.putApps([{ ...v1.app, env: { FLAG: newFlag } }]);
    await eventually(() => h.orch.getApp('/r')!.instances.filter((i) => i.condition === 'Running').length === 4, 15_000, '4 running instances');
    const before = h.orch.getApp('/r')!.instances.map((i) => i.instanceId).sort();
    const launchedBefore = new Set(h.events.flatMap((e) => (e.eventType === 'instance_changed_event' && e.condition === 'Provisioned' ? [e.instanceId] : [])));

    // Restart the orchestrator on the same store; watch that nothing launches before reconciliation.
    const mark = h.events.length;
    const orch = await h.restart();
    let launchedUnreconciled = 0;
    orch.events.subscribe((e) => {
      if (e.eventType === 'instance_changed_event' && e.condition === 'Provisioned' && !orch.info().reconciled) launchedUnreconciled++;
    });
    assert.equal(orch.info().frameworkId, fwId, 're-subscribed with the stored framework id');
    assert.deepEqual(orch.getApp('/r')!.instances.map((i) => i.instanceId).sort(), before, 'instances loaded from the store');
    assert.deepEqual(orch.listDeployments().map((d) => d.id), [up.deploymentId], 'deployment loaded');
    await eventually(() => orch.info().reconciled, 10_000, 'reconciliation');
    assert.equal((await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length, 4, 'no task lost, none added');

    writeFileSync(newFlag, '');
    await waitDeploymentsDone(h, 20_000);
    const done = await waitRunning(h, '/r', 2, 10_000);
    const finalIds = done.instances.map((i) => i.instanceId);
    assert.ok(finalIds.every((id) => before.includes(id) && !oldIds.includes(id)), 'the two new instances from before the restart finished the upgrade');
    const launchedAfter = h.events.slice(mark).filter((e) => e.eventType === 'instance_changed_event' && e.condition === 'Provisioned');
    assert.equal(launchedAfter.length, 0, 'nothing launched after the restart');
    assert.equal([...launchedBefore].filter((id) => !oldIds.includes(id)).length, 2, 'exactly 2 new instances launched in all');
    assert.equal(launchedUnreconciled, 0);
    assert.ok(h.events.slice(mark).some((e) => e.eventType === 'deployment_success' && e.id === up.deploymentId));
    await eventually(async () => (await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length === 2, 10_000, '2 tasks in the master');
    assert.ok(!h.events.slice(mark).some((e) => e.eventType === 'status_update_event' && e.taskStatus === 'TASK_KILLED' && finalIds.some((id) => e.taskId.startsWith(id))));
  });

  it('kills a running task it does not know after a restart and replaces it', async () => {
    const st = h.orch.getApp('/r')!;
    const [lost, kept] = st.instances;
    await h.orch.close();
    // The record of one instance is gone (as if never written): its task is unknown after the restart.
    await h.store.delete(keys.instance('/r', lost!.instanceId));
    const mark = h.events.length;
    await h.restart();
    await eventually(
      () => h.events.slice(mark).some((e) => e.eventType === 'unknown_instance_terminated_event' && e.instanceId === lost!.instanceId),
      10_000,
      'unknown_instance_terminated_event',
    );
    const after = await waitRunning(h, '/r', 2, 15_000, (l) => l.every((i) => i.healthCheckResults[0]?.alive));
    assert.ok(after.instances.some((i) => i.instanceId === kept!.instanceId), 'the known task kept running');
    assert.ok(!after.instances.some((i) => i.instanceId === lost!.instanceId));
    await eventually(async () => (await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length === 2, 10_000, '2 tasks in the master');
  });
});

describe('orchestrator runtime: master failover', () => {
  it('re-subscribes after the master restarts, keeps its tasks and launches no duplicate', async () => {
    const h = await startHarness({ agents: 1 });
    const { startMaster } = await import('../../src/master/index.ts');
    let master2: { close(): Promise<void> } | undefined;
    try {
      await h.orch.createApp(app('/m', { instances: 2 }));
      const before = await waitRunning(h, '/m', 2);
      await waitDeploymentsDone(h);
      const fwId = h.orch.info().frameworkId;
      const port = Number(new URL(h.cluster.masterUrl).port);
      const mark = h.events.length;
      await h.cluster.master.close();
      await eventually(() => h.events.slice(mark).some((e) => e.eventType === 'scheduler_disconnected_event'), 10_000, 'disconnected');
      master2 = await startMaster({ port, store: h.cluster.store, allocationIntervalMs: 100, agentReregisterTimeoutMs: 5000, agentPingTimeoutMs: 300 });
      await eventually(() => h.events.slice(mark).some((e) => e.eventType === 'scheduler_reregistered_event'), 15_000, 're-subscribed');
      assert.equal(h.orch.info().frameworkId, fwId);
      await eventually(() => h.orch.info().reconciled, 15_000, 'reconciled after failover');
      await eventually(async () => (await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length === 2, 15_000, 'tasks back in the master');
      const st = h.orch.getApp('/m')!;
      assert.deepEqual(st.instances.map((i) => i.instanceId).sort(), before.instances.map((i) => i.instanceId).sort(), 'same instances');
      assert.ok(!h.events.slice(mark).some((e) => e.eventType === 'instance_changed_event' && e.condition === 'Provisioned'), 'nothing relaunched');
    } finally {
      await h.orch.close();
      await master2?.close();
      await h.stop();
    }
  });
});
