// The invariant checkers must catch what they claim to catch: each is fed evidence with a planted
// violation (and the same evidence without it). No lab, no root: fabricated work dirs, a fake master and
// orchestrator over HTTP on loopback, a throwaway embedded store.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Offer, TaskStatus } from '../../src/protocol/mesos.ts';
import { openEmbeddedStore } from '../../src/store/index.ts';
import {
  checkMarathonStatusEvents,
  checkNoDuplicateInstances,
  checkOrchestratorStore,
  checkStatusUpdates,
  checkStoreAgreement,
  convergenceProblems,
  createOfferAudit,
  instanceOf,
  unacknowledgedUpdates,
} from '../harness/checkers/index.ts';
import { JournalTail, type StateSample } from '../harness/evidence.ts';
import type { Delivery } from '../harness/observer.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-checkers-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let dirs = 0;
/** A fake agent work dir with one task run: task.json + an `updates` journal. */
function workDir(taskId: string, records: object[], opts: { fw?: string; ports?: number[]; cpus?: number } = {}): string {
  const work = path.join(tmp, `work-${dirs++}`);
  const meta = path.join(work, 'meta', 'slaves', 'A1', 'frameworks', opts.fw ?? 'F1', 'runs', `c-${taskId}`);
  fs.mkdirSync(meta, { recursive: true });
  const resources: object[] = [{ name: 'cpus', type: 'SCALAR', scalar: { value: opts.cpus ?? 0.5 } }];
  if (opts.ports) resources.push({ name: 'ports', type: 'RANGES', ranges: { range: opts.ports.map((p) => ({ begin: p, end: p })) } });
  fs.writeFileSync(path.join(meta, 'task.json'), JSON.stringify({ task: { task_id: { value: taskId }, resources } }));
  fs.writeFileSync(path.join(meta, 'updates'), records.map((r) => JSON.stringify(r) + '\n').join(''));
  return work;
}

const st = (taskId: string, state: string, uuid?: string, extra: Partial<TaskStatus> = {}): TaskStatus =>
  ({ task_id: { value: taskId }, state, ...(uuid ? { uuid } : {}), source: uuid ? 'SOURCE_EXECUTOR' : 'SOURCE_MASTER', ...extra }) as TaskStatus;
const upd = (s: TaskStatus) => ({ type: 'UPDATE', status: s });
const ack = (uuid: string) => ({ type: 'ACK', uuid });
const deliveries = (...ss: TaskStatus[]): Delivery[] => ss.map((status, i) => ({ seq: i + 1, at: i, status }));

function tail(work: string): JournalTail {
  const j = new JournalTail(() => [{ host: 1, workDir: work }], 60_000);
  j.stop();
  return j;
}

