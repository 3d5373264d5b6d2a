// Failure level 2, on real hosts: the agent process is SIGKILLed and restarted with the same work dir.
// Its tasks must keep running throughout (same pids, no relaunch), the agent must re-register with the
// same id, and every task must be reconciled RUNNING — measured from the restart.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { webApp } from '../harness/cluster.ts';
import { FaultEnv, faultSuiteSkip, reportFigure } from '../harness/fault-env.ts';
import { poll } from '../harness/http.ts';
import { isAlive } from '../harness/netns.ts';

describe('fault: agent process SIGKILL and restart', { skip: faultSuiteSkip() }, () => {
  let env: FaultEnv | undefined;
  FaultEnv.destroyAfter(() => env);

  test('tasks keep running with the same pids; the agent re-registers with the same id', { timeout: 60_000 }, async (t) => {
    env = await FaultEnv.start({ hosts: 2, observerTasksOn: [1, 2] });
    const { cluster, lab, observer, journals } = env;
    try {
      await cluster.createApp(webApp('/web', 2, { constraints: [['hostname', 'UNIQUE']] }));
      await env.waitConverged('/web', 2, 30_000);

      const victim = 1;
      const agent = cluster.agent(victim);
      const agentId = agent.agentId!;
      const before = new Map(journals.liveRuns().filter((r) => r.host === victim).map((r) => [r.taskId, r.pid!]));
      assert.equal(before.size, 2, `expected the observer's task and one /web task on h${victim}: ${[...before.keys()]}`);

      await lab.killProcess(agent.proc!, 'SIGKILL');
      for (const [task, pid] of before) assert.ok(isAlive(pid), `${task} (pid ${pid}) died with its agent`);

      const restartAt = Date.now();
      const { agentId: again, spawnToRegisteredMs } = await cluster.startAgent(victim);
      assert.equal(again, agentId, 'the restarted agent must re-register with its checkpointed id');

      // Reconciled: the master lists the agent active with each of its tasks RUNNING…
      await poll(
        async () => {
          const st = await cluster.masterState();
          if (!(st.slaves ?? []).some((s: any) => s.id === agentId && s.active)) return false;
          const states = new Map<string, string>();
          for (const fw of st.frameworks ?? []) for (const task of fw.tasks ?? []) if (task.slave_id === agentId) states.set(task.id, task.state);
          return [...before.keys()].every((id) => states.get(id) === 'TASK_RUNNING');
        },
        15_000,
        'the master to list the agent and its tasks RUNNING again',
        20,
      );
      // …and an explicit reconciliation answers RUNNING.
      const seq = observer.deliveries.length;
      await observer.client.reconcile([{ taskId: `obs-h${victim}`, agentId }]);
      await observer.waitFor(
        () => observer.deliveries.some((d) => d.seq > seq && d.status.task_id.value === `obs-h${victim}` && d.status.state === 'TASK_RUNNING'),
        10_000,
        'explicit reconciliation to answer RUNNING',
      );
      const reconciledMs = Date.now() - restartAt;

      // Same processes, nothing relaunched.
      journals.scan();
      for (const [task, pid] of before) {
        assert.ok(isAlive(pid), `${task} (pid ${pid}) is gone after the restart`);
        const runs = journals.runsOf(task);
        assert.equal(runs.length, 1, `${task} was launched again: ${runs.map((r) => r.containerId)}`);
        assert.equal(runs[0]!.pid, pid, `${task} has a new pid`);
      }
      await env.waitConverged('/web', 2, 15_000);

      await reportFigure(t, {
        figure: 'agent_restart',
        spawn_to_registered_s: spawnToRegisteredMs / 1000,
        restart_to_reconciled_s: reconciledMs / 1000,
        tasks_on_agent: before.size,
        goal_s: 2,
        evidence: env.stats(),
      });
      const violations = await env.checkInvariants([{ id: '/web', instances: 2 }], { stopOrchestrator: true });
      assert.deepEqual(violations, {}, `invariant violations: ${JSON.stringify(violations, null, 2)}`);
    } catch (e) {
      (e as Error).message += `\n\n${lab.describe()}`;
      throw e;
    }
  });
});
