// HA masters in one process over real HTTP, sharing one memory store: exactly one leads, followers
// redirect (307 to the leader, /master/redirect), a new leader takes over when the leader goes,
// recovers the registry (agents re-register, frameworks re-subscribe with their ids, tasks of agents
// that never return become unreachable), and a deposed leader that did not notice its loss is
// fenced off the registry and steps down.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { currentLeader, MASTER_ELECTION } from '../../src/coordination/leader.ts';
import { startMaster, type LeadershipEvent, type MasterHandle, type MasterOptions } from '../../src/master/index.ts';
import { AGENT_MESSAGE_PATH } from '../../src/protocol/internal.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore, type BackendStore, type Store } from '../../src/store/index.ts';
import { eventually, FakeAgent, postJson, scalar, taskInfo, TestScheduler } from '../support/fake-agent.ts';
import { DeafStore } from '../support/deaf-store.ts';

const OPTS: Partial<MasterOptions> = {
  allocationIntervalMs: 50,
  agentPingTimeoutMs: 200,
  maxAgentPingTimeouts: 3,
  heartbeatIntervalSeconds: 1,
  agentReregisterTimeoutMs: 1500,
};
const TTL_MS = 3000;

interface Member {
  m: MasterHandle;
  events: LeadershipEvent[];
}

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function startMember(store: Store): Promise<Member> {
  const events: LeadershipEvent[] = [];
  const m = await startMaster({ ...OPTS, store, port: 0, log: silentLogger, ha: { electionTtlMs: TTL_MS, onLeadership: (e) => events.push(e) } });
  cleanups.push(() => m.close());
  return { m, events };
}

function newStore(): BackendStore {
  const store = createMemoryStore({ logger: silentLogger }) as BackendStore;
  cleanups.push(() => store.close());
  return store;
}

async function metrics(url: string): Promise<Record<string, number>> {
  const res = await fetch(url + '/metrics/snapshot');
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, number>;
}

/** Waits until exactly one of `members` reports master/elected = 1 and the others 0. */
async function theLeader(members: Member[], timeoutMs = 3000): Promise<Member> {
  return eventually(
    async () => {
      const flags = await Promise.all(members.map(async (x) => (await metrics(x.m.url))['master/elected']));
      if (flags.some((f) => f !== 0 && f !== 1)) throw new Error(`bad master/elected values ${flags}`);
      return flags.filter((f) => f === 1).length === 1 ? members[flags.indexOf(1)] : undefined;
    },
    'exactly one elected master',
    timeoutMs,
  );
}

function post(url: string, body: unknown, redirect: RequestRedirect = 'manual'): Promise<Response> {
  return fetch(url, { method: 'POST', redirect, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });
}

const SUBSCRIBE = { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'ha-test' } } };


