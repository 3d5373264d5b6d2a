// Fault benchmark (issue 4, "Figures to report"): real processes on the network-namespace lab
// (test/harness), one fresh lab per figure. Prints JSON lines on stdout, progress on stderr.
//
//   node --import tsx bench/faults.ts [--rounds 30] [--seed S] [--require KIND,…] [--only baseline,agent,crash,partition,random]
//
// 1. agent process SIGKILL + restart → agent re-registered and all its tasks reconciled RUNNING (goal 2 s),
//    with the floor measured in the same run: a fresh agent process spawned on a lab host until registered;
// 2. host crash → replacement instances RUNNING and healthy elsewhere (goal 15 s), master at its own
//    defaults (the `corral dev` ones: --agent-ping-timeout-ms 3000, --max-agent-ping-timeouts 3);
// 3. partition of 20 s then heal → seconds to converge to exactly `instances`, and the peak RUNNING count;
// 4. N seeded random fault rounds (test/harness/rounds.ts: agent SIGKILL+restart, host crash + agent
//    restart, partition 2–6 s, long partition past detection + inactiveAfterSeconds so that instances are
//    replaced, lossy link 10–30 % for 2–5 s), each followed by lasting convergence, explicit reconciliation
//    and the invariant checkers; one JSON line per round with its peak RUNNING count. The seed is printed
//    first; `--seed S` replays a run (`--require long-partition,…` forces kinds into a short run, as the
//    test does). Exits non-zero on any violation or failure.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { benchRun } from './lib/run.ts';
import { LabCluster, tcpApp } from '../test/harness/cluster.ts';
import { FaultEnv } from '../test/harness/fault-env.ts';
import { poll } from '../test/harness/http.ts';
import { createLab, type Lab } from '../test/harness/lab.ts';
import { isTaskOfApp, peakRunning } from '../test/harness/checkers/index.ts';
import { FAULT_KINDS, ROUNDS_SETUP, planRounds, roundsOptions, runRounds, startRoundsEnv, type FaultKind } from '../test/harness/rounds.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    seed: { type: 'string' },
    only: { type: 'string', default: 'baseline,agent,crash,partition,random' },
    'partition-s': { type: 'string', default: '20' },
    'timeout-s': { type: 'string', default: '2400' },
    require: { type: 'string', default: '' },
  },
});
const ROUNDS = Number(values.rounds);
const SEED = values.seed !== undefined ? Number(values.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32) >>> 0;
const ONLY = new Set(values.only!.split(','));
const PARTITION_MS = Number(values['partition-s']) * 1000;
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
const REQUIRE = values.require!.split(',').filter(Boolean) as FaultKind[];
if (!Number.isInteger(ROUNDS) || ROUNDS < 0 || !Number.isFinite(SEED) || !(PARTITION_MS > 0) || !(TIMEOUT_MS > 0) || REQUIRE.some((k) => !FAULT_KINDS.includes(k))) {
  console.error(`usage: bench/faults.ts [--rounds N>=0] [--seed uint32] [--require ${FAULT_KINDS.join('|')},…] [--partition-s S] [--timeout-s S] [--only …]`);
  process.exit(2);
}

// The master's own defaults (src/master/master.ts) — what `corral dev` runs with. LabCluster always passes
// both flags, so "not overriding" means passing exactly these.
const DEFAULT_PING_MS = 3000;
const DEFAULT_MAX_PINGS = 3;
// The fault tests' short settings, used for the figures whose subject is not detection time.
const TEST_PING_MS = 1000;
const TEST_MAX_PINGS = 3;

const run = benchRun('faults');
const { emit, progress, failures } = run;
const secs = (ms: number) => Math.round(ms) / 1000;

// ------------------------------------------------------------------ lifetime: everything is bounded and torn down

const live = run.live;
const withEnv = <T>(start: () => Promise<FaultEnv>, body: (env: FaultEnv) => Promise<T>): Promise<T> =>
  run.withEnv(start, (env) => env.lab.describe(), body);
// The lab registers its own exit/SIGINT/SIGTERM/SIGHUP handlers (destroySync of every live lab); this bounds the whole run.
run.bound(TIMEOUT_MS);

