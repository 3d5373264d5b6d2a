// The master's /metrics/snapshot over real HTTP, driven by a fake agent and a test scheduler: every
// group of keys (resources, agents, frameworks, offers, tasks, per-state reasons, messages, invalid
// calls, event queue, registrar, allocator, per framework) moves when the state it describes changes;
// /metrics/history records it; counters survive a leadership term change.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MASTER_ELECTION, currentLeader } from '../../src/coordination/leader.ts';
import { startMaster } from '../../src/master/index.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore, type BackendStore, type Store } from '../../src/store/index.ts';
import { eventually, FAST, FakeAgent, newUuid, startCluster, taskInfo, type TestCluster } from '../support/fake-agent.ts';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

type Snapshot = Record<string, number>;

/** A store whose commits wait while `held` (to see registry writes and agent messages in flight). */
function gatedStore(inner: Store): { store: Store; hold(): void; release(): void } {
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'commit')
        return async (...args: Parameters<Store['commit']>) => {
          if (gate) await gate.promise;
          return target.commit(...args);
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store,
    hold() {
      let open!: () => void;
      const promise = new Promise<void>((r) => (open = r));
      gate = { promise, open };
    },
    release() {
      gate?.open();
      gate = undefined;
    },
  };
}

/** Asserts that each key of `keys` went up (by exactly `by` when given) between two snapshots. */
function moved(before: Snapshot, now: Snapshot, keys: Record<string, number | '>'>): void {
  for (const [k, by] of Object.entries(keys)) {
    assert.ok(k in now, `${k} is in the snapshot`);
    if (by === '>') assert.ok(now[k]! > (before[k] ?? 0), `${k} went up: ${before[k]} → ${now[k]}`);
    else assert.equal(now[k]! - (before[k] ?? 0), by, `${k}: ${before[k]} → ${now[k]}`);
  }
}

