// Seeded HA fault rounds, shared by bench/failover.ts and test/faults/ha-rounds.test.ts: leader faults
// of the control plane (ha-env.ts) with the invariant checks after each.
//
// planHaRounds() is pure: a seed draws exactly HA_DRAWS_PER_ROUND numbers per round whatever the kind,
// so the first k rounds of a seed are the same in a run of any length (for the same kinds list and
// version of this file). Which replica is hit is decided at run time — always the current leader —
// because that is the fault that matters and the only one a seed cannot know in advance.
//
// Kinds:
//   master-kill       SIGKILL the leading master; a supervisor restarts it after 0–1 s
//   master-pause      SIGSTOP the leading master for longer than the election TTL, then SIGCONT: it must
//                     notice and step down without acting
//   master-partition  cut the leading master's host off the lab (its etcd member goes with it), heal
//   orchestrator-kill SIGKILL the leading orchestrator; restarted after 0–1 s
// Pauses and partitions are held at least their drawn length *and* until another leader is elected
// (bounded): a fault that ends before the lease expires is no failover at all. Before each fault every
// replica must stand for election again (a resumed or healed one takes up to ~1.5 s): a kill right
// after a partition would otherwise hand leadership back to the one replica left in line.
import { LeaderRecord, MASTER_ELECTION, ORCHESTRATOR_ELECTION } from '../../src/coordination/leader.ts';
import { seededIds } from '../../src/runtime/ids.ts';
import type { HaEnv, Replica } from './ha-env.ts';
import { hold } from './ha-env.ts';
import { poll } from './http.ts';

export type HaFaultKind = 'master-kill' | 'master-pause' | 'master-partition' | 'orchestrator-kill';
export const HA_FAULT_KINDS: readonly HaFaultKind[] = ['master-kill', 'master-pause', 'master-partition', 'orchestrator-kill'];
export const MASTER_FAULT_KINDS: readonly HaFaultKind[] = ['master-kill', 'master-pause', 'master-partition'];
export const HA_DRAWS_PER_ROUND = 3;

export interface HaRoundPlan {
  round: number;
  fault: HaFaultKind;
  /** kill: how long until the supervisor restarts the process. */
  restartDelayMs?: number;
  /** pause / partition: how long it lasts at least. */
  holdMs?: number;
}

function planOne(round: number, fault: HaFaultKind, draws: readonly number[], ttlMs: number): HaRoundPlan {
  const [, p1] = draws as [number, number, number];
  if (fault === 'master-kill' || fault === 'orchestrator-kill') return { round, fault, restartDelayMs: Math.round(p1 * 1000) };
  if (fault === 'master-pause') return { round, fault, holdMs: ttlMs + 500 + Math.round(p1 * 2500) };
  return { round, fault, holdMs: ttlMs + 500 + Math.round(p1 * 3000) };
}

/**
 * The rounds a seed stands for. `require` forces kinds the draws left out into the earliest rounds
 * whose kind is not itself required and present once (the draws stay those of the seed); `sequence`
 * fixes every round's kind instead.
 */
export function planHaRounds(
  seed: number,
  rounds: number,
  opts: { ttlMs: number; kinds?: readonly HaFaultKind[]; require?: readonly HaFaultKind[]; sequence?: readonly HaFaultKind[] },
): HaRoundPlan[] {
  const rng = seededIds(seed >>> 0).random;
  const kinds = opts.kinds ?? HA_FAULT_KINDS;
  const draws: number[][] = [];
  for (let r = 0; r < rounds; r++) draws.push(Array.from({ length: HA_DRAWS_PER_ROUND }, () => rng()));
  // `sequence` fixes the kind of each round (cycled); the seed still draws every parameter.
  const faults = draws.map((d, i) => (opts.sequence?.length ? opts.sequence[i % opts.sequence.length]! : kinds[Math.floor(d[0]! * kinds.length)]!));
  const required = opts.require ?? [];
  for (const kind of required) {
    if (faults.includes(kind)) continue;
    const keep = (k: HaFaultKind) => required.includes(k) && faults.filter((f) => f === k).length === 1;
    const at = faults.findIndex((k) => !keep(k));
    if (at < 0) throw new Error(`cannot fit ${required.join(', ')} into ${rounds} round(s)`);
    faults[at] = kind;
  }
  return faults.map((f, i) => planOne(i + 1, f, draws[i]!, opts.ttlMs));
}