async function masterHasAgentTasksRunning(cluster: LabCluster, agentId: string, taskIds: string[]): Promise<boolean> {
  const st = await cluster.masterState();
  if (!(st.slaves ?? []).some((s: any) => s.id === agentId && s.active)) return false;
  const states = new Map<string, string>();
  for (const fw of st.frameworks ?? []) for (const t of fw.tasks ?? []) if (t.slave_id === agentId) states.set(t.id, t.state);
  return taskIds.every((id) => states.get(id) === 'TASK_RUNNING');
}

async function agentActive(cluster: LabCluster, agentId: string): Promise<boolean> {
  const st = await cluster.masterState();
  return (st.slaves ?? []).some((s: any) => s.id === agentId && s.active);
}

// ------------------------------------------------------------------ baseline: a fresh agent process to registered

async function baseline(samples = 3): Promise<void> {
  progress('baseline: fresh agent process spawn → registered');
  let lab: Lab | undefined;
  try {
    lab = await createLab({ hosts: 1 });
    const l = lab;
    live.add(l);
    const cluster = await LabCluster.start(lab, { orchestrator: false, agentPingTimeoutMs: TEST_PING_MS, maxAgentPingTimeouts: TEST_MAX_PINGS });
    const fresh: number[] = [];
    const recovered: number[] = [];
    for (let i = 0; i < samples; i++) {
      const a = cluster.agent(1);
      await lab.killProcess(a.proc!, 'SIGKILL');
      // Same work dir, nothing to recover but the agent id: the pure restart floor.
      recovered.push((await cluster.startAgent(1)).spawnToRegisteredMs);
      await lab.killProcess(cluster.agent(1).proc!, 'SIGKILL');
      fs.rmSync(a.workDir, { recursive: true, force: true });
      fresh.push((await cluster.startAgent(1)).spawnToRegisteredMs);
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    emit({
      bench: 'faults-baseline',
      op: 'lab spawns one agent process until its registered line',
      fresh_spawn_to_registered_s: secs(med(fresh)),
      restart_no_tasks_spawn_to_registered_s: secs(med(recovered)),
      samples: fresh.map(secs),
      restart_samples: recovered.map(secs),
    });
  } finally {
    if (lab) {
      live.delete(lab);
      await lab.destroy();
    }
  }
}

// ------------------------------------------------------------------ (1) agent process restart

async function agentRestart(): Promise<void> {
  progress('agent restart: starting a lab of 2 agent hosts');
  await withEnv(
    () => FaultEnv.start({ hosts: 2, observerTasksOn: [1, 2], agentPingTimeoutMs: TEST_PING_MS, maxAgentPingTimeouts: TEST_MAX_PINGS }),
    async (env) => {
      const { cluster, lab, observer, journals } = env;
      await cluster.createApp(tcpApp('/web', 2));
      await env.waitConverged('/web', 2, 30_000);
      const victim = 1;
      const agentId = cluster.agent(victim).agentId!;
      const before = new Map(journals.liveRuns().filter((r) => r.host === victim).map((r) => [r.taskId, r.pid!]));
      progress(`agent restart: SIGKILL agent on h${victim} (${before.size} tasks)`);
      await lab.killProcess(cluster.agent(victim).proc!, 'SIGKILL');
      const restartAt = Date.now();
      const { agentId: again, spawnToRegisteredMs } = await cluster.startAgent(victim);
      await poll(() => agentActive(cluster, agentId), 15_000, 'the agent active again', 20);
      const reregisteredMs = Date.now() - restartAt;
      await poll(() => masterHasAgentTasksRunning(cluster, agentId, [...before.keys()]), 15_000, 'its tasks RUNNING on the master', 20);
      const seq = observer.deliveries.length;
      await observer.client.reconcile([{ taskId: `obs-h${victim}`, agentId }]);
      await observer.waitFor(
        () => observer.deliveries.some((d) => d.seq > seq && d.status.task_id.value === `obs-h${victim}` && d.status.state === 'TASK_RUNNING'),
        10_000,
        'explicit reconciliation to answer RUNNING',
      );
      const reconciledMs = Date.now() - restartAt;
      journals.scan();
      const relaunched = [...before].filter(([task, pid]) => journals.runsOf(task).length !== 1 || journals.runsOf(task)[0]!.pid !== pid).map(([t]) => t);
      await env.waitConverged('/web', 2, 15_000);
      const violations = await env.checkInvariants([{ id: '/web', instances: 2 }], { stopOrchestrator: true });
      if (again !== agentId) violations.agentId = [`re-registered as ${again}, was ${agentId}`];
      if (relaunched.length) violations.relaunched = relaunched;
      emit({
        bench: 'faults-agent-restart',
        op: 'agent SIGKILL, restart → re-registered and all its tasks reconciled RUNNING',
        tasks_on_agent: before.size,
        spawn_to_registered_s: secs(spawnToRegisteredMs),
        restart_to_reregistered_s: secs(reregisteredMs),
        restart_to_reconciled_s: secs(reconciledMs),
        goal_s: 2,
        meets_goal: reconciledMs <= 2000,
        violations,
        evidence: env.stats(),
      });
      if (Object.keys(violations).length) failures.push('agent-restart');
    },
  );
}

// ------------------------------------------------------------------ (2) host crash, master defaults

async function hostCrash(): Promise<void> {
  progress('host crash: starting a lab of 3 agent hosts (master ping defaults 3000 ms × 3)');
  await withEnv(
    () => FaultEnv.start({ hosts: 3, observerTasksOn: [1, 2, 3], agentPingTimeoutMs: DEFAULT_PING_MS, maxAgentPingTimeouts: DEFAULT_MAX_PINGS }),
    async (env) => {
      const { cluster, lab, observer, journals } = env;
      await cluster.createApp(tcpApp('/web', 2));
      await env.waitConverged('/web', 2, 30_000);
      const webRuns = journals.liveRuns().filter((r) => isTaskOfApp(r.taskId, '/web'));
      const victim = webRuns[0]!.host;
      const agentId = cluster.agent(victim).agentId!;
      progress(`host crash: crashing h${victim}`);
      const crashAt = Date.now();
      const killed = await lab.crashHost(victim);
      await observer.waitForState(`obs-h${victim}`, 'TASK_UNREACHABLE', 40_000);
      const unreachableMs = Date.now() - crashAt;
      await cluster.waitForHealthy('/web', 2, 45_000, [agentId]);
      const replacedMs = Date.now() - crashAt;
      await env.waitConverged('/web', 2, 20_000);
      progress(`host crash: replaced in ${secs(replacedMs)} s; rebooting h${victim}`);
      await cluster.startAgent(victim);
      await poll(() => agentActive(cluster, agentId), 20_000, 'the rebooted agent active again');
      await env.waitConverged('/web', 2, 30_000);
      const violations = await env.checkInvariants([{ id: '/web', instances: 2 }], { stopOrchestrator: true });
      emit({
        bench: 'faults-host-crash',
        op: 'host crash (every process of its namespace SIGKILLed) → replacements RUNNING and healthy elsewhere',
        agent_ping_timeout_ms: DEFAULT_PING_MS,
        max_agent_ping_timeouts: DEFAULT_MAX_PINGS,
        processes_killed: killed.length,
        crash_to_unreachable_s: secs(unreachableMs),
        crash_to_replaced_healthy_s: secs(replacedMs),
        goal_s: 15,
        meets_goal: replacedMs <= 15_000,
        violations,
        evidence: env.stats(),
      });
      if (Object.keys(violations).length) failures.push('host-crash');
    },
  );
}

// ------------------------------------------------------------------ (3) partition 20 s then heal

const INACTIVE_AFTER_S = 2;
async function partitionHeal(): Promise<void> {
  progress(`partition: starting a lab of 3 agent hosts (ping ${TEST_PING_MS} ms × ${TEST_MAX_PINGS})`);
  await withEnv(
    () => FaultEnv.start({ hosts: 3, observerTasksOn: [1, 2, 3], agentPingTimeoutMs: TEST_PING_MS, maxAgentPingTimeouts: TEST_MAX_PINGS }),
    async (env) => {
      const { cluster, lab, journals } = env;
      await cluster.createApp(tcpApp('/web', 2, { unreachableStrategy: { inactiveAfterSeconds: INACTIVE_AFTER_S, expungeAfterSeconds: 120 } }));
      await env.waitConverged('/web', 2, 30_000);
      const victim = journals.liveRuns().filter((r) => isTaskOfApp(r.taskId, '/web'))[0]!.host;
      const agentId = cluster.agent(victim).agentId!;
      progress(`partition: cutting h${victim} for ${PARTITION_MS / 1000} s`);
      const cutAt = Date.now();
      lab.partition(victim);
      let replacedMs: number | undefined;
      try {
        await poll(
          async () => {
            const app = await cluster.app('/web');
            const healthy = (app.tasks ?? []).filter(
              (x: any) => x.slaveId !== agentId && x.state === 'TASK_RUNNING' && (x.healthCheckResults ?? []).length > 0 && x.healthCheckResults.every((h: any) => h.alive),
            );
            return healthy.length === 2;
          },
          PARTITION_MS,
          'a replacement on another host during the partition',
        );
        replacedMs = Date.now() - cutAt;
      } catch {
        // not replaced within the partition: reported as null
      }
      await new Promise((r) => setTimeout(r, Math.max(0, cutAt + PARTITION_MS - Date.now())));
      const healAt = Date.now();
      lab.heal(victim);
      progress(`partition: healed h${victim}`);
      await poll(() => agentActive(cluster, agentId), 30_000, 'the partitioned agent to re-register after the heal');
      const reregisteredMs = Date.now() - healAt;
      const convergedAt = await env.waitConverged('/web', 2, 40_000);
      const peak = peakRunning(env.sampler.samples, '/web', cutAt);
      const violations = await env.checkInvariants([{ id: '/web', instances: 2 }], { stopOrchestrator: true });
      emit({
        bench: 'faults-partition',
        op: `partition (blackhole) of ${PARTITION_MS / 1000} s, then heal → converged to exactly instances`,
        instances: 2,
        agent_ping_timeout_ms: TEST_PING_MS,
        max_agent_ping_timeouts: TEST_MAX_PINGS,
        inactive_after_s: INACTIVE_AFTER_S,
        partition_s: secs(healAt - cutAt),
        cut_to_replaced_healthy_s: replacedMs === undefined ? null : secs(replacedMs),
        heal_to_reregistered_s: secs(reregisteredMs),
        heal_to_converged_s: secs(convergedAt - healAt),
        peak_running_master_view: peak.master,
        peak_running_processes: peak.live,
        violations,
        evidence: env.stats(),
      });
      if (Object.keys(violations).length) failures.push('partition');
    },
  );
}

// ------------------------------------------------------------------ (4) seeded random rounds

// The lab, app and timing are the harness's (ROUNDS_SETUP), shared with test/faults/random-rounds.test.ts.
async function randomRounds(): Promise<void> {
  const plans = planRounds(SEED, ROUNDS, { hosts: ROUNDS_SETUP.hosts, timing: ROUNDS_SETUP.timing, require: REQUIRE });
  progress(`random: ${ROUNDS} rounds, seed ${SEED}, lab of ${ROUNDS_SETUP.hosts} agent hosts: ${plans.map((p) => p.fault).join(' ')}`);
  await withEnv(
    () => startRoundsEnv(),
    async (env) => {
      const summary = await runRounds(env, plans, roundsOptions(), (r) => {
        emit({ bench: 'faults-round', seed: SEED, ...r.line });
        progress(`round ${r.line.round}/${ROUNDS} ${r.line.fault} h${r.line.host}: ${r.violations ? `${r.violations} VIOLATION(S)` : 'ok'}`);
      });
      emit({ bench: 'faults-random', seed: SEED, ...summary, evidence: env.stats() });
      if (summary.violations) failures.push('random');
    },
  );
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const req = REQUIRE.length ? ` --require ${REQUIRE.join(',')}` : '';
  emit({ bench: 'faults-seed', seed: SEED, rounds: ROUNDS, replay: `npm run bench:faults -- --seed ${SEED} --rounds ${ROUNDS}${req} --only random` });
  const steps: [string, () => Promise<void>][] = [
    ['baseline', () => baseline()],
    ['agent', agentRestart],
    ['crash', hostCrash],
    ['partition', partitionHeal],
    ['random', randomRounds],
  ];
  await run.steps(steps, ONLY);
}

run.finish(main);
