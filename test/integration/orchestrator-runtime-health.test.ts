// Health and readiness: Marathon-level checks kill after maxConsecutiveFailures, Mesos-level
// checks (run by the agent) drive the healthy counts, readiness checks gate a deployment.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { app, eventually, masterTasks, running, startHarness, waitDeploymentsDone, waitRunning, type Harness } from './orchestrator-runtime-harness.ts';

const NODE = process.execPath;
const FLAG_SERVER = `${NODE} -e "require('http').createServer((q,s)=>{s.statusCode=require('fs').existsSync(process.env.FLAG)?200:503;s.end()}).listen(+process.env.PORT0)"`;

describe('orchestrator runtime: health and readiness', () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orch-health-'));
    h = await startHarness({ agents: 1 });
  });
  after(async () => {
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kills an instance after maxConsecutiveFailures of a Marathon TCP check and replaces it', async () => {
    await h.orch.createApp(
      app('/sick', {
        instances: 1,
        portDefinitions: [{ port: 0 }],
        healthChecks: [{ protocol: 'TCP', portIndex: 0, intervalSeconds: 0.1, timeoutSeconds: 1, gracePeriodSeconds: 0, maxConsecutiveFailures: 2 }],
      }),
    );
    const first = await eventually(() => h.orch.getApp('/sick')?.instances[0], 10_000, 'an instance');
    const kill = await eventually(
      () => h.events.find((e) => e.eventType === 'unhealthy_instance_kill_event' && e.instanceId === first.instanceId),
      10_000,
      'unhealthy_instance_kill_event',
    );
    assert.equal(kill.eventType === 'unhealthy_instance_kill_event' && kill.appId, '/sick');
    assert.ok(h.events.filter((e) => e.eventType === 'failed_health_check_event' && e.instanceId === first.instanceId).length >= 2);
    await eventually(() => h.orch.getApp('/sick')!.instances.some((i) => i.instanceId !== first.instanceId && i.condition === 'Running'), 10_000, 'a replacement');
    const st = h.orch.getApp('/sick')!;
    assert.equal(st.counts.healthy, 0);
    await h.orch.deleteApp('/sick', { force: true });
    await waitDeploymentsDone(h);
  });

  it('MESOS_HTTP checks run by the agent make instances healthy and finish the deployment', async () => {
    const flag = join(dir, 'mesos-ok');
    writeFileSync(flag, '');
    const r = await h.orch.createApp(
      app('/mh', {
        cmd: FLAG_SERVER,
        instances: 2,
        env: { FLAG: flag },
        portDefinitions: [{ port: 0, name: 'http' }],
        healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0, delaySeconds: 0, intervalSeconds: 0.2, timeoutSeconds: 1, gracePeriodSeconds: 10, maxConsecutiveFailures: 3 }],
      }),
    );
    await eventually(() => h.orch.getApp('/mh')?.counts.healthy === 2, 15_000, '2 healthy (Mesos-level)');
    await waitDeploymentsDone(h);
    assert.ok(h.events.some((e) => e.eventType === 'deployment_success' && e.id === r.deploymentId));
    assert.ok(h.events.some((e) => e.eventType === 'health_status_changed_event' && e.appId === '/mh' && e.alive));
    await h.orch.deleteApp('/mh');
    await waitDeploymentsDone(h);
  });

  it('a readiness check holds the deployment until the instance answers ready', async () => {
    const flag = join(dir, 'ready');
    const r = await h.orch.createApp(
      app('/rd', {
        cmd: FLAG_SERVER,
        instances: 1,
        env: { FLAG: flag },
        portDefinitions: [{ port: 0, name: 'http-api' }],
        readinessChecks: [{ name: 'readinessCheck', protocol: 'HTTP', path: '/', portName: 'http-api', intervalSeconds: 0.1, timeoutSeconds: 1, httpStatusCodesForReady: [200], preserveLastResponse: true }],
      }),
    );
    const d = await eventually(
      () => {
        const dep = h.orch.getDeployment(r.deploymentId);
        const res = dep?.currentActions[0]?.readinessCheckResults[0];
        return res && res.ready === false && res.lastResponse?.status === 503 ? dep : false;
      },
      10_000,
      'a not-ready readiness result in currentActions',
    );
    assert.equal(d.currentActions[0]!.action, 'ScaleApplication');
    await waitRunning(h, '/rd', 1);
    assert.equal(h.orch.listDeployments().length, 1, 'still deploying while not ready');
    writeFileSync(flag, '');
    await waitDeploymentsDone(h, 10_000);
    await h.orch.deleteApp('/rd');
    await waitDeploymentsDone(h);
  });
});

describe('orchestrator runtime: unreachable agents', () => {
  it('replaces an unreachable instance after inactiveAfterSeconds and kills the surplus when it comes back', async () => {
    const h = await startHarness({
      agents: 0,
      extraAgents: [{ hostname: '127.0.0.1' }, { hostname: 'localhost' }],
      master: { agentPingTimeoutMs: 200, maxAgentPingTimeouts: 3 },
    });
    try {
      await h.orch.createApp(app('/u', { instances: 1, unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 120 } }));
      const [first] = (await waitRunning(h, '/u', 1)).instances;
      await waitDeploymentsDone(h);
      const k = first!.host === '127.0.0.1' ? 0 : 1;
      await h.crashAgent(k);
      await eventually(() => h.orch.getApp('/u')!.instances.some((i) => i.instanceId === first!.instanceId && i.condition === 'Unreachable'), 10_000, 'Unreachable');
      assert.equal(running(h.orch.getApp('/u')!.instances).length, 0, 'not replaced before inactiveAfterSeconds');
      const replacement = await eventually(
        () => running(h.orch.getApp('/u')!.instances).find((i) => i.instanceId !== first!.instanceId),
        10_000,
        'a replacement on the other agent',
      );
      assert.equal(h.orch.getApp('/u')!.instances.find((i) => i.instanceId === first!.instanceId)?.condition, 'UnreachableInactive');
      // The agent comes back with the task still running: one of the two is surplus and goes.
      await h.restartAgent(k);
      await eventually(() => h.events.some((e) => e.eventType === 'instance_changed_event' && e.instanceId === first!.instanceId && e.condition === 'Running'), 15_000, 'came back');
      const st = await waitRunning(h, '/u', 1, 15_000);
      assert.equal(st.instances[0]!.instanceId, replacement.instanceId, 'the instance that came back is the surplus');
      await eventually(async () => (await masterTasks(h)).filter((t) => t.state === 'TASK_RUNNING').length === 1, 10_000, 'one task in the master');
    } finally {
      await h.stop();
    }
  });
});
