// Placement constraints, dependency order, dry runs and cancelling deployments (revert and
// force) with two agents (hostnames 127.0.0.1 and localhost).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InstanceRecord } from '../../src/orchestrator/service.ts';
import { app, eventually, masterTasks, startHarness, waitDeploymentsDone, waitRunning, type Harness } from './orchestrator-runtime-harness.ts';

describe('orchestrator runtime: constraints, dependencies, cancellation', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: 1, extraAgents: [{ hostname: 'localhost', attributes: 'rack:r2' }] });
  });
  after(async () => {
    await h?.stop();
  });

  it('UNIQUE hostname on 2 agents places 2 of 3; the queue says why; revert removes the new app', async () => {
    const r = await h.orch.createApp(app('/uniq', { instances: 3, constraints: [['hostname', 'UNIQUE']] }));
    const st = await waitRunning(h, '/uniq', 2);
    assert.deepEqual(new Set(st.instances.map((i: InstanceRecord) => i.host)), new Set(['127.0.0.1', 'localhost']));
    const q = await eventually(
      () => {
        const e = h.orch.queue().find((x) => x.app.id === '/uniq');
        return e && e.processedOffersSummary.rejectSummaryLastOffers.some((s) => s.reason === 'UnfulfilledConstraint' && s.declined > 0) ? e : false;
      },
      10_000,
      'queue entry with UnfulfilledConstraint',
    );
    assert.equal(q.count, 1);
    assert.equal(q.delay.overdue, true);
    assert.ok(q.processedOffersSummary.processedOffersCount > 0);
    // The deployment stalls, stays visible and locks the app.
    assert.deepEqual(h.orch.listDeployments().map((d) => d.id), [r.deploymentId]);
    assert.equal(h.orch.getDeployment(r.deploymentId)!.currentStep, 2);
    await assert.rejects(h.orch.putApps([{ ...h.orch.getApp('/uniq')!.app, instances: 2 }]), (e: Error & { details?: unknown }) => {
      assert.match(e.message, /locked/);
      assert.deepEqual((e as { details: { deployments: unknown } }).details.deployments, [{ id: r.deploymentId }]);
      return true;
    });
    // Cancel without force: the revert deployment removes the app it created.
    const rev = await h.orch.cancelDeployment(r.deploymentId);
    assert.ok(rev && rev.deploymentId !== r.deploymentId);
    assert.deepEqual(rev.deployment.steps, [{ actions: [{ action: 'StopApplication', app: '/uniq' }] }]);
    assert.equal(h.orch.getApp('/uniq'), undefined);
    await waitDeploymentsDone(h);
    await eventually(() => h.orch.listInstances().every((i) => i.appId !== '/uniq'), 10_000, 'instances gone');
    assert.ok(h.events.some((e) => e.eventType === 'deployment_failed' && e.id === r.deploymentId));
    assert.ok(!h.orch.queue().some((x) => x.app.id === '/uniq'));
  });

  it('a group with dependencies deploys db before web; dryRun only plans', async () => {
    const db = app('/g/db', { instances: 1 });
    const web = app('/g/web', { instances: 2, dependencies: ['/g/db'] });
    const dry = await h.orch.updateGroup({ replaceGroups: [{ id: '/g' }], apps: [db, web] }, { dryRun: true });
    assert.deepEqual(dry.steps, [
      {
        actions: [
          { action: 'StartApplication', app: '/g/db' },
          { action: 'StartApplication', app: '/g/web' },
        ],
      },
      { actions: [{ action: 'ScaleApplication', app: '/g/db' }] },
      { actions: [{ action: 'ScaleApplication', app: '/g/web' }] },
    ]);
    assert.equal(h.orch.getApp('/g/db'), undefined, 'dry run changed nothing');
    const mark = h.events.length;
    await h.orch.updateGroup({ replaceGroups: [{ id: '/g' }], apps: [db, web] });
    await waitRunning(h, '/g/web', 2);
    await waitDeploymentsDone(h);
    const evs = h.events.slice(mark);
    const dbRunning = evs.findIndex((e) => e.eventType === 'instance_changed_event' && e.runSpecId === '/g/db' && e.condition === 'Running');
    const webFirst = evs.findIndex((e) => e.eventType === 'instance_changed_event' && e.runSpecId === '/g/web');
    assert.ok(dbRunning >= 0 && webFirst > dbRunning, `db running (${dbRunning}) before web launched (${webFirst})`);
    const g = h.orch.getGroup('/g')!;
    assert.deepEqual(g.apps.map((a) => a.app.id), ['/g/db', '/g/web']);
    assert.equal(h.orch.getGroup('/')!.groups[0]!.id, '/g');
    // A cycle is refused with 422.
    await assert.rejects(h.orch.putApps([{ ...h.orch.getApp('/g/db')!.app, dependencies: ['/g/web'] }]), (e: Error & { code?: string }) => e.code === 'UNPROCESSABLE');
    // Removing the group stops web (the dependent) no later than db.
    await h.orch.deleteGroup('/g');
    await waitDeploymentsDone(h);
    await eventually(() => h.orch.listInstances().every((i) => !i.appId.startsWith('/g/')), 10_000, 'group apps gone');
    assert.equal(h.orch.getGroup('/g'), undefined);
  });

  it('cancel (revert) of a stuck upgrade changes only the affected app and keeps the old instance', async () => {
    await h.orch.putApps([app('/a', { instances: 1 }), app('/b', { instances: 1 })]);
    await waitRunning(h, '/a', 1);
    await waitRunning(h, '/b', 1);
    await waitDeploymentsDone(h);
    const oldA = h.orch.getApp('/a')!;
    const bBefore = h.orch.getApp('/b')!;
    // v2 of /a never becomes healthy (nothing listens on its port); never killed for it either.
    const up = await h.orch.putApps([
      {
        ...oldA.app,
        portDefinitions: [{ port: 0, name: 'http' }],
        healthChecks: [{ protocol: 'TCP', portIndex: 0, intervalSeconds: 0.2, timeoutSeconds: 1, gracePeriodSeconds: 0, maxConsecutiveFailures: 0 }],
      },
    ]);
    await eventually(
      () => h.orch.getApp('/a')!.instances.some((i) => i.configVersion !== oldA.app.versionInfo!.lastConfigChangeAt && i.healthCheckResults[0]?.consecutiveFailures),
      10_000,
      'v2 instance failing its check',
    );
    assert.equal(h.orch.listDeployments().length, 1, 'the upgrade is stuck');
    assert.ok(h.orch.getApp('/a')!.instances.some((i) => i.instanceId === oldA.instances[0]!.instanceId && i.goal === 'Running'), 'old instance kept');
    await h.orch.cancelDeployment(up.deploymentId);
    await waitDeploymentsDone(h);
    const st = await waitRunning(h, '/a', 1);
    assert.equal(st.instances[0]!.instanceId, oldA.instances[0]!.instanceId, 'the old instance survived the revert');
    assert.equal(st.app.healthChecks, undefined);
    assert.equal(st.app.versionInfo!.lastConfigChangeAt, oldA.app.versionInfo!.lastConfigChangeAt);
    assert.equal(h.orch.getApp('/b')!.app.version, bBefore.app.version, '/b untouched');
    assert.equal(h.orch.getApp('/b')!.instances[0]!.instanceId, bBefore.instances[0]!.instanceId);
  });

  it('force-cancel stops a deployment as it is; a forced change supersedes a running one', async () => {
    const r = await h.orch.putApps([{ ...h.orch.getApp('/a')!.app, instances: 2, constraints: [['hostname', 'LIKE', 'nowhere']] }]);
    await eventually(() => h.orch.queue().some((q) => q.app.id === '/a'), 10_000, '/a waiting');
    await assert.rejects(h.orch.cancelDeployment('no-such-id', { force: true }), /does not exist/);
    assert.equal(await h.orch.cancelDeployment(r.deploymentId, { force: true }), undefined);
    assert.equal(h.orch.listDeployments().length, 0);
    assert.equal(h.orch.getApp('/a')!.app.instances, 2, 'no rollback with force');
    const r2 = await h.orch.putApps([{ ...h.orch.getApp('/a')!.app, instances: 3 }]);
    const r3 = await h.orch.putApps([{ ...h.orch.getApp('/a')!.app, instances: 1, constraints: [] }], { force: true });
    assert.ok(h.events.some((e) => e.eventType === 'deployment_failed' && e.id === r2.deploymentId));
    assert.ok(r3.deploymentId);
    await waitDeploymentsDone(h);
    await waitRunning(h, '/a', 1);
    await eventually(async () => (await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length === 2, 10_000, '2 tasks in the master (/a, /b)');
  });
});