describe('checker: status updates', () => {
  const journal = [upd(st('t', 'TASK_STARTING', 'u1')), upd(st('t', 'TASK_RUNNING', 'u2')), ack('u1'), ack('u2')];

  test('in-order, complete, acknowledged deliveries pass', () => {
    const j = tail(workDir('t', journal));
    const d = deliveries(st('t', 'TASK_STARTING', 'u1'), st('t', 'TASK_RUNNING', 'u2'));
    assert.deepEqual(checkStatusUpdates({ frameworkId: 'F1', deliveries: d, ackedAt: new Map([['u1', 1], ['u2', 2]]) }, j), []);
    assert.deepEqual(unacknowledgedUpdates(j, 'F1', new Set([1])), []);
  });

  test('an update skipped before an acknowledged one is reported lost', () => {
    const j = tail(workDir('t', [upd(st('t', 'TASK_STARTING', 'u1')), upd(st('t', 'TASK_RUNNING', 'u2')), ack('u2')]));
    const v = checkStatusUpdates({ frameworkId: 'F1', deliveries: deliveries(st('t', 'TASK_RUNNING', 'u2')), ackedAt: new Map() }, j);
    assert.ok(v.some((x) => /TASK_STARTING \(u1\) was never delivered.*lost/.test(x)), v.join('\n'));
  });

  test('an ACK for an update the framework never saw is reported', () => {
    const j = tail(workDir('t', journal));
    const v = checkStatusUpdates({ frameworkId: 'F1', deliveries: deliveries(st('t', 'TASK_STARTING', 'u1')), ackedAt: new Map() }, j);
    assert.ok(v.some((x) => /ACK for u2/.test(x)), v.join('\n'));
  });

  test('out-of-order first deliveries are reported', () => {
    const j = tail(workDir('t', journal));
    const d = deliveries(st('t', 'TASK_RUNNING', 'u2'), st('t', 'TASK_STARTING', 'u1'));
    const v = checkStatusUpdates({ frameworkId: 'F1', deliveries: d, ackedAt: new Map() }, j);
    assert.ok(v.some((x) => /out of order/.test(x)), v.join('\n'));
  });

  test('a uuid changing state, a terminal re-delivered after its ack, and resurrection are reported', () => {
    const j = tail(workDir('x', []));
    const d = deliveries(
      st('t', 'TASK_RUNNING', 'u1'),
      st('t', 'TASK_FAILED', 'u1'),
      st('t', 'TASK_FINISHED', 'u2'),
      st('t', 'TASK_FINISHED', 'u2'),
      st('t', 'TASK_RUNNING', 'u3'),
    );
    const v = checkStatusUpdates({ frameworkId: 'F1', deliveries: d, ackedAt: new Map([['u2', 3]]) }, j);
    assert.ok(v.some((x) => /uuid u1 was TASK_RUNNING, now TASK_FAILED/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /delivered again after its acknowledgement/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /TASK_RUNNING .* after terminal/.test(x)), v.join('\n'));
  });

  test('unacknowledged updates on a live agent are listed until acknowledged', () => {
    const j = tail(workDir('t', [upd(st('t', 'TASK_RUNNING', 'u1'))]));
    assert.equal(unacknowledgedUpdates(j, 'F1', new Set([1])).length, 1);
    assert.equal(unacknowledgedUpdates(j, 'F1', new Set([2])).length, 0, 'a dead host cannot drain');
  });

  test("the orchestrator's events must contain its acknowledged states in order", () => {
    const j = tail(workDir('web.instance-1._app.1', [upd(st('web.instance-1._app.1', 'TASK_RUNNING', 'u1')), upd(st('web.instance-1._app.1', 'TASK_KILLED', 'u2')), ack('u1'), ack('u2')]));
    const ev = (taskStatus: string) => ({ at: 0, type: 'status_update_event', data: { taskId: 'web.instance-1._app.1', taskStatus } });
    const tracked = new Set<string>();
    assert.deepEqual(checkMarathonStatusEvents([ev('TASK_RUNNING'), ev('TASK_KILLED')], j, 'F1', tracked), []);
    assert.equal(checkMarathonStatusEvents([ev('TASK_RUNNING')], j, 'F1', new Set(['web.instance-1._app.1'])).length, 1);
    // Expunged while unreachable: the late terminal update is legitimately missing…
    assert.deepEqual(checkMarathonStatusEvents([ev('TASK_RUNNING'), ev('TASK_UNREACHABLE')], j, 'F1', tracked), []);
    // …but not a non-terminal one, and nothing may follow a terminal event.
    assert.equal(checkMarathonStatusEvents([ev('TASK_KILLED'), ev('TASK_RUNNING')], j, 'F1', tracked).length >= 1, true);
  });
});

