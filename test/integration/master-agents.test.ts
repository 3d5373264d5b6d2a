// Agent side of the master over real HTTP: registration, health checks and
// unreachability, re-registration (healing, adoption of unknown frameworks),
// launch delivery failures, removal, and a master restart on the same store.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startMaster } from '../../src/master/index.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore } from '../../src/store/memory.ts';
import { eventually, FakeAgent, FAST, postJson, startCluster, taskInfo, TestScheduler, type TestCluster } from '../support/fake-agent.ts';

const clusters: TestCluster[] = [];
async function cluster(opts: Parameters<typeof startCluster>[0] = {}): Promise<TestCluster> {
  const c = await startCluster(opts);
  clusters.push(c);
  return c;
}
after(async () => {
  for (const c of clusters) await c.close();
});

const PA = [{ type: 'PARTITION_AWARE' as const }];

const usedOffers = new Set<string>();

/** Launches `id` on an offer the scheduler has not used yet (reviving to get one), and brings it to RUNNING. */
async function launchRunning(s: TestScheduler, a: FakeAgent, id: string): Promise<void> {
  const fresh = (e: { type: string; [k: string]: any }) => e.type === 'OFFERS' && e.offers.offers.some((o: any) => !usedOffers.has(o.id.value));
  if (!s.events.some(fresh)) await s.call({ type: 'REVIVE' });
  const ev = await s.waitFor(fresh, { what: 'an unused offer' });
  const offer = ev.offers.offers.find((o: any) => !usedOffers.has(o.id.value));
  usedOffers.add(offer.id.value);
  const mark = s.mark();
  await s.accept([offer.id.value], [taskInfo(id, offer.agent_id.value)]);
  await a.waitFor('RUN_TASK', (m) => m.task.task_id.value === id);
  await a.sendStatus(s.frameworkId!, id, 'TASK_RUNNING');
  await s.waitForUpdate(id, 'TASK_RUNNING', { from: mark });
}

describe('registration', () => {
  test('REGISTER_AGENT assigns <masterId>-S<n>, persists it, and pings follow', async () => {
    const c = await cluster();
    const a = await c.addAgent();
    const b = await c.addAgent();
    assert.equal(a.agentId, `${a.masterId}-S0`);
    assert.equal(b.agentId, `${a.masterId}-S1`);
    const kv = await c.store.get(`/corral/registry/agents/${a.agentId}`);
    assert.ok(kv, 'agent persisted in the registry');
    assert.equal(JSON.parse(kv!.value).endpoint, a.url);
    await a.waitFor('PING', (m) => m.agent_id.value === a.agentId);
    const m = await c.metrics();
    assert.equal(m['master/slave_registrations'], 2);
    assert.equal(m['master/slaves_active'], 2);
    assert.equal(m['master/cpus_total'], 8);
  });

  test('a new agent registering at the address of a registered one replaces it (its tasks are gone)', async () => {
    const c = await cluster();
    const s = await c.scheduler({ capabilities: PA });
    const a = await c.addAgent();
    await launchRunning(s, a, 'on-old');
    const mark = s.mark();
    const res = await a.post({
      type: 'REGISTER_AGENT',
      agent_info: { hostname: 'fake-agent.local', port: Number(new URL(a.url).port), resources: a.resources, attributes: [] },
      endpoint: a.url,
      version: '1.11.0',
    });
    assert.equal(res.body.type, 'REGISTERED');
    assert.notEqual(res.body.agent_id.value, a.agentId);
    const gone = await s.waitForUpdate('on-old', undefined, { from: mark });
    assert.equal(gone.state, 'TASK_GONE');
    assert.equal(gone.reason, 'REASON_AGENT_REMOVED');
    const m = await c.metrics();
    assert.equal(m['master/slave_removals/reason_registered'], 1);
    assert.equal(m['master/slaves_active'], 1);
    assert.equal(m['master/tasks_gone'], 1);
  });

  test('malformed agent messages → 400; the master stays up', async () => {
    const c = await cluster();
    const url = c.master.url + '/internal/v1/agent';
    for (const body of ['{', '[]', '{"type":"REGISTER_AGENT"}', '{"type":"NOPE"}', JSON.stringify({ type: 'STATUS_UPDATE', agent_id: { value: 'x' }, update: {} })]) {
      const res = await postJson(url, body);
      assert.equal(res.status, 400, body);
    }
    const neg = await postJson(url, {
      type: 'REGISTER_AGENT',
      agent_info: { hostname: 'h', port: 1, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -4 } }] },
      endpoint: 'http://127.0.0.1:1',
      version: 'x',
    });
    assert.equal(neg.status, 400);
    assert.equal((await c.get('/health')).status, 200);
  });

  test('messages from an unknown agent ask it to re-register; UNREGISTER_AGENT removes it for good', async () => {
    const c = await cluster();
    const unknown = await postJson(c.master.url + '/internal/v1/agent', { type: 'PONG', agent_id: { value: 'who' } });
    assert.equal(unknown.body.type, 'REREGISTER_REQUIRED');
    const s = await c.scheduler();
    const a = await c.addAgent();
    await s.waitForOffers();
    const mark = s.mark();
    const res = await a.post({ type: 'UNREGISTER_AGENT', agent_id: { value: a.agentId } });
    assert.deepEqual(res.body, { type: 'ACCEPTED' });
    await s.waitFor((e) => e.type === 'RESCIND', { from: mark });
    await s.waitFor((e) => e.type === 'FAILURE' && e.failure.agent_id.value === a.agentId, { from: mark });
    assert.equal(await c.store.get(`/corral/registry/agents/${a.agentId}`).then((kv) => kv ?? 'gone'), 'gone');
    assert.equal((await a.reregister()).type, 'SHUTDOWN');
    const st = await a.sendStatus('fw', 't', 'TASK_RUNNING');
    assert.equal(st.reply.type, 'SHUTDOWN');
    const m = await c.metrics();
    assert.equal(m['master/slave_removals/reason_unregistered'], 1);
    assert.equal(m['master/slaves_active'], 0);
  });
});

