// Orchestrator failover in one process: two HA orchestrator stacks over one shared memory store and
// a real master + agent, everything over real HTTP. Exactly one leads and both say which; the
// follower proxies the API (event stream included); when the leader's lease ends the other takes
// over at once, with the same framework id, the same tasks (none killed, none added) and the
// deployment that was under way finishing under the new leader; abdication through the follower
// and a graceful close hand over too. Waits poll conditions with deadlines.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { currentLeader, ORCHESTRATOR_ELECTION } from '../../src/coordination/leader.ts';
import { startHaOrchestratorStack, type HaOrchestratorStack } from '../../src/orchestrator/api/ha-stack.ts';
import { createLogger, silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore, type BackendStore } from '../../src/store/index.ts';
import { eventually, startInProcessCluster, testPortRange, type InProcessCluster } from '../support/cluster.ts';
import { FAST } from './orchestrator-runtime-harness.ts';

const TTL_MS = 1000;
const NODE = process.execPath;
/** HTTP server on $PORT0: 200 once the file $FLAG exists, 503 before. */
const FLAG_SERVER = `${NODE} -e "require('http').createServer((q,s)=>{s.statusCode=require('fs').existsSync(process.env.FLAG)?200:503;s.end()}).listen(+process.env.PORT0)"`;
const log = process.env.CORRAL_TEST_LOG ? createLogger('orch-ha-test', process.env.CORRAL_TEST_LOG as 'debug') : silentLogger;

let cluster: InProcessCluster;
let store: BackendStore;
let dir: string;
const stacks: HaOrchestratorStack[] = [];

async function startStack(name: string, s = store, masterUrl = cluster.masterUrl, instanceId?: string): Promise<HaOrchestratorStack> {
  const stack = await startHaOrchestratorStack({
    masterUrl,
    store: s,
    port: 0,
    electionTtlMs: TTL_MS,
    heartbeatMs: 200,
    log: log.child(name),
    ...FAST,
    ...(instanceId ? { instanceId } : {}),
  });
  stacks.push(stack);
  return stack;
}

interface Res {
  status: number;
  headers: Headers;
  body: any;
}
async function call(base: string, method: string, path: string, body?: unknown): Promise<Res> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text/plain
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const hostPort = (s: HaOrchestratorStack) => new URL(s.url).host;

/** The stack every live stack names as leader, once they all agree and it says it is elected. */
function agreedLeader(among: HaOrchestratorStack[], timeoutMs: number): Promise<HaOrchestratorStack> {
  return eventually(
    async () => {
      const leaders = await Promise.all(among.map((s) => call(s.url, 'GET', '/v2/leader')));
      if (!leaders.every((r) => r.status === 200 && r.body.leader === leaders[0]!.body.leader)) return undefined;
      const l = among.find((s) => hostPort(s) === leaders[0]!.body.leader);
      if (!l || !l.service) return undefined;
      const infos = await Promise.all(among.map((s) => call(s.url, 'GET', '/v2/info')));
      return infos.every((r, i) => r.body.elected === (among[i] === l)) ? l : undefined;
    },
    timeoutMs,
    'one leader all instances agree on',
  );
}

interface Task {
  id: string;
  state: string;
  version: string;
  healthCheckResults?: { alive: boolean }[];
}
const tasksOf = async (base: string, appId: string): Promise<Task[]> => (await call(base, 'GET', `/v2/apps${appId}/tasks`)).body.tasks;
const ids = (ts: { id: string }[]) => ts.map((t) => t.id).sort();

/** The framework's tasks as the master reports them. */
async function masterTasks(frameworkId: string): Promise<{ id: string; state: string }[]> {
  const state = (await (await fetch(`${cluster.masterUrl}/master/state`)).json()) as { frameworks: { id: string; tasks: { id: string; state: string }[] }[] };
  return state.frameworks.filter((f) => f.id === frameworkId).flatMap((f) => f.tasks);
}

function app(id: string, extra: Record<string, unknown> = {}) {
  return { id, cmd: 'sleep 1000', instances: 1, cpus: 0.1, mem: 16, backoffSeconds: 1, maxLaunchDelaySeconds: 2, ...extra };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orch-ha-'));
  cluster = await startInProcessCluster({
    agents: 1,
    log,
    agent: { resources: `cpus:4;mem:4096;disk:1000;ports:[${testPortRange()}]`, processPollMs: 100, statusUpdateRetryMs: 200, registrationBackoffMaxMs: 500 },
  });
  store = createMemoryStore();
  await startStack('a');
  await startStack('b');
});

