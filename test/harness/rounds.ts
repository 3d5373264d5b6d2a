// Seeded random fault rounds, shared by bench/faults.ts and test/faults/random-rounds.test.ts.
//
// planRounds() is pure: from a seed it draws exactly DRAWS_PER_ROUND numbers per round, whatever the
// fault, so a seed replays the same faults, hosts and durations (for the same kinds list and version of
// this file: adding a kind changes what a draw maps to). runRound() injects one planned fault into a
// FaultEnv, waits until the app has converged and stayed converged, re-checks reconciliation of the
// observer's tasks, and runs the invariant checkers. Which host a long partition cuts is the one thing
// decided at run time: it must be a host running an instance, or nothing would need replacing.
import { seededIds } from '../../src/runtime/ids.ts';
import { tcpApp } from './cluster.ts';
import { FaultEnv } from './fault-env.ts';
import { poll } from './http.ts';
import { convergenceProblems, convergenceView, isTaskOfApp, isTerminal, peakRunning } from './checkers/index.ts';

export type FaultKind = 'agent-restart' | 'host-crash' | 'partition' | 'long-partition' | 'lossy-link';
export const FAULT_KINDS: readonly FaultKind[] = ['agent-restart', 'host-crash', 'partition', 'long-partition', 'lossy-link'];
/** Every round draws this many numbers, used or not, so rounds stay aligned across kinds. */
export const DRAWS_PER_ROUND = 4;

export interface RoundTiming {
  /** The master's --agent-ping-timeout-ms and --max-agent-ping-timeouts. */
  pingMs: number;
  maxPings: number;
  /** The app's unreachableStrategy.inactiveAfterSeconds. */
  inactiveAfterS: number;
}

export interface RoundPlan {
  round: number;
  fault: FaultKind;
  /** The drawn host (1…hosts); a long partition picks among hosts running an instance with hostDraw instead. */
  host: number;
  hostDraw: number;
  /** host-crash: how long the host stays down before its agent restarts. */
  downMs?: number;
  /** partition / long-partition: how long the cut lasts (at least; see runRound). */
  cutMs?: number;
  /** lossy-link: loss per direction and how long it lasts. */
  lossPct?: number;
  lossMs?: number;
}

/**
 * How long a partition must last for the orchestrator to replace the cut-off instances: detection
 * (pings × timeout) + inactiveAfterSeconds, plus room for the replacement to launch and pass its health check.
 */
export function longPartitionFloorMs(t: RoundTiming): number {
  return t.pingMs * t.maxPings + t.inactiveAfterS * 1000 + 2000;
}

function planOne(round: number, fault: FaultKind, draws: readonly number[], hosts: number, t: RoundTiming): RoundPlan {
  const [, hostDraw, p1, p2] = draws as [number, number, number, number];
  const plan: RoundPlan = { round, fault, host: 1 + Math.floor(hostDraw * hosts), hostDraw };
  if (fault === 'host-crash') plan.downMs = Math.round(p1 * 4000);
  else if (fault === 'partition') plan.cutMs = 2000 + Math.round(p1 * 4000);
  else if (fault === 'long-partition') plan.cutMs = longPartitionFloorMs(t) + Math.round(p1 * 4000);
  else if (fault === 'lossy-link') {
    plan.lossPct = 10 + Math.round(p1 * 20);
    plan.lossMs = 2000 + Math.round(p2 * 3000);
  }
  return plan;
}

/**
 * The rounds a seed stands for. `require` forces kinds the draws left out into the plan, deterministically
 * (each into the earliest round whose kind is not itself required and already present once), so a short
 * run is still guaranteed to exercise them; the seed and the same options replay it.
 */
export function planRounds(
  seed: number,
  rounds: number,
  opts: { hosts: number; timing: RoundTiming; kinds?: readonly FaultKind[]; require?: readonly FaultKind[] },
): RoundPlan[] {
  const rng = seededIds(seed >>> 0).random;
  const kinds = opts.kinds ?? FAULT_KINDS;
  const draws: number[][] = [];
  for (let r = 0; r < rounds; r++) draws.push(Array.from({ length: DRAWS_PER_ROUND }, () => rng()));
  const faults = draws.map((d) => kinds[Math.floor(d[0]! * kinds.length)]!);
  const required = opts.require ?? [];
  for (const kind of required) {
    if (faults.includes(kind)) continue;
    const keep = (k: FaultKind) => required.includes(k) && faults.filter((f) => f === k).length === 1;
    const at = faults.findIndex((k) => !keep(k));
    if (at < 0) throw new Error(`cannot fit ${required.join(', ')} into ${rounds} round(s)`);
    faults[at] = kind;
  }
  return faults.map((f, i) => planOne(i + 1, f, draws[i]!, opts.hosts, opts.timing));
}