describe('health checks', () => {
  test('an agent that stops answering PINGs becomes unreachable: UNREACHABLE for PA, LOST for others, FAILURE, offers rescinded', async () => {
    const c = await cluster();
    const pa = await c.scheduler({ name: 'pa', capabilities: PA });
    const a = await c.addAgent({ cpus: 8, mem: 8192 });
    await launchRunning(pa, a, 'pa-task');
    const legacy = await c.scheduler({ name: 'legacy' });
    await launchRunning(legacy, a, 'legacy-task');
    const reviveMark = pa.mark();
    await pa.call({ type: 'REVIVE' });
    await pa.waitForOffers({ from: reviveMark });
    assert.equal((await c.metrics())['master/outstanding_offers'], 1);

    const paMark = pa.mark();
    const legacyMark = legacy.mark();
    a.respondToPings = false;
    const u1 = await pa.waitForUpdate('pa-task', undefined, { from: paMark, timeoutMs: 5000 });
    assert.equal(u1.state, 'TASK_UNREACHABLE');
    assert.equal(u1.reason, 'REASON_AGENT_REMOVED');
    assert.equal(u1.source, 'SOURCE_MASTER');
    assert.ok(u1.unreachable_time?.nanoseconds > 0);
    const u2 = await legacy.waitForUpdate('legacy-task', undefined, { from: legacyMark });
    assert.equal(u2.state, 'TASK_LOST');
    assert.equal(u2.reason, 'REASON_AGENT_REMOVED');
    await pa.waitFor((e) => e.type === 'FAILURE' && e.failure.agent_id.value === a.agentId, { from: paMark });
    await legacy.waitFor((e) => e.type === 'FAILURE', { from: legacyMark });

    let m = await c.metrics();
    assert.equal(m['master/slaves_unreachable'], 1);
    assert.equal(m['master/slaves_active'], 0);
    assert.equal(m['master/tasks_unreachable'], 1);
    assert.equal(m['master/tasks_lost'], 1);
    assert.equal(m['master/tasks_running'], 0);
    assert.equal(m['master/outstanding_offers'], 0);
    assert.equal(m['master/task_unreachable/source_master/reason_slave_removed'], 1);
    assert.equal(m['master/slave_unreachable_completed'], 1);

    // Reconciliation knows the task is unreachable.
    const r = pa.mark();
    await pa.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'pa-task' } }] } });
    assert.equal((await pa.waitForUpdate('pa-task', undefined, { from: r })).state, 'TASK_UNREACHABLE');

    // The partition heals: the agent's messages are refused until it re-registers, then its tasks are back.
    a.respondToPings = true;
    const refused = await a.sendStatus(pa.frameworkId!, 'pa-task', 'TASK_RUNNING');
    assert.equal(refused.reply.type, 'REREGISTER_REQUIRED');
    const healMark = pa.mark();
    const legacyHeal = legacy.mark();
    assert.equal((await a.reregister()).type, 'REREGISTERED');
    const back = await pa.waitForUpdate('pa-task', 'TASK_RUNNING', { from: healMark });
    assert.equal(back.reason, 'REASON_AGENT_REREGISTERED');
    const r2 = pa.mark();
    await pa.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'pa-task' } }] } });
    assert.equal((await pa.waitForUpdate('pa-task', undefined, { from: r2 })).state, 'TASK_RUNNING', 'reconciliation after the heal');
    await legacy.waitForUpdate('legacy-task', 'TASK_RUNNING', { from: legacyHeal });
    m = await c.metrics();
    assert.equal(m['master/slaves_unreachable'], 0);
    assert.equal(m['master/tasks_running'], 2);
    assert.equal(m['master/slave_reregistrations'], 1);
    const st = (await c.get('/master/state')).body;
    const fw = st.frameworks.find((f: any) => f.id === pa.frameworkId);
    assert.deepEqual(fw.tasks.map((t: any) => t.state), ['TASK_RUNNING']);
    assert.equal(fw.unreachable_tasks.length, 0);
  });

  test('a RUN_TASK the agent cannot take → TASK_DROPPED (PA) / TASK_LOST', async () => {
    const c = await cluster();
    const s = await c.scheduler({ capabilities: PA });
    const a = await c.addAgent();
    a.acceptTasks = false;
    const [offer] = await s.waitForOffers();
    await s.accept([offer.id.value], [taskInfo('undeliverable', a.agentId!)]);
    const st = await s.waitForUpdate('undeliverable');
    assert.equal(st.state, 'TASK_DROPPED');
    assert.equal(st.reason, 'REASON_AGENT_DISCONNECTED');
    const m = await c.metrics();
    assert.equal(m['master/tasks_dropped'], 1);
    assert.equal(m['master/cpus_used'] <= 4, true);
  });
});