describe('HA masters (3 in one process, one memory store)', () => {
  test('exactly one leads; followers answer 307 to the leader; /master/redirect everywhere; lease expiry deposes', async () => {
    const store = newStore();
    const members = await Promise.all([0, 1, 2].map(() => startMember(store)));
    const leader = await theLeader(members);
    const followers = members.filter((x) => x !== leader);
    assert.deepEqual(
      members.map((x) => x.m.isLeading()),
      members.map((x) => x === leader),
    );
    assert.equal(leader.events[0]?.event, 'elected');
    const record = await currentLeader(store, MASTER_ELECTION);
    assert.equal(record?.url, leader.m.url);

    for (const f of followers) {
      const sub = await post(f.m.url + '/api/v1/scheduler', SUBSCRIBE);
      assert.equal(sub.status, 307);
      assert.equal(sub.headers.get('location'), leader.m.url + '/api/v1/scheduler');
      const op = await post(f.m.url + '/master/api/v1', { type: 'GET_STATE' });
      assert.equal(op.status, 307);
      assert.equal(op.headers.get('location'), leader.m.url + '/master/api/v1');
      const state = await fetch(f.m.url + '/master/state?jsonp=cb', { redirect: 'manual' });
      assert.equal(state.status, 307);
      assert.equal(state.headers.get('location'), leader.m.url + '/master/state?jsonp=cb');
      const agentMsg = await post(f.m.url + AGENT_MESSAGE_PATH, { type: 'PONG', agent_id: { value: 'x' } });
      assert.equal(agentMsg.status, 307);
      assert.equal(agentMsg.headers.get('location'), leader.m.url + AGENT_MESSAGE_PATH);
      assert.equal((await fetch(f.m.url + '/health')).status, 200);
      // A client that follows the redirect (the body is re-sent on 307) is answered by the leader.
      const followed = await post(f.m.url + '/api/v1', { type: 'GET_MASTER' }, 'follow');
      assert.equal(followed.status, 200);
      const body = (await followed.json()) as any;
      assert.equal(body.get_master.master_info.id, record?.id);
      assert.equal(body.get_master.master_info.port, leader.m.port);
    }
    for (const x of members) {
      const r = await fetch(x.m.url + '/master/redirect', { redirect: 'manual' });
      assert.equal(r.status, 307);
      assert.equal(r.headers.get('location'), `//127.0.0.1:${leader.m.port}`);
    }

    // The leader's lease expires: it notices at once, steps down and another master leads.
    await store.expireLease(record!.key.slice(MASTER_ELECTION.length));
    const next = await theLeader(members);
    assert.notEqual(next, leader);
    await eventually(async () => leader.events.some((e) => e.event === 'deposed'), 'the old leader reports it was deposed');
    const deposed = leader.events.find((e) => e.event === 'deposed') as Extract<LeadershipEvent, { event: 'deposed' }>;
    assert.match(deposed.reason, /lease lost|election key deleted/);
    assert.equal(leader.m.isLeading(), false);
    const res = await post(leader.m.url + '/api/v1/scheduler', SUBSCRIBE);
    assert.equal(res.status, 307);
    assert.equal(res.headers.get('location'), next.m.url + '/api/v1/scheduler');
  });

  test('the leader goes → another leads, agents re-register, frameworks re-subscribe; an agent that never returns → TASK_UNREACHABLE', async () => {
    const store = newStore();
    const members = await Promise.all([0, 1, 2].map(() => startMember(store)));
    const l1 = await theLeader(members);
    const a = await FakeAgent.start({ masterUrl: l1.m.url, hostname: 'a' });
    const b = await FakeAgent.start({ masterUrl: l1.m.url, hostname: 'b' });
    cleanups.push(() => a.close(), () => b.close());
    await a.register();
    await b.register();
    const firstMasterId = a.masterId!;

    const s1 = new TestScheduler(l1.m.url);
    cleanups.push(async () => s1.disconnect());
    await s1.subscribe({ user: 'u', name: 'ha', failover_timeout: 3600, capabilities: [{ type: 'PARTITION_AWARE' }] });
    const fwId = s1.frameworkId!;
    const offers = new Map<string, string>();
    await eventually(async () => {
      for (const e of s1.events) if (e.type === 'OFFERS') for (const o of e.offers.offers) offers.set(o.agent_id.value, o.id.value);
      return offers.has(a.agentId!) && offers.has(b.agentId!);
    }, 'offers from both agents');
    const res = [scalar('cpus', 0.1), scalar('mem', 32)];
    for (const [agent, task] of [
      [a, 't-a'],
      [b, 't-b'],
    ] as const) {
      assert.equal((await s1.accept([offers.get(agent.agentId!)!], [taskInfo(task, agent.agentId!, res)])).status, 202);
      await agent.waitFor('RUN_TASK', (m) => m.task.task_id.value === task);
      await agent.sendStatus(fwId, task, 'TASK_RUNNING');
      await s1.waitForUpdate(task, 'TASK_RUNNING');
    }

    // The leader goes away (closing resigns: the next one leads at once, well within the TTL).
    const goneAt = Date.now();
    await l1.m.close();
    const rest = members.filter((x) => x !== l1);
    const l2 = await theLeader(rest);
    assert.ok(Date.now() - goneAt < TTL_MS + 1000, `new leader after ${Date.now() - goneAt} ms`);
    await s1.waitForEnd();
    const follower = rest.find((x) => x !== l2)!;

    // The new leader pings the agents it recovered from the registry under a new master id; agent a
    // re-registers, through a follower (which redirects it); agent b never comes back.
    await b.close();
    const ping = await a.waitFor('PING', (m) => m.master_id !== firstMasterId);
    const reply = await a.reregister({ masterUrl: follower.m.url });
    assert.equal(reply.type, 'REREGISTERED');
    assert.equal(a.masterId, ping.master_id);

    const s2 = new TestScheduler(l2.m.url);
    cleanups.push(async () => s2.disconnect());
    const sub = (await s2.subscribe({ id: { value: fwId }, user: 'u', name: 'ha', failover_timeout: 3600, capabilities: [{ type: 'PARTITION_AWARE' }] })) as any;
    assert.equal(sub.type, 'SUBSCRIBED');
    assert.equal(sub.subscribed.framework_id.value, fwId);
    assert.equal(sub.subscribed.master_info.id, ping.master_id);

    const reconcile = () =>
      s2.call({
        type: 'RECONCILE',
        reconcile: {
          tasks: [
            { task_id: { value: 't-a' }, agent_id: { value: a.agentId } },
            { task_id: { value: 't-b' }, agent_id: { value: b.agentId } },
          ],
        },
      });
    const mark = s2.mark();
    assert.equal((await reconcile()).status, 202);
    assert.equal((await s2.waitForUpdate('t-a', 'TASK_RUNNING', { from: mark })).reason, 'REASON_RECONCILIATION');
    // After agentReregisterTimeoutMs, the agent that never re-registered is unreachable, and so are its tasks.
    const unreachable = await eventually(
      async () => {
        const from = s2.mark();
        await reconcile();
        return s2.waitForUpdate('t-b', undefined, { from, timeoutMs: 300 }).catch(() => undefined);
      },
      'a reconciliation answer for t-b',
      OPTS.agentReregisterTimeoutMs! + 3000,
    );
    assert.equal(unreachable.state, 'TASK_UNREACHABLE');
    const m = await metrics(l2.m.url);
    assert.equal(m['master/slaves_unreachable'], 1);
    assert.equal(m['master/slaves_active'], 1);
    assert.equal(m['master/recovery_slave_removals'], 1);
    assert.equal(m['master/tasks_running'], 1);
  });

  test('a leader that missed losing its lease is fenced off the registry and steps down', async () => {
    const store = newStore();
    const deaf = new DeafStore(store);
    const a = await startMember(deaf);
    await theLeader([a]);
    const x = await FakeAgent.start({ masterUrl: a.m.url, hostname: 'x' });
    cleanups.push(() => x.close());
    await x.register();
    const aMasterId = x.masterId!;
    const others = [await startMember(store), await startMember(store)];
    assert.equal((await theLeader([a, ...others])).m, a.m);
    const masterKey = '/corral/registry/master';
    const before = await store.get(masterKey);
    assert.ok(before, 'the leader wrote its MasterInfo');

    // A is "paused": its lease expires without it hearing of it, and another master is elected.
    deaf.deaf = true;
    const record = await currentLeader(store, MASTER_ELECTION);
    await store.expireLease(record!.key.slice(MASTER_ELECTION.length));
    const b = await eventually(
      async () => {
        const flags = await Promise.all(others.map(async (x) => (await metrics(x.m.url))['master/elected']));
        return flags.includes(1) ? others[flags.indexOf(1)] : undefined;
      },
      'a new leader among the others',
    );
    assert.equal((await metrics(a.m.url))['master/elected'], 1, 'A still believes it leads');
    const newInfo = await eventually(async () => {
      const kv = await store.get(masterKey);
      return kv && kv.revision !== before!.revision ? kv : undefined;
    }, 'the new leader’s MasterInfo');

    // A "wakes up" and acts: an agent registers with it. The registry write is fenced off: A answers
    // 503, writes nothing, and steps down.
    const agent = await FakeAgent.start({ masterUrl: a.m.url, hostname: 'late' });
    cleanups.push(() => agent.close());
    const r = await postJson(a.m.url + AGENT_MESSAGE_PATH, {
      type: 'REGISTER_AGENT',
      agent_info: { hostname: 'late', port: 1, resources: [scalar('cpus', 1), scalar('mem', 64)], attributes: [] },
      endpoint: agent.url,
      version: '1.11.0',
    });
    assert.equal(r.status, 503, r.text);
    assert.match(r.text, /persist/);
    await eventually(async () => !a.m.isLeading(), 'A steps down');
    assert.equal((await metrics(a.m.url))['master/elected'], 0);
    const deposed = a.events.find((e) => e.event === 'deposed') as Extract<LeadershipEvent, { event: 'deposed' }> | undefined;
    assert.match(deposed?.reason ?? '', /fenced/);
    const agents = await store.range('/corral/registry/agents/');
    assert.ok(!agents.some((kv) => JSON.parse(kv.value).endpoint === agent.url), 'nothing written by the deposed leader');
    assert.equal((await store.get(masterKey))?.revision, newInfo.revision, 'the registry is untouched by the deposed leader');

    // Nothing from A's term reaches agents any more: agent x hears only the new leader's pings.
    const bPing = await x.waitFor('PING', (m) => m.master_id !== aMasterId, { from: x.mark() });
    const mark = x.mark();
    for (let i = 0; i < 3; i++) await x.waitFor('PING', (m) => m.master_id === bPing.master_id, { from: x.mark() });
    assert.deepEqual(
      x.received.slice(mark).filter((m) => m.master_id === aMasterId),
      [],
      'no message from the deposed term',
    );

    // Once A hears again, it redirects to the new leader.
    deaf.hear();
    await eventually(async () => {
      const res = await post(a.m.url + '/api/v1/scheduler', SUBSCRIBE);
      return res.status === 307 && res.headers.get('location') === b.m.url + '/api/v1/scheduler';
    }, 'A redirects to the new leader');
    assert.equal((await theLeader([a, ...others])).m, b.m);
  });
});