describe('checker: instances', () => {
  const sample = (tasks: [string, string][], live: string[]): StateSample => ({
    at: 0,
    tasks: tasks.map(([id, state]) => ({ frameworkId: 'F', id, state, agentId: 'A' })),
    activeAgents: ['A'],
    liveTaskIds: live,
  });

  test('instance ids', () => {
    assert.equal(instanceOf('prod_web.instance-ab12._app.3'), 'prod_web.instance-ab12');
    assert.equal(instanceOf('obs-h1'), 'obs-h1');
  });

  test('two RUNNING copies of one instance are reported, in the master view and in reality', () => {
    const ok = sample([['web.instance-a._app.1', 'TASK_RUNNING'], ['web.instance-b._app.1', 'TASK_RUNNING']], ['web.instance-a._app.1']);
    assert.deepEqual(checkNoDuplicateInstances([ok], '/web'), []);
    const dupMaster = sample([['web.instance-a._app.1', 'TASK_RUNNING'], ['web.instance-a._app.2', 'TASK_RUNNING']], []);
    const dupLive = sample([], ['web.instance-a._app.1', 'web.instance-a._app.2']);
    assert.equal(checkNoDuplicateInstances([dupMaster, dupLive], '/web').length, 2);
    // Another app's tasks are not counted.
    assert.deepEqual(checkNoDuplicateInstances([sample([['webx.instance-a._app.1', 'TASK_RUNNING'], ['webx.instance-a._app.2', 'TASK_RUNNING']], [])], '/web'), []);
  });

  test('convergence needs the API, the master and reality to agree on exactly `instances`', () => {
    const t = (id: string) => ({ id, state: 'TASK_RUNNING', healthy: true, agentId: 'A' });
    const good = { apiTasks: [t('a'), t('b')], masterRunning: [{ id: 'a', agentId: 'A' }, { id: 'b', agentId: 'A' }], liveTaskIds: ['a', 'b'], deployments: 0 };
    assert.deepEqual(convergenceProblems(good, 2), []);
    assert.ok(convergenceProblems({ ...good, liveTaskIds: ['a', 'b', 'c'] }, 2).some((p) => /3 task processes alive/.test(p)));
    assert.ok(convergenceProblems({ ...good, apiTasks: [t('a'), { ...t('b'), healthy: false }] }, 2).some((p) => /1 RUNNING\+healthy/.test(p)));
    assert.ok(convergenceProblems({ ...good, masterRunning: [{ id: 'a', agentId: 'A' }, { id: 'z', agentId: 'A' }] }, 2).some((p) => /z: RUNNING on the master, unknown/.test(p)));
    assert.ok(convergenceProblems({ ...good, deployments: 1 }, 2).some((p) => /deployment/.test(p)));
  });
});

