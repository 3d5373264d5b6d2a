// Losing etcd quorum, with real processes: a 3-member etcd, three `corral master --store etcd://…`,
// one `corral agent --master etcd://…` and a scheduler in this process running one long task. Two of
// the three etcd members are killed: the leading master steps down within about the election TTL,
// every master then answers 503 and decides nothing, the task keeps running under its agent (which
// keeps trying, with backoff, to reach a master), and nothing crashes. The members come back: a
// leader is elected, the agent re-registers, the scheduler re-subscribes with its framework id, and
// reconciliation finds the same task RUNNING. No registry write of the deposed term ever lands.
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import { createMasterLocator } from '../../src/client/master-locator.ts';
import { SchedulerClient, type SchedulerEvent } from '../../src/client/scheduler-client.ts';
import { leaderAmong, MASTER_ELECTION } from '../../src/coordination/leader.ts';
import { isTerminalState, type FrameworkInfo, type Offer, type TaskStatus } from '../../src/protocol/mesos.ts';
import { openStore } from '../../src/store/open.ts';
import type { KeyValue, Store, WatchEvent } from '../../src/store/store.ts';
import { eventually, processAlive } from '../support/cluster.ts';
import { assertTaskSurvived, cleanupList, startHaProcs } from '../support/ha-procs.ts';
import { startEtcd, waitForHealth } from '../support/etcd.ts';

const TTL_MS = 1000; // etcd's minimum here (the test cluster's election timeout is 500 ms)
const SLACK_MS = 3000; // keep-alive period, process scheduling on a busy 2-core machine
/** How long the cluster stays without quorum once every master has stepped down. */
const OUTAGE_MS = 3000;
const REGISTRY = '/corral/registry/';

const cleanups = cleanupList();


/** Status and JSON body of a GET that does not follow redirects; undefined when nothing answers. */
async function get(url: string): Promise<{ status: number; body: any } | undefined> {
  try {
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(1500) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body };
  } catch {
    return undefined;
  }
}

const elected = async (url: string) => (await get(url + '/metrics/snapshot'))?.body?.['master/elected'] as number | undefined;

/** Node's own words when a process dies of (or warns about) a rejected promise or an uncaught error. */
const CRASH = /unhandled|uncaught|UnhandledPromiseRejection|triggerUncaughtException/i;

