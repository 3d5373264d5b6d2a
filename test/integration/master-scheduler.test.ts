// The master's v1 scheduler API over real HTTP, with fake agents speaking the
// internal protocol. No sleeps: every wait is on an event (with a deadline) or
// on an observable counter.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, test } from 'node:test';
import { eventually, scalar, startCluster, taskInfo, TestScheduler, type TestCluster } from '../support/fake-agent.ts';

const clusters: TestCluster[] = [];
async function cluster(opts: Parameters<typeof startCluster>[0] = {}): Promise<TestCluster> {
  const c = await startCluster(opts);
  clusters.push(c);
  return c;
}
after(async () => {
  for (const c of clusters) await c.close();
});

/** POST without any Content-Type header (fetch would add text/plain for a string body). */
function noContentType(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(Buffer.from('{"type":"SUBSCRIBE"}'));
  });
}

const PA = [{ type: 'PARTITION_AWARE' as const }];

/** Waits until `n` more allocation cycles ran (so an absent offer really was not made). */
async function allocationCycles(c: TestCluster, n = 3): Promise<void> {
  const start = (await c.metrics())['allocator/mesos/allocation_runs']!;
  await eventually(async () => (await c.metrics())['allocator/mesos/allocation_runs']! >= start + n, 'allocation cycles');
}

