// The Marathon API driven the way the python `marathon` client
// (thefactory/marathon-python) drives it, against a real in-process cluster
// (master + 2 agents) with the orchestrator runtime and the API server:
// create with health checks → healthy → scale → update env (rolling) →
// versions → rollback → kill a task → replaced → delete. Every response is
// parsed strictly into Marathon's models (unknown keys fail, as they raise in
// the client's from_json), requests carry what the client sends (JSON
// headers, booleans as "True"/"False", minimal JSON bodies).
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startOrchestratorServer, type OrchestratorServer } from '../../src/orchestrator/api/server.ts';
import { startOrchestrator } from '../../src/orchestrator/index.ts';
import type { OrchestratorService } from '../../src/orchestrator/service.ts';
import { createMemoryStore, type Store } from '../../src/store/index.ts';
import { createLogger, silentLogger } from '../../src/runtime/log.ts';
import { startInProcessCluster, type InProcessCluster } from '../support/cluster.ts';

const testLog = (c: string) => (process.env.CORRAL_TEST_LOG ? createLogger(c, process.env.CORRAL_TEST_LOG as 'debug') : silentLogger);
import { checkApp, checkDeployment, checkDeploymentResult, checkError, checkGroup, checkTask, TIMESTAMP } from './marathon-client-models.ts';

/** A request as marathon-python's MarathonClient._do_request makes it. */
class PyMarathonClient {
  constructor(readonly base: string) {}

  async request(method: string, path: string, params: Record<string, string | boolean | string[]> = {}, data?: unknown): Promise<{ status: number; json: any; text: string }> {
    const u = new URL(this.base + path);
    for (const [k, v] of Object.entries(params)) {
      if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
      else u.searchParams.set(k, typeof v === 'boolean' ? (v ? 'True' : 'False') : v); // python requests str(bool)
    }
    const body = data === undefined ? undefined : Buffer.from(JSON.stringify(minimal(data)));
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json', 'User-Agent': 'marathon-python/0.13.0' };
    if (body) headers['Content-Length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = http.request(u, { method, headers }, (res) => {
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
          const status = res.statusCode ?? 0;
          // marathon-python: ≥500 InternalServerError, 404 NotFoundError, 409 ConflictError, other 4xx MarathonHttpError (reads message/details).
          if (status >= 400) {
            checkError(json, `${method} ${path} → ${status}`);
            reject(Object.assign(new Error(`${method} ${path}: ${status} ${text}`), { status, json }));
          } else resolve({ status, json, text });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  // The client's methods (marathon/client.py), with their response envelopes.
  async createApp(appId: string, app: Record<string, unknown>) {
    const r = await this.request('POST', '/v2/apps', {}, { ...app, id: appId });
    assert.equal(r.status, 201);
    return checkApp(r.json, 'create_app');
  }
  async getApp(appId: string) {
    const embed = ['apps.tasks', 'apps.counts', 'apps.deployments', 'apps.readiness', 'apps.lastTaskFailure', 'apps.failures'];
    const r = await this.request('GET', `/v2/apps/${appId}`, { embed });
    assert.deepEqual(Object.keys(r.json), ['app']);
    return checkApp(r.json.app, 'get_app');
  }
  async listApps() {
    const r = await this.request('GET', '/v2/apps', { embed: ['apps.tasks', 'apps.counts'] });
    return (r.json.apps as unknown[]).map((a, i) => checkApp(a, `list_apps[${i}]`));
  }
  async scaleApp(appId: string, instances: number) {
    const r = await this.request('PUT', `/v2/apps/${appId}`, { force: false }, { instances });
    return checkDeploymentResult(r.json, 'scale_app');
  }
  /** update_app: the app object as read, version blanked, minimal JSON. */
  async updateApp(appId: string, app: Record<string, unknown>) {
    const { version: _v, ...rest } = app;
    const r = await this.request('PUT', `/v2/apps/${appId}`, { force: false }, rest);
    return checkDeploymentResult(r.json, 'update_app');
  }
  async listVersions(appId: string) {
    const r = await this.request('GET', `/v2/apps/${appId}/versions`);
    assert.deepEqual(Object.keys(r.json), ['versions']);
    for (const v of r.json.versions) assert.match(v, TIMESTAMP);
    return r.json.versions as string[];
  }
  async getVersion(appId: string, version: string) {
    const r = await this.request('GET', `/v2/apps/${appId}/versions/${version}`);
    return checkApp(r.json, 'get_app version', { definitionOnly: true });
  }
  async rollbackApp(appId: string, version: string) {
    const r = await this.request('PUT', `/v2/apps/${appId}`, { force: false }, { version });
    return checkDeploymentResult(r.json, 'rollback_app');
  }
  async listTasks(appId: string) {
    const r = await this.request('GET', `/v2/apps/${appId}/tasks`);
    return (r.json.tasks as unknown[]).map((t, i) => checkTask(t, `list_tasks[${i}]`));
  }
  async killTask(appId: string, taskId: string) {
    const r = await this.request('DELETE', `/v2/apps/${appId}/tasks/${taskId}`, { scale: false });
    assert.deepEqual(Object.keys(r.json), ['task']);
    return checkTask(r.json.task, 'kill_task');
  }
  async deleteApp(appId: string) {
    const r = await this.request('DELETE', `/v2/apps/${appId}`, { force: false });
    return checkDeploymentResult(r.json, 'delete_app');
  }
  async listDeployments() {
    const r = await this.request('GET', '/v2/deployments');
    return (r.json as unknown[]).map((d, i) => checkDeployment(d, `list_deployments[${i}]`));
  }
  async ping() {
    return (await this.request('GET', '/ping')).text;
  }
}

/** marathon-python's minimal JSON: nulls and empty lists/dicts dropped. */
function minimal(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(minimal);
  if (x && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) {
      if (v === null || v === undefined) continue;
      if (Array.isArray(v) && v.length === 0) continue;
      if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0) continue;
      out[k] = minimal(v);
    }
    return out;
  }
  return x;
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve(t));
    }).on('error', reject);
  });
}

