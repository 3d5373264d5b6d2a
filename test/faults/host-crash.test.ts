// Failure level 3a, on real hosts: a host dies (every process of its namespace SIGKILLed at once: the
// agent and its tasks). The master must notice through missed pings and report TASK_UNREACHABLE to
// partition-aware frameworks; the orchestrator must replace the lost instance on another host, RUNNING
// and healthy — measured from the crash. Then the host "reboots" (its agent restarts on the same work
// dir, its tasks are gone): nothing may come back to life and the app must stay at exactly `instances`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { webApp } from '../harness/cluster.ts';
import { FaultEnv, faultSuiteSkip, reportFigure } from '../harness/fault-env.ts';
import { poll } from '../harness/http.ts';
import { isTaskOfApp, isTerminal } from '../harness/checkers/index.ts';

const PING_MS = 1000;
const MAX_PINGS = 3;

describe('fault: host crash', { skip: faultSuiteSkip() }, () => {
  let env: FaultEnv | undefined;
  FaultEnv.destroyAfter(() => env);

  test('instances of a crashed host are replaced elsewhere, RUNNING and healthy', { timeout: 60_000 }, async (t) => {
    env = await FaultEnv.start({ hosts: 3, observerTasksOn: [1, 2, 3], agentPingTimeoutMs: PING_MS, maxAgentPingTimeouts: MAX_PINGS });
    const { cluster, lab, observer, journals } = env;
    try {
      await cluster.createApp(webApp('/web', 2, { constraints: [['hostname', 'UNIQUE']] }));
      await env.waitConverged('/web', 2, 30_000);

      const webRuns = journals.liveRuns().filter((r) => isTaskOfApp(r.taskId, '/web'));
      const victim = webRuns[0]!.host;
      const lostTask = webRuns[0]!.taskId;
      const agentId = cluster.agent(victim).agentId!;
      const survivors = new Set(webRuns.filter((r) => r.host !== victim).map((r) => r.taskId));

      const crashAt = Date.now();
      const killed = await lab.crashHost(victim);
      assert.ok(killed.length >= 3, `expected the agent and two tasks to die on h${victim}, killed ${killed}`);

      await observer.waitForState(`obs-h${victim}`, 'TASK_UNREACHABLE', 20_000);
      const unreachableMs = Date.now() - crashAt;

      // Replaced: two healthy instances again, none of them on the dead host, the survivor untouched.
      const app = await cluster.waitForHealthy('/web', 2, 30_000, [agentId]);
      const replacedMs = Date.now() - crashAt;
      for (const id of survivors) assert.ok(app.tasks.some((x: any) => x.id === id), `surviving instance ${id} was replaced needlessly`);
      assert.ok(!app.tasks.some((x: any) => x.id === lostTask), 'the lost task is still listed');
      await env.waitConverged('/web', 2, 15_000);

      // The host comes back (same work dir, its processes gone): the agent recovers, re-registers, and
      // reports its tasks terminal; nothing is resurrected.
      await cluster.startAgent(victim);
      await observer.waitFor(
        () => {
          const s = observer.latest(`obs-h${victim}`);
          return s && isTerminal(s.state) ? s : undefined;
        },
        20_000,
        `obs-h${victim} to be reported terminal after the reboot`,
      );
      await poll(
        async () => {
          const st = await cluster.masterState();
          return (st.slaves ?? []).some((s: any) => s.id === agentId && s.active);
        },
        15_000,
        'the rebooted agent to be active again',
      );
      await env.waitConverged('/web', 2, 20_000);

      await reportFigure(t, {
        figure: 'host_crash',
        agent_ping_timeout_ms: PING_MS,
        max_agent_ping_timeouts: MAX_PINGS,
        crash_to_unreachable_s: unreachableMs / 1000,
        crash_to_replaced_healthy_s: replacedMs / 1000,
        goal_s: 15,
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
