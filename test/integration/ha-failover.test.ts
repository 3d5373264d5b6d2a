// Master failover end to end, with real processes: one etcd, three `corral master --store etcd://…`,
// one `corral agent --master etcd://…` (it finds the leader itself), and a scheduler in this process
// (SchedulerClient on an etcd locator) running one long task. SIGKILL the leading master: the agent
// re-registers with the new leader by itself, the scheduler re-subscribes with its framework id, and
// the task is still RUNNING under the same id, on the same process: nothing killed or duplicated.
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import { createMasterLocator } from '../../src/client/master-locator.ts';
import { SchedulerClient, type SchedulerEvent } from '../../src/client/scheduler-client.ts';
import { isTerminalState, type FrameworkInfo, type Offer, type TaskStatus } from '../../src/protocol/mesos.ts';
import { eventually, processAlive, runCorral } from '../support/cluster.ts';
import { assertTaskSurvived, cleanupList, startHaProcs } from '../support/ha-procs.ts';
import { startEtcd } from '../support/etcd.ts';

const TTL_MS = 1000;
const cleanups = cleanupList();


async function getJson<T = any>(url: string): Promise<T> {
  const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as T;
}

describe('HA failover (real etcd, master and agent processes)', () => {
  test('SIGKILL the leading master: agent and scheduler follow the new leader, the task survives', { timeout: 40_000 }, async () => {
    const etcd = await startEtcd({ members: 1 });
    cleanups.push(() => etcd.stop());
    const { masters, urls, agent } = await startHaProcs(cleanups, etcd.url, { ttlMs: TTL_MS });
    const agentId = (await agent.waitForJson((o) => o.event === 'registered', 15_000, 'agent registered')).agent_id as string;

    // The scheduler: finds the leader through etcd too, acknowledges every update.
    const locator = createMasterLocator(etcd.url, { leaderWaitMs: 8000 });
    cleanups.push(() => locator.close());
    const client = new SchedulerClient({ locator, subscribeTimeoutMs: 5000, callTimeoutMs: 5000 });
    cleanups.push(() => client.close());
    const updates: TaskStatus[] = [];
    client.on('update', (s) => {
      updates.push(s);
      void client.acknowledge(s).catch(() => undefined);
    });
    const fi: FrameworkInfo = { user: os.userInfo().username, name: 'ha-e2e', failover_timeout: 60, checkpoint: true };
    const first = await client.subscribe(fi);
    const frameworkId = first.frameworkId;
    const leaderUrl = first.masterUrl;
    const leaderIdx = urls.indexOf(leaderUrl);
    assert.ok(leaderIdx >= 0, `the scheduler subscribed at ${leaderUrl}, one of ${urls}`);

    const offers = await client.waitFor((ev: SchedulerEvent) => (ev.type === 'OFFERS' ? ((ev as any).offers.offers as Offer[]) : undefined), 10_000, 'offers');
    const offer = offers[0]!;
    assert.equal(offer.agent_id.value, agentId);
    const taskId = 'ha-long-1';
    await client.launch(
      [offer.id.value],
      [
        {
          name: taskId,
          task_id: { value: taskId },
          agent_id: offer.agent_id,
          resources: [
            { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
            { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
          ],
          command: { value: 'sleep 1000', shell: true },
        },
      ],
    );
    const running = await client.waitFor((ev) => (ev.type === 'UPDATE' && (ev as any).update.status.state === 'TASK_RUNNING' ? ((ev as any).update.status as TaskStatus) : undefined), 10_000, 'TASK_RUNNING');
    const pid = (running.container_status as { executor_pid?: number } | undefined)?.executor_pid;
    assert.ok(pid && processAlive(pid), 'the task runs');
    cleanups.push(() => {
      if (pid) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });

    // Kill the leader like a crash: no resignation, its lease expires after the TTL.
    const disconnected = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
    const updatesBefore = updates.length;
    const killedAt = Date.now();
    masters[leaderIdx]!.kill('SIGKILL');
    await disconnected;

    // Re-subscribe (same framework id) until the new leader accepts: each attempt asks the locator,
    // which waits for the election to move on after the dead leader failed to answer; a new leader
    // still loading its registry answers 503 for a moment.
    const again = await eventually(() => client.subscribe(fi).catch(() => undefined), 15_000, 'the scheduler to re-subscribe with a new leader');
    assert.equal(again.frameworkId, frameworkId);
    assert.notEqual(again.masterUrl, leaderUrl);
    assert.ok(urls.includes(again.masterUrl));
    const newLeader = again.masterUrl;

    // The agent found the new leader by itself and re-registered with the same id.
    await eventually(
      async () => {
        const { slaves } = await getJson<{ slaves: { id: string; active: boolean }[] }>(`${newLeader}/master/slaves`);
        return slaves.some((s) => s.id === agentId && s.active);
      },
      10_000,
      'the agent to re-register with the new leader',
    );

    // Reconciliation: the new leader knows the task, RUNNING, under the same id.
    await assertTaskSurvived(client, newLeader, taskId, agentId);
    assert.ok(processAlive(pid!), 'the same process still runs the task');
    const terminal = updates.slice(updatesBefore).filter((s) => isTerminalState(s.state));
    assert.deepEqual(terminal, [], 'no task was killed or lost during the failover');
    assert.equal(agent.running, true);

    // The CLI finds the new leader through etcd, and through a list whose first master is the dead one
    // (the surviving follower's /master/redirect names the leader); a malformed --master is a usage error.
    const follower = urls.find((u) => u !== leaderUrl && u !== newLeader)!;
    const [viaEtcd, viaList, bad] = await Promise.all([
      runCorral(['agent', 'list', '--json', '--master', etcd.url], { timeoutMs: 15_000 }),
      runCorral(['agent', 'list', '--json', '--master', `${leaderUrl},${follower}`], { timeoutMs: 15_000 }),
      runCorral(['agent', 'list', '--master', `${etcd.url},127.0.0.1`], { timeoutMs: 15_000 }),
    ]);
    for (const r of [viaEtcd, viaList]) {
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as { id: string }[]).map((a) => a.id), [agentId]);
    }
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /etcd endpoint 2 .*\("127\.0\.0\.1"\) is not host:port/);

    // Clean end: kill the task through the new leader.
    await client.kill(taskId, agentId);
    await client.waitFor((ev) => (ev.type === 'UPDATE' && (ev as any).update.status.state === 'TASK_KILLED' ? true : undefined), 10_000, 'TASK_KILLED');
    await eventually(() => !processAlive(pid!), 5000, 'the task process to exit');
  });
});