// ------------------------------------------------------------------ one round

export interface HaRoundResult {
  line: Record<string, unknown>;
  problems: Record<string, string[]>;
  violations: number;
  /** Fault → the new leader serving (master: its first offer to the observer; orchestrator: reconciled). */
  recoveredMs?: number;
}

const secs = (ms: number) => Math.round(ms) / 1000;
const short = (id: string | undefined) => (id ? id.slice(0, 8) : null);
const DEADLINE_MS = 30_000;
/** A pause or partition longer than the TTL must see a new leader serving within its length plus this. */
const FAILOVER_SLACK_MS = 8000;

async function leaderOf(env: HaEnv, kind: 'master' | 'orchestrator'): Promise<Replica> {
  return poll(() => (kind === 'master' ? env.leaderMaster() : env.leaderOrchestrator()), 15_000, `a leading ${kind}`, 50);
}

/**
 * The master side of a failover, measured from `t0`: a new master elected, the observer re-subscribed
 * to it and offered resources, every agent re-registered with it.
 */
async function masterFailover(env: HaEnv, old: Replica, t0: number, line: Record<string, unknown>, deadlineMs = DEADLINE_MS): Promise<{ id: string; offerAt: number }> {
  const until = t0 + deadlineMs;
  const el = await env.waitElected('master', t0, until - Date.now(), [old]);
  line.new_leader = `h${el.replica.host}`;
  line.new_master_id = short(el.id);
  line.elected_s = secs(el.at - t0);
  const left = Math.max(1000, until - Date.now());
  const [offerAt, agentsAt] = await Promise.all([env.waitOfferFrom(el.id, t0, left), env.waitAgentsRegistered(el.id, t0, left)]);
  line.serving_offers_s = secs(offerAt - t0);
  line.agents_reregistered_s = secs(agentsAt - t0);
  return { id: el.id, offerAt };
}

/** host:port of a base URL (election records and replica keys may differ in form). */
const hostPort = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/**
 * Waits (bounded) until every master and orchestrator has a key in its election, i.e. stands as a
 * candidate, as the store says; returns how long that took. Throws on timeout, naming who is missing.
 */
export async function waitAllCandidates(env: HaEnv, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  const { openStore } = await import('../../src/store/open.ts');
  const store = await openStore(env.etcdLocal);
  let missing: string[] = [];
  try {
    await poll(
      async () => {
        const standing = async (prefix: string) =>
          new Set(
            (await store.range(prefix)).flatMap((kv) => {
              try {
                const r = LeaderRecord.safeParse(JSON.parse(kv.value));
                return r.success ? [hostPort(r.data.url)] : [];
              } catch {
                return [];
              }
            }),
          );
        const [masters, orchestrators] = await Promise.all([standing(MASTER_ELECTION), standing(ORCHESTRATOR_ELECTION)]);
        missing = [
          ...env.masters.filter((r) => !masters.has(hostPort(r.key))),
          ...env.orchestrators.filter((r) => !orchestrators.has(hostPort(r.key))),
        ].map((r) => `${r.kind} on h${r.host}`);
        return missing.length === 0;
      },
      timeoutMs,
      'every replica to stand for election',
      100,
    );
  } catch (e) {
    (e as Error).message += ` (not standing: ${missing.join(', ')})`;
    throw e;
  } finally {
    await store.close().catch(() => undefined);
  }
  return Date.now() - t0;
}

