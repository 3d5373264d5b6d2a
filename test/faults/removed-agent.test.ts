// Failure level 3c, on real hosts: an agent that the master REMOVED comes back. Its process is SIGKILLed
// (its task keeps running), and before the master notices, a new agent with a fresh work dir registers
// from the same address — the master removes the old agent (TASK_GONE for its tasks). When the old agent
// then restarts on its old work dir and re-registers, the master must tell it to shut down: it kills the
// task it still runs (no orphan left), forgets its checkpoint, and the task never comes back.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { AGENT_PORT, MASTER_PORT, agentPorts, webApp } from '../harness/cluster.ts';
import { FaultEnv, faultSuiteSkip } from '../harness/fault-env.ts';
import { poll } from '../harness/http.ts';
import { isAlive } from '../harness/netns.ts';
import { jsonLines } from '../harness/proc.ts';

describe('fault: a removed agent comes back', { skip: faultSuiteSkip() }, () => {
  let env: FaultEnv | undefined;
  FaultEnv.destroyAfter(() => env);

  test('it is told to shut down and kills what it still runs', { timeout: 60_000 }, async (t) => {
    // Slower pings: the replacement agent must register before the old one is found unreachable.
    env = await FaultEnv.start({ hosts: 2, observerTasksOn: [1], agentPingTimeoutMs: 3000, maxAgentPingTimeouts: 3 });
    const { cluster, lab, observer, journals } = env;
    try {
      const h1 = lab.host(1);
      await cluster.createApp(webApp('/web', 1, { constraints: [['hostname', 'UNLIKE', h1.address]] }));
      await env.waitConverged('/web', 1, 30_000);

      const old = cluster.agent(1);
      const oldId = old.agentId!;
      const orphan = journals.liveRuns().find((r) => r.taskId === 'obs-h1')!;
      assert.ok(orphan?.pid, 'the observer task runs on h1');
      await lab.killProcess(old.proc!, 'SIGKILL');

      // A new agent (fresh work dir) at the same address: the master removes the old one.
      const ports = agentPorts(1);
      const fresh = await lab.spawn(
        1,
        [
          'agent',
          '--master',
          cluster.masterUrl,
          '--host',
          h1.address,
          '--port',
          String(AGENT_PORT),
          '--work-dir',
          path.join(h1.dir, 'agent-fresh'),
          '--resources',
          `cpus:2;mem:2048;disk:2048;ports:[${ports.begin}-${ports.end}]`,
          '--json',
        ],
        { name: 'agent-1-fresh', ready: (o) => o.event === 'registered' },
      );
      const freshId: string = jsonLines(fresh.stdout).find((o) => o.event === 'registered').agent_id;
      const gone = await observer.waitForState('obs-h1', 'TASK_GONE', 15_000);
      assert.equal(gone.reason, 'REASON_AGENT_REMOVED');
      assert.ok(isAlive(orphan.pid!), 'the task process itself is untouched by the removal (the agent that runs it is gone)');
      await lab.killProcess(fresh, 'SIGTERM');

      // The removed agent comes back on its old work dir: told to shut down, it kills its task.
      const back = await lab.spawn(
        1,
        [
          'agent',
          '--master',
          lab.url(0, MASTER_PORT),
          '--host',
          h1.address,
          '--port',
          String(AGENT_PORT),
          '--work-dir',
          old.workDir,
          '--resources',
          `cpus:2;mem:2048;disk:2048;ports:[${ports.begin}-${ports.end}]`,
          '--json',
        ],
        { name: 'agent-1-back', ready: (o) => o.event === 'ready' },
      );
      await poll(() => !isAlive(orphan.pid!), 15_000, `the removed agent to kill its task (pid ${orphan.pid})`);
      const st = await cluster.masterState();
      assert.ok(!(st.slaves ?? []).some((s: any) => s.id === oldId), 'the removed agent must not be registered again');
      // Its checkpoint is gone: a later start is a new agent, not a resurrection.
      await poll(() => !back.running || undefined, 10_000, 'the removed agent process to exit after its shutdown').catch((e) => {
        throw new Error(`${(e as Error).message}\n(the agent was shut down by the master but its process keeps running)`);
      });

      await env.waitConverged('/web', 1, 15_000);
      const violations = await env.checkInvariants([{ id: '/web', instances: 1 }], { stopOrchestrator: true });
      // While the fresh agent lived, it offered h1's resources next to the old agent's orphaned task: it cannot
      // know about a process started by another agent's work dir (Mesos has the same window until executors
      // give up after --recovery_timeout). Those offers are expected; any other violation is not.
      if (violations.offers) {
        const expected = violations.offers.filter((v) => v.includes(` on ${freshId} `));
        if (expected.length) t.diagnostic(`expected (fresh agent next to the old agent's task): ${expected[0]}`);
        violations.offers = violations.offers.filter((v) => !expected.includes(v));
        if (violations.offers.length === 0) delete violations.offers;
      }
      assert.deepEqual(violations, {}, `invariant violations: ${JSON.stringify(violations, null, 2)}`);
    } catch (e) {
      (e as Error).message += `\n\n${lab.describe()}`;
      throw e;
    }
  });
});