describe('re-registration and master restart', () => {
  test('a re-registering agent adopts tasks of a framework the master does not know; SUBSCRIBE re-attaches', async () => {
    const c = await cluster();
    const a = await c.addAgent();
    const fwId = 'orphan-framework-0001';
    const reply = await a.reregister({
      tasks: [
        {
          name: 'old',
          task_id: { value: 'old-task' },
          framework_id: { value: fwId },
          agent_id: { value: a.agentId! },
          state: 'TASK_RUNNING',
          resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }],
          statuses: [],
        },
      ],
      frameworks: [{ user: 'u', name: 'orphan', id: { value: fwId }, failover_timeout: 3600 }],
    });
    assert.equal(reply.type, 'REREGISTERED');
    let fw = (await c.get('/master/frameworks')).body.frameworks[0];
    assert.equal(fw.id, fwId);
    assert.equal(fw.connected, false);
    assert.equal(fw.recovered, true);
    assert.equal(fw.tasks[0].id, 'old-task');
    assert.equal((await c.metrics())['master/cpus_used'], 1);

    const s = new TestScheduler(c.master.url);
    const first: any = await s.subscribe({ user: 'u', name: 'orphan', id: { value: fwId }, failover_timeout: 3600 });
    assert.equal(first.type, 'SUBSCRIBED');
    assert.equal(first.subscribed.framework_id.value, fwId);
    fw = (await c.get('/master/frameworks')).body.frameworks[0];
    assert.equal(fw.connected, true);
    assert.equal(fw.recovered, false);
    const r = s.mark();
    await s.call({ type: 'RECONCILE', reconcile: {} });
    assert.equal((await s.waitForUpdate('old-task', undefined, { from: r })).state, 'TASK_RUNNING');
    const [offer] = await s.waitForOffers();
    assert.equal(offer.resources.find((x: any) => x.name === 'cpus').scalar.value, 3);
    s.disconnect();
  });

  test('master restart on the same store: the agent re-registers with its tasks, the framework resubscribes and sees them', async () => {
    const store = createMemoryStore({ logger: silentLogger });
    const m1 = await startMaster({ ...FAST, store, port: 0, log: silentLogger });
    const a = await FakeAgent.start({ masterUrl: m1.url });
    let s: TestScheduler | undefined;
    let m2: Awaited<ReturnType<typeof startMaster>> | undefined;
    try {
      await a.register();
      s = new TestScheduler(m1.url);
      await s.subscribe({ user: 'u', name: 'survivor', failover_timeout: 3600, checkpoint: true });
      const fwId = s.frameworkId!;
      const [offer] = await s.waitForOffers();
      await s.accept([offer.id.value], [taskInfo('durable', a.agentId!)]);
      await a.waitFor('RUN_TASK');
      await a.sendStatus(fwId, 'durable', 'TASK_RUNNING');
      await s.waitForUpdate('durable', 'TASK_RUNNING');
      s.disconnect();
      await m1.close();

      m2 = await startMaster({ ...FAST, store, port: 0, log: silentLogger });
      const get = async (p: string) => (await fetch(m2!.url + p)).json() as Promise<any>;
      let st = await get('/master/state');
      assert.equal(st.recovered_slaves[0].id, a.agentId);
      assert.equal(st.frameworks[0].id, fwId);
      assert.equal(st.frameworks[0].recovered, true);

      // The framework comes back first: while the agent is recovering, explicit reconciliation stays silent.
      const s2 = new TestScheduler(m2.url);
      const first: any = await s2.subscribe({ user: 'u', name: 'survivor', failover_timeout: 3600, checkpoint: true, id: { value: fwId } });
      assert.equal(first.type, 'SUBSCRIBED');
      s = s2;
      await s2.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'durable' } }] } });

      const reply = await a.reregister({ masterUrl: m2.url });
      assert.equal(reply.type, 'REREGISTERED');
      st = await get('/master/state');
      assert.equal(st.slaves[0].id, a.agentId);
      const fw = st.frameworks.find((f: any) => f.id === fwId);
      assert.equal(fw.connected, true);
      assert.deepEqual(fw.tasks.map((t: any) => [t.id, t.state]), [['durable', 'TASK_RUNNING']]);
      const mark = s2.mark();
      await s2.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'durable' } }] } });
      assert.equal((await s2.waitForUpdate('durable', undefined, { from: mark })).state, 'TASK_RUNNING');
      // The silent answer from before the agent came back never arrived.
      assert.equal(s2.events.slice(0, mark).filter((e) => e.type === 'UPDATE').length, 0);
      const metrics: any = await get('/metrics/snapshot');
      assert.equal(metrics['master/slave_reregistrations'], 1);
      assert.equal(metrics['master/tasks_running'], 1);
      // New work lands on the re-registered agent.
      const [offer2] = await s2.waitForOffers();
      assert.equal(offer2.agent_id.value, a.agentId);
    } finally {
      s?.disconnect();
      await m2?.close();
      await m1.close();
      await a.close();
    }
  });

  test('registry agents that do not re-register in time become unreachable', async () => {
    const store = createMemoryStore({ logger: silentLogger });
    const m1 = await startMaster({ ...FAST, store, port: 0, log: silentLogger });
    const a = await FakeAgent.start({ masterUrl: m1.url });
    await a.register();
    await m1.close();
    await a.close();
    const m2 = await startMaster({ ...FAST, agentReregisterTimeoutMs: 100, store, port: 0, log: silentLogger });
    try {
      const metrics = () => fetch(m2.url + '/metrics/snapshot').then((r) => r.json() as Promise<any>);
      await eventually(async () => (await metrics())['master/slaves_unreachable'] === 1, 'agent unreachable after the deadline');
      const m = await metrics();
      assert.equal(m['master/recovery_slave_removals'], 1);
      const kv = await store.get(`/corral/registry/agents/${a.agentId}`);
      assert.equal(typeof JSON.parse(kv!.value).unreachable_time, 'number');
    } finally {
      await m2.close();
    }
  });
});