// ------------------------------------------------------------------ the lab the rounds run on

/**
 * Shared by the bench and the test: 3 agent hosts, a 2-instance app (one per host, so a third host takes
 * a replacement), the fault tests' short ping settings (1000 ms × 3) and inactiveAfterSeconds 2.
 */
export const ROUNDS_SETUP = {
  hosts: 3,
  appId: '/web',
  instances: 2,
  timing: { pingMs: 1000, maxPings: 3, inactiveAfterS: 2 } satisfies RoundTiming,
} as const;

export function roundsOptions(): RoundsOptions {
  return { appId: ROUNDS_SETUP.appId, instances: ROUNDS_SETUP.instances, timing: ROUNDS_SETUP.timing };
}

/** A FaultEnv with ROUNDS_SETUP's lab and app, converged; destroyed again if it cannot get there. */
export async function startRoundsEnv(): Promise<FaultEnv> {
  const { hosts, appId, instances, timing } = ROUNDS_SETUP;
  const env = await FaultEnv.start({
    hosts,
    observerTasksOn: Array.from({ length: hosts }, (_, i) => i + 1),
    agentPingTimeoutMs: timing.pingMs,
    maxAgentPingTimeouts: timing.maxPings,
  });
  try {
    await env.cluster.createApp(tcpApp(appId, instances, { unreachableStrategy: { inactiveAfterSeconds: timing.inactiveAfterS, expungeAfterSeconds: 120 } }));
    await env.waitConverged(appId, instances, 30_000);
    return env;
  } catch (e) {
    (e as Error).message += `\n\n${env.lab.describe()}`;
    await env.destroy();
    throw e;
  }
}

// ------------------------------------------------------------------ running rounds

export interface RoundsOptions {
  appId: string;
  instances: number;
  timing: RoundTiming;
  /** Deadline for the app to converge after each fault. Default 60 s. */
  convergeMs?: number;
  /** Convergence must hold this long (> inactiveAfterSeconds + a ping period) to count. Default 4 s. */
  settleMs?: number;
}

export interface RoundResult {
  /** One JSON-able line: what was done and measured (bench: printed as is). */
  line: Record<string, unknown>;
  /** Violations first seen in this round, by invariant (empty: the round was clean). */
  problems: Record<string, string[]>;
  violations: number;
  convergeMs?: number;
}

/** Violations already reported (the sample-based checks look at the whole history): each is counted once. */
export type SeenViolations = Set<string>;

const secs = (ms: number) => Math.round(ms) / 1000;
/** A fault's duration (the fault itself, never synchronisation): the harness holds it this long. */
const hold = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function agentActive(env: FaultEnv, agentId: string): Promise<boolean> {
  const st = await env.cluster.masterState();
  return (st.slaves ?? []).some((s: any) => s.id === agentId && s.active);
}

/**
 * Waits until the app is converged and STAYS converged for settleMs (a short partition can be noticed by
 * the master, or acted on by the orchestrator, only after the heal). Returns when the lasting convergence
 * began and how many times it was lost again.
 */
export async function waitSettled(env: FaultEnv, appId: string, instances: number, deadline: number, settleMs: number): Promise<{ at: number; relapses: number }> {
  let relapses = 0;
  for (;;) {
    const at = await env.waitConverged(appId, instances, Math.max(1000, deadline - Date.now()));
    let stable = true;
    while (Date.now() - at < settleMs) {
      await hold(250);
      const v = await convergenceView(env.cluster.orchestratorLocal, env.cluster.masterLocal, env.journals, appId);
      if (convergenceProblems(v, instances).length) {
        stable = false;
        break;
      }
    }
    if (stable) return { at, relapses };
    relapses++;
    if (Date.now() > deadline) throw new Error(`${appId} did not stay converged for ${settleMs} ms before the deadline`);
  }
}

/** Lab hosts that run a live process of the app, ascending. */
function hostsWithInstance(env: FaultEnv, appId: string): number[] {
  return [...new Set(env.journals.liveRuns().filter((r) => isTaskOfApp(r.taskId, appId)).map((r) => r.host))].sort((a, b) => a - b);
}

/** Count of the app's tasks RUNNING and healthy in the orchestrator, not on `agentId`. */
async function healthyElsewhere(env: FaultEnv, appId: string, agentId: string): Promise<number> {
  const app = await env.cluster.app(appId);
  return (app.tasks ?? []).filter(
    (x: any) => x.slaveId !== agentId && x.state === 'TASK_RUNNING' && (x.healthCheckResults ?? []).length > 0 && x.healthCheckResults.every((h: any) => h.alive),
  ).length;
}