const SERVER_CMD = `${JSON.stringify(process.execPath)} -e "require('http').createServer((q,s)=>s.end(process.env.GREETING||'none')).listen(+process.env.PORT0)"`;

describe('the API as the python marathon client uses it (real cluster)', { timeout: 240_000 }, () => {
  let cluster: InProcessCluster;
  let store: Store;
  let service: OrchestratorService;
  let server: OrchestratorServer;
  let client: PyMarathonClient;

  before(async () => {
    // Each agent gets its own random port range: agents of one machine (and concurrent test runs)
    // would otherwise hand out the same host ports, and a task's health check could reach another's server.
    const base = 20_000 + Math.floor(Math.random() * 200) * 200;
    cluster = await startInProcessCluster({ agents: 1, agent: { resources: `cpus:2;mem:2048;disk:1000;ports:[${base}-${base + 99}]` } });
    const { startAgent } = await import('../../src/agent/index.ts');
    cluster.agents.push(
      await startAgent({
        port: 0,
        masterUrl: cluster.masterUrl,
        workDir: join(cluster.dataDir, 'agent-2'),
        resources: `cpus:2;mem:2048;disk:1000;ports:[${base + 100}-${base + 199}]`,
        log: testLog('agent-2'),
      }),
    );
    await cluster.agents[1]!.registered();
    store = createMemoryStore();
    service = await startOrchestrator({ masterUrl: cluster.masterUrl, store, tickIntervalMs: 200, log: testLog('orchestrator') });
    server = await startOrchestratorServer({ service, port: 0 });
    client = new PyMarathonClient(server.url);
  });
  after(async () => {
    await server?.close();
    await service?.close();
    await store?.close();
    await cluster?.stop();
  });

  /** Polls get_app (each response parsed strictly) until `done`; records the minimum healthy count seen. */
  async function until(appId: string, what: string, done: (app: Record<string, any>) => boolean, timeoutMs = 60_000, sample?: (app: Record<string, any>) => void) {
    const t0 = Date.now();
    let last: Record<string, any> | undefined;
    for (;;) {
      last = await client.getApp(appId);
      sample?.(last);
      if (done(last)) return last;
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last app: ${JSON.stringify(last, null, 1).slice(0, 4000)}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  const settled = (n: number, pred: (t: any) => boolean = () => true) => (app: Record<string, any>) =>
    app.deployments.length === 0 &&
    // Without health checks Marathon counts running tasks as neither healthy nor unhealthy.
    (app.healthChecks.length ? app.tasksHealthy : app.tasksRunning) === n &&
    app.tasks.length === n &&
    app.tasks.every((t: any) => t.state === 'TASK_RUNNING' && pred(t));
  const greetings = async (app: Record<string, any>) => Promise.all(app.tasks.map((t: any) => httpGet(`http://${t.host}:${t.ports[0]}/`)));

  const t00 = Date.now();
  const phase = (name: string) => {
    if (process.env.CORRAL_TEST_PHASES) process.stderr.write(`[${((Date.now() - t00) / 1000).toFixed(1)}s] ${name}\n`);
  };

  /** marathon-python's EventStream: Accept text/event-stream, event_type repeated, lines split on the first ':'. */
  function streamEvents(types: string[]): { events: { event: string; data: any }[]; close(): void; attached: Promise<void> } {
    const events: { event: string; data: any }[] = [];
    const u = new URL(`${server.url}/v2/events`);
    for (const t of types) u.searchParams.append('event_type', t);
    let onAttached!: () => void;
    const attached = new Promise<void>((r) => (onAttached = r));
    const req = http.request(u, { headers: { Accept: 'text/event-stream', 'User-Agent': 'marathon-python/0.13.0' } }, (res) => {
      assert.equal(res.statusCode, 200);
      let buf = '';
      let event = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line || line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const [field, value] = [line.slice(0, i), line.slice(i + 1).trim()];
          if (field === 'event') event = value;
          else if (field === 'data') {
            const data = JSON.parse(value);
            assert.equal(data.eventType, event);
            assert.match(data.timestamp, TIMESTAMP);
            events.push({ event, data });
            if (event === 'event_stream_attached') onAttached();
          }
        }
      });
    });
    req.on('error', () => {});
    req.end();
    return { events, close: () => req.destroy(), attached };
  }

  test('create → healthy → scale → rolling env update → versions → rollback → kill → replaced → delete', async () => {
    const stream = streamEvents(['event_stream_attached', 'api_post_event', 'deployment_info', 'deployment_step_success', 'deployment_success', 'status_update_event', 'health_status_changed_event', 'instance_changed_event']);
    await stream.attached;
    assert.match((await client.ping()).trim(), /^"?pong"?$/); // Accept: application/json → "pong", as Marathon
    const id = '/pyweb';
    const created = await client.createApp(id, {
      cmd: SERVER_CMD,
      instances: 2,
      cpus: 0.05,
      mem: 32,
      env: { GREETING: 'v1' },
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0, maxConsecutiveFailures: 3 }],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    });
    assert.equal(created.id, id);
    assert.equal(created.deployments.length, 1);

    phase('created');
    // healthy
    let app = await until(id, '2 healthy instances', settled(2));
    for (const t of app.tasks) {
      assert.equal(t.healthCheckResults?.[0]?.alive, true, JSON.stringify(t));
      assert.equal(t.version, app.version);
    }
    assert.deepEqual(await greetings(app), ['v1', 'v1']);
    assert.deepEqual(await client.listDeployments(), []);
    const v1 = app.version as string;

    phase('healthy');
    // scale
    await client.scaleApp(id, 3);
    app = await until(id, 'scaled to 3', settled(3));
    assert.equal(app.instances, 3);
    assert.ok(app.versionInfo.lastScalingAt > app.versionInfo.lastConfigChangeAt, 'a scale only moves lastScalingAt');
    const vScaled = app.version as string;

    phase('scaled');
    // update env: a rolling upgrade that never drops below minimumHealthCapacity (1.0 × 3)
    const oldTaskIds = new Set(app.tasks.map((t: any) => t.id));
    const { deploymentId } = await client.updateApp(id, { ...app, env: { GREETING: 'v2' } });
    const deployments = await client.listDeployments();
    const d = deployments.find((x) => x.id === deploymentId);
    if (d) assert.deepEqual(d.affectedApps, [id]);
    let minHealthy = Infinity;
    let lowSample: unknown;
    app = await until(id, 'the rolling upgrade', (a) => settled(3, (t) => !oldTaskIds.has(t.id))(a), 90_000, (a) => {
      if (a.tasksHealthy < minHealthy) {
        minHealthy = a.tasksHealthy;
        lowSample = { counts: [a.tasksStaged, a.tasksRunning, a.tasksHealthy, a.tasksUnhealthy], tasks: a.tasks.map((t: any) => [t.id.slice(-14), t.state, t.version === a.version ? 'new' : 'old', t.healthCheckResults?.[0]?.alive]) };
      }
    });
    // Asserted at the end, so that the rest of the flow is exercised (and reported) too.
    const capacity = minHealthy >= 3 ? undefined : `healthy instances dropped to ${minHealthy} (< minimumHealthCapacity × instances = 3) during the rolling upgrade: ${JSON.stringify(lowSample)}`;
    assert.deepEqual(await greetings(app), ['v2', 'v2', 'v2']);
    assert.equal(app.versionInfo.lastConfigChangeAt, app.version);

    phase('rolled');
    // versions
    const versions = await client.listVersions(id);
    assert.ok(versions.length >= 3, JSON.stringify(versions));
    for (const v of [v1, vScaled, app.version]) assert.ok(versions.includes(v), `${v} in ${versions}`);
    const old = await client.getVersion(id, v1);
    assert.deepEqual(old.env, { GREETING: 'v1' });
    assert.equal(old.instances, 2);

    phase('versions');
    // rollback to the scaled v1 configuration (3 instances, GREETING v1)
    const beforeRollback = new Set(app.tasks.map((t: any) => t.id));
    await client.rollbackApp(id, vScaled);
    app = await until(id, 'the rollback', (a) => settled(3, (t) => !beforeRollback.has(t.id))(a), 90_000);
    assert.deepEqual(app.env, { GREETING: 'v1' });
    assert.deepEqual(await greetings(app), ['v1', 'v1', 'v1']);

    phase('rolled back');
    // kill one task: it is replaced
    const victim = app.tasks[0];
    const killed = await client.killTask(id, victim.id);
    assert.equal(killed.id, victim.id);
    app = await until(id, 'the replacement of the killed task', (a) => settled(3)(a) && !a.tasks.some((t: any) => t.id === victim.id));
    assert.equal((await client.listTasks(id)).length, 3);
    assert.ok((await client.listApps()).some((a) => a.id === id));

    phase('replaced');
    // delete
    await client.deleteApp(id);
    const t0 = Date.now();
    for (;;) {
      try {
        await client.getApp(id);
      } catch (e) {
        assert.equal((e as { status?: number }).status, 404);
        break;
      }
      if (Date.now() - t0 > 30_000) throw new Error('the app was not removed');
      await new Promise((r) => setTimeout(r, 150));
    }
    // Its tasks are gone from the cluster.
    const t1 = Date.now();
    while (service.listInstances().some((i) => i.appId === id) && Date.now() - t1 < 30_000) await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(service.listInstances().filter((i) => i.appId === id), []);
    phase('deleted');
    stream.close();
    const seen = new Set(stream.events.map((e) => e.event));
    for (const t of ['event_stream_attached', 'api_post_event', 'deployment_info', 'deployment_step_success', 'deployment_success', 'status_update_event'])
      assert.ok(seen.has(t), `${t} in ${[...seen].join(', ')}`);
    const post = stream.events.find((e) => e.event === 'api_post_event')!.data;
    checkApp(post.appDefinition, 'api_post_event.appDefinition', { definitionOnly: true });
    assert.equal(post.uri, '/v2/apps');
    for (const e of stream.events.filter((x) => x.event.startsWith('deployment_'))) {
      assert.equal(typeof e.data.plan.id, 'string');
      for (const side of ['original', 'target']) for (const a of e.data.plan[side].apps ?? []) checkApp(a, `${e.event}.plan.${side}`, { definitionOnly: true });
    }
    const update = stream.events.find((e) => e.event === 'status_update_event' && e.data.taskStatus === 'TASK_RUNNING')!.data;
    assert.equal(update.appId, id);
    assert.ok(Array.isArray(update.ports));
    assert.equal(capacity, undefined, capacity);
  });
  test('groups: PUT a group with dependencies (dry run, then deploy), GET it, DELETE it', async () => {
    const body = {
      id: '/shop',
      apps: [
        { id: 'db', cmd: SERVER_CMD, instances: 1, cpus: 0.05, mem: 32, env: { GREETING: 'db' } },
        { id: 'web', cmd: SERVER_CMD, instances: 1, cpus: 0.05, mem: 32, env: { GREETING: 'web' }, dependencies: ['/shop/db'] },
      ],
    };
    const dry = await client.request('PUT', '/v2/groups/shop', { dryRun: true }, body);
    const steps: { actions: { action: string; app: string }[] }[] = dry.json.steps;
    const stepOf = (action: string, app: string) => steps.findIndex((st) => st.actions.some((a) => a.action === action && a.app === app));
    assert.ok(stepOf('ScaleApplication', '/shop/db') >= 0 && stepOf('ScaleApplication', '/shop/db') < stepOf('ScaleApplication', '/shop/web'), JSON.stringify(steps));
    assert.equal(service.getApp('/shop/db'), undefined, 'a dry run changes nothing');

    const r = await client.request('PUT', '/v2/groups/shop', { force: false }, body);
    checkDeploymentResult(r.json);
    for (const appId of ['/shop/db', '/shop/web']) await until(appId, `${appId} running`, settled(1), 60_000);
    const g = await client.request('GET', '/v2/groups/shop');
    const group = checkGroup(g.json);
    assert.deepEqual(group.apps.map((a: any) => a.id).sort(), ['/shop/db', '/shop/web']);
    const root = await client.request('GET', '/v2/groups');
    assert.ok(checkGroup(root.json).groups.some((x: any) => x.id === '/shop'));

    // Changing one app of the group leaves the other alone.
    const dbTasks = (await client.getApp('/shop/db')).tasks.map((t: any) => t.id);
    const r2 = await client.request('PUT', '/v2/groups/shop', { force: false }, { ...body, apps: [body.apps[0], { ...body.apps[1], env: { GREETING: 'web2' } }] });
    checkDeploymentResult(r2.json);
    await until('/shop/web', 'web updated', (a) => settled(1)(a) && a.env.GREETING === 'web2', 60_000);
    assert.deepEqual((await client.getApp('/shop/db')).tasks.map((t: any) => t.id), dbTasks, 'the unchanged app kept its tasks');

    const del = await client.request('DELETE', '/v2/groups/shop', { force: false });
    checkDeploymentResult(del.json);
    const t0 = Date.now();
    while ((service.getApp('/shop/db') || service.getApp('/shop/web')) && Date.now() - t0 < 30_000) await new Promise((res) => setTimeout(res, 150));
    assert.equal(service.getApp('/shop/db'), undefined);
    assert.equal(service.getApp('/shop/web'), undefined);
  });

  test('bad input against the real runtime: a dependency cycle is 422 and nothing is half-written', async () => {
    const a = await client.createApp('/cyc/a', { cmd: 'sleep 100', instances: 0, dependencies: ['/cyc/b'] });
    assert.equal(a.id, '/cyc/a');
    const err = await client.createApp('/cyc/b', { cmd: 'sleep 100', instances: 0, dependencies: ['/cyc/a'] }).then(
      () => undefined,
      (e: { status?: number; json?: any }) => e,
    );
    assert.equal(err?.status, 422, JSON.stringify(err?.json));
    assert.match(JSON.stringify(err?.json), /cyclic/i);
    assert.equal(service.getApp('/cyc/b'), undefined);
    const bulk = await client.request('PUT', '/v2/apps', { force: false }, [{ id: '/cyc/b', cmd: 'x', dependencies: ['/cyc/a'] }]).then(
      () => undefined,
      (e: { status?: number }) => e,
    );
    assert.equal(bulk?.status, 422);
    assert.equal(service.getApp('/cyc/b'), undefined);
    await client.deleteApp('/cyc/a');
    assert.match((await client.ping()).trim(), /pong/);
  });
});
