// The master's pure parts: state accounting (property-tested), ACCEPT
// planning, reconciliation, HTTP helpers and config parsing.
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { addResources, emptyResources, fromMesosResources, resourcesEqual, type Resources } from '../../src/core/resources.ts';
import type { TaskState } from '../../src/protocol/mesos.ts';
import { planAccept } from '../../src/master/accept.ts';
import { lostOr, masterStatus, statusFor } from '../../src/master/events.ts';
import { acceptsMediaType, mediaType } from '../../src/master/http-util.ts';
import { ipv4NetworkOrder, resolveConfig } from '../../src/master/master.ts';
import { metricsSnapshot, MasterMetrics, tasksKey } from '../../src/master/metrics.ts';
import { reconcileStatuses } from '../../src/master/reconcile.ts';
import { MasterState, newAgentEntry, taskKey, type FrameworkEntry, type OfferEntry, type TaskEntry } from '../../src/master/state.ts';
import { isValidUuidBytes } from '../../src/master/tasks.ts';
import { longTimeout } from '../../src/master/timers.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { createMemoryStore } from '../../src/store/memory.ts';

const res = (cpus: number, mem: number): Resources => fromMesosResources([
  { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
  { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
]);
const wire = (cpus: number, mem: number) => [
  { name: 'cpus', type: 'SCALAR' as const, scalar: { value: cpus } },
  { name: 'mem', type: 'SCALAR' as const, scalar: { value: mem } },
];

function world(opts: { partitionAware?: boolean } = {}) {
  const state = new MasterState();
  const agent = newAgentEntry('S0', { hostname: 'h', port: 5051, resources: wire(4, 4096), attributes: [] }, 'http://127.0.0.1:5051', 'v', res(4, 4096), 'registered', 0);
  state.agents.set('S0', agent);
  const fw = state.newFramework(
    { user: 'u', name: 'f', id: { value: 'F0' }, ...(opts.partitionAware ? { capabilities: [{ type: 'PARTITION_AWARE' as const }] } : {}) },
    0,
    { connected: true, recovered: false },
  );
  return { state, agent, fw };
}

let seq = 0;
function task(fw: FrameworkEntry, id: string, state: TaskState = 'TASK_RUNNING', r = res(1, 100)): TaskEntry {
  return {
    seq: ++seq,
    taskId: id,
    frameworkId: fw.id,
    agentId: 'S0',
    name: id,
    role: '*',
    resources: r,
    wireResources: [],
    state,
    statuses: [],
    holdsResources: false,
    unreachable: false,
    deliveryPending: false,
  };
}

function offer(id: string, r = res(1, 100), fwId = 'F0', agentId = 'S0'): OfferEntry {
  return { id, frameworkId: fwId, agentId, role: '*', resources: r, createdAt: 0 };
}

/** The accounting invariants of state.ts, recomputed from scratch. */
function checkInvariants(state: MasterState) {
  for (const agent of state.agents.values()) {
    let used = emptyResources();
    for (const t of agent.tasks.values()) if (t.holdsResources) used = addResources(used, t.resources);
    assert.ok(resourcesEqual(used, agent.used), `agent ${agent.id} used`);
    let offered = emptyResources();
    for (const id of agent.offers) offered = addResources(offered, state.offers.get(id)!.resources);
    assert.ok(resourcesEqual(offered, agent.offered), `agent ${agent.id} offered`);
  }
  for (const fw of state.frameworks.values()) {
    let alloc = emptyResources();
    for (const t of fw.tasks.values()) if (t.holdsResources) alloc = addResources(alloc, t.resources);
    for (const id of fw.offers) alloc = addResources(alloc, state.offers.get(id)!.resources);
    assert.ok(resourcesEqual(alloc, fw.allocated.get('*') ?? emptyResources()), `framework ${fw.id} allocated`);
    for (const t of fw.tasks.values()) assert.equal(t.holdsResources, !t.unreachable && !['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR'].includes(t.state));
  }
  const counts = new Map<TaskState, number>();
  for (const a of state.agents.values()) for (const t of a.tasks.values()) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  for (const [s, n] of state.stateCounts) assert.equal(n, counts.get(s) ?? 0, `count of ${s}`);
}

describe('MasterState accounting', () => {
  test('invariants hold under random sequences of task and offer operations', () => {
    const states: TaskState[] = ['TASK_STAGING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_KILLING'];
    const op = fc.oneof(
      fc.record({ k: fc.constant('add' as const), id: fc.integer({ min: 0, max: 5 }), s: fc.constantFrom(...states) }),
      fc.record({ k: fc.constant('set' as const), id: fc.integer({ min: 0, max: 5 }), s: fc.constantFrom(...states) }),
      fc.record({ k: fc.constant('complete' as const), id: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ k: fc.constant('unreachable' as const), id: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ k: fc.constant('restore' as const), id: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ k: fc.constant('offer' as const), id: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant('unoffer' as const), id: fc.integer({ min: 0, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const { state, fw } = world();
        for (const o of ops) {
          const id = `t${o.id}`;
          const t = fw.tasks.get(id) ?? fw.unreachableTasks.get(id);
          if (o.k === 'add' && !t) state.addTask(task(fw, id, o.s));
          else if (o.k === 'set' && t) state.setTaskState(t, o.s);
          else if (o.k === 'complete' && t) state.completeTask(t);
          else if (o.k === 'unreachable' && t && !t.unreachable) state.markTaskUnreachable(t);
          else if (o.k === 'restore' && t?.unreachable) state.restoreTask(t);
          else if (o.k === 'offer' && !state.offers.has(`o${o.id}`)) state.addOffer(offer(`o${o.id}`));
          else if (o.k === 'unoffer' && state.offers.has(`o${o.id}`)) state.removeOffer(state.offers.get(`o${o.id}`)!);
          checkInvariants(state);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('completed tasks and completed frameworks are bounded', () => {
    const { state, fw } = world();
    for (let i = 0; i < 1010; i++) {
      const t = task(fw, `t${i}`, 'TASK_FINISHED');
      state.addTask(t);
      state.completeTask(t);
    }
    assert.equal(fw.completedTasks.length, 1000);
    assert.equal(fw.completedTasks[0]!.taskId, 't10');
    for (let i = 0; i < 60; i++) state.retireFramework(state.newFramework({ user: 'u', name: 'n', id: { value: `X${i}` } }, 0, { connected: false, recovered: false }));
    assert.equal(state.completedFrameworks.length, 50);
    assert.ok(state.removedFrameworkIds.has('X0'));
  });
});

describe('planAccept', () => {
  const launch = (tasks: unknown[]) => [{ type: 'LAUNCH' as const, launch: { task_infos: tasks as never[] } }];
  const info = (id: string, cpus = 1, mem = 100, extra: Record<string, unknown> = {}) => ({
    name: id,
    task_id: { value: id },
    agent_id: { value: 'S0' },
    resources: wire(cpus, mem),
    command: { value: 'true' },
    ...extra,
  });

  test('valid launches consume the pool; the rest is returned as unused', () => {
    const { state } = world();
    state.addOffer(offer('o1', res(2, 1000)));
    const plan = planAccept(state, state.frameworks.get('F0')!, { offer_ids: [{ value: 'o1' }], operations: launch([info('a'), info('b', 0.5, 200)]) });
    assert.equal(plan.kind, 'ok');
    if (plan.kind !== 'ok') return;
    assert.deepEqual(plan.launches.map((l) => l.info.task_id.value), ['a', 'b']);
    assert.deepEqual(plan.unused.get('*')!.scalars, { cpus: 0.5, mem: 700 });
    // Planning changed nothing.
    assert.equal(state.offers.size, 1);
  });

  test('invalid offers: every task is lost (dropped for partition-aware), nothing is launched', () => {
    for (const pa of [false, true]) {
      const { state } = world({ partitionAware: pa });
      state.addOffer(offer('o1'));
      const fw = state.frameworks.get('F0')!;
      for (const ids of [['o1', 'o1'], ['nope'], []]) {
        const plan = planAccept(state, fw, { offer_ids: ids.map((value) => ({ value })), operations: launch([info('a')]) });
        assert.equal(plan.kind, 'invalid-offers');
        if (plan.kind !== 'invalid-offers') continue;
        assert.equal(plan.rejections[0]!.state, pa ? 'TASK_DROPPED' : 'TASK_LOST');
        assert.equal(plan.rejections[0]!.reason, 'REASON_INVALID_OFFERS');
      }
    }
    const { state } = world();
    const other = state.newFramework({ user: 'u', name: 'g', id: { value: 'F1' } }, 0, { connected: true, recovered: false });
    state.addOffer(offer('theirs', res(1, 100), 'F1'));
    const plan = planAccept(state, state.frameworks.get('F0')!, { offer_ids: [{ value: 'theirs' }], operations: launch([info('a')]) });
    assert.equal(plan.kind, 'invalid-offers');
    if (plan.kind === 'invalid-offers') assert.equal(plan.ownOffers.length, 0);
    assert.ok(other.offers.has('theirs'));
  });

  test('offers on two agents are refused', () => {
    const { state } = world();
    state.agents.set('S1', newAgentEntry('S1', { hostname: 'h2', port: 5051, resources: [], attributes: [] }, 'http://x', 'v', res(4, 4096), 'registered', 0));
    state.addOffer(offer('o1'));
    state.addOffer(offer('o2', res(1, 100), 'F0', 'S1'));
    const plan = planAccept(state, state.frameworks.get('F0')!, { offer_ids: [{ value: 'o1' }, { value: 'o2' }] });
    assert.equal(plan.kind, 'invalid-offers');
    if (plan.kind === 'invalid-offers') assert.match(plan.error, /single agent/);
  });

  test('task validation: duplicate ids, wrong agent, no command, too big, active id reuse', () => {
    const { state, fw } = world();
    state.addTask(task(fw, 'running'));
    const done = task(fw, 'done', 'TASK_FINISHED');
    state.addTask(done);
    state.addOffer(offer('o1', res(2, 1000)));
    const plan = planAccept(state, fw, {
      offer_ids: [{ value: 'o1' }],
      operations: launch([
        info('a'),
        info('a'),
        info('wrong', 0.1, 10, { agent_id: { value: 'S9' } }),
        { ...info('nocmd', 0.1, 10), command: undefined },
        info('both', 0.1, 10, { executor: { executor_id: { value: 'e' } } }),
        info('big', 5),
        info('running', 0.1, 10),
        info('done', 0.1, 10),
      ]),
    });
    assert.equal(plan.kind, 'ok');
    if (plan.kind !== 'ok') return;
    assert.deepEqual(plan.launches.map((l) => l.info.task_id.value), ['a', 'done']);
    assert.deepEqual(plan.rejections.map((r) => r.taskId), ['a', 'wrong', 'nocmd', 'both', 'big', 'running']);
    for (const r of plan.rejections) {
      assert.equal(r.state, 'TASK_ERROR');
      assert.equal(r.reason, 'REASON_TASK_INVALID');
    }
  });
});

describe('reconcileStatuses', () => {
  test('implicit and explicit answers', () => {
    const { state, fw } = world({ partitionAware: true });
    const t = task(fw, 'known');
    t.statusUpdateState = 'TASK_STARTING';
    state.addTask(t);
    state.agents.set('R', newAgentEntry('R', { hostname: 'r', port: 1, resources: [], attributes: [] }, 'http://r', 'v', res(1, 1), 'recovered', 0));
    const u = newAgentEntry('U', { hostname: 'u', port: 1, resources: [], attributes: [] }, 'http://u', 'v', res(1, 1), 'unreachable', 0);
    u.unreachableTime = 5000;
    state.agents.set('U', u);

    const implicit = reconcileStatuses(state, fw, [], 1000);
    assert.deepEqual(implicit.map((s) => [s.task_id.value, s.state]), [['known', 'TASK_STARTING']]); // status_update_state first
    assert.equal(implicit[0]!.reason, 'REASON_RECONCILIATION');
    assert.equal(implicit[0]!.uuid, undefined);

    const q = (task: string, agent?: string) => ({ task_id: { value: task }, ...(agent ? { agent_id: { value: agent } } : {}) });
    const explicit = reconcileStatuses(state, fw, [q('known'), q('x', 'S0'), q('x', 'R'), q('x', 'U'), q('x', 'nope'), q('y')], 1000);
    // y without agent: an agent is still recovering → no answer; R recovering → no answer.
    assert.deepEqual(explicit.map((s) => s.state), ['TASK_STARTING', 'TASK_GONE', 'TASK_UNREACHABLE', 'TASK_UNKNOWN']);
    assert.equal(explicit[2]!.unreachable_time?.nanoseconds, 5000 * 1e6);

    state.agents.delete('R');
    const legacy = state.newFramework({ user: 'u', name: 'l', id: { value: 'L' } }, 0, { connected: true, recovered: false });
    assert.deepEqual(reconcileStatuses(state, legacy, [q('x', 'S0'), q('x', 'U'), q('y')], 0).map((s) => s.state), ['TASK_LOST', 'TASK_LOST', 'TASK_LOST']);
  });
});

describe('helpers', () => {
  test('partition-awareness conversion', () => {
    assert.equal(lostOr({ partitionAware: true }, 'TASK_DROPPED'), 'TASK_DROPPED');
    assert.equal(lostOr({ partitionAware: false }, 'TASK_DROPPED'), 'TASK_LOST');
    const s = masterStatus({ taskId: 't', state: 'TASK_GONE', reason: 'REASON_AGENT_REMOVED', message: 'm', now: 2000 });
    assert.equal(statusFor({ partitionAware: false }, s).state, 'TASK_LOST');
    assert.equal(statusFor({ partitionAware: true }, s), s);
    assert.equal(s.timestamp, 2);
  });

  test('media types and Accept negotiation', () => {
    assert.equal(mediaType('Application/JSON; charset=utf-8'), 'application/json');
    assert.equal(mediaType(''), undefined);
    assert.ok(acceptsMediaType(undefined, 'application/json'));
    assert.ok(acceptsMediaType('*/*', 'application/json'));
    assert.ok(acceptsMediaType('application/*;q=0.5', 'application/json'));
    assert.ok(acceptsMediaType('text/html, application/json', 'application/json'));
    assert.ok(!acceptsMediaType('application/x-protobuf', 'application/json'));
    assert.ok(!acceptsMediaType('application/json;q=0, */*', 'application/json'));
    assert.ok(!acceptsMediaType('text/plain', 'application/json'));
  });

  test('uuid validation, IPv4 encoding, config', () => {
    assert.ok(isValidUuidBytes(Buffer.alloc(16, 7).toString('base64')));
    assert.ok(!isValidUuidBytes(Buffer.alloc(15).toString('base64')));
    assert.ok(!isValidUuidBytes('!!!!'));
    assert.equal(ipv4NetworkOrder('127.0.0.1'), 16777343);
    assert.equal(ipv4NetworkOrder('localhost'), 0);
    const cfg = resolveConfig({ store: createMemoryStore() });
    assert.deepEqual(cfg.minAllocatable, [{ cpus: 0.01 }, { mem: 32 }]);
    assert.equal(cfg.allocationIntervalMs, 1000);
    assert.deepEqual(resolveConfig({ store: createMemoryStore(), minAllocatableResources: 'disk:1|cpus:1;mem:32' }).minAllocatable, [{ disk: 1 }, { cpus: 1, mem: 32 }]);
    assert.throws(() => resolveConfig({ store: createMemoryStore(), allocationIntervalMs: -1 }));
    assert.throws(() => resolveConfig({ store: createMemoryStore(), minAllocatableResources: 'cpus:x' }));
    // The advertised hostname: --hostname, else the bind address, but never a wildcard one.
    assert.equal(resolveConfig({ store: createMemoryStore() }).hostname, '127.0.0.1');
    assert.equal(resolveConfig({ store: createMemoryStore(), host: '10.1.2.3' }).hostname, '10.1.2.3');
    assert.equal(resolveConfig({ store: createMemoryStore(), host: '0.0.0.0' }).hostname, os.hostname());
    assert.equal(resolveConfig({ store: createMemoryStore(), host: '0.0.0.0', hostname: 'm1.example' }).hostname, 'm1.example');
  });

  test('long timeouts are armed in chunks on the injected clock', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    const t = longTimeout(clock, () => fired++, 3 * 2 ** 31);
    clock.advance(2 ** 32);
    assert.equal(fired, 0);
    clock.advance(2 ** 31 + 10);
    assert.equal(fired, 1);
    const t2 = longTimeout(clock, () => fired++, 10);
    t2.cancel();
    clock.advance(100);
    assert.equal(fired, 1);
    t.cancel();
  });

  test('metrics snapshot computes gauges from state', () => {
    const { state, fw } = world();
    state.addTask(task(fw, 'r1', 'TASK_RUNNING', res(1, 100)));
    state.addTask(task(fw, 's1', 'TASK_STAGING', res(1, 100)));
    state.addOffer(offer('o1', res(1, 0)));
    const metrics = new MasterMetrics();
    metrics.taskTransition('TASK_LOST', 'SOURCE_MASTER', 'REASON_AGENT_REMOVED');
    const snap = metricsSnapshot({ state, metrics, now: 5000, startTime: 1000 });
    assert.equal(snap['master/cpus_total'], 4);
    assert.equal(snap['master/cpus_used'], 3);
    assert.equal(snap['master/cpus_percent'], 0.75);
    assert.equal(snap['master/tasks_running'], 1);
    assert.equal(snap['master/tasks_staging'], 1);
    assert.equal(snap['master/tasks_lost'], 1);
    assert.equal(snap['master/task_lost/source_master/reason_slave_removed'], 1);
    assert.equal(snap['master/uptime_secs'], 4);
    assert.equal(snap['master/outstanding_offers'], 1);
    assert.equal(tasksKey('TASK_GONE_BY_OPERATOR'), 'master/tasks_gone_by_operator');
    assert.equal(taskKey('a', 'b'), 'a\u0000b');
  });
});