describe('master metrics', () => {
  test('every group of /metrics/snapshot moves with the state it describes; /metrics/history keeps it', async () => {
    const gated = gatedStore(createMemoryStore({ logger: silentLogger }));
    const c: TestCluster = await startCluster({ store: gated.store, metrics: { history: { intervalMs: 50, retentionMs: 60_000 } } });
    cleanups.push(() => c.close());
    const m0 = await c.metrics();
    assert.equal(m0['master/elected'], 1);
    assert.ok(m0['master/uptime_secs']! >= 0);
    assert.ok(m0['system/cpus_total']! >= 1 && m0['system/mem_total_bytes']! > m0['system/mem_free_bytes']!);
    assert.ok(m0['system/load_1min']! >= 0);
    assert.equal(m0['registrar/log/recovered'], 1);
    assert.ok(m0['registrar/state_fetch_ms/count']! >= 1, 'the registry was read when the term began');
    // This very request is being handled while the snapshot is taken; the term has timers armed.
    assert.ok(m0['master/event_queue_http_requests']! >= 1);
    assert.ok(m0['master/event_queue_dispatches']! >= 1);
    assert.equal(m0['master/slaves_active'], 0);

    // Agents (and the registrar and event queue while the registration waits for its registry write).
    gated.hold();
    const agent = await FakeAgent.start({ masterUrl: c.master.url, cpus: 4, mem: 4096 });
    c.agents.push(agent);
    const registering = agent.register();
    const during = await eventually(async () => {
      const m = await c.metrics();
      return m['registrar/queued_operations']! >= 1 && m['master/event_queue_messages']! >= 1 ? m : undefined;
    }, 'a registry write and an agent message in flight');
    assert.equal(during['master/slaves_active'], 0, 'not registered before its registry write');
    gated.release();
    await registering;
    const m1 = await eventually(async () => {
      const m = await c.metrics();
      return m['registrar/queued_operations'] === 0 ? m : undefined;
    }, 'the registry write done');
    moved(m0, m1, { 'master/slaves_active': 1, 'master/slaves_connected': 1, 'master/slave_registrations': 1, 'master/messages_register_slave': 1 });
    moved(m0, m1, { 'master/cpus_total': 4, 'master/mem_total': 4096, 'allocator/mesos/resources/cpus/total': 4, 'registrar/registry_size_bytes': '>' });
    assert.ok(m1['registrar/state_store_ms/count']! > (m0['registrar/state_store_ms/count'] ?? 0));
    assert.ok(m1['registrar/state_store_ms/p99']! >= m1['registrar/state_store_ms/p50']!);

    // Frameworks, offers, allocator.
    const s = await c.scheduler({ name: 'metrics test/fw', failover_timeout: 60 });
    const fw = `master/frameworks/${encodeURIComponent('metrics test/fw')}/${s.frameworkId}`;
    const offers = await s.waitForOffers();
    const m2 = await c.metrics();
    moved(m1, m2, { 'master/frameworks_active': 1, 'master/frameworks_connected': 1, 'master/messages_register_framework': 1 });
    moved(m1, m2, { 'allocator/mesos/allocation_runs': '>', 'allocator/mesos/allocation_run_ms/count': '>', 'allocator/mesos/allocation_run_latency_ms/count': '>' });
    assert.ok(m2['master/outstanding_offers']! >= 1);
    assert.equal(m2['master/cpus_used'], 4, 'offered counts as used');
    assert.equal(m2['master/cpus_percent'], 1);
    assert.equal(m2['allocator/mesos/roles/*/shares/dominant'], 1);
    assert.equal(m2[`${fw}/subscribed`], 1);
    assert.equal(m2[`${fw}/calls/subscribe`], 1);
    assert.equal(m2[`${fw}/events/subscribed`], 1);
    assert.ok(m2[`${fw}/offers/sent`]! >= 1 && m2[`${fw}/events/offers`]! >= 1);

    // Tasks: launch three, run them, then one finishes, one fails, one is killed.
    const afterAccept = s.mark();
    await s.accept(
      [offers[0].id.value],
      ['a', 'b', 'c'].map((id) => taskInfo(id, agent.agentId!)),
      0,
    );
    for (const id of ['a', 'b', 'c']) await agent.waitFor('RUN_TASK', (msg) => msg.task.task_id.value === id);
    const m3 = await c.metrics();
    moved(m2, m3, { 'master/tasks_staging': 3, 'master/messages_launch_tasks': 1, [`${fw}/calls/accept`]: 1, [`${fw}/offers/accepted`]: 1, [`${fw}/operations/launch`]: 1 });
    assert.equal(m3[`${fw}/tasks/active/task_staging`], 3);
    for (const id of ['a', 'b', 'c']) await agent.sendStatus(s.frameworkId!, id, 'TASK_RUNNING');
    const m4 = await c.metrics();
    moved(m3, m4, { 'master/tasks_running': 3, 'master/valid_status_updates': 3, 'master/messages_status_update': 3 });
    assert.equal(m4['master/tasks_staging'], 0);
    const history = async () => (await c.get('/metrics/history?key=master/tasks_running')).body.points as [number, number][];
    await eventually(async () => (await history()).some(([, v]) => v === 3), 'the history to record the running tasks');

    await agent.sendStatus(s.frameworkId!, 'a', 'TASK_FINISHED');
    await agent.sendStatus(s.frameworkId!, 'b', 'TASK_FAILED');
    const kill = await s.call({ type: 'KILL', kill: { task_id: { value: 'c' }, agent_id: { value: agent.agentId } } });
    assert.equal(kill.status, 202);
    await agent.waitFor('KILL_TASK', (msg) => msg.task_id.value === 'c');
    await agent.sendStatus(s.frameworkId!, 'c', 'TASK_KILLED');
    const m5 = await c.metrics();
    moved(m4, m5, { 'master/tasks_finished': 1, 'master/tasks_failed': 1, 'master/tasks_killed': 1, 'master/messages_kill_task': 1 });
    moved(m4, m5, { [`${fw}/tasks/terminal/task_finished`]: 1, [`${fw}/tasks/terminal/task_failed`]: 1, [`${fw}/tasks/terminal/task_killed`]: 1, [`${fw}/calls/kill`]: 1 });
    assert.equal(m5['master/tasks_running'], 0);

    // A task on an offer that is gone: TASK_LOST with its state/source/reason counter.
    const lost = await s.accept(['no-such-offer'], [taskInfo('d', agent.agentId!)]);
    assert.equal(lost.status, 202);
    await s.waitForUpdate('d', 'TASK_LOST');
    const m6 = await c.metrics();
    moved(m5, m6, { 'master/tasks_lost': 1, 'master/task_lost/source_master/reason_invalid_offers': 1 });

    // Invalid calls: an acknowledgement for an unknown agent, a message to one, an update from an unknown framework.
    await s.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'nope' }, task_id: { value: 'a' }, uuid: newUuid() } });
    await s.call({ type: 'MESSAGE', message: { agent_id: { value: 'nope' }, executor_id: { value: 'e' }, data: '' } });
    await agent.sendStatus('no-such-framework', 'x', 'TASK_RUNNING');
    const m7 = await c.metrics();
    moved(m6, m7, {
      'master/invalid_status_update_acknowledgements': 1,
      'master/messages_status_update_acknowledgement': 1,
      'master/invalid_framework_to_executor_messages': 1,
      'master/messages_framework_to_executor': 1,
      'master/invalid_status_updates': 1,
    });

    // Declines install offer filters; suppression.
    const more = await s.waitForOffers({ from: afterAccept });
    await s.call({ type: 'DECLINE', decline: { offer_ids: more.map((o: any) => o.id), filters: { refuse_seconds: 60 } } });
    await s.call({ type: 'SUPPRESS', suppress: {} });
    const m8 = await eventually(async () => {
      const m = await c.metrics();
      return m['allocator/mesos/offer_filters/roles/*/active']! >= 1 ? m : undefined;
    }, 'an offer filter in force');
    moved(m7, m8, { 'master/messages_decline_offers': 1, 'master/messages_suppress_offers': 1, [`${fw}/offers/declined`]: more.length });
    assert.equal(m8[`${fw}/roles/*/suppressed`], 1);

    // Teardown.
    await s.call({ type: 'TEARDOWN' });
    const m9 = await eventually(async () => {
      const m = await c.metrics();
      return m['master/frameworks_active'] === 0 ? m : undefined;
    }, 'the framework gone');
    moved(m8, m9, { 'master/messages_unregister_framework': 1 });
    assert.equal(m9[`${fw}/subscribed`], undefined, 'per-framework metrics go with the framework');

    // The agent stops answering pings: unreachable.
    agent.respondToPings = false;
    const m10 = await eventually(async () => {
      const m = await c.metrics();
      return m['master/slaves_unreachable'] === 1 ? m : undefined;
    }, 'the agent unreachable');
    moved(m9, m10, { 'master/slave_unreachable_completed': 1, 'master/slave_removals': 1, 'master/slave_removals/reason_unhealthy': 1 });
    assert.equal(m10['master/slaves_active'], 0);
    assert.equal(m10['master/cpus_total'], 0);

    // The history saw tasks_running go 0 → 3 → 0, in time order.
    const h = await c.get('/metrics/history?key=master/tasks_running');
    assert.equal(h.status, 200);
    assert.equal(h.body.key, 'master/tasks_running');
    const points = await eventually(async () => {
      const p = await history();
      return p.at(-1)?.[1] === 0 ? p : undefined;
    }, 'the history to record the tasks gone');
    const values = points.map((p) => p[1]);
    assert.ok(values.includes(3) && values[0] === 0, `history: ${values}`);
    const times = points.map((p) => p[0]);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    const recent = await c.get(`/metrics/history?key=master/tasks_running&since=${times.at(-1)}`);
    assert.ok(recent.body.points.length >= 1 && recent.body.points.length < times.length);
  });

  test('/metrics/history: unknown key → 404, bad or missing parameters → 400', async () => {
    const c = await startCluster({});
    cleanups.push(() => c.close());
    const unknown = await c.get('/metrics/history?key=master/no_such_metric');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.message, /no history for metric 'master\/no_such_metric'/);
    for (const q of ['', '?key=', '?key=master/elected&since=yesterday', '?key=master/elected&since=-5']) {
      const r = await c.get('/metrics/history' + q);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.code, 'BAD_REQUEST');
    }
    for (const since of ['5m', '0', String(Date.now() + 60_000)]) {
      const r = await c.get(`/metrics/history?key=master/elected&since=${since}`);
      assert.equal(r.status, 200, since);
      if (since === '0' || since === '5m') assert.deepEqual(r.body.points[0]?.[1], 1);
      else assert.deepEqual(r.body.points, []);
    }
  });

  test('counters survive a leadership term change; gauges follow the new term', async () => {
    const store = createMemoryStore({ logger: silentLogger }) as BackendStore;
    cleanups.push(() => store.close());
    const m = await startMaster({ ...FAST, store, port: 0, log: silentLogger, ha: { electionTtlMs: 1000 } });
    cleanups.push(() => m.close());
    const get = async (): Promise<Snapshot> => (await (await fetch(m.url + '/metrics/snapshot')).json()) as Snapshot;
    await eventually(async () => (await get())['master/elected'] === 1, 'elected');
    const agent = await FakeAgent.start({ masterUrl: m.url });
    cleanups.push(() => agent.close());
    await agent.register();
    const before = await get();
    assert.equal(before['master/slave_registrations'], 1);
    assert.equal(before['master/slaves_active'], 1);

    const record = await currentLeader(store, MASTER_ELECTION);
    await store.expireLease(record!.key.slice(MASTER_ELECTION.length));
    // It steps down at once and, alone, leads again: a new term that knows the agent only from the registry.
    const again = await eventually(async () => {
      const now = await currentLeader(store, MASTER_ELECTION);
      const s = await get();
      return now && now.id !== record!.id && s['master/elected'] === 1 ? s : undefined;
    }, 'a new term');
    assert.equal(again['master/slave_registrations'], 1, 'the counter kept its value');
    assert.ok(again['master/messages_register_slave']! >= 1);
    assert.ok(again['registrar/state_fetch_ms/count']! > before['registrar/state_fetch_ms/count']!, 'the new term read the registry');
    assert.equal(again['master/slaves_active'], 0);
    assert.equal(again['master/slaves_recovered'], 1);
    await agent.reregister();
    const back = await get();
    assert.equal(back['master/slave_reregistrations'], (before['master/slave_reregistrations'] ?? 0) + 1);
    assert.equal(back['master/slaves_active'], 1);
  });
});