after(async () => {
  for (const s of stacks) await s.close().catch(() => undefined);
  await cluster?.stop();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('orchestrator HA: two stacks, one store, a real master and agent', () => {
  let okFlag: string;
  let newFlag: string;

  test('exactly one leads; every instance says which; /ping and /v2/info answer locally', async () => {
    const [a, b] = stacks as [HaOrchestratorStack, HaOrchestratorStack];
    const leader = await agreedLeader([a, b], 5000);
    const follower = leader === a ? b : a;
    assert.equal(follower.service, undefined);
    assert.equal(follower.elected, false);
    const info = await call(follower.url, 'GET', '/v2/info');
    assert.equal(info.status, 200);
    assert.equal(info.body.elected, false);
    assert.equal(info.body.leader, hostPort(leader));
    assert.equal(info.body.marathon_config.ha, true);
    assert.equal(info.body.http_config.http_port, follower.port, 'the follower describes itself');
    assert.equal(info.headers.get('x-marathon-via'), null, 'not proxied');
    const ping = await call(follower.url, 'GET', '/ping');
    assert.equal(ping.status, 200);
    assert.equal(ping.body, 'pong\n');
    const lInfo = await call(leader.url, 'GET', '/v2/info');
    assert.equal(lInfo.body.elected, true);
    assert.equal(lInfo.headers.get('x-marathon-leader'), leader.advertisedUrl);
    // The election record is what /v2/leader reports.
    const rec = await currentLeader(store, ORCHESTRATOR_ELECTION);
    assert.equal(rec?.id, leader.id);
    assert.equal(rec?.url, leader.advertisedUrl);
  });

  test('the follower proxies the API: POST and GET /v2/apps, and the event stream', async () => {
    const leader = await agreedLeader(stacks, 5000);
    const follower = stacks.find((s) => s !== leader)!;

    // The event stream through the follower: frames from the leader's bus arrive.
    const frames: string[] = [];
    const streamReq = http.get(follower.url + '/v2/events', { headers: { accept: 'text/event-stream' } });
    const streamRes = await new Promise<http.IncomingMessage>((resolve, reject) => streamReq.once('response', resolve).once('error', reject));
    assert.equal(streamRes.statusCode, 200);
    assert.match(String(streamRes.headers['content-type']), /text\/event-stream/);
    assert.match(String(streamRes.headers['x-marathon-via']), new RegExp(hostPort(follower)));
    streamRes.setEncoding('utf8').on('data', (d: string) => frames.push(d));

    okFlag = join(dir, 'ok');
    newFlag = join(dir, 'new');
    writeFileSync(okFlag, '');
    const created = await call(follower.url, 'POST', '/v2/apps', app('/stable', { instances: 2 }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.id, '/stable');
    assert.ok(created.headers.get('marathon-deployment-id'));
    assert.match(created.headers.get('x-marathon-via') ?? '', new RegExp(`1\\.1 ${hostPort(follower)}`));
    assert.equal(created.headers.get('x-marathon-leader'), leader.advertisedUrl);
    const dup = await call(follower.url, 'POST', '/v2/apps', app('/stable'));
    assert.equal(dup.status, 409, 'errors come back as the leader sent them');
    assert.match(dup.body.message, /already exists/);

    const upgrading = app('/upgrading', {
      cmd: FLAG_SERVER,
      instances: 2,
      env: { FLAG: okFlag },
      portDefinitions: [{ port: 0, name: 'http' }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 30, maxConsecutiveFailures: 0 }],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    });
    const up = await call(follower.url, 'POST', '/v2/apps', upgrading);
    assert.equal(up.status, 201, JSON.stringify(up.body));

    // A request that already went through this follower is a loop (Marathon's X-Marathon-Via check).
    const loop = await fetch(follower.url + '/v2/apps', { headers: { 'x-marathon-via': `1.1 ${hostPort(follower)}` } });
    assert.equal(loop.status, 502);
    assert.deepEqual(await loop.json(), { message: 'Detected proxying loop.' });

    const listed = await call(follower.url, 'GET', '/v2/apps');
    assert.deepEqual(listed.body.apps.map((x: { id: string }) => x.id).sort(), ['/stable', '/upgrading']);
    await eventually(async () => (await call(follower.url, 'GET', '/v2/deployments')).body.length === 0, 15_000, 'both apps deployed');
    const stable = await tasksOf(follower.url, '/stable');
    assert.equal(stable.filter((t) => t.state === 'TASK_RUNNING').length, 2);
    await eventually(() => frames.join('').includes('event: deployment_success'), 5000, 'deployment_success through the proxied stream');
    assert.ok(frames.join('').startsWith('event: event_stream_attached'));
    streamReq.destroy();
  });

  test('the leader’s lease ends → the other takes over at once; same tasks, none killed; the deployment finishes', async () => {
    const old = await agreedLeader(stacks, 5000);
    const next = stacks.find((s) => s !== old)!;
    const frameworkId = old.service!.info().frameworkId!;
    assert.ok(frameworkId);

    // A rolling upgrade that cannot finish before the failover: v2 is unhealthy until newFlag exists.
    const v1Tasks = await tasksOf(old.url, '/upgrading');
    const up = await call(next.url, 'PUT', '/v2/apps/upgrading', { env: { FLAG: newFlag } });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    const deploymentId = up.body.deploymentId;
    const during = await eventually(
      async () => {
        const ts = await tasksOf(next.url, '/upgrading');
        return ts.length === 4 && ts.every((t) => t.state === 'TASK_RUNNING') ? ts : undefined;
      },
      15_000,
      '2 old + 2 new /upgrading tasks running',
    );
    const newTasks = during.filter((t) => !ids(v1Tasks).includes(t.id));
    assert.equal(newTasks.length, 2);
    const stableBefore = ids(await tasksOf(old.url, '/stable'));
    const masterBefore = await masterTasks(frameworkId);
    assert.equal(masterBefore.length, 6);

    const lease = (await currentLeader(store, ORCHESTRATOR_ELECTION))!.key.slice(ORCHESTRATOR_ELECTION.length);
    const t0 = Date.now();
    await store.expireLease(lease);
    assert.equal(await agreedLeader(stacks, TTL_MS + 4000), next);
    const took = Date.now() - t0;
    assert.ok(took < TTL_MS, `took over after ${took} ms`);
    assert.equal(old.service, undefined, 'the old leader stopped its runtime');
    assert.equal(old.elected, false);

    // The new leader: same framework, state loaded, reconciled; the old one now proxies to it.
    await eventually(() => next.service?.info().connected && next.service.info().reconciled, 10_000, 'subscribed and reconciled');
    assert.equal(next.service!.info().frameworkId, frameworkId, 're-subscribed with the same framework id');
    const viaOld = await call(old.url, 'GET', '/v2/apps/stable/tasks');
    assert.match(viaOld.headers.get('x-marathon-via') ?? '', new RegExp(hostPort(old)));
    assert.deepEqual(ids(viaOld.body.tasks), stableBefore, '/stable kept its tasks');
    const deps = (await call(old.url, 'GET', '/v2/deployments')).body as { id: string }[];
    assert.deepEqual(deps.map((d) => d.id), [deploymentId], 'the deployment was loaded');
    assert.deepEqual(ids(await masterTasks(frameworkId)), ids(masterBefore), 'the master runs the same tasks: none killed, none added');
    assert.ok((await masterTasks(frameworkId)).every((t) => t.state === 'TASK_RUNNING'));

    // The deployment continues under the new leader with the instances launched before the failover.
    writeFileSync(newFlag, '');
    await eventually(async () => (await call(next.url, 'GET', '/v2/deployments')).body.length === 0, 20_000, 'the deployment to finish');
    const done = await eventually(
      async () => {
        const ts = await tasksOf(next.url, '/upgrading');
        return ts.length === 2 && ts.every((t) => t.state === 'TASK_RUNNING') ? ts : undefined;
      },
      10_000,
      '2 /upgrading tasks',
    );
    assert.deepEqual(ids(done), ids(newTasks), 'finished with the tasks launched before the failover: no duplicate');
    const masterAfter = await eventually(async () => {
      const ts = await masterTasks(frameworkId);
      return ts.length === 4 ? ts : undefined;
    }, 10_000, '4 tasks in the master');
    assert.deepEqual(ids(masterAfter), [...stableBefore, ...ids(newTasks)].sort(), 'only the replaced v1 tasks went away');
    assert.ok(existsSync(newFlag));
  });

  test('DELETE /v2/leader through the follower makes the leader abdicate; tasks stay', async () => {
    const l1 = await agreedLeader(stacks, 5000);
    const other = stacks.find((s) => s !== l1)!;
    const frameworkId = l1.service!.info().frameworkId!;
    const before = ids(await masterTasks(frameworkId));
    const r = await call(other.url, 'DELETE', '/v2/leader');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { message: 'Leadership abdicated' });
    assert.match(r.headers.get('x-marathon-via') ?? '', /1\.1 /, 'answered by the leader');
    assert.equal(await agreedLeader(stacks, 5000), other);
    await eventually(() => other.service?.info().reconciled, 10_000, 'reconciled');
    assert.equal(other.service!.info().frameworkId, frameworkId);
    assert.deepEqual(ids((await tasksOf(l1.url, '/stable')).concat(await tasksOf(l1.url, '/upgrading'))), before);
    assert.deepEqual(ids(await masterTasks(frameworkId)), before);
  });

  test('closing the leader hands over at once; closing both leaves the tasks running', async () => {
    const l = await agreedLeader(stacks, 5000);
    const other = stacks.find((s) => s !== l)!;
    const frameworkId = l.service!.info().frameworkId!;
    const before = ids(await masterTasks(frameworkId));
    const t0 = Date.now();
    await l.close();
    stacks.splice(stacks.indexOf(l), 1);
    assert.equal(await agreedLeader([other], 5000), other);
    assert.ok(Date.now() - t0 < TTL_MS, 'a graceful close resigns: no wait for the lease');
    assert.deepEqual(ids((await call(other.url, 'GET', '/v2/tasks')).body.tasks), before);
    await other.close();
    stacks.splice(stacks.indexOf(other), 1);
    // No framework teardown: the master keeps the tasks running.
    const st = await masterTasks(frameworkId);
    assert.deepEqual(ids(st), before);
    assert.ok(st.every((t) => t.state === 'TASK_RUNNING'));
  });
});

describe('orchestrator HA: no usable leader', () => {
  test('503 while no leader is known, 502 when the leader does not answer; /v2/leader still answers', async () => {
    // A record queued first that names this very instance (a stale key of an earlier run): not a leader to proxy to.
    const s1 = createMemoryStore();
    await s1.put(`${ORCHESTRATOR_ELECTION}stale`, JSON.stringify({ id: 'me', url: 'http://127.0.0.1:9' }));
    const me = await startStack('me', s1, 'http://127.0.0.1:9', 'me');
    const r = await eventually(async () => {
      const x = await call(me.url, 'GET', '/v2/apps');
      return x.status === 503 ? x : undefined;
    }, 3000, '503');
    assert.deepEqual(r.body, { message: 'Could not determine the current leader' });
    assert.equal((await call(me.url, 'GET', '/ping')).status, 200);

    // Once the stale key goes, this instance leads and serves.
    await s1.delete(`${ORCHESTRATOR_ELECTION}stale`);
    await eventually(async () => (await call(me.url, 'GET', '/v2/apps')).status === 200, 5000, 'serving as leader');
    assert.equal((await call(me.url, 'GET', '/v2/leader')).body.leader, hostPort(me));
    await me.close();
    stacks.splice(stacks.indexOf(me), 1);
    const none = await call(me.url, 'GET', '/v2/leader').catch(() => undefined);
    assert.equal(none, undefined, 'closed');

    // A leader that does not answer (dead, its key not yet expired).
    const s2 = createMemoryStore();
    await s2.put(`${ORCHESTRATOR_ELECTION}ghost`, JSON.stringify({ id: 'ghost', url: 'http://127.0.0.1:9' }));
    const f = await startStack('f', s2, 'http://127.0.0.1:9');
    await eventually(async () => (await call(f.url, 'GET', '/v2/leader')).body.leader === '127.0.0.1:9', 3000, 'the ghost leader known');
    const bad = await call(f.url, 'GET', '/v2/apps');
    assert.equal(bad.status, 502);
    assert.deepEqual(bad.body, { message: 'Connection to leader refused.' });
    const info = await call(f.url, 'GET', '/v2/info');
    assert.equal(info.body.elected, false);
    assert.equal(info.body.leader, '127.0.0.1:9');
    await f.close();
    stacks.splice(stacks.indexOf(f), 1);
    await s1.close();
    await s2.close();
  });
});