/**
 * Explicit reconciliation of every current observer task: each must answer TASK_RUNNING (the task runs,
 * its agent is back). Returns problems.
 */
async function reconcileObserverTasks(env: FaultEnv, timeoutMs: number): Promise<string[]> {
  const { observer, cluster } = env;
  const tasks = [...env.observerTasks].map(([host, taskId]) => ({ taskId, agentId: cluster.agent(host).agentId! }));
  if (tasks.length === 0) return [];
  const seq = observer.deliveries.length;
  await observer.client.reconcile(tasks);
  const answer = (id: string) => observer.deliveries.find((d) => d.seq > seq && d.status.task_id.value === id && !d.status.uuid)?.status;
  try {
    await observer.waitFor(() => tasks.every((t) => answer(t.taskId)), timeoutMs, 'explicit reconciliation answers for the observer tasks');
  } catch {
    // reported below, task by task
  }
  return tasks.flatMap((t) => {
    const a = answer(t.taskId);
    if (!a) return [`${t.taskId}: no answer to explicit reconciliation within ${timeoutMs} ms`];
    return a.state === 'TASK_RUNNING' ? [] : [`${t.taskId}: explicit reconciliation answered ${a.state} (${a.reason ?? ''}), the task runs`];
  });
}

/** Terminal states an observer task killed with its host may be reported in. */
const DIED_WITH_HOST = new Set(['TASK_LOST', 'TASK_GONE', 'TASK_FAILED']);

/**
 * Injects one planned fault, waits for lasting convergence and checks everything. Never throws: a round
 * that cannot complete is reported as problems. The last round (opts.last) also stops the orchestrator
 * and checks its store offline.
 */
export async function runRound(env: FaultEnv, plan: RoundPlan, o: RoundsOptions & { seen: SeenViolations; last?: boolean }): Promise<RoundResult> {
  const { cluster, lab } = env;
  const convergeMs = o.convergeMs ?? 60_000;
  const settleMs = o.settleMs ?? 4000;
  let host = plan.host;
  if (plan.fault === 'long-partition') {
    const candidates = hostsWithInstance(env, o.appId);
    host = candidates[Math.floor(plan.hostDraw * candidates.length)] ?? plan.host;
  }
  const agentId = cluster.agent(host).agentId!;
  const line: Record<string, unknown> = { round: plan.round, fault: plan.fault, host };
  const problems: Record<string, string[]> = {};
  let convergedIn: number | undefined;
  const start = Date.now();
  try {
    if (plan.fault === 'agent-restart') {
      await lab.killProcess(cluster.agent(host).proc!, 'SIGKILL');
      const r = await cluster.startAgent(host);
      line.spawn_to_registered_s = secs(r.spawnToRegisteredMs);
      if (r.agentId !== agentId) problems.agentId = [`h${host} re-registered as ${r.agentId}, was ${agentId}`];
    } else if (plan.fault === 'host-crash') {
      line.down_s = secs(plan.downMs!);
      line.processes_killed = (await lab.crashHost(host)).length;
      await hold(plan.downMs!);
      await cluster.startAgent(host);
    } else if (plan.fault === 'partition') {
      line.partition_s = secs(plan.cutMs!);
      lab.partition(host);
      try {
        await hold(plan.cutMs!);
      } finally {
        lab.heal(host);
      }
    } else if (plan.fault === 'long-partition') {
      // Held at least cutMs, and until the replacement is healthy elsewhere (bounded): the point of the
      // round is a heal that finds one instance too many.
      lab.partition(host);
      try {
        try {
          await poll(async () => (await healthyElsewhere(env, o.appId, agentId)) >= o.instances, plan.cutMs! + 20_000, 'replacements healthy on other hosts', 200);
          line.cut_to_replaced_s = secs(Date.now() - start);
        } catch (e) {
          problems.replacement = [`h${host} cut off for ${secs(Date.now() - start)} s: ${(e as Error).message}`];
        }
        await hold(start + plan.cutMs! - Date.now());
      } finally {
        lab.heal(host);
      }
      line.partition_s = secs(Date.now() - start);
    } else {
      line.loss_pct = plan.lossPct;
      line.loss_s = secs(plan.lossMs!);
      lab.loss(host, plan.lossPct!);
      try {
        await hold(plan.lossMs!);
      } finally {
        lab.heal(host);
      }
    }
    const faultDoneAt = Date.now();
    line.fault_s = secs(faultDoneAt - start);
    await poll(() => agentActive(env, agentId), convergeMs, `the agent of h${host} active again`);
    if (plan.fault === 'host-crash') {
      // Its observer task died with the host: the restarted agent must report it terminal (expected), and
      // the host gets a new one so that later rounds keep reconciliation coverage there.
      const dead = env.observerTasks.get(host);
      if (dead) {
        try {
          const s = await env.observer.waitFor(
            () => {
              const st = env.observer.latest(dead);
              return st && isTerminal(st.state) ? st : undefined;
            },
            20_000,
            `${dead} reported terminal after h${host} came back`,
          );
          line.dead_observer_task = `${dead} ${s.state}`;
          if (!DIED_WITH_HOST.has(s.state)) problems.observerTask = [`${dead} died with h${host} but was reported ${s.state} (${s.reason ?? ''})`];
        } catch (e) {
          problems.observerTask = [(e as Error).message.split('\n')[0]!];
        }
      }
      line.observer_task = await env.relaunchObserverTask(host, `r${plan.round}`);
    }
    const { at: convergedAt, relapses } = await waitSettled(env, o.appId, o.instances, faultDoneAt + convergeMs, settleMs);
    convergedIn = convergedAt - faultDoneAt;
    line.converge_s = secs(convergedIn);
    line.converge_relapses = relapses;
    const recon = await reconcileObserverTasks(env, 10_000);
    if (recon.length) problems.reconciliation = recon;
  } catch (e) {
    problems.convergence = [(e as Error).message.split('\n').slice(0, 3).join(' | ')];
  }
  const peak = peakRunning(env.sampler.samples, o.appId, start);
  line.peak_running_master_view = peak.master;
  line.peak_running_processes = peak.live;
  line.agent_marked_inactive = env.sampler.samples.some((s) => s.at >= start && !s.activeAgents.includes(agentId));

  let inv: Record<string, string[]> = {};
  try {
    inv = await env.checkInvariants([{ id: o.appId, instances: o.instances }], { stopOrchestrator: o.last === true });
  } catch (e) {
    inv = { checker: [(e as Error).message.split('\n')[0]!] };
  }
  for (const [k, vs] of Object.entries(inv)) {
    const fresh = vs.filter((v) => !o.seen.has(`${k}:${v}`));
    fresh.forEach((v) => o.seen.add(`${k}:${v}`));
    if (fresh.length) problems[k] = [...(problems[k] ?? []), ...fresh];
  }
  const violations = Object.values(problems).reduce((s, vs) => s + vs.length, 0);
  line.round_s = secs(Date.now() - start);
  line.violations = violations;
  if (violations) line.problems = problems;
  return { line, problems, violations, convergeMs: convergedIn };
}