/** How long a replica may take to stand again before the next fault (a healed one needs up to ~1.5 s). */
const CANDIDATES_TIMEOUT_MS = 15_000;

/** Runs one planned fault, waits until everything recovered, checks every invariant. Never throws. */
export async function runHaRound(env: HaEnv, plan: HaRoundPlan, seen: Set<string>): Promise<HaRoundResult> {
  const line: Record<string, unknown> = { round: plan.round, fault: plan.fault };
  const problems: Record<string, string[]> = {};
  let recoveredMs: number | undefined;
  const start = Date.now();
  try {
    line.candidates_wait_s = secs(await waitAllCandidates(env, CANDIDATES_TIMEOUT_MS));
  } catch (e) {
    problems.candidates = [(e as Error).message.split('\n')[0]!];
  }
  // A supervisor restarts a killed process whatever else happens in the round.
  const restarts: Promise<unknown>[] = [];
  const restartLater = (r: Replica, ms: number) => {
    const p = hold(ms).then(() => env.restart(r));
    restarts.push(p.catch(() => undefined));
    return p;
  };
  try {
    if (plan.fault === 'orchestrator-kill') {
      const old = await leaderOf(env, 'orchestrator');
      line.host = `h${old.host}`;
      const t0 = await env.kill(old);
      const restarted = restartLater(old, plan.restartDelayMs!);
      const el = await env.waitElected('orchestrator', t0, DEADLINE_MS, [old]);
      line.new_leader = `h${el.replica.host}`;
      line.leading_s = secs(el.at - t0);
      const reconciledLine = await poll(
        () => el.replica.lines.logs(/^initial reconciliation complete$/).find((l) => l.at >= el.at)?.at,
        DEADLINE_MS,
        'the new orchestrator leader to reconcile',
        20,
      );
      const convergedAt = await env.waitConverged(DEADLINE_MS);
      recoveredMs = Math.max(reconciledLine, convergedAt) - t0;
      line.reconciled_s = secs(recoveredMs);
      line.restart_delay_s = secs(plan.restartDelayMs!);
      await restarted;
    } else {
      const old = await leaderOf(env, 'master');
      const oldId = env.currentMasterId(old);
      line.host = `h${old.host}`;
      line.old_master_id = short(oldId);
      if (plan.fault === 'master-kill') {
        const t0 = await env.kill(old);
        const restarted = restartLater(old, plan.restartDelayMs!);
        const f = await masterFailover(env, old, t0, line);
        recoveredMs = f.offerAt - t0;
        line.restart_delay_s = secs(plan.restartDelayMs!);
        await restarted;
      } else {
        // Pause / partition: held for holdMs and until the failover is complete (bounded by the waits).
        let t0 = 0;
        let resumedAt = 0;
        let release!: () => void;
        const released = new Promise<void>((r) => (release = r));
        const fault =
          plan.fault === 'master-pause'
            ? (async () => {
                old.proc.signalGroup('SIGSTOP');
                t0 = Date.now();
                try {
                  await released;
                } finally {
                  old.proc.signalGroup('SIGCONT');
                  resumedAt = Date.now();
                }
              })()
            : (async () => {
                env.lab.partition(old.host);
                t0 = Date.now();
                try {
                  await released;
                } finally {
                  env.lab.heal(old.host);
                  resumedAt = Date.now();
                }
              })();
        try {
          // The failover must complete while the old leader is still cut off or frozen (bounded).
          const f = await masterFailover(env, old, t0, line, plan.holdMs! + FAILOVER_SLACK_MS);
          recoveredMs = f.offerAt - t0;
          await hold(t0 + plan.holdMs! - Date.now());
        } catch (e) {
          problems.failover = [`no complete failover within ${secs(plan.holdMs! + FAILOVER_SLACK_MS)} s of the ${plan.fault === 'master-pause' ? 'pause' : 'partition'}: ${(e as Error).message.split('\n')[0]}`];
        } finally {
          release();
          await fault;
        }
        line.held_s = secs(resumedAt - t0);
        // A paused leader notices once it runs again; a partitioned one while still cut off (its lease lapses).
        const deposedAt = await env.waitDeposed(old, t0, DEADLINE_MS);
        if (plan.fault === 'master-pause') line.resume_to_deposed_s = secs(deposedAt - resumedAt);
        else line.cut_to_deposed_s = secs(deposedAt - t0);
      }
    }
    // Everything back: the orchestrator's framework on the leading master, the app converged, the
    // observer subscribed to the current leader.
    await env.waitOrchestratorConnected(DEADLINE_MS);
    await env.waitConverged(DEADLINE_MS);
    const leader = await leaderOf(env, 'master');
    const id = env.currentMasterId(leader);
    await poll(() => env.subscriptions.at(-1)?.masterId === id, DEADLINE_MS, `the observer subscribed to the leading master ${id}`, 50);
    line.recovered_s = secs(Date.now() - start);
  } catch (e) {
    problems.recovery = [(e as Error).message.split('\n').slice(0, 3).join(' | ')];
  }
  await Promise.all(restarts);
  let inv: Record<string, string[]> = {};
  try {
    inv = await env.checkInvariants();
  } catch (e) {
    inv = { checker: [(e as Error).message.split('\n')[0]!] };
  }
  line.tasks_disturbed = (inv.tasksDisturbed ?? []).length;
  for (const [k, vs] of Object.entries(inv)) {
    const fresh = vs.filter((v) => !seen.has(`${k}:${v}`));
    fresh.forEach((v) => seen.add(`${k}:${v}`));
    if (fresh.length) problems[k] = [...(problems[k] ?? []), ...fresh];
  }
  const violations = Object.values(problems).reduce((s, vs) => s + vs.length, 0);
  line.round_s = secs(Date.now() - start);
  line.violations = violations;
  if (violations) line.problems = problems;
  return { line, problems, violations, recoveredMs };
}

