// The runtime behind the Marathon API (real master + agent): service ports assigned and kept,
// group version history and group rollback, Marathon-shaped 422s for service port conflicts and
// dependency cycles, the reasons of cancelled deployments with deployment_step_failure,
// add/remove_health_check_event, and HEAD on the GET routes.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startOrchestratorServer, type OrchestratorServer } from '../../src/orchestrator/api/server.ts';
import type { MarathonEvent } from '../../src/orchestrator/service.ts';
import { checkApp, checkDeploymentResult, checkError, checkGroup, checkTask, TIMESTAMP } from './marathon-client-models.ts';
import { app, eventually, startHarness, waitDeploymentsDone, waitRunning, type Harness } from './orchestrator-runtime-harness.ts';

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

function request(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (payload) {
      h['content-type'] = 'application/json';
      h['content-length'] = String(payload.length);
    }
    const req = http.request(base + path, { method, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('orchestrator runtime: service ports, group versions, reasons, events, HEAD', () => {
  let h: Harness;
  let server: OrchestratorServer;
  const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => request(server.url, method, path, body, headers);
  const eventsSince = (mark: number) => h.events.slice(mark);

  before(async () => {
    h = await startHarness();
    server = await startOrchestratorServer({ service: h.orch, port: 0, heartbeatMs: 200 });
  });
  after(async () => {
    await server?.close();
    await h?.stop();
  });

  it('service ports: port 0 → [10000, 20000), unique, kept on update and redeploy; a taken declared port is 422', async () => {
    const web = { id: '/sp/web', cmd: 'sleep 1000', instances: 1, cpus: 0.05, mem: 16, portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }] };
    const c1 = await call('POST', '/v2/apps', web);
    assert.equal(c1.status, 201, c1.text);
    const p1 = checkApp(c1.json).portDefinitions.map((p: any) => p.port);
    assert.equal(p1.length, 2);
    for (const p of p1) assert.ok(p >= 10000 && p < 20000, `${p} in the service port range`);
    assert.notEqual(p1[0], p1[1]);
    const c2 = await call('POST', '/v2/apps', { id: '/sp/api', cmd: 'sleep 1000', instances: 0, cpus: 0.05, mem: 16 });
    assert.equal(c2.status, 201, c2.text);
    const p2 = c2.json.portDefinitions.map((p: any) => p.port);
    assert.equal(p2.length, 1, 'the default port definition');
    assert.ok(!p1.includes(p2[0]), `${p2} unique across apps (${p1})`);

    const st = await waitRunning(h, '/sp/web', 1);
    await waitDeploymentsDone(h);
    // Tasks show the service ports (JSON and text/plain).
    const tasks = await call('GET', '/v2/apps/sp/web/tasks');
    const t = checkTask(tasks.json.tasks[0]);
    assert.deepEqual(t.servicePorts, p1);
    assert.equal(t.ports.length, 2);
    const all = await call('GET', '/v2/tasks');
    assert.deepEqual(all.json.tasks.find((x: any) => x.appId === '/sp/web').servicePorts, p1);
    const text = await call('GET', '/v2/tasks', undefined, { accept: 'text/plain' });
    assert.ok(text.text.includes(`sp_web\t${p1[0]}\t${t.host}:${t.ports[0]}\t`), text.text);
    assert.ok(text.text.includes(`sp_web\t${p1[1]}\t${t.host}:${t.ports[1]}\t`), text.text);

    // Redeploying the same definition (port 0 again) is no change: same ports, same version, task kept.
    const version = h.orch.getApp('/sp/web')!.app.version;
    const same = await call('PUT', '/v2/apps/sp/web?partialUpdate=false', web);
    assert.equal(same.status, 200, same.text);
    assert.equal(h.orch.getApp('/sp/web')!.app.version, version);
    assert.deepEqual(h.orch.getApp('/sp/web')!.app.portDefinitions!.map((p) => p.port), p1);
    // A config change keeps the ports too.
    const upd = await call('PUT', '/v2/apps/sp/web?partialUpdate=false', { ...web, env: { V: '2' } });
    assert.equal(upd.status, 200, upd.text);
    assert.notEqual(h.orch.getApp('/sp/web')!.app.version, version);
    assert.deepEqual(h.orch.getApp('/sp/web')!.app.portDefinitions!.map((p) => p.port), p1);
    await waitDeploymentsDone(h);
    assert.notEqual(h.orch.getApp('/sp/web')!.instances[0]!.instanceId, st.instances[0]!.instanceId, 'the config change replaced the task');

    // A declared port another app holds: 422 with Marathon's details; nothing written.
    const clash = await call('POST', '/v2/apps', { id: '/sp/clash', cmd: 'x', instances: 0, portDefinitions: [{ port: 0 }, { port: p1[1] }] });
    assert.equal(clash.status, 422, clash.text);
    assert.deepEqual(checkError(clash.json), {
      message: 'Object is not valid',
      details: [{ path: '/portDefinitions(1)/port', errors: [`Requested service port ${p1[1]} conflicts with a service port of app /sp/web`] }],
    });
    assert.equal(h.orch.getApp('/sp/clash'), undefined);
    // A free declared port is kept as it is.
    const own = await call('POST', '/v2/apps', { id: '/sp/own', cmd: 'x', instances: 0, portDefinitions: [{ port: 9123 }] });
    assert.equal(own.status, 201, own.text);
    assert.deepEqual(own.json.portDefinitions.map((p: any) => p.port), [9123]);
    await call('DELETE', '/v2/groups/sp');
    await waitDeploymentsDone(h);
  });

  it('a dependency cycle is 422 with details at /dependencies', async () => {
    assert.equal((await call('POST', '/v2/apps', { id: '/cy/a', cmd: 'x', instances: 0, dependencies: ['/cy/b'] })).status, 201);
    const r = await call('POST', '/v2/apps', { id: '/cy/b', cmd: 'x', instances: 0, dependencies: ['/cy/a'] });
    assert.equal(r.status, 422, r.text);
    const e = checkError(r.json);
    assert.equal(e.message, 'Object is not valid');
    assert.equal(e.details.length, 1);
    assert.equal(e.details[0].path, '/dependencies');
    assert.match(e.details[0].errors[0], /cyclic dependencies: \/cy\/(a|b) -> \/cy\/(a|b) -> \/cy\/(a|b)$/);
    assert.equal(h.orch.getApp('/cy/b'), undefined);
    await call('DELETE', '/v2/groups/cy');
    await waitDeploymentsDone(h);
  });

  it('group versions: listed, readable, and PUT {version} rolls the group back changing only the affected apps', async () => {
    const a1 = { id: 'a', cmd: 'sleep 1000', instances: 0, cpus: 0.05, mem: 16, portDefinitions: [] };
    const b1 = { id: 'b', cmd: 'sleep 1000', instances: 0, cpus: 0.05, mem: 16, portDefinitions: [] };
    const created = await call('PUT', '/v2/groups/gv', { apps: [a1, b1] });
    assert.equal(created.status, 200, created.text);
    await waitDeploymentsDone(h);
    const v1 = checkGroup((await call('GET', '/v2/groups/gv')).json).version;
    assert.match(v1, TIMESTAMP);
    const bVersion = h.orch.getApp('/gv/b')!.app.version;

    // Change a, add c; then remove b.
    const step = async (method: string, path: string, body: unknown, status: number) => {
      const r = await call(method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      await waitDeploymentsDone(h);
    };
    await step('PUT', '/v2/apps/gv/a', { cmd: 'sleep 2000' }, 200);
    await step('POST', '/v2/apps', { id: '/gv/c', cmd: 'sleep 1000', instances: 0, portDefinitions: [] }, 201);
    await step('DELETE', '/v2/apps/gv/b', undefined, 200);
    await waitDeploymentsDone(h);
    // Unrelated changes elsewhere do not make versions of /gv.
    assert.equal((await call('POST', '/v2/apps', { id: '/other/x', cmd: 'x', instances: 0, portDefinitions: [] })).status, 201);
    await waitDeploymentsDone(h);

    const list = await call('GET', '/v2/groups/gv/versions');
    assert.equal(list.status, 200, list.text);
    assert.ok(Array.isArray(list.json));
    assert.equal(list.json.length, 4, JSON.stringify(list.json));
    for (const v of list.json) assert.match(v, TIMESTAMP);
    assert.deepEqual([...list.json].sort().reverse(), list.json, 'newest first');
    assert.equal(list.json[list.json.length - 1], v1);
    assert.equal(list.json[0], checkGroup((await call('GET', '/v2/groups/gv')).json).version);
    const root = await call('GET', '/v2/groups/versions');
    assert.equal(root.status, 200);
    assert.ok(root.json.length >= 5 && root.json.includes(v1), JSON.stringify(root.json));
    assert.equal(root.json[0], checkGroup((await call('GET', '/v2/groups')).json).version);
    const head = await call('HEAD', '/v2/groups/gv/versions');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');

    // The group at v1: a with its first cmd, b present, no c; apps bare (definitions).
    const old = await call('GET', `/v2/groups/gv/versions/${v1}`);
    assert.equal(old.status, 200, old.text);
    const g = checkGroup(old.json);
    assert.equal(g.version, v1);
    assert.deepEqual(g.apps.map((x: any) => [x.id, x.cmd]), [['/gv/a', 'sleep 1000'], ['/gv/b', 'sleep 1000']]);
    for (const x of g.apps) checkApp(x, 'app', { definitionOnly: true });
    assert.equal(g.apps[0].tasksRunning, undefined);
    assert.deepEqual(checkError((await call('GET', '/v2/groups/gv/versions/2001-01-01T00:00:00.000Z')).json), { message: "Group '/gv' does not exist in version 2001-01-01T00:00:00.000Z" });

    // Roll back: a restarted with its old config, b re-created (at its old version), c removed; /other untouched.
    const mark = h.events.length;
    const otherVersion = h.orch.getApp('/other/x')!.app.version;
    const rb = await call('PUT', '/v2/groups/gv', { version: v1 });
    assert.equal(rb.status, 200, rb.text);
    const { deploymentId } = checkDeploymentResult(rb.json);
    const info = await eventually(
      () => eventsSince(mark).find((e) => e.eventType === 'deployment_info' && e.plan.id === deploymentId) as Extract<MarathonEvent, { eventType: 'deployment_info' }> | undefined,
      5000,
      'deployment_info of the rollback',
    );
    assert.deepEqual(info.plan.target.apps.map((x) => x.id).sort(), ['/gv/a', '/gv/b']);
    assert.deepEqual([...new Set(info.plan.steps.flatMap((s) => s.actions.map((x) => `${x.action} ${x.app}`)))].sort(), ['RestartApplication /gv/a', 'ScaleApplication /gv/b', 'StartApplication /gv/b', 'StopApplication /gv/c']);
    await waitDeploymentsDone(h);
    assert.equal(h.orch.getApp('/gv/a')!.app.cmd, 'sleep 1000');
    assert.equal(h.orch.getApp('/gv/b')!.app.cmd, 'sleep 1000');
    assert.notEqual(h.orch.getApp('/gv/b')!.app.version, undefined);
    assert.ok(bVersion);
    assert.equal(h.orch.getApp('/gv/c'), undefined);
    assert.equal(h.orch.getApp('/other/x')!.app.version, otherVersion);
    // Rolling back to the current version again changes nothing.
    const cur = checkGroup((await call('GET', '/v2/groups/gv')).json).version;
    const noop = await call('PUT', '/v2/groups/gv', { version: cur });
    assert.equal(noop.status, 200, noop.text);
    await waitDeploymentsDone(h);
    assert.equal(checkGroup((await call('GET', '/v2/groups/gv')).json).version, cur);
    // Unknown version: 404.
    const bad = await call('PUT', '/v2/groups/gv', { version: '2001-01-01T00:00:00.000Z' });
    assert.equal(bad.status, 404, bad.text);
    // The history survives an orchestrator restart.
    await h.restart();
    await server.close();
    server = await startOrchestratorServer({ service: h.orch, port: 0, heartbeatMs: 200 });
    const again = await call('GET', '/v2/groups/gv/versions');
    assert.ok(again.json.includes(v1), JSON.stringify(again.json));
    const oldAgain = await call('GET', `/v2/groups/gv/versions/${v1}`);
    assert.equal(oldAgain.status, 200, oldAgain.text);
    await call('DELETE', '/v2/groups/gv');
    await call('DELETE', '/v2/groups/other');
    await waitDeploymentsDone(h);
  });

  it('cancelled deployments say why (deployment_step_failure, then deployment_failed with a sentence)', async () => {
    // Never placeable: the deployment stays in its scale step.
    const stuck = (cmd: string) => ({ ...app('/rs/stuck', { cmd, constraints: [['hostname', 'LIKE', 'nowhere']] }) });
    const reasonOf = (id: string) =>
      eventually(() => (h.events.find((e) => e.eventType === 'deployment_failed' && e.id === id) as { reason?: string } | undefined)?.reason, 5000, `deployment_failed of ${id}`);
    const stepFailed = (id: string) => h.events.some((e) => e.eventType === 'deployment_step_failure' && e.plan.id === id);

    const d1 = await h.orch.createApp(stuck('sleep 1000'));
    await eventually(() => h.orch.getDeployment(d1.deploymentId)?.currentStep === 2, 5000, 'the scale step');
    // force=true on a new change supersedes it.
    const d2 = await h.orch.putApps([stuck('sleep 1001')], { force: true });
    assert.equal(await reasonOf(d1.deploymentId), `superseded by deployment ${d2.deploymentId} (force=true)`);
    assert.ok(stepFailed(d1.deploymentId));
    // DELETE /v2/deployments/{id}: rolled back.
    await eventually(() => (h.orch.getDeployment(d2.deploymentId)?.currentStep ?? 0) >= 1, 5000, 'the second deployment to start');
    const del = await call('DELETE', `/v2/deployments/${d2.deploymentId}`);
    assert.equal(del.status, 200, del.text);
    const revert = checkDeploymentResult(del.json).deploymentId;
    assert.equal(await reasonOf(d2.deploymentId), `deployment cancelled by DELETE /v2/deployments/${d2.deploymentId}; rolled back by deployment ${revert}`);
    assert.ok(stepFailed(d2.deploymentId));
    // ?force=true: cancelled as it is.
    await eventually(() => (h.orch.getDeployment(revert)?.currentStep ?? 0) >= 1, 5000, 'the revert to start');
    const forced = await call('DELETE', `/v2/deployments/${revert}?force=true`);
    assert.equal(forced.status, 202, forced.text);
    assert.equal(await reasonOf(revert), `deployment cancelled by DELETE /v2/deployments/${revert}?force=true (no rollback)`);
    assert.ok(stepFailed(revert));
    await h.orch.deleteApp('/rs/stuck', { force: true });
    await waitDeploymentsDone(h);
  });

  it('add_health_check_event / remove_health_check_event follow changes of an app\'s health checks', async () => {
    const hc = { protocol: 'MESOS_TCP' as const, gracePeriodSeconds: 300, intervalSeconds: 10, timeoutSeconds: 5, maxConsecutiveFailures: 3, delaySeconds: 1, portIndex: 0 };
    const base = app('/hc/web', { instances: 0, portDefinitions: [{ port: 0 }] });
    const kinds = (mark: number) => eventsSince(mark).filter((e) => e.eventType === 'add_health_check_event' || e.eventType === 'remove_health_check_event');

    let mark = h.events.length;
    const created = await h.orch.createApp({ ...base, healthChecks: [hc] });
    const adds = kinds(mark);
    assert.deepEqual(adds.map((e) => e.eventType), ['add_health_check_event']);
    assert.deepEqual(adds[0], { ...adds[0], appId: '/hc/web', version: created.version, healthCheck: hc });
    await waitDeploymentsDone(h);

    mark = h.events.length;
    await h.orch.putApps([{ ...h.orch.getApp('/hc/web')!.app, env: { A: '1' } }]);
    assert.deepEqual(kinds(mark), [], 'checks unchanged: no events');
    await waitDeploymentsDone(h);

    mark = h.events.length;
    await h.orch.putApps([{ ...h.orch.getApp('/hc/web')!.app, healthChecks: [{ ...hc, intervalSeconds: 20 }] }]);
    assert.deepEqual(kinds(mark).map((e) => e.eventType), ['remove_health_check_event', 'add_health_check_event']);
    await waitDeploymentsDone(h);

    mark = h.events.length;
    await h.orch.putApps([{ ...h.orch.getApp('/hc/web')!.app, healthChecks: [] }]);
    assert.deepEqual(kinds(mark).map((e) => [e.eventType, e.appId]), [['remove_health_check_event', '/hc/web']]);
    await waitDeploymentsDone(h);

    await h.orch.putApps([{ ...h.orch.getApp('/hc/web')!.app, healthChecks: [hc] }]);
    await waitDeploymentsDone(h);
    mark = h.events.length;
    await h.orch.deleteApp('/hc/web');
    assert.deepEqual(kinds(mark).map((e) => e.eventType), ['remove_health_check_event']);
    await waitDeploymentsDone(h);
  });

  it('HEAD answers every GET route with the same status and headers and no body', async () => {
    assert.equal((await call('POST', '/v2/apps', { id: '/hd/web', cmd: 'x', instances: 0, portDefinitions: [] })).status, 201);
    await waitDeploymentsDone(h);
    for (const path of ['/v2/apps', '/v2/apps/hd/web', '/v2/apps/hd/web/tasks', '/v2/apps/hd/web/versions', '/v2/groups', '/v2/groups/hd', '/v2/tasks', '/v2/deployments', '/v2/queue', '/v2/info', '/v2/leader', '/ping', '/metrics']) {
      const get = await call('GET', path);
      const head = await call('HEAD', path);
      assert.equal(head.status, get.status, path);
      assert.equal(head.text, '', path);
      assert.equal(head.headers['content-type'], get.headers['content-type'], path);
      // Same length unless the body holds something that changes between two calls (timestamps).
      if (!['/v2/info', '/metrics'].includes(path)) assert.equal(head.headers['content-length'], get.headers['content-length'], path);
    }
    const missing = await call('HEAD', '/v2/apps/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.text, '');
    assert.equal(missing.headers['content-type'], 'application/json');
    const sse = await call('HEAD', '/v2/events', undefined, { accept: 'text/event-stream' });
    assert.equal(sse.status, 200);
    assert.equal(sse.headers['content-type'], 'text/event-stream');
    assert.equal(sse.text, '');
    // Methods other than GET/HEAD are still refused.
    assert.equal((await call('PUT', '/v2/info', {})).status, 405);
    await call('DELETE', '/v2/apps/hd/web');
    await waitDeploymentsDone(h);
  });
});