export interface RoundsSummary {
  rounds: number;
  violations: number;
  failed_rounds: number;
  faults: Record<FaultKind, number>;
  converge_p50_s: number | null;
  converge_max_s: number | null;
  peak_running_processes_max: number;
  long_partitions_replaced: string;
  total_s: number;
}

/** Runs every planned round in order; `onRound` sees each round's result as it completes. */
export async function runRounds(env: FaultEnv, plans: readonly RoundPlan[], o: RoundsOptions, onRound: (r: RoundResult) => void = () => {}): Promise<RoundsSummary> {
  const seen: SeenViolations = new Set();
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const converge: number[] = [];
  let violations = 0;
  let failed = 0;
  let peak = 0;
  let longs = 0;
  let replaced = 0;
  const t0 = Date.now();
  for (const [i, plan] of plans.entries()) {
    const r = await runRound(env, plan, { ...o, seen, last: i === plans.length - 1 });
    faults[plan.fault]++;
    if (r.convergeMs !== undefined) converge.push(r.convergeMs);
    violations += r.violations;
    if (r.violations) failed++;
    peak = Math.max(peak, Number(r.line.peak_running_processes ?? 0));
    if (plan.fault === 'long-partition') {
      longs++;
      if (r.line.cut_to_replaced_s !== undefined) replaced++;
    }
    onRound(r);
  }
  const sorted = [...converge].sort((a, b) => a - b);
  return {
    rounds: plans.length,
    violations,
    failed_rounds: failed,
    faults,
    converge_p50_s: sorted.length ? secs(sorted[Math.min(sorted.length - 1, Math.floor(0.5 * sorted.length))]!) : null,
    converge_max_s: sorted.length ? secs(sorted[sorted.length - 1]!) : null,
    peak_running_processes_max: peak,
    long_partitions_replaced: `${replaced}/${longs}`,
    total_s: secs(Date.now() - t0),
  };
}