describe('subscription', () => {
  test('SUBSCRIBE answers 200 with a Mesos-Stream-Id header and SUBSCRIBED first', async () => {
    const c = await cluster();
    const s = new TestScheduler(c.master.url);
    const first: any = await s.subscribe({ user: 'u', name: 'fw', failover_timeout: 10 });
    assert.equal(s.statusCode, 200);
    assert.match(s.streamId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(first.type, 'SUBSCRIBED');
    assert.ok(first.subscribed.framework_id.value);
    assert.equal(first.subscribed.heartbeat_interval_seconds, 1);
    assert.equal(first.subscribed.master_info.port, c.master.port);
    assert.equal(first.subscribed.master_info.ip, 16777343);
    await s.waitForType('HEARTBEAT', { timeoutMs: 3000 });
    const fws = (await c.get('/master/frameworks')).body;
    assert.equal(fws.frameworks.length, 1);
    assert.equal(fws.frameworks[0].id, s.frameworkId);
    assert.equal(fws.frameworks[0].active, true);
    assert.equal(fws.frameworks[0].failover_timeout, 10);
    s.disconnect();
  });

  test('also served at /master/api/v1/scheduler', async () => {
    const c = await cluster();
    const s = new TestScheduler(c.master.url);
    const first: any = await s.subscribe({ user: 'u', name: 'fw' }, { path: '/master/api/v1/scheduler' });
    assert.equal(first.type, 'SUBSCRIBED');
    s.disconnect();
  });

  test('a second SUBSCRIBE of the same framework closes the old stream with ERROR', async () => {
    const c = await cluster();
    const s1 = await c.scheduler({ failover_timeout: 60 });
    const s2 = new TestScheduler(c.master.url);
    const first: any = await s2.subscribe({ user: 'tester', name: 'test-framework', id: { value: s1.frameworkId! }, failover_timeout: 60 });
    assert.equal(first.type, 'SUBSCRIBED');
    assert.equal(first.subscribed.framework_id.value, s1.frameworkId);
    const err = await s1.waitForType('ERROR');
    assert.equal(err.error.message, 'Framework failed over');
    await s1.waitForEnd();
    assert.notEqual(s1.streamId, s2.streamId);
    // The old stream id is no longer valid; the new one is.
    assert.equal((await s1.call({ type: 'REVIVE' }, { streamId: s1.streamId })).status, 400);
    s2.frameworkId = s1.frameworkId;
    assert.equal((await s2.call({ type: 'REVIVE' })).status, 202);
    const m = await c.metrics();
    assert.equal(m['master/frameworks_connected'], 1);
    s2.disconnect();
  });
});

describe('offers and launching', () => {
  test('offers arrive after an agent registers, with the Mesos v1 shape', async () => {
    const c = await cluster();
    const s = await c.scheduler({ role: 'web' });
    const a = await c.addAgent({ cpus: 2, mem: 1024, ports: { begin: 31000, end: 31009 }, attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }] });
    const [offer] = await s.waitForOffers();
    assert.ok(offer.id.value);
    assert.equal(offer.framework_id.value, s.frameworkId);
    assert.equal(offer.agent_id.value, a.agentId);
    assert.equal(offer.hostname, 'fake-agent.local');
    assert.equal(offer.url.scheme, 'http');
    assert.equal(offer.url.address.port, Number(new URL(a.url).port));
    assert.deepEqual(offer.allocation_info, { role: 'web' });
    assert.deepEqual(offer.attributes, [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }]);
    const byName = Object.fromEntries(offer.resources.map((r: any) => [r.name, r]));
    assert.deepEqual(byName.cpus.scalar, { value: 2 });
    assert.deepEqual(byName.mem.scalar, { value: 1024 });
    assert.deepEqual(byName.ports.ranges, { range: [{ begin: 31000, end: 31009 }] });
    for (const r of offer.resources) assert.deepEqual(r.allocation_info, { role: 'web' });
    assert.equal((await c.metrics())['master/outstanding_offers'], 1);
  });

  test('accept → RUN_TASK → RUNNING/FINISHED updates with uuids → ACKNOWLEDGE reaches the agent', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    const a = await c.addAgent({ cpus: 1, mem: 256 });
    const [offer] = await s.waitForOffers();
    const res = await s.accept([offer.id.value], [taskInfo('t1', a.agentId!, [scalar('cpus', 0.5), scalar('mem', 128)])]);
    assert.equal(res.status, 202);
    assert.equal(res.text, '');

    const run = await a.waitFor('RUN_TASK');
    assert.equal(run.task.task_id.value, 't1');
    assert.equal(run.framework_info.id.value, s.frameworkId);
    assert.equal(run.master_id, a.masterId);
    let m = await c.metrics();
    assert.equal(m['master/tasks_staging'], 1);
    assert.equal(m['master/cpus_used'], 0.5);

    const running = await a.sendStatus(s.frameworkId!, 't1', 'TASK_RUNNING');
    assert.deepEqual(running.reply, { type: 'ACCEPTED' });
    const u1 = await s.waitForUpdate('t1', 'TASK_RUNNING');
    assert.equal(u1.uuid, running.uuid);
    assert.equal(u1.agent_id.value, a.agentId);
    const ack1 = await s.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: a.agentId }, task_id: { value: 't1' }, uuid: running.uuid } });
    assert.equal(ack1.status, 202);
    const fwd = await a.waitFor('ACKNOWLEDGE', (x) => x.uuid === running.uuid);
    assert.equal(fwd.task_id.value, 't1');
    assert.equal(fwd.framework_id.value, s.frameworkId);
    assert.equal((await c.metrics())['master/tasks_running'], 1);

    // FINISHED frees the resources at once: a new offer for the whole agent follows.
    const mark = s.mark();
    const finished = await a.sendStatus(s.frameworkId!, 't1', 'TASK_FINISHED');
    await s.waitForUpdate('t1', 'TASK_FINISHED', { from: mark });
    const [again] = await s.waitForOffers({ from: mark });
    const cpus = again.resources.find((r: any) => r.name === 'cpus').scalar.value;
    assert.equal(cpus, 1);
    // Until acknowledged the task is still listed as the framework's task, in its terminal state.
    let state = (await c.get('/master/state')).body;
    assert.equal(state.frameworks[0].tasks[0].state, 'TASK_FINISHED');
    await s.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: a.agentId }, task_id: { value: 't1' }, uuid: finished.uuid } });
    await a.waitFor('ACKNOWLEDGE', (x) => x.uuid === finished.uuid);
    state = (await c.get('/master/state')).body;
    assert.equal(state.frameworks[0].tasks.length, 0);
    assert.equal(state.frameworks[0].completed_tasks[0].id, 't1');
    assert.deepEqual(
      state.frameworks[0].completed_tasks[0].statuses.map((x: any) => x.state),
      ['TASK_RUNNING', 'TASK_FINISHED'],
    );
    m = await c.metrics();
    assert.equal(m['master/tasks_finished'], 1);
    assert.equal(m['master/tasks_running'], 0);
    assert.equal(m['master/valid_status_updates'], 2);
    assert.equal(m['master/valid_status_update_acknowledgements'], 2);
  });

  test('unused offered resources come back filtered for refuse_seconds; other frameworks get them', async () => {
    const c = await cluster();
    const s1 = await c.scheduler({ name: 'one' });
    const a = await c.addAgent({ cpus: 2, mem: 512 });
    const [offer] = await s1.waitForOffers();
    const s2 = await c.scheduler({ name: 'two' });
    const m2 = s2.mark();
    await s1.accept([offer.id.value], [taskInfo('a', a.agentId!, [scalar('cpus', 1), scalar('mem', 128)])], 3600);
    const [rest] = await s2.waitForOffers({ from: m2 });
    const byName = Object.fromEntries(rest.resources.map((r: any) => [r.name, r.scalar?.value]));
    assert.equal(byName.cpus, 1);
    assert.equal(byName.mem, 384);
  });

  test('DECLINE with refuse_seconds filters the agent until REVIVE; refuse_seconds 0 re-offers at once', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    await c.addAgent();
    const [offer] = await s.waitForOffers();
    let mark = s.mark();
    assert.equal((await s.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 0 } } })).status, 202);
    const [again] = await s.waitForOffers({ from: mark });
    assert.notEqual(again.id.value, offer.id.value);

    mark = s.mark();
    await s.call({ type: 'DECLINE', decline: { offer_ids: [again.id], filters: { refuse_seconds: 3600 } } });
    await allocationCycles(c);
    assert.equal(s.events.slice(mark).filter((e) => e.type === 'OFFERS').length, 0);
    assert.equal((await c.metrics())['master/outstanding_offers'], 0);

    mark = s.mark();
    assert.equal((await s.call({ type: 'REVIVE' })).status, 202);
    await s.waitForOffers({ from: mark });
    const m = await c.metrics();
    assert.equal(m['master/messages_decline_offers'], 2);
    assert.equal(m['master/messages_revive_offers'], 1);
  });

  test('SUPPRESS stops offers, REVIVE resumes them', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    await c.addAgent();
    const [offer] = await s.waitForOffers();
    assert.equal((await s.call({ type: 'SUPPRESS', suppress: { roles: [] } })).status, 202);
    let mark = s.mark();
    await s.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 0 } } });
    await allocationCycles(c);
    assert.equal(s.events.slice(mark).filter((e) => e.type === 'OFFERS').length, 0);
    mark = s.mark();
    await s.call({ type: 'REVIVE', revive: { roles: ['*'] } });
    await s.waitForOffers({ from: mark });
  });

  test('offers time out with offerTimeoutMs (RESCIND), and a rescinded offer cannot be used', async () => {
    const c = await cluster({ offerTimeoutMs: 100 });
    const s = await c.scheduler();
    const a = await c.addAgent();
    const [offer] = await s.waitForOffers();
    const rescind = await s.waitFor((e) => e.type === 'RESCIND' && e.rescind.offer_id.value === offer.id.value);
    assert.ok(rescind);
    const mark = s.mark();
    await s.accept([offer.id.value], [taskInfo('late', a.agentId!)]);
    const st = await s.waitForUpdate('late', undefined, { from: mark });
    assert.equal(st.state, 'TASK_LOST');
    assert.equal(st.reason, 'REASON_INVALID_OFFERS');
    assert.equal(st.source, 'SOURCE_MASTER');
    assert.equal(st.uuid, undefined);
    assert.equal(a.received.filter((x) => x.type === 'RUN_TASK').length, 0);
  });
});

