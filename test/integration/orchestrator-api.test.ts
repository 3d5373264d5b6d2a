// The Marathon v2 API layer (src/orchestrator/api) over a fake in-memory
// OrchestratorService: every route's status codes, headers and body shapes
// (checked strictly against the python client's models), Marathon's error
// shapes, the SSE stream, text/plain tasks, and bad input of every kind.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startOrchestratorServer, type OrchestratorServer } from '../../src/orchestrator/api/server.ts';
import { FakeOrchestrator } from './orchestrator-api-fake.ts';
import {
  checkApp,
  checkDeployment,
  checkDeploymentResult,
  checkError,
  checkGroup,
  checkQueueItem,
  checkTask,
  TIMESTAMP,
} from './marathon-client-models.ts';

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

function request(base: string, method: string, path: string, opts: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    let payload: Buffer | undefined;
    if (opts.raw !== undefined) payload = Buffer.isBuffer(opts.raw) ? opts.raw : Buffer.from(opts.raw);
    else if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['content-type'] ??= 'application/json';
    }
    if (payload) headers['content-length'] = String(payload.length);
    const req = http.request(base + path, { method, headers, agent: false }, (res) => {
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

const WEB = { id: '/web', cmd: 'python3 -m http.server $PORT0', instances: 2, cpus: 0.1, mem: 64, labels: { tier: 'frontend', team: 'a' } };

describe('Marathon v2 API (fake service)', () => {
  let fake: FakeOrchestrator;
  let server: OrchestratorServer;
  let base: string;
  const call = (method: string, path: string, opts?: Parameters<typeof request>[3]) => request(base, method, path, opts);

  before(async () => {
    fake = new FakeOrchestrator();
    server = await startOrchestratorServer({ service: fake, port: 0, heartbeatMs: 100 });
    base = server.url;
  });
  after(async () => {
    await server?.close();
  });
  beforeEach(() => {
    fake.apps.clear();
    fake.instances.clear();
    fake.deployments.clear();
    fake.groups.clear();
    fake.queueEntries.length = 0;
  });

  const create = async (def: Record<string, unknown> = WEB) => {
    const r = await call('POST', '/v2/apps', { body: def });
    assert.equal(r.status, 201, r.text);
    for (const d of fake.listDeployments()) fake.completeDeployment(d.id);
    return r;
  };

  describe('misc', () => {
    test('/ping, /v2/info, /v2/leader, /metrics', async () => {
      const ping = await call('GET', '/ping', { headers: { accept: '*/*' } });
      assert.equal(ping.status, 200);
      assert.match(ping.headers['content-type']!, /^text\/plain/);
      assert.equal(ping.text.trim(), 'pong');
      const info = await call('GET', '/v2/info');
      assert.equal(info.status, 200);
      assert.equal(info.json.name, 'marathon');
      assert.equal(typeof info.json.version, 'string');
      assert.equal(info.json.frameworkId, 'fake-framework-0001');
      assert.equal(typeof info.json.elected, 'boolean');
      const leader = await call('GET', '/v2/leader');
      assert.deepEqual(leader.json, { leader: `127.0.0.1:${server.port}` });
      const metrics = await call('GET', '/metrics');
      assert.equal(metrics.status, 200);
      assert.ok(metrics.json.gauges);
    });

    test('unknown routes and methods answer JSON errors', async () => {
      const r = await call('GET', '/v2/nope');
      assert.equal(r.status, 404);
      checkError(r.json);
      const m = await call('POST', '/v2/deployments');
      assert.equal(m.status, 405);
      checkError(m.json);
      const bad = await call('GET', '/v2/apps/%E0%A4%A');
      assert.ok(bad.status === 400 || bad.status === 404, bad.text);
      checkError(bad.json);
    });
  });

  describe('apps', () => {
    test('POST /v2/apps: 201, Location, Marathon-Deployment-Id, AppInfo with zero counts and the deployment', async () => {
      const r = await call('POST', '/v2/apps', { body: WEB });
      assert.equal(r.status, 201, r.text);
      const depId = r.headers['marathon-deployment-id'];
      assert.ok(depId);
      assert.match(String(r.headers.location), /\/v2\/apps\/web$|\/web$/);
      const app = checkApp(r.json);
      assert.equal(app.id, '/web');
      assert.equal(app.instances, 2);
      assert.deepEqual([app.tasksStaged, app.tasksRunning, app.tasksHealthy, app.tasksUnhealthy], [0, 0, 0, 0]);
      assert.deepEqual(app.deployments, [{ id: depId }]);
      assert.deepEqual(app.tasks, []);
      // Defaults filled in (marathon.md §3.1).
      assert.equal(app.disk, 0);
      assert.equal(app.backoffSeconds, 1);
      assert.equal(app.backoffFactor, 1.15);
      assert.deepEqual(app.upgradeStrategy, { minimumHealthCapacity: 1, maximumOverCapacity: 1 });
      assert.match(app.version, TIMESTAMP);
    });

    test('POST of an existing app: 409 with Marathon\'s message', async () => {
      await create();
      const r = await call('POST', '/v2/apps', { body: WEB });
      assert.equal(r.status, 409);
      assert.deepEqual(checkError(r.json), { message: 'An app with id [/web] already exists.' });
    });

    test('GET /v2/apps with embeds and cmd/id/label filters', async () => {
      await create();
      await create({ id: '/db', cmd: 'postgres', labels: { tier: 'backend' } });
      fake.addInstance('/web');
      const all = await call('GET', '/v2/apps');
      assert.equal(all.status, 200);
      assert.deepEqual(Object.keys(all.json), ['apps']);
      assert.deepEqual(all.json.apps.map((a: any) => a.id), ['/db', '/web']);
      for (const a of all.json.apps) {
        checkApp(a);
        assert.equal(typeof a.tasksRunning, 'number', 'counts are embedded by default');
        assert.ok(Array.isArray(a.deployments), 'deployments are embedded by default');
        assert.equal(a.tasks, undefined, 'tasks only when asked');
      }
      const withTasks = await call('GET', '/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure');
      const web = withTasks.json.apps.find((a: any) => a.id === '/web');
      assert.equal(web.tasks.length, 1);
      checkTask(web.tasks[0]);
      assert.deepEqual((await call('GET', '/v2/apps?cmd=postgres')).json.apps.map((a: any) => a.id), ['/db']);
      assert.deepEqual((await call('GET', '/v2/apps?id=we')).json.apps.map((a: any) => a.id), ['/web']);
      assert.deepEqual((await call('GET', '/v2/apps?label=tier==frontend')).json.apps.map((a: any) => a.id), ['/web']);
      assert.deepEqual((await call('GET', '/v2/apps?label=tier')).json.apps.map((a: any) => a.id), ['/db', '/web']);
      assert.deepEqual((await call('GET', `/v2/apps?label=${encodeURIComponent('tier in (backend)')}`)).json.apps.map((a: any) => a.id), ['/db']);
      const badLabel = await call('GET', `/v2/apps?label=${encodeURIComponent('tier in (')}`);
      assert.ok(badLabel.status === 400 || badLabel.status === 422, badLabel.text);
      checkError(badLabel.json);
    });

    test('GET /v2/apps/{id}: tasks, counts, deployments, lastTaskFailure always embedded; 404 for unknown', async () => {
      await create();
      fake.addInstance('/web');
      const r = await call('GET', '/v2/apps/web');
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.json), ['app']);
      const app = checkApp(r.json.app);
      assert.equal(app.tasks.length, 1);
      assert.equal(app.tasksRunning, 1);
      assert.deepEqual(app.deployments, []);
      await create({ id: '/failing', cmd: 'false' });
      const f = await call('GET', '/v2/apps/failing');
      assert.equal(checkApp(f.json.app).lastTaskFailure.state, 'TASK_FAILED');
      const missing = await call('GET', '/v2/apps/nope/x');
      assert.equal(missing.status, 404);
      assert.deepEqual(checkError(missing.json), { message: "App '/nope/x' does not exist" });
    });

    test('GET /v2/apps/{group}/*: every app below a group', async () => {
      await create({ id: '/prod/web', cmd: 'a' });
      await create({ id: '/prod/db/main', cmd: 'b' });
      await create({ id: '/dev/web', cmd: 'c' });
      const r = await call('GET', '/v2/apps/prod/*');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json['*'].map((a: any) => a.id).sort(), ['/prod/db/main', '/prod/web']);
      assert.equal((await call('GET', '/v2/apps/nope/*')).status, 404);
    });

    test('PUT /v2/apps/{id}: partial update by default, full replace with partialUpdate=false, 201 when it creates', async () => {
      await create({ ...WEB, env: { A: '1' } });
      const r = await call('PUT', '/v2/apps/web', { body: { instances: 3 } });
      assert.equal(r.status, 200, r.text);
      const res = checkDeploymentResult(r.json);
      assert.equal(r.headers['marathon-deployment-id'], res.deploymentId);
      const app = fake.getApp('/web')!.app;
      assert.equal(app.instances, 3);
      assert.deepEqual(app.env, { A: '1' }, 'fields the patch leaves out are kept');
      assert.equal(app.cmd, WEB.cmd);
      fake.completeDeployment(res.deploymentId);

      const full = await call('PUT', '/v2/apps/web?partialUpdate=false', { body: { id: '/web', cmd: 'sleep 100' } });
      assert.equal(full.status, 200, full.text);
      const replaced = fake.getApp('/web')!.app;
      assert.equal(replaced.instances, 1, 'defaults again after a full replace');
      assert.equal(replaced.env && Object.keys(replaced.env).length, 0);
      fake.completeDeployment(full.json.deploymentId);

      const created = await call('PUT', '/v2/apps/new-one', { body: { cmd: 'sleep 1' } });
      assert.equal(created.status, 201, created.text);
      assert.match(String(created.headers.location), /new-one$/);
      checkDeploymentResult(created.json);
      assert.ok(fake.getApp('/new-one'));
    });

    test('the URL id wins over the body id', async () => {
      await create();
      const r = await call('PUT', '/v2/apps/web', { body: { id: '/other', instances: 1 } });
      assert.equal(r.status, 200, r.text);
      assert.equal(fake.getApp('/other'), undefined);
    });

    test('PATCH /v2/apps/{id}: 404 for unknown apps, merges otherwise', async () => {
      const missing = await call('PATCH', '/v2/apps/nope', { body: { instances: 1 } });
      assert.equal(missing.status, 404);
      assert.deepEqual(checkError(missing.json), { message: "App '/nope' does not exist" });
      await create();
      const r = await call('PATCH', '/v2/apps/web', { body: { mem: 96 } });
      assert.equal(r.status, 200, r.text);
      checkDeploymentResult(r.json);
      assert.equal(fake.getApp('/web')!.app.mem, 96);
    });

    test('bulk PUT /v2/apps and PATCH /v2/apps', async () => {
      await create();
      const r = await call('PUT', '/v2/apps', { body: [{ id: '/web', instances: 5 }, { id: '/api', cmd: 'serve' }] });
      assert.equal(r.status, 200, r.text);
      checkDeploymentResult(r.json);
      assert.equal(fake.getApp('/web')!.app.instances, 5);
      assert.ok(fake.getApp('/api'));
      for (const d of fake.listDeployments()) fake.completeDeployment(d.id);
      const bad = await call('PUT', '/v2/apps', { body: [{ id: '/x', cmd: 'a', cpus: -1 }, { id: '/y', cmd: 'b', instances: -2 }] });
      assert.equal(bad.status, 422, bad.text);
      const paths = checkError(bad.json).details.map((d: any) => d.path);
      assert.ok(paths.some((p: string) => p.startsWith('/(0)')) && paths.some((p: string) => p.startsWith('/(1)')), JSON.stringify(bad.json));
      const patchMissing = await call('PATCH', '/v2/apps', { body: [{ id: '/nope', instances: 1 }] });
      assert.equal(patchMissing.status, 404);
      const notArray = await call('PUT', '/v2/apps', { body: { id: '/web' } });
      assert.equal(notArray.status, 400);
      checkError(notArray.json);
    });

    test('a locked app: 409 with the deployments; force=true overrides', async () => {
      await call('POST', '/v2/apps', { body: WEB });
      const [dep] = fake.listDeployments();
      const r = await call('PUT', '/v2/apps/web', { body: { instances: 4 } });
      assert.equal(r.status, 409, r.text);
      const e = checkError(r.json);
      assert.deepEqual(e.deployments, [{ id: dep!.id }]);
      assert.match(e.message, /^App is locked by one or more deployments\. Override with the option '\?force=true'\./);
      const restart = await call('POST', '/v2/apps/web/restart');
      assert.equal(restart.status, 409);
      const forced = await call('PUT', '/v2/apps/web?force=true', { body: { instances: 4 } });
      assert.equal(forced.status, 200, forced.text);
      const pyBool = await call('PUT', '/v2/apps/web?force=True', { body: { instances: 5 } });
      assert.equal(pyBool.status, 200, 'python requests sends True');
    });

    test('DELETE /v2/apps/{id}: force defaults to true; 404 for unknown', async () => {
      await call('POST', '/v2/apps', { body: WEB }); // still deploying: locked
      const r = await call('DELETE', '/v2/apps/web');
      assert.equal(r.status, 200, r.text);
      checkDeploymentResult(r.json);
      assert.ok(r.headers['marathon-deployment-id']);
      assert.equal(fake.getApp('/web'), undefined);
      const again = await call('DELETE', '/v2/apps/web');
      assert.equal(again.status, 404);
      assert.deepEqual(checkError(again.json), { message: "App '/web' does not exist" });
    });

    test('POST /v2/apps/{id}/restart', async () => {
      await create();
      const before = fake.getApp('/web')!.app.version;
      const r = await call('POST', '/v2/apps/web/restart');
      assert.equal(r.status, 200, r.text);
      checkDeploymentResult(r.json);
      assert.ok(r.headers['marathon-deployment-id']);
      assert.notEqual(fake.getApp('/web')!.app.version, before);
      assert.equal((await call('POST', '/v2/apps/nope/restart')).status, 404);
      assert.equal((await call('GET', '/v2/apps/web/restart')).status, 405);
    });

    test('versions: list, one version (bare definition), unknown version 404, rollback with {version}', async () => {
      await create();
      const v1 = fake.getApp('/web')!.app.version!;
      const up = await call('PUT', '/v2/apps/web', { body: { cmd: 'sleep 2' } });
      fake.completeDeployment(up.json.deploymentId);
      const list = await call('GET', '/v2/apps/web/versions');
      assert.equal(list.status, 200);
      assert.deepEqual(Object.keys(list.json), ['versions']);
      assert.equal(list.json.versions.length, 2);
      for (const v of list.json.versions) assert.match(v, TIMESTAMP);
      const one = await call('GET', `/v2/apps/web/versions/${v1}`);
      assert.equal(one.status, 200, one.text);
      const def = checkApp(one.json, 'version', { definitionOnly: true });
      assert.equal(def.cmd, WEB.cmd);
      const missing = await call('GET', '/v2/apps/web/versions/2001-01-01T00:00:00.000Z');
      assert.equal(missing.status, 404);
      assert.deepEqual(checkError(missing.json), { message: "App '/web' does not exist in version 2001-01-01T00:00:00.000Z" });
      assert.equal((await call('GET', '/v2/apps/nope/versions')).status, 404);

      const rb = await call('PUT', '/v2/apps/web', { body: { version: v1 } });
      assert.equal(rb.status, 200, rb.text);
      checkDeploymentResult(rb.json);
      assert.equal(fake.getApp('/web')!.app.cmd, WEB.cmd);
      fake.completeDeployment(rb.json.deploymentId);
      const mixed = await call('PUT', '/v2/apps/web', { body: { version: v1, cmd: 'x' } });
      assert.equal(mixed.status, 422, mixed.text);
      assert.ok(JSON.stringify(checkError(mixed.json).details).includes("The 'version' field may only be combined with the 'id' field."));
      const unknownVersion = await call('PUT', '/v2/apps/web', { body: { version: '2001-01-01T00:00:00.000Z' } });
      assert.equal(unknownVersion.status, 404);
    });

    test('tasks of an app: JSON, text/plain, kill all / by host / scale, kill one', async () => {
      await create({ ...WEB, portDefinitions: [{ port: 10001, name: 'http' }] });
      const a = fake.addInstance('/web', { host: 'h1', ports: [31001] });
      fake.addInstance('/web', { host: 'h2', ports: [31002] });
      const json = await call('GET', '/v2/apps/web/tasks');
      assert.equal(json.status, 200);
      assert.deepEqual(Object.keys(json.json), ['tasks']);
      assert.equal(json.json.tasks.length, 2);
      json.json.tasks.forEach((t: unknown) => checkTask(t));
      const text = await call('GET', '/v2/apps/web/tasks', { headers: { accept: 'text/plain' } });
      assert.equal(text.status, 200);
      assert.match(text.headers['content-type']!, /^text\/plain/);
      assert.equal(text.text, 'web\t10001\th1:31001\th2:31002\t\n');
      const wildcard = await call('GET', '/v2/apps/web/tasks', { headers: { accept: '*/*' } });
      assert.match(wildcard.headers['content-type']!, /json/, 'JSON is preferred for */*');

      const both = await call('DELETE', '/v2/apps/web/tasks?scale=true&wipe=true');
      assert.equal(both.status, 400);
      assert.deepEqual(checkError(both.json), { message: 'You cannot use scale and wipe at the same time.' });

      const one = await call('DELETE', `/v2/apps/web/tasks/${a.taskId}`);
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(Object.keys(one.json), ['task']);
      assert.equal(checkTask(one.json.task).id, a.taskId);
      const unknownTask = await call('DELETE', '/v2/apps/web/tasks/web.instance-nope._app.1');
      assert.equal(unknownTask.status, 404);
      assert.deepEqual(checkError(unknownTask.json), { message: "Task 'web.instance-nope._app.1' does not exist" });

      const byHost = await call('DELETE', '/v2/apps/web/tasks?host=h2');
      assert.equal(byHost.status, 200);
      assert.deepEqual(byHost.json.tasks.map((t: any) => t.host), ['h2']);

      const scaled = await call('DELETE', '/v2/apps/web/tasks?scale=true');
      assert.equal(scaled.status, 200, scaled.text);
      checkDeploymentResult(scaled.json);
      assert.ok(scaled.headers['marathon-deployment-id']);
      assert.equal(fake.getApp('/web')!.app.instances, 0);
      assert.equal((await call('GET', '/v2/apps/nope/tasks')).status, 404);
    });
  });

  describe('bad input', () => {
    test('malformed JSON: 400 {"message":"Invalid JSON","details":"<parser message>"}', async () => {
      for (const raw of ['{"id": "/x",', '', 'not json', '{"id": "/x"} trailing']) {
        const r = await call('POST', '/v2/apps', { raw, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 400, `${JSON.stringify(raw)}: ${r.text}`);
        const e = checkError(r.json);
        assert.equal(e.message, 'Invalid JSON');
        assert.equal(typeof e.details, 'string');
      }
    });

    test('a wrong content type is 415; a body over 4 MiB is 413', async () => {
      const r = await call('POST', '/v2/apps', { raw: JSON.stringify(WEB), headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 415);
      checkError(r.json);
      const form = await call('PUT', '/v2/apps/web', { raw: 'instances=3', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(form.status, 415);
      const big = JSON.stringify({ ...WEB, env: { BIG: 'x'.repeat(4 * 1024 * 1024 + 10) } });
      const tooBig = await call('POST', '/v2/apps', { raw: big, headers: { 'content-type': 'application/json' } });
      assert.equal(tooBig.status, 413);
      checkError(tooBig.json);
      assert.equal(fake.apps.size, 0, 'nothing half-written');
      assert.equal((await call('GET', '/ping')).status, 200);
    });

    test('validation: 422 with every problem at once, nothing stored', async () => {
      const r = await call('POST', '/v2/apps', {
        body: {
          id: '/Bad_Id',
          cmd: 'x',
          cpus: -1,
          mem: -5,
          instances: -1,
          portDefinitions: [{ port: 0, name: 'http' }, { port: 0, name: 'http' }],
          constraints: [['hostname', 'SOMETIMES']],
        },
      });
      assert.equal(r.status, 422, r.text);
      const e = checkError(r.json);
      assert.equal(e.message, 'Object is not valid');
      const byPath = new Map<string, string[]>(e.details.map((d: any) => [d.path, d.errors]));
      for (const p of ['/id', '/cpus', '/mem', '/instances']) assert.ok(byPath.has(p), `${p} in ${JSON.stringify(e.details)}`);
      assert.ok(JSON.stringify(e.details).includes('Port names must be unique.'), JSON.stringify(e.details));
      assert.ok(
        JSON.stringify(e.details).includes('operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS'),
        JSON.stringify(e.details),
      );
      assert.equal(fake.apps.size, 0);
    });

    test('wrong types are reported with their path', async () => {
      const r = await call('POST', '/v2/apps', { body: { id: '/x', cmd: 'a', cpus: 'lots', instances: '3', env: [] } });
      assert.ok(r.status === 400 || r.status === 422, r.text);
      const e = checkError(r.json);
      const paths = e.details.map((d: any) => d.path);
      for (const p of ['/cpus', '/instances', '/env']) assert.ok(paths.includes(p), `${p} in ${JSON.stringify(e.details)}`);
      for (const body of [[], 'str', 42, null]) {
        const x = await call('POST', '/v2/apps', { body });
        assert.ok(x.status === 400 || x.status === 422, `${JSON.stringify(body)}: ${x.status} ${x.text}`);
        checkError(x.json);
      }
    });

    test('missing cmd/args/container is 422 with Marathon\'s message', async () => {
      const r = await call('POST', '/v2/apps', { body: { id: '/x' } });
      assert.equal(r.status, 422);
      assert.ok(JSON.stringify(r.json).includes("AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."), r.text);
    });

    test('a dependency cycle (found by the service) is 422', async () => {
      await create({ id: '/a', cmd: 'a', dependencies: ['/b'] });
      const r = await call('POST', '/v2/apps', { body: { id: '/b', cmd: 'b', dependencies: ['/a'] } });
      assert.equal(r.status, 422, r.text);
      const e = checkError(r.json);
      assert.ok(Array.isArray(e.details) && e.details.length > 0);
      assert.match(JSON.stringify(e.details), /cycl/i);
      assert.equal(fake.getApp('/b'), undefined);
    });

    test('never crashes: garbage paths, methods, bodies and headers', async () => {
      const paths = ['/v2/apps//', '/v2/apps/%00', '/v2/apps/' + 'a/'.repeat(300), '/v2/apps/../../etc/passwd', '/v2/groups/%zz', '/v2/queue//delay', '/v2/deployments/a/b', '/v2/tasks/x', '/%', '/v2/apps/web/tasks/%2F', '/v2/apps/*', '/v2/groups/x', '/v2/groups', '/v2/tasks/delete', '/v2/apps'];
      const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
      const bodies = [undefined, '{}', '[]', 'null', '{"id": 1}', '{"apps": "x"}', '{"ids": [1, null]}', '{"id": "/x", "cmd": "a", "healthChecks": [{"portIndex": 9}]}', '\u0000\u0001'];
      for (const p of paths)
        for (const m of methods)
          for (const b of bodies.slice(0, m === 'GET' || m === 'DELETE' ? 1 : bodies.length)) {
            const r = await call(m, p, b === undefined ? {} : { raw: b, headers: { 'content-type': 'application/json' } });
            assert.ok(r.status >= 200 && r.status < 500, `${m} ${p} ${b}: ${r.status} ${r.text}`);
            if (r.status >= 400) checkError(r.json, `${m} ${p}`);
          }
      assert.equal((await call('GET', '/ping')).status, 200);
    });
  });

  describe('groups', () => {
    test('GET /v2/groups (root, empty), GET /v2/groups/{id}, 404', async () => {
      const root = await call('GET', '/v2/groups');
      assert.equal(root.status, 200);
      const g = checkGroup(root.json);
      assert.equal(g.id, '/');
      assert.deepEqual(g.apps, []);
      assert.deepEqual(g.groups, []);
      await create({ id: '/prod/web', cmd: 'a' });
      const prod = await call('GET', '/v2/groups/prod');
      assert.equal(prod.status, 200);
      assert.deepEqual(checkGroup(prod.json).apps.map((a: any) => a.id), ['/prod/web']);
      const missing = await call('GET', '/v2/groups/nope');
      assert.equal(missing.status, 404);
      assert.deepEqual(checkError(missing.json), { message: "Group '/nope' does not exist" });
      const versions = await call('GET', '/v2/groups/prod/versions');
      assert.equal(versions.status, 200);
      assert.ok(Array.isArray(versions.json));
    });

    test('POST /v2/groups: 201 + Location + DeploymentResult; 409 when it exists', async () => {
      const body = { id: '/shop', apps: [{ id: 'web', cmd: 'serve' }, { id: '/shop/db', cmd: 'db' }], groups: [{ id: 'jobs', apps: [{ id: 'cron', cmd: 'cron' }] }] };
      const r = await call('POST', '/v2/groups', { body });
      assert.equal(r.status, 201, r.text);
      checkDeploymentResult(r.json);
      assert.ok(r.headers['marathon-deployment-id']);
      assert.match(String(r.headers.location), /\/v2\/groups\/shop$/);
      assert.deepEqual([...fake.apps.keys()].sort(), ['/shop/db', '/shop/jobs/cron', '/shop/web']);
      for (const d of fake.listDeployments()) fake.completeDeployment(d.id);
      const again = await call('POST', '/v2/groups', { body });
      assert.equal(again.status, 409);
      assert.deepEqual(checkError(again.json), { message: 'Group /shop is already created. Use PUT to change this group.' });
    });

    test('PUT /v2/groups/{id}: dryRun returns steps only; scaleBy scales every app; apps replace the group\'s apps', async () => {
      await create({ id: '/g/a', cmd: 'a', instances: 2 });
      await create({ id: '/g/sub/b', cmd: 'b', instances: 1 });
      const dry = await call('PUT', '/v2/groups/g?dryRun=true', { body: { apps: [{ id: 'c', cmd: 'c' }] } });
      assert.equal(dry.status, 200, dry.text);
      assert.deepEqual(Object.keys(dry.json), ['steps']);
      assert.ok(fake.getApp('/g/a'), 'dry run changes nothing');
      assert.equal(fake.getApp('/g/c'), undefined);

      const scale = await call('PUT', '/v2/groups/g', { body: { scaleBy: 2 } });
      assert.equal(scale.status, 200, scale.text);
      checkDeploymentResult(scale.json);
      assert.equal(fake.getApp('/g/a')!.app.instances, 4);
      assert.equal(fake.getApp('/g/sub/b')!.app.instances, 2);
      fake.completeDeployment(scale.json.deploymentId);

      const replace = await call('PUT', '/v2/groups/g', { body: { apps: [{ id: 'c', cmd: 'c' }] } });
      assert.equal(replace.status, 200, replace.text);
      assert.equal(fake.getApp('/g/a'), undefined, 'apps the update leaves out of `apps` are removed');
      assert.ok(fake.getApp('/g/c'));
      assert.ok(fake.getApp('/g/sub/b'), 'subgroups are kept when the update has no `groups`');
    });

    test('DELETE /v2/groups/{id}', async () => {
      await create({ id: '/g/a', cmd: 'a' });
      const r = await call('DELETE', '/v2/groups/g');
      assert.equal(r.status, 200, r.text);
      checkDeploymentResult(r.json);
      assert.equal(fake.getApp('/g/a'), undefined);
      assert.equal((await call('DELETE', '/v2/groups/nope')).status, 404);
    });

    test('a bad group body is 422 with paths', async () => {
      const r = await call('PUT', '/v2/groups/g', { body: { apps: [{ id: 'a', cmd: 'a', cpus: -1 }] } });
      assert.equal(r.status, 422, r.text);
      assert.ok(checkError(r.json).details.some((d: any) => /\/apps\(0\)\/cpus/.test(d.path)), r.text);
    });
  });

  describe('deployments', () => {
    test('GET /v2/deployments: Marathon\'s DeploymentInfo list', async () => {
      const created = await call('POST', '/v2/apps', { body: WEB });
      const r = await call('GET', '/v2/deployments');
      assert.equal(r.status, 200);
      assert.ok(Array.isArray(r.json));
      assert.equal(r.json.length, 1);
      const d = checkDeployment(r.json[0]);
      assert.equal(d.id, created.headers['marathon-deployment-id']);
      assert.deepEqual(d.affectedApps, ['/web']);
      assert.equal(d.currentStep, 1);
      assert.equal(d.totalSteps, 2);
      assert.deepEqual(d.steps[0].actions, [{ action: 'StartApplication', app: '/web' }]);
    });

    test('DELETE /v2/deployments/{id}: 200 + revert deployment; force=true 202 empty; 404 unknown', async () => {
      await call('POST', '/v2/apps', { body: WEB });
      const [d1] = fake.listDeployments();
      const revert = await call('DELETE', `/v2/deployments/${d1!.id}`);
      assert.equal(revert.status, 200, revert.text);
      const res = checkDeploymentResult(revert.json);
      assert.equal(revert.headers['marathon-deployment-id'], res.deploymentId);
      assert.notEqual(res.deploymentId, d1!.id);
      const forced = await call('DELETE', `/v2/deployments/${res.deploymentId}?force=true`);
      assert.equal(forced.status, 202);
      assert.equal(forced.text, '');
      const missing = await call('DELETE', `/v2/deployments/${res.deploymentId}`);
      assert.equal(missing.status, 404);
      assert.deepEqual(checkError(missing.json), { message: `DeploymentPlan ${res.deploymentId} does not exist` });
    });
  });

  describe('tasks and queue', () => {
    test('GET /v2/tasks: JSON with status filter, text/plain', async () => {
      await create({ ...WEB, portDefinitions: [{ port: 10002, name: 'http' }] });
      await create({ id: '/worker', cmd: 'work', portDefinitions: [] });
      fake.addInstance('/web', { host: 'h1', ports: [31005] });
      fake.addInstance('/web', { host: 'h2', ports: [31006], state: 'TASK_STAGING', condition: 'Staging', startedAt: undefined });
      fake.addInstance('/worker', { host: 'h3', ports: [] });
      const all = await call('GET', '/v2/tasks');
      assert.equal(all.status, 200);
      assert.deepEqual(Object.keys(all.json), ['tasks']);
      assert.equal(all.json.tasks.length, 3);
      all.json.tasks.forEach((t: unknown) => checkTask(t));
      const running = await call('GET', '/v2/tasks?status=running');
      assert.equal(running.json.tasks.length, 2);
      const staging = await call('GET', '/v2/tasks?status[]=staging');
      assert.deepEqual(staging.json.tasks.map((t: any) => t.host), ['h2']);
      const ignored = await call('GET', '/v2/tasks?status=sleeping');
      assert.equal(ignored.json.tasks.length, 3, 'unknown status values are ignored');
      const text = await call('GET', '/v2/tasks', { headers: { accept: 'text/plain' } });
      assert.equal(text.status, 200);
      assert.equal(text.text.split('\n').filter(Boolean).sort().join('\n'), ['web\t10002\th1:31005\t', 'worker\t \th3\t'].join('\n'));
    });

    test('POST /v2/tasks/delete: kills, scale, invalid ids, scale+wipe', async () => {
      await create();
      const a = fake.addInstance('/web');
      const b = fake.addInstance('/web');
      const r = await call('POST', '/v2/tasks/delete', { body: { ids: [a.taskId] } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.tasks.map((t: any) => checkTask(t).id), [a.taskId]);
      const scaled = await call('POST', '/v2/tasks/delete?scale=true', { body: { ids: [b.instanceId] } });
      assert.equal(scaled.status, 200, scaled.text);
      checkDeploymentResult(scaled.json);
      const invalid = await call('POST', '/v2/tasks/delete', { body: { ids: ['garbage'] } });
      assert.equal(invalid.status, 400);
      assert.match(checkError(invalid.json).message, /^Invalid task id 'garbage'\./);
      const both = await call('POST', '/v2/tasks/delete?scale=true&wipe=true', { body: { ids: [a.taskId] } });
      assert.equal(both.status, 400);
      const noIds = await call('POST', '/v2/tasks/delete', { body: {} });
      assert.equal(noIds.status, 400);
      checkError(noIds.json);
    });

    test('GET /v2/queue and DELETE /v2/queue/{app}/delay', async () => {
      await create();
      const app = fake.getApp('/web')!.app;
      fake.queueEntries.push({
        app,
        count: 2,
        delay: { timeLeftSeconds: 12, overdue: false },
        since: '2024-01-01T00:00:00.000Z',
        processedOffersSummary: {
          processedOffersCount: 4,
          unusedOffersCount: 4,
          rejectSummaryLastOffers: [{ reason: 'InsufficientMemory', declined: 4, processed: 4 }],
          rejectSummaryLaunchAttempt: [{ reason: 'InsufficientMemory', declined: 4, processed: 4 }],
        },
        lastUnusedOffers: [],
      });
      const q = await call('GET', '/v2/queue');
      assert.equal(q.status, 200);
      assert.deepEqual(Object.keys(q.json), ['queue']);
      const item = checkQueueItem(q.json.queue[0]);
      assert.equal(item.count, 2);
      assert.equal(item.processedOffersSummary.rejectSummaryLastOffers[0].reason, 'InsufficientMemory');
      assert.equal(item.lastUnusedOffers, undefined);
      assert.ok(Array.isArray((await call('GET', '/v2/queue?embed=lastUnusedOffers')).json.queue[0].lastUnusedOffers));
      const reset = await call('DELETE', '/v2/queue/web/delay');
      assert.equal(reset.status, 204);
      assert.equal(fake.queueEntries[0]!.delay.timeLeftSeconds, 0);
      const missing = await call('DELETE', '/v2/queue/nope/delay');
      assert.equal(missing.status, 404);
      assert.deepEqual(checkError(missing.json), { message: 'Application /nope not found in tasks queue.' });
    });
  });

  describe('events (SSE)', () => {
    interface Stream {
      frames: { event: string; data: any }[];
      comments: number;
      res: http.IncomingMessage;
      req: http.ClientRequest;
      wait(pred: (f: { event: string; data: any }[]) => boolean, ms?: number): Promise<void>;
    }
    const open = (query = '', accept = 'text/event-stream'): Promise<Stream> =>
      new Promise((resolve, reject) => {
        const req = http.request(`${base}/v2/events${query}`, { headers: { accept }, agent: false });
        req.on('error', reject);
        req.on('response', (res) => {
          const s: Stream = {
            frames: [],
            comments: 0,
            res,
            req,
            wait: (pred, ms = 3000) =>
              new Promise<void>((ok, fail) => {
                const t0 = Date.now();
                const tick = () => {
                  if (pred(s.frames)) return ok();
                  if (Date.now() - t0 > ms) return fail(new Error(`timed out; frames: ${JSON.stringify(s.frames.map((f) => f.event))}`));
                  setTimeout(tick, 10);
                };
                tick();
              }),
          };
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let i: number;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              if (block.startsWith(':')) {
                s.comments++;
                continue;
              }
              const lines = block.split('\n');
              assert.equal(lines.length, 2, `one event line and one data line: ${JSON.stringify(block)}`);
              assert.match(lines[0]!, /^event: \w+$/);
              assert.match(lines[1]!, /^data: \{/);
              s.frames.push({ event: lines[0]!.slice(7), data: JSON.parse(lines[1]!.slice(6)) });
            }
          });
          resolve(s);
        });
        req.end();
      });

    test('frames, first event_stream_attached, api_post_event and deployment events, heartbeats, cleanup', async () => {
      const subsBefore = fake.events.subs.size;
      const s = await open();
      assert.equal(s.res.statusCode, 200);
      assert.match(s.res.headers['content-type']!, /^text\/event-stream/);
      await s.wait((f) => f.length >= 1);
      assert.equal(s.frames[0]!.event, 'event_stream_attached');
      assert.equal(s.frames[0]!.data.eventType, 'event_stream_attached');
      assert.match(s.frames[0]!.data.timestamp, TIMESTAMP);
      assert.equal(typeof s.frames[0]!.data.remoteAddress, 'string');
      await call('POST', '/v2/apps', { body: WEB });
      await s.wait((f) => f.some((x) => x.event === 'api_post_event'));
      const post = s.frames.find((x) => x.event === 'api_post_event')!.data;
      assert.equal(post.appDefinition.id, '/web');
      assert.equal(post.uri, '/v2/apps');
      assert.equal(typeof post.clientIp, 'string');
      const [d] = fake.listDeployments();
      fake.completeDeployment(d!.id);
      await s.wait((f) => f.some((x) => x.event === 'deployment_success'));
      const ok = s.frames.find((x) => x.event === 'deployment_success')!.data;
      assert.equal(ok.id, d!.id);
      assert.equal(ok.eventType, 'deployment_success');
      assert.equal(ok.plan.id, d!.id);
      await new Promise((r) => setTimeout(r, 250));
      assert.ok(s.comments >= 1, 'heartbeat comments');
      assert.equal(fake.events.subs.size, subsBefore + 1);
      s.req.destroy();
      const t0 = Date.now();
      while (fake.events.subs.size !== subsBefore && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
      assert.equal(fake.events.subs.size, subsBefore, 'unsubscribed on disconnect');
    });

    test('event_type filter (repeatable and comma lists)', async () => {
      const s = await open('?event_type=deployment_success&event_type=deployment_failed');
      await call('POST', '/v2/apps', { body: WEB });
      const [d] = fake.listDeployments();
      fake.failDeployment(d!.id, 'boom');
      await s.wait((f) => f.some((x) => x.event === 'deployment_failed'));
      assert.deepEqual(s.frames.map((f) => f.event), ['deployment_failed']);
      assert.equal(s.frames[0]!.data.reason, 'boom');
      s.req.destroy();
      const c = await open('?event_type=api_post_event,event_stream_attached');
      await c.wait((f) => f.length >= 1);
      await call('POST', '/v2/apps', { body: { id: '/other', cmd: 'x' } });
      await c.wait((f) => f.some((x) => x.event === 'api_post_event'));
      assert.deepEqual(c.frames.map((f) => f.event), ['event_stream_attached', 'api_post_event']);
      c.req.destroy();
    });

    test('without Accept: text/event-stream: 405', async () => {
      const r = await call('GET', '/v2/events');
      assert.equal(r.status, 405);
      checkError(r.json);
    });

    test('close() ends open streams', async () => {
      const f2 = new FakeOrchestrator();
      const srv = await startOrchestratorServer({ service: f2, port: 0 });
      const req = http.request(`${srv.url}/v2/events`, { headers: { accept: 'text/event-stream' }, agent: false });
      const ended = new Promise<void>((resolve) => {
        req.on('response', (res) => {
          res.resume();
          res.on('close', () => resolve());
        });
        req.on('error', () => resolve());
      });
      req.end();
      await new Promise((r) => setTimeout(r, 100));
      await srv.close();
      await ended;
      assert.equal(f2.events.subs.size, 0);
    });
  });
});