/** A loopback HTTP server answering GET paths with fixed JSON. */
async function fakeServer(routes: Record<string, unknown>): Promise<string> {
  const server = http.createServer((req, res) => {
    const body = routes[(req.url ?? '').split('?')[0]!];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('checker: offers', () => {
  const offer = (ports: number[], cpus: number): Offer =>
    ({
      id: { value: 'O1' },
      agent_id: { value: 'A1' },
      framework_id: { value: 'F' },
      hostname: 'h',
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
        { name: 'ports', type: 'RANGES', ranges: { range: ports.map((p) => ({ begin: p, end: p })) } },
      ],
    }) as unknown as Offer;

  test("offering a live task's port or cpus is reported; free resources pass", async () => {
    // The "task process" is this test process: certainly alive.
    const j = tail(workDir('t', [{ type: 'PID', pid: process.pid }], { ports: [31005], cpus: 1.5 }));
    const master = await fakeServer({ '/master/state': { slaves: [], frameworks: [] } });
    const audit = createOfferAudit({ masterLocal: master, journals: j, hostOf: () => 1, totals: () => ({ cpus: 2, mem: 1024 }) });
    assert.deepEqual(await audit(offer([31006], 0.5)), []);
    const v = await audit(offer([31005], 1));
    assert.ok(v.some((x) => /port\(s\) 31005 of task t/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /offers 1 cpus while live tasks use 1.50 of 2/.test(x)), v.join('\n'));
    const unknown = createOfferAudit({ masterLocal: master, journals: j, hostOf: () => undefined, totals: () => ({ cpus: 2, mem: 1024 }) });
    assert.equal((await unknown(offer([], 0.1))).length, 1);
  });

  test("offering a port of a task on the master's own books is reported", async () => {
    const j = tail(workDir('x', []));
    const master = await fakeServer({
      '/master/state': {
        slaves: [{ id: 'A1', resources: { cpus: 2 }, used_resources: { cpus: 1.5 }, offered_resources: { cpus: 1 } }],
        frameworks: [{ id: 'F', tasks: [{ id: 'k', state: 'TASK_RUNNING', slave_id: 'A1', resources: { ports: '[31000-31002]' } }], unreachable_tasks: [] }],
      },
    });
    const audit = createOfferAudit({ masterLocal: master, journals: j, hostOf: () => 1, totals: () => ({ cpus: 2, mem: 1024 }) });
    const v = await audit(offer([31002], 0.1));
    assert.ok(v.some((x) => /31002 the master itself lists for TASK_RUNNING task k/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /master books used 1.5 \+ offered 1 cpus > total 2/.test(x)), v.join('\n'));
  });
});

describe('checker: store consistency', () => {
  test("the orchestrator's API and the master must agree on its tasks", async () => {
    const orch = await fakeServer({
      '/v2/tasks': {
        tasks: [
          { id: 'web.instance-a._app.1', appId: '/web', slaveId: 'A1', state: 'TASK_RUNNING' },
          { id: 'web.instance-b._app.1', appId: '/web', slaveId: 'A2', state: 'TASK_RUNNING' },
        ],
      },
    });
    const master = await fakeServer({
      '/master/state': {
        frameworks: [
          {
            id: 'F',
            tasks: [
              { id: 'web.instance-a._app.1', state: 'TASK_RUNNING', slave_id: 'A1' },
              { id: 'web.instance-b._app.1', state: 'TASK_STAGING', slave_id: 'A2' },
              { id: 'web.instance-c._app.1', state: 'TASK_RUNNING', slave_id: 'A3' },
            ],
            unreachable_tasks: [{ id: 'web.instance-d._app.1', state: 'TASK_UNREACHABLE', slave_id: 'A4' }],
          },
        ],
      },
    });
    const v = await checkStoreAgreement(orch, master, 'F');
    assert.equal(v.length, 2, v.join('\n'));
    assert.ok(v.some((x) => /instance-b.*orchestrator says TASK_RUNNING, master TASK_STAGING/.test(x)));
    assert.ok(v.some((x) => /instance-c.*unknown to the orchestrator/.test(x)));
    assert.deepEqual(await checkStoreAgreement(orch, master, 'nope'), ["the master does not list the orchestrator's framework nope"]);
  });

  test('a stopped orchestrator store is checked record by record', async () => {
    const dir = path.join(tmp, 'store');
    const store = await openEmbeddedStore(dir);
    const R = '/corral/orchestrator';
    const inst = (app: string, id: string, state: string) =>
      store.put(`${R}/instances/${encodeURIComponent(app)}/${id}`, JSON.stringify({ instanceId: id, taskId: `${id}._app.1`, appId: app, state, agentId: 'A1' }));
    await store.put(`${R}/framework-id`, 'F');
    await store.put(`${R}/apps/${encodeURIComponent('/web')}`, '{}');
    await inst('/web', 'web.instance-a', 'TASK_RUNNING');
    await inst('/web', 'web.instance-b', 'TASK_KILLING');
    await inst('/gone', 'gone.instance-z', 'TASK_RUNNING');
    await store.put(`${R}/deployments/d1`, '{}');
    await store.close();
    const v = await checkOrchestratorStore(dir, {
      frameworkId: 'F',
      apps: ['/web'],
      tasks: [
        { id: 'web.instance-a._app.1', appId: '/web', agentId: 'A1', state: 'TASK_RUNNING' },
        { id: 'web.instance-b._app.1', appId: '/web', agentId: 'A1', state: 'TASK_RUNNING' },
      ],
    });
    assert.ok(v.some((x) => /instance-b.*API said TASK_RUNNING on A1, store has TASK_KILLING/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /gone\.instance-z: instance of an app that is not in the store/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /gone\.instance-z\._app\.1.*the API did not list/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /1 deployment record/.test(x)), v.join('\n'));
    assert.equal(v.length, 4, v.join('\n'));
  });
});