export interface HaRoundsSummary {
  rounds: number;
  violations: number;
  failed_rounds: number;
  faults: Record<HaFaultKind, number>;
  master_serving_offers_p50_s: number | null;
  master_serving_offers_max_s: number | null;
  orchestrator_reconciled_max_s: number | null;
  tasks_disturbed: number;
  total_s: number;
}

/** Runs every planned round in order; `onRound` sees each result as it completes. */
export async function runHaRounds(env: HaEnv, plans: readonly HaRoundPlan[], onRound: (r: HaRoundResult) => void = () => {}): Promise<HaRoundsSummary> {
  const seen = new Set<string>();
  const faults = Object.fromEntries(HA_FAULT_KINDS.map((k) => [k, 0])) as Record<HaFaultKind, number>;
  const masterMs: number[] = [];
  const orchMs: number[] = [];
  let violations = 0;
  let failed = 0;
  let disturbed = 0;
  const t0 = Date.now();
  for (const plan of plans) {
    const r = await runHaRound(env, plan, seen);
    faults[plan.fault]++;
    if (r.recoveredMs !== undefined) (plan.fault === 'orchestrator-kill' ? orchMs : masterMs).push(r.recoveredMs);
    violations += r.violations;
    if (r.violations) failed++;
    disturbed = Math.max(disturbed, Number(r.line.tasks_disturbed ?? 0));
    onRound(r);
  }
  const sorted = [...masterMs].sort((a, b) => a - b);
  return {
    rounds: plans.length,
    violations,
    failed_rounds: failed,
    faults,
    master_serving_offers_p50_s: sorted.length ? secs(sorted[Math.floor(sorted.length / 2)]!) : null,
    master_serving_offers_max_s: sorted.length ? secs(sorted.at(-1)!) : null,
    orchestrator_reconciled_max_s: orchMs.length ? secs(Math.max(...orchMs)) : null,
    tasks_disturbed: disturbed,
    total_s: secs(Date.now() - t0),
  };
}