describe('invalid input', () => {
  test('HTTP-level errors follow Mesos, with text/plain bodies', async () => {
    const c = await cluster();
    const url = c.master.url + '/api/v1/scheduler';
    const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(url, { method: 'POST', headers, body }).then(async (r) => ({ status: r.status, text: await r.text(), type: r.headers.get('content-type') }));

    const get = await fetch(url);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal(await noContentType(url), 400);
    assert.equal((await post('{"type":"SUBSCRIBE"}', { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post('{"type":"SUBSCRIBE"}', { 'content-type': 'application/x-protobuf' })).status, 415);
    const bad = await post('{"type":');
    assert.equal(bad.status, 400);
    assert.match(bad.type ?? '', /text\/plain/);
    assert.equal((await post('{"type":"NOT_A_CALL"}')).status, 400);
    assert.equal((await post('{"type":5}')).status, 400);
    assert.equal((await post('[]')).status, 400);
    assert.equal((await post('')).status, 400);
    assert.equal((await post('{"type":"UNKNOWN"}')).status, 501);
    assert.equal((await post('{"type":"SUBSCRIBE"}')).status, 400); // payload missing
    const acceptOnly = await post(JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n' } } }), {
      'content-type': 'application/json',
      accept: 'application/xml',
    });
    assert.equal(acceptOnly.status, 406);
    const withStream = await post(JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n' } } }), {
      'content-type': 'application/json',
      'mesos-stream-id': 'x',
    });
    assert.equal(withStream.status, 400);
    const unknownFw = await post(JSON.stringify({ type: 'REVIVE', framework_id: { value: 'nope' } }));
    assert.equal(unknownFw.status, 400);
    assert.equal(unknownFw.text, 'Framework cannot be found');
    const noFwId = await post(JSON.stringify({ type: 'REVIVE' }));
    assert.equal(noFwId.status, 400);
    const big = await post(JSON.stringify({ type: 'REVIVE', pad: 'x'.repeat(4 * 1024 * 1024 + 10) }));
    assert.equal(big.status, 413);
    assert.equal((await c.get('/health')).status, 200);
  });

  test('stream id rules: missing or mismatched Mesos-Stream-Id → 400; disconnected framework → 403', async () => {
    const c = await cluster();
    const s = await c.scheduler({ failover_timeout: 60 });
    const missing = await s.call({ type: 'REVIVE' }, { streamId: null });
    assert.equal(missing.status, 400);
    assert.match(missing.text, /Mesos-Stream-Id/);
    assert.equal((await s.call({ type: 'REVIVE' }, { streamId: 'not-the-stream' })).status, 400);
    assert.equal((await s.call({ type: 'UNKNOWN' })).status, 501);
    s.disconnect();
    await eventually(async () => (await c.metrics())['master/frameworks_disconnected'] === 1, 'disconnection');
    const res = await s.call({ type: 'REVIVE' });
    assert.equal(res.status, 403);
    assert.equal(res.text, 'Framework is not subscribed');
  });

  test('malformed resources in a task are rejected with 400 and change nothing', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    const a = await c.addAgent();
    const [offer] = await s.waitForOffers();
    for (const value of [-1, 'NaN', 'Infinity', 'abc']) {
      const res = await s.accept([offer.id.value], [taskInfo('bad', a.agentId!, [{ name: 'cpus', type: 'SCALAR', scalar: { value } } as any])]);
      assert.equal(res.status, 400, `value ${value}`);
    }
    const wrongType = await s.call({ type: 'ACCEPT', accept: { offer_ids: 'nope' } });
    assert.equal(wrongType.status, 400);
    assert.equal((await c.metrics())['master/outstanding_offers'], 1); // the offer is untouched
    const ok = await s.accept([offer.id.value], [taskInfo('good', a.agentId!)]);
    assert.equal(ok.status, 202);
    await a.waitFor('RUN_TASK', (m) => m.task.task_id.value === 'good');
  });

  test('invalid tasks get TASK_ERROR / REASON_TASK_INVALID; the valid ones in the same ACCEPT launch', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    const a = await c.addAgent({ cpus: 2, mem: 1024 });
    const [offer] = await s.waitForOffers();
    const tasks = [
      taskInfo('ok1', a.agentId!, [scalar('cpus', 1), scalar('mem', 100)]),
      taskInfo('ok1', a.agentId!, [scalar('cpus', 0.1), scalar('mem', 10)]), // duplicate id within the call
      taskInfo('toobig', a.agentId!, [scalar('cpus', 1.5), scalar('mem', 10)]), // 1 cpu left
      taskInfo('wrongagent', 'some-other-agent'),
      { name: 'nocommand', task_id: { value: 'nocommand' }, agent_id: { value: a.agentId }, resources: [scalar('cpus', 0.1)] },
    ];
    assert.equal((await s.accept([offer.id.value], tasks)).status, 202);
    for (const id of ['toobig', 'wrongagent', 'nocommand']) {
      const st = await s.waitForUpdate(id);
      assert.equal(st.state, 'TASK_ERROR', id);
      assert.equal(st.reason, 'REASON_TASK_INVALID', id);
      assert.equal(st.source, 'SOURCE_MASTER');
    }
    const dup = await s.waitFor((e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'ok1' && e.update.status.state === 'TASK_ERROR');
    assert.match(dup.update.status.message, /duplicate/i);
    await a.waitFor('RUN_TASK', (m) => m.task.task_id.value === 'ok1');
    assert.equal(a.received.filter((m) => m.type === 'RUN_TASK').length, 1);
    assert.equal((await c.metrics())['master/tasks_error'], 4);

    // Reusing the id of an active task is refused too.
    const mark = s.mark();
    await a.sendStatus(s.frameworkId!, 'ok1', 'TASK_RUNNING');
    await s.call({ type: 'REVIVE' });
    const [next] = await s.waitForOffers({ from: mark });
    await s.accept([next.id.value], [taskInfo('ok1', a.agentId!)]);
    const reuse = await s.waitFor((e) => e.type === 'UPDATE' && e.update.status.task_id.value === 'ok1' && e.update.status.state === 'TASK_ERROR', { from: mark });
    assert.match(reuse.update.status.message, /duplicate/i);
  });

  test('an offer used twice: the second ACCEPT gets TASK_LOST (TASK_DROPPED when partition-aware)', async () => {
    const c = await cluster();
    const s = await c.scheduler({ capabilities: PA });
    const a = await c.addAgent();
    const [offer] = await s.waitForOffers();
    await s.accept([offer.id.value], [taskInfo('first', a.agentId!)]);
    await s.accept([offer.id.value], [taskInfo('second', a.agentId!)]);
    const st = await s.waitForUpdate('second');
    assert.equal(st.state, 'TASK_DROPPED');
    assert.equal(st.reason, 'REASON_INVALID_OFFERS');
    assert.match(st.message, /no longer valid/);

    const s2 = await c.scheduler({ name: 'not-pa' });
    await s2.accept([offer.id.value], [taskInfo('third', a.agentId!)]);
    const st2 = await s2.waitForUpdate('third');
    assert.equal(st2.state, 'TASK_LOST');
    assert.equal((await c.metrics())['master/task_lost/source_master/reason_invalid_offers'], 1);
  });

  test('ACKNOWLEDGE with a malformed uuid → 400', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    const a = await c.addAgent();
    for (const uuid of ['not-base64!', 'AAAA', '']) {
      const res = await s.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: a.agentId }, task_id: { value: 't' }, uuid } });
      assert.equal(res.status, 400, uuid);
    }
  });

  test('many hostile bodies in a row leave the master up and consistent', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    const bodies: unknown[] = [
      null,
      42,
      'str',
      { type: null },
      { type: 'ACCEPT', framework_id: { value: s.frameworkId }, accept: { offer_ids: [{ value: 'x' }], operations: [{ type: 'LAUNCH', launch: { task_infos: [{}] } }] } },
      { type: 'KILL', framework_id: { value: s.frameworkId }, kill: {} },
      { type: 'RECONCILE', framework_id: { value: s.frameworkId }, reconcile: { tasks: [{ task_id: { value: '' } }] } },
      { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 1, name: [] } } },
      { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n', roles: ['a', 'b'] } } },
      { type: 'DECLINE', framework_id: { value: s.frameworkId }, decline: { offer_ids: [{ value: '../..' }] } },
      { ['__proto__']: { type: 'TEARDOWN' } },
    ];
    for (const b of bodies) {
      const res = await s.call(b as Record<string, unknown>);
      assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(b)} → ${res.status}`);
    }
    assert.equal((await c.get('/health')).status, 200);
    assert.equal((await c.metrics())['master/frameworks_connected'], 1);
  });
});

describe('kill and reconciliation', () => {
  async function runningTask(c: TestCluster, s: TestScheduler, id: string) {
    const a = c.agents[0] ?? (await c.addAgent());
    const mark = s.mark();
    await s.call({ type: 'REVIVE' });
    const [offer] = await s.waitForOffers({ from: mark });
    await s.accept([offer.id.value], [taskInfo(id, a.agentId!)]);
    await a.waitFor('RUN_TASK', (m) => m.task.task_id.value === id);
    const { uuid } = await a.sendStatus(s.frameworkId!, id, 'TASK_RUNNING');
    await s.waitForUpdate(id, 'TASK_RUNNING', { from: mark });
    return { a, uuid };
  }

  test('KILL of a known task reaches the agent; of an unknown task answers like reconciliation', async () => {
    const c = await cluster();
    const s = await c.scheduler();
    const { a } = await runningTask(c, s, 'k1');
    await s.call({ type: 'KILL', kill: { task_id: { value: 'k1' } } });
    const kill = await a.waitFor('KILL_TASK');
    assert.equal(kill.task_id.value, 'k1');
    const mark = s.mark();
    await s.call({ type: 'KILL', kill: { task_id: { value: 'ghost' }, agent_id: { value: a.agentId } } });
    const st = await s.waitForUpdate('ghost', undefined, { from: mark });
    assert.equal(st.state, 'TASK_LOST'); // TASK_GONE for partition-aware frameworks
    assert.equal(st.reason, 'REASON_RECONCILIATION');
    assert.equal((await c.metrics())['master/messages_kill_task'], 2);
  });

  test('implicit reconciliation reports every task; explicit follows mesos.md §5.6', async () => {
    const c = await cluster();
    const s = await c.scheduler({ capabilities: PA });
    const { a } = await runningTask(c, s, 'r1');
    let mark = s.mark();
    assert.equal((await s.call({ type: 'RECONCILE', reconcile: { tasks: [] } })).status, 202);
    const implicit = await s.waitForUpdate('r1', undefined, { from: mark });
    assert.equal(implicit.state, 'TASK_RUNNING');
    assert.equal(implicit.reason, 'REASON_RECONCILIATION');
    assert.equal(implicit.source, 'SOURCE_MASTER');
    assert.equal(implicit.uuid, undefined);
    assert.equal(implicit.agent_id.value, a.agentId);

    mark = s.mark();
    await s.call({
      type: 'RECONCILE',
      reconcile: {
        tasks: [
          { task_id: { value: 'r1' } },
          { task_id: { value: 'gone' }, agent_id: { value: a.agentId } },
          { task_id: { value: 'nowhere' }, agent_id: { value: 'unknown-agent' } },
          { task_id: { value: 'noagent' } },
        ],
      },
    });
    assert.equal((await s.waitForUpdate('r1', undefined, { from: mark })).state, 'TASK_RUNNING');
    assert.equal((await s.waitForUpdate('gone', undefined, { from: mark })).state, 'TASK_GONE');
    assert.equal((await s.waitForUpdate('nowhere', undefined, { from: mark })).state, 'TASK_UNKNOWN');
    assert.equal((await s.waitForUpdate('noagent', undefined, { from: mark })).state, 'TASK_UNKNOWN');

    // A framework that is not partition-aware sees TASK_LOST instead.
    const s2 = await c.scheduler({ name: 'legacy' });
    mark = s2.mark();
    await s2.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'x' }, agent_id: { value: a.agentId } }, { task_id: { value: 'y' } }] } });
    assert.equal((await s2.waitForUpdate('x', undefined, { from: mark })).state, 'TASK_LOST');
    assert.equal((await s2.waitForUpdate('y', undefined, { from: mark })).state, 'TASK_LOST');
  });
});

describe('failover and teardown', () => {
  test('a framework that resubscribes within failover_timeout keeps its tasks', async () => {
    const c = await cluster();
    const s = await c.scheduler({ failover_timeout: 60 });
    const a = await c.addAgent();
    const [offer] = await s.waitForOffers();
    await s.accept([offer.id.value], [taskInfo('keep', a.agentId!)]);
    await a.waitFor('RUN_TASK');
    await a.sendStatus(s.frameworkId!, 'keep', 'TASK_RUNNING');
    await s.waitForUpdate('keep', 'TASK_RUNNING');
    s.disconnect();
    await eventually(async () => (await c.metrics())['master/frameworks_disconnected'] === 1, 'framework disconnected');
    let fw = (await c.get('/master/frameworks')).body.frameworks[0];
    assert.equal(fw.connected, false);
    assert.equal(fw.offered_resources.cpus, 0); // its offers were rescinded

    // While disconnected, updates are not forwarded (the agent keeps retrying until acknowledged).
    const pending = await a.sendStatus(s.frameworkId!, 'keep', 'TASK_RUNNING');
    assert.deepEqual(pending.reply, { type: 'ACCEPTED' });

    const s2 = new TestScheduler(c.master.url);
    const first: any = await s2.subscribe({ user: 'tester', name: 'test-framework', failover_timeout: 60, id: { value: s.frameworkId! } });
    assert.equal(first.type, 'SUBSCRIBED');
    assert.equal(first.subscribed.framework_id.value, s.frameworkId);
    fw = (await c.get('/master/frameworks')).body.frameworks[0];
    assert.equal(fw.connected, true);
    assert.deepEqual(fw.tasks.map((t: any) => [t.id, t.state]), [['keep', 'TASK_RUNNING']]);
    assert.equal(a.received.filter((m) => m.type === 'KILL_TASK' || m.type === 'SHUTDOWN_FRAMEWORK').length, 0);
    assert.equal((await c.metrics())['master/messages_reregister_framework'], 1);
    s2.disconnect();
  });

  test('with failover_timeout 0 a disconnected framework is removed and its tasks killed', async () => {
    const c = await cluster();
    const s = await c.scheduler({ failover_timeout: 0 });
    const a = await c.addAgent();
    const [offer] = await s.waitForOffers();
    await s.accept([offer.id.value], [taskInfo('doomed', a.agentId!)]);
    await a.waitFor('RUN_TASK');
    await a.sendStatus(s.frameworkId!, 'doomed', 'TASK_RUNNING');
    await s.waitForUpdate('doomed', 'TASK_RUNNING');
    s.disconnect();
    const shutdown = await a.waitFor('SHUTDOWN_FRAMEWORK');
    assert.equal(shutdown.framework_id.value, s.frameworkId);
    const fws = (await c.get('/master/frameworks')).body;
    assert.equal(fws.frameworks.length, 0);
    assert.equal(fws.completed_frameworks[0].id, s.frameworkId);
    assert.equal(fws.completed_frameworks[0].completed_tasks[0].state, 'TASK_KILLED');
    const m = await c.metrics();
    assert.equal(m['master/tasks_killed'], 1);
    assert.equal(m['master/cpus_used'], 0);

    // Resubscribing with the id of a removed framework is refused with an ERROR event.
    const again = new TestScheduler(c.master.url);
    const first: any = await again.subscribe({ user: 'tester', name: 'test-framework', id: { value: s.frameworkId! } });
    assert.equal(first.type, 'ERROR');
    assert.equal(first.error.message, 'Framework has been removed');
    await again.waitForEnd();
  });

  test('a framework that does not come back within failover_timeout is removed; late updates re-trigger SHUTDOWN_FRAMEWORK', async () => {
    const c = await cluster();
    const s = await c.scheduler({ failover_timeout: 0.3 });
    const a = await c.addAgent();
    const [offer] = await s.waitForOffers();
    await s.accept([offer.id.value], [taskInfo('slow', a.agentId!)]);
    await a.waitFor('RUN_TASK');
    s.disconnect();
    await eventually(async () => (await c.metrics())['master/frameworks_disconnected'] === 1, 'disconnected');
    assert.equal(a.received.filter((m) => m.type === 'SHUTDOWN_FRAMEWORK').length, 0);
    await a.waitFor('SHUTDOWN_FRAMEWORK'); // after ~300 ms
    const fws = (await c.get('/master/frameworks')).body;
    assert.equal(fws.completed_frameworks[0].id, s.frameworkId);
    assert.equal(fws.completed_frameworks[0].completed_tasks[0].state, 'TASK_KILLED');
    const mark = a.mark();
    const late = await a.sendStatus(s.frameworkId!, 'slow', 'TASK_KILLED');
    assert.deepEqual(late.reply, { type: 'ACCEPTED' });
    await a.waitFor('SHUTDOWN_FRAMEWORK', () => true, { from: mark });
    assert.equal((await c.metrics())['master/invalid_status_updates'], 1);
  });

  test('TEARDOWN removes the framework; /master/teardown and the v1 TEARDOWN do too', async () => {
    const c = await cluster();
    const a = await c.addAgent();
    const s = await c.scheduler({ failover_timeout: 3600 });
    const [offer] = await s.waitForOffers();
    await s.accept([offer.id.value], [taskInfo('t', a.agentId!)]);
    await a.waitFor('RUN_TASK');
    assert.equal((await s.call({ type: 'TEARDOWN' })).status, 202);
    await a.waitFor('SHUTDOWN_FRAMEWORK', (m) => m.framework_id.value === s.frameworkId);
    await s.waitForEnd();

    const s2 = await c.scheduler({ name: 'op-teardown', failover_timeout: 3600 });
    const form = await fetch(c.master.url + '/master/teardown', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `frameworkId=${s2.frameworkId}`,
    });
    assert.equal(form.status, 200);
    const err = await s2.waitForType('ERROR');
    assert.equal(err.error.message, 'Framework has been removed');
    const missing = await fetch(c.master.url + '/master/teardown?frameworkId=nope', { method: 'POST' });
    assert.equal(missing.status, 400);

    const s3 = await c.scheduler({ name: 'v1-teardown' });
    const v1 = await fetch(c.master.url + '/api/v1', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'TEARDOWN', teardown: { framework_id: { value: s3.frameworkId } } }),
    });
    assert.equal(v1.status, 200);
    await s3.waitForEnd();
    const fws = (await c.get('/master/frameworks')).body;
    assert.equal(fws.frameworks.length, 0);
    assert.equal(fws.completed_frameworks.length, 3);
    assert.equal((await c.metrics())['master/messages_unregister_framework'], 1);
  });

  test('UPDATE_FRAMEWORK answers 200 and applies; invalid updates answer 400', async () => {
    const c = await cluster();
    const s = await c.scheduler({ name: 'before' });
    const ok = await s.call({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { user: 'tester', name: 'after', id: { value: s.frameworkId } } } });
    assert.equal(ok.status, 200);
    assert.equal((await c.get('/master/frameworks')).body.frameworks[0].name, 'after');
    const bad = await s.call({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { user: 'someone-else', name: 'x' } } });
    assert.equal(bad.status, 400);
  });
});

describe('operator endpoints', () => {
  test('legacy JSON endpoints, metrics and the v1 operator API', async () => {
    const c = await cluster();
    const s = await c.scheduler({ capabilities: PA });
    const a = await c.addAgent();
    const [offer] = await s.waitForOffers();
    await s.accept([offer.id.value], [taskInfo('op1', a.agentId!), taskInfo('op2', a.agentId!)]);
    await a.waitFor('RUN_TASK', (m) => m.task.task_id.value === 'op2');
    await a.sendStatus(s.frameworkId!, 'op1', 'TASK_RUNNING');
    await s.waitForUpdate('op1', 'TASK_RUNNING');

    assert.equal((await c.get('/health')).status, 200);
    assert.equal((await c.get('/health')).text, '');
    const version = (await c.get('/version')).body;
    assert.equal(version.version, '1.11.0');
    for (const k of ['build_date', 'build_time', 'build_user']) assert.ok(k in version);

    for (const path of ['/master/state', '/state']) {
      const st = (await c.get(path)).body;
      for (const k of ['version', 'start_time', 'id', 'pid', 'hostname', 'activated_slaves', 'leader', 'leader_info', 'flags', 'slaves', 'frameworks', 'completed_frameworks', 'orphan_tasks', 'unregistered_frameworks'])
        assert.ok(k in st, `${path} has ${k}`);
      assert.equal(st.slaves[0].id, a.agentId);
      assert.equal(st.slaves[0].used_resources.mem, 64);
      assert.equal(st.frameworks[0].tasks.length, 2);
    }
    const summary = (await c.get('/master/state-summary')).body;
    assert.equal(summary.slaves[0].TASK_RUNNING, 1);
    assert.equal(summary.slaves[0].TASK_STAGING, 1);
    assert.deepEqual(summary.frameworks[0].slave_ids, [a.agentId]);

    const tasks = (await c.get('/master/tasks')).body.tasks;
    assert.deepEqual(tasks.map((t: any) => t.id), ['op2', 'op1']); // default order: des
    assert.deepEqual((await c.get('/master/tasks?order=asc&limit=1')).body.tasks.map((t: any) => t.id), ['op1']);
    assert.deepEqual((await c.get('/master/tasks?order=asc&offset=1')).body.tasks.map((t: any) => t.id), ['op2']);
    assert.deepEqual((await c.get('/master/tasks?task_id=op1')).body.tasks.map((t: any) => t.state), ['TASK_RUNNING']);
    assert.equal((await c.get(`/master/tasks?framework_id=nope`)).body.tasks.length, 0);
    assert.equal((await c.get('/master/tasks?limit=-1')).status, 400);
    assert.equal((await c.get('/master/slaves')).body.slaves[0].id, a.agentId);
    assert.equal((await c.get(`/master/frameworks?framework_id=${s.frameworkId}`)).body.frameworks.length, 1);
    const redirect = await fetch(c.master.url + '/master/redirect', { redirect: 'manual' });
    assert.equal(redirect.status, 307);
    assert.equal(redirect.headers.get('location'), `//127.0.0.1:${c.master.port}`);
    const jsonp = await c.get('/master/state?jsonp=cb');
    assert.match(jsonp.text, /^cb\(/);

    const m = await c.metrics();
    for (const k of [
      'master/cpus_total', 'master/cpus_used', 'master/cpus_percent', 'master/mem_total', 'master/mem_used', 'master/mem_percent',
      'master/disk_total', 'master/disk_used', 'master/disk_percent', 'master/gpus_total', 'master/gpus_used', 'master/gpus_percent',
      'master/uptime_secs', 'master/elected', 'master/slaves_active', 'master/slaves_connected', 'master/slaves_disconnected',
      'master/slaves_inactive', 'master/slaves_unreachable', 'master/slave_registrations', 'master/slave_reregistrations',
      'master/slave_removals', 'master/frameworks_active', 'master/frameworks_connected', 'master/frameworks_disconnected',
      'master/frameworks_inactive', 'master/outstanding_offers', 'master/invalid_status_updates', 'master/valid_status_updates',
      'master/dropped_messages', 'master/tasks_staging', 'master/tasks_starting', 'master/tasks_running', 'master/tasks_killing',
      'master/tasks_unreachable', 'master/tasks_finished', 'master/tasks_failed', 'master/tasks_killed', 'master/tasks_lost',
      'master/tasks_error', 'master/tasks_dropped', 'master/tasks_gone', 'master/tasks_gone_by_operator',
    ])
      assert.equal(typeof m[k], 'number', k);
    assert.equal(m['master/elected'], 1);
    assert.equal(m['master/cpus_total'], 4);
    assert.equal(m['master/cpus_used'], 0.2);
    assert.equal(m['master/tasks_running'], 1);
    assert.equal(m['master/tasks_staging'], 1);
    assert.equal(m['master/slaves_active'], 1);
    assert.equal(m['master/messages_launch_tasks'], 1);

    const v1 = async (type: string, extra: Record<string, unknown> = {}) =>
      fetch(c.master.url + '/api/v1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type, ...extra }) });
    assert.deepEqual(await (await v1('GET_HEALTH')).json(), { type: 'GET_HEALTH', get_health: { healthy: true } });
    assert.equal(((await (await v1('GET_VERSION')).json()) as any).get_version.version_info.version, '1.11.0');
    const state: any = await (await v1('GET_STATE')).json();
    assert.equal(state.get_state.get_tasks.tasks.length, 2);
    assert.equal(state.get_state.get_agents.agents[0].agent_info.id.value, a.agentId);
    assert.equal(state.get_state.get_frameworks.frameworks[0].framework_info.id.value, s.frameworkId);
    const agents: any = await (await v1('GET_AGENTS')).json();
    assert.equal(agents.get_agents.agents.length, 1);
    const fws: any = await (await v1('GET_FRAMEWORKS')).json();
    assert.equal(fws.get_frameworks.frameworks.length, 1);
    const ts: any = await (await v1('GET_TASKS')).json();
    assert.deepEqual(ts.get_tasks.tasks.map((t: any) => t.task_id.value).sort(), ['op1', 'op2']);
    const metrics: any = await (await v1('GET_METRICS')).json();
    assert.ok(metrics.get_metrics.metrics.some((x: any) => x.name === 'master/elected' && x.value === 1));
    const master: any = await (await v1('GET_MASTER')).json();
    assert.equal(master.get_master.master_info.port, c.master.port);
    assert.equal((await v1('GROW_VOLUME')).status, 501);
    assert.equal((await v1('GET_HEALTH', {})).status, 200);
    const noType = await fetch(c.master.url + '/api/v1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(noType.status, 400);
    const wrongCt = await fetch(c.master.url + '/api/v1', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"type":"GET_HEALTH"}' });
    assert.equal(wrongCt.status, 415);
  });
});