describe('losing etcd quorum (real etcd, master and agent processes)', () => {
  test('masters stop deciding, the task keeps running, everything resumes with quorum', { timeout: 60_000 }, async () => {
    const etcd = await startEtcd({ members: 3 });
    cleanups.push(() => etcd.stop());
    // A short recovery timeout: were the agent to give up (exit) while no master answers, its
    // watchdog would kill the task within the outage.
    const { masters, urls, agent, agentUrl } = await startHaProcs(cleanups, etcd.url, { agentArgs: ['--recovery-timeout', '1500ms'], ttlMs: TTL_MS });
    const agentId = (await agent.waitForJson((o) => o.event === 'registered', 15_000, 'agent registered')).agent_id as string;

    const store: Store = await openStore(etcd.url);
    cleanups.push(() => store.close());
    const locator = createMasterLocator(etcd.url, { leaderWaitMs: 5000 });
    cleanups.push(() => locator.close());
    const client = new SchedulerClient({ locator, subscribeTimeoutMs: 5000, callTimeoutMs: 5000 });
    cleanups.push(() => client.close());
    const events: SchedulerEvent[] = [];
    const updates: TaskStatus[] = [];
    client.on('event', (ev) => events.push(ev));
    client.on('update', (s) => {
      updates.push(s);
      void client.acknowledge(s).catch(() => undefined);
    });
    const fi: FrameworkInfo = { user: os.userInfo().username, name: 'ha-quorum', failover_timeout: 60, checkpoint: true };
    const first = await client.subscribe(fi);
    const frameworkId = first.frameworkId;
    const oldLeaderUrl = first.masterUrl;
    assert.ok(urls.includes(oldLeaderUrl));

    const offers = await client.waitFor((ev) => (ev.type === 'OFFERS' ? ((ev as any).offers.offers as Offer[]) : undefined), 10_000, 'offers');
    const taskId = 'quorum-long-1';
    await client.launch(
      [offers[0]!.id.value],
      [
        {
          name: taskId,
          task_id: { value: taskId },
          agent_id: offers[0]!.agent_id,
          resources: [
            { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
            { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
          ],
          command: { value: 'sleep 1000', shell: true },
        },
      ],
    );
    const running = await client.waitFor(
      (ev) => (ev.type === 'UPDATE' && (ev as any).update.status.state === 'TASK_RUNNING' ? ((ev as any).update.status as TaskStatus) : undefined),
      10_000,
      'TASK_RUNNING',
    );
    const pid = (running.container_status as { executor_pid?: number } | undefined)?.executor_pid;
    assert.ok(pid && processAlive(pid), 'the task runs');
    cleanups.push(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    // The update was acknowledged: nothing is in flight between the agent and the master.
    await eventually(async () => (await get(agentUrl + '/state'))?.body?.frameworks?.[0]?.executors?.length === 1, 5000, 'the task on the agent');

    // Everything the cluster holds before the outage, and who leads.
    const before = await store.snapshot('');
    const electionBefore = before.kvs.filter((kv) => kv.key.startsWith(MASTER_ELECTION));
    const oldLeader = leaderAmong(electionBefore)!;
    assert.equal(oldLeader.url, oldLeaderUrl);

    // Quorum lost: two of the three members crash.
    const disconnected = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
    const lostAt = Date.now();
    await Promise.all([etcd.members[1]!.kill(), etcd.members[2]!.kill()]);

    // Within about the TTL every master says it does not lead, and answers 503 itself: no redirect to
    // a leader it can no longer know is one (a follower's own lease lapses at about the same time).
    const stateStatus = async (url: string) => (await get(url + '/master/state'))?.status;
    await eventually(async () => (await Promise.all(urls.map(elected))).every((e) => e === 0), TTL_MS + SLACK_MS, 'every master to step down');
    const steppedDownAfter = Date.now() - lostAt;
    await eventually(async () => (await Promise.all(urls.map(stateStatus))).every((s) => s === 503), TTL_MS + SLACK_MS, 'every master to answer 503');
    await disconnected;
    const deposed = masters[urls.indexOf(oldLeaderUrl)]!;
    await deposed.waitForJson((e) => e.event === 'deposed', 2000, 'the deposed line');

    // A scheduler trying to come back meanwhile is refused at once (503), not left hanging.
    const triedAt = Date.now();
    await assert.rejects(client.subscribe(fi), (e: any) => e.code === 'UNAVAILABLE' && e.details?.status === 503);
    assert.ok(Date.now() - triedAt < 2000, `SUBSCRIBE refused after ${Date.now() - triedAt} ms`);

    // The outage: no master leads, every one answers 503 (not a stale leader's answer, not a
    // redirect), nothing reaches the scheduler, the agent keeps its task. It lasts twice the agent's
    // recovery timeout: the agent must wait for a master, not give up and leave its tasks to the watchdog.
    const eventsBefore = events.length;
    const agentLogBefore = agent.stderr.length;
    const outageEnd = Date.now() + OUTAGE_MS;
    let rounds = 0;
    while (Date.now() < outageEnd) {
      rounds++;
      for (const url of urls) {
        assert.equal(await elected(url), 0, `${url} leads without quorum`);
        const state = await get(url + '/master/state');
        assert.equal(state?.status, 503, `${url}/master/state during the outage: ${JSON.stringify(state)}`);
      }
      assert.ok(processAlive(pid), 'the task process runs');
      await new Promise((r) => setTimeout(r, 200)); // pacing of the observation, not synchronisation
    }
    assert.ok(rounds >= 3, `observed the outage ${rounds} times`);
    assert.equal(events.length, eventsBefore, 'no event reached the scheduler without quorum');
    const agentState = (await get(agentUrl + '/state'))?.body;
    assert.deepEqual(
      agentState.frameworks.flatMap((f: any) => f.executors.flatMap((e: any) => e.tasks.map((t: any) => [t.id, t.state]))),
      [[taskId, 'TASK_RUNNING']],
    );
    // The agent kept trying to find a master, but backed off rather than spinning.
    const attempts = agent.stderr.slice(agentLogBefore).split('\n').filter((l) => /registration|re-register|cannot reach/.test(l)).length;
    assert.ok(attempts <= 15, `${attempts} registration log lines in ${OUTAGE_MS} ms:\n${agent.stderr.slice(agentLogBefore)}`);
    for (const p of [...masters, agent]) {
      assert.equal(p.running, true, `still running: ${p.describe()}`);
      assert.doesNotMatch(p.stderr, CRASH, p.describe());
    }
    assert.ok(processAlive(pid), 'the task process runs');

    // Quorum returns.
    const restoredAt = Date.now();
    await Promise.all([etcd.members[1]!.start({ waitHealthy: false }), etcd.members[2]!.start({ waitHealthy: false })]);
    await waitForHealth(etcd.members, 10_000);

    // The scheduler re-subscribes with its framework id at whichever master leads now.
    const again = await eventually(() => client.subscribe(fi).catch(() => undefined), 15_000, 'the scheduler to re-subscribe', 200);
    assert.equal(again.frameworkId, frameworkId);
    const newLeaderUrl = again.masterUrl;
    assert.ok(urls.includes(newLeaderUrl));
    const resumedAfter = Date.now() - restoredAt;
    assert.deepEqual(
      (await Promise.all(urls.map(elected))).map((e, i) => [urls[i], e]),
      urls.map((u) => [u, u === newLeaderUrl ? 1 : 0]),
      'exactly one leader',
    );

    // The agent re-registered with it, with the same id.
    await eventually(
      async () => (await get(`${newLeaderUrl}/master/slaves`))?.body?.slaves?.some((s: any) => s.id === agentId && s.active),
      10_000,
      'the agent to re-register with the new leader',
    );

    // Reconciliation: the same task, RUNNING, on the same process; nothing killed or duplicated.
    await assertTaskSurvived(client, newLeaderUrl, taskId, agentId);
    assert.ok(processAlive(pid), 'the same process still runs the task');
    assert.deepEqual(updates.filter((s) => isTerminalState(s.state)), [], 'no task was killed or lost');
    for (const p of [...masters, agent]) {
      assert.equal(p.running, true, `still running: ${p.describe()}`);
      assert.doesNotMatch(p.stderr, CRASH, p.describe());
    }

    // No registry write of the deposed term landed: replay every change since the snapshot taken
    // before the outage, and check that each registry write came after the old leader's election key
    // was gone, while another master's key led.
    const now = await store.revision();
    const changes: WatchEvent[] = [];
    const watch = store.watch('', (ev) => changes.push(ev), { fromRevision: before.revision + 1 });
    cleanups.push(() => watch.cancel());
    const rev = (ev: WatchEvent) => (ev.type === 'put' ? ev.kv.revision : ev.revision);
    await eventually(() => changes.length > 0 && rev(changes.at(-1)!) >= now, 5000, 'the history since the outage');
    const election = new Map<string, KeyValue>(electionBefore.map((kv) => [kv.key, kv]));
    let oldKeyGoneAt: number | undefined;
    const registryWrites: string[] = [];
    for (const ev of changes) {
      const key = ev.type === 'put' ? ev.kv.key : ev.key;
      if (key.startsWith(MASTER_ELECTION)) {
        if (ev.type === 'put') election.set(key, ev.kv);
        else election.delete(key);
        if (key === oldLeader.key && ev.type === 'delete') oldKeyGoneAt = ev.revision;
      } else if (key.startsWith(REGISTRY)) {
        registryWrites.push(`${ev.type} ${key}@${rev(ev)}`);
        assert.ok(oldKeyGoneAt !== undefined, `registry write ${key}@${rev(ev)} while the deposed leader's key still existed`);
        const leader = leaderAmong([...election.values()]);
        assert.ok(leader && leader.key !== oldLeader.key, `registry write ${key}@${rev(ev)} with no other leader`);
      }
    }
    assert.ok(oldKeyGoneAt !== undefined, 'the deposed leader’s election key expired');
    assert.ok(registryWrites.length > 0, 'the new leader wrote its MasterInfo');
    process.stderr.write(
      `quorum loss: stepped down after ${steppedDownAfter} ms; resumed ${resumedAfter} ms after the members restarted; registry writes since: ${registryWrites.join(', ')}\n`,
    );

    // Clean end: kill the task through the new leader.
    await client.kill(taskId, agentId);
    await client.waitFor((ev) => (ev.type === 'UPDATE' && (ev as any).update.status.state === 'TASK_KILLED' ? true : undefined), 10_000, 'TASK_KILLED');
    await eventually(() => !processAlive(pid), 5000, 'the task process to exit');
  });
});
