// Failover benchmark (issue 5, "Figures"): HA masters and orchestrators as real processes on the
// network-namespace lab (test/harness/ha-env.ts: 3 control hosts each with an etcd member and a
// master, 2 HA orchestrators, agent hosts). Prints JSON lines on stdout, progress on stderr.
//
//   node --import tsx bench/failover.ts [--rounds 20] [--seed S] [--ttls 3000,1000] [--samples 3]
//        [--rounds-ttl-ms 1000] [--require KIND,…] [--sequence KIND,…] [--only master,orchestrator,rounds]
//
// 1. master: for each election TTL of --ttls (3000 = the default of `corral master`), SIGKILL of the
//    leading master → a new master elected (its `elected` line), serving offers (the observer framework,
//    re-subscribed, receives an offer from it), every agent re-registered with it (the agents' own log
//    lines), and the tasks disturbed (must be 0). Baselines in the same lab: the TTL itself; a graceful
//    handover (SIGTERM of the leader: it resigns, so no lease has to expire); and a plain restart of a
//    lone master on the same store (the other two stopped first; SIGTERM, start it again).
// 2. orchestrator: for each TTL, SIGKILL of the leading orchestrator → the standby leading (its
//    `elected` line) and reconciled (its "initial reconciliation complete" and the app's instances all
//    RUNNING and healthy again, the same tasks), tasks disturbed (must be 0).
// 3. rounds: N seeded rounds (test/harness/ha-rounds.ts) of master SIGKILL, master SIGSTOP past the
//    TTL, partition of the leading master's host (with its etcd member), orchestrator SIGKILL, each
//    followed by recovery and every invariant check, "never two leaders acting" included. The seed is
//    printed first; --seed S replays it. Exits non-zero on any violation or failure.
import { parseArgs } from 'node:util';
import { benchRun } from './lib/run.ts';
import { HaEnv, type Replica } from '../test/harness/ha-env.ts';
import { poll } from '../test/harness/http.ts';
import { HA_FAULT_KINDS, planHaRounds, runHaRounds, type HaFaultKind } from '../test/harness/ha-rounds.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    seed: { type: 'string' },
    ttls: { type: 'string', default: '3000,1000' },
    samples: { type: 'string', default: '3' },
    'rounds-ttl-ms': { type: 'string', default: '1000' },
    require: { type: 'string', default: '' },
    sequence: { type: 'string', default: '' },
    only: { type: 'string', default: 'master,orchestrator,rounds' },
    'timeout-s': { type: 'string', default: '1800' },
  },
});
const ROUNDS = Number(values.rounds);
const SEED = values.seed !== undefined ? Number(values.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32) >>> 0;
const TTLS = values.ttls!.split(',').map(Number);
const SAMPLES = Number(values.samples);
const ROUNDS_TTL = Number(values['rounds-ttl-ms']);
const REQUIRE = values.require!.split(',').filter(Boolean) as HaFaultKind[];
const SEQUENCE = values.sequence!.split(',').filter(Boolean) as HaFaultKind[];
const ONLY = new Set(values.only!.split(','));
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
if (
  !Number.isInteger(ROUNDS) || ROUNDS < 0 || !Number.isFinite(SEED) || TTLS.some((t) => !(t >= 1000)) || !(SAMPLES >= 1) ||
  !(ROUNDS_TTL >= 1000) || [...REQUIRE, ...SEQUENCE].some((k) => !HA_FAULT_KINDS.includes(k)) || !(TIMEOUT_MS > 0)
) {
  console.error(`usage: bench/failover.ts [--rounds N] [--seed uint32] [--ttls MS,…(>=1000)] [--samples N] [--rounds-ttl-ms MS] [--require|--sequence ${HA_FAULT_KINDS.join('|')},…] [--only master,orchestrator,rounds]`);
  process.exit(2);
}

const MASTER_GOAL_S = 3;
const ORCHESTRATOR_GOAL_S = 5;
const run = benchRun('failover');
const { emit, progress, failures } = run;
const secs = (ms: number) => Math.round(ms) / 1000;
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);

// ------------------------------------------------------------------ lifetime: bounded, torn down

const withEnv = <T>(ttlMs: number, body: (env: HaEnv) => Promise<T>): Promise<T> =>
  run.withEnv(() => HaEnv.start({ electionTtlMs: ttlMs }), (env) => env.describe(), body);
run.bound(TIMEOUT_MS);

/** Everything is up and steady: a leader of each kind, the observer on the leading master, the app converged. */
async function settled(env: HaEnv): Promise<Replica> {
  const leader = await poll(() => env.leaderMaster(), 30_000, 'a leading master');
  const id = env.currentMasterId(leader);
  await poll(() => env.subscriptions.at(-1)?.masterId === id, 30_000, 'the observer subscribed to the leading master');
  await env.waitOrchestratorConnected(30_000);
  await env.waitConverged(30_000);
  return leader;
}

interface MasterSample {
  elected_s: number;
  serving_offers_s: number;
  agents_reregistered_s: number;
}

/** From `t0`: another master elected, an offer from it to the observer, every agent re-registered with it. */
async function measureMaster(env: HaEnv, old: Replica[], t0: number): Promise<MasterSample & { id: string }> {
  const el = await env.waitElected('master', t0, 30_000, old);
  const [offerAt, agentsAt] = await Promise.all([env.waitOfferFrom(el.id, t0, 30_000), env.waitAgentsRegistered(el.id, t0, 30_000)]);
  return { id: el.id, elected_s: secs(el.at - t0), serving_offers_s: secs(offerAt - t0), agents_reregistered_s: secs(agentsAt - t0) };
}

// ------------------------------------------------------------------ (1) master failover + baselines

async function masterFigures(ttlMs: number): Promise<void> {
  progress(`master: lab with election TTL ${ttlMs} ms`);
  await withEnv(ttlMs, async (env) => {
    const kills: MasterSample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const leader = await settled(env);
      progress(`master: SIGKILL of the leader on h${leader.host} (sample ${i + 1}/${SAMPLES})`);
      const t0 = await env.kill(leader);
      const m = await measureMaster(env, [leader], t0);
      kills.push(m);
      progress(`master: elected ${m.elected_s} s, serving offers ${m.serving_offers_s} s, agents ${m.agents_reregistered_s} s`);
      // The supervisor's restart, after the measurement: its start-up must not share the CPUs with the failover.
      await env.restart(leader);
    }
    const disturbedAfterKills = env.disturbed();

    // Baseline: a graceful handover (no lease to wait for).
    let leader = await settled(env);
    progress(`master: baseline handover, SIGTERM of the leader on h${leader.host}`);
    let t0 = Date.now();
    await env.lab.killProcess(leader.proc, 'SIGTERM', 15_000);
    const handover = await measureMaster(env, [leader], t0);
    await env.restart(leader);

    // Baseline: a plain restart of a lone master on the same store.
    leader = await settled(env);
    const others = env.masters.filter((m) => m !== leader);
    progress(`master: baseline plain restart of the master on h${leader.host} (the other two stopped)`);
    for (const o of others) await env.lab.killProcess(o.proc, 'SIGTERM', 15_000);
    t0 = Date.now();
    await env.lab.killProcess(leader.proc, 'SIGTERM', 15_000);
    const stoppedMs = Date.now() - t0;
    const spawnMs = await env.restart(leader);
    const plain = await measureMaster(env, [], t0);
    for (const o of others) await env.restart(o);
    await settled(env);

    const violations = await env.checkInvariants();
    const disturbed = env.disturbed();
    const offers = median(kills.map((k) => k.serving_offers_s));
    emit({
      bench: 'failover-master',
      op: 'SIGKILL of the leading master → new leader elected, serving offers, agents re-registered',
      election_ttl_ms: ttlMs,
      samples: SAMPLES,
      elected_s: median(kills.map((k) => k.elected_s)),
      serving_offers_s: offers,
      agents_reregistered_s: median(kills.map((k) => k.agents_reregistered_s)),
      tasks_disturbed: disturbedAfterKills.length,
      goal_s: MASTER_GOAL_S,
      meets_goal: offers <= MASTER_GOAL_S,
      kill_samples: kills,
      baseline: {
        election_ttl_s: ttlMs / 1000,
        handover_sigterm: { elected_s: handover.elected_s, serving_offers_s: handover.serving_offers_s, agents_reregistered_s: handover.agents_reregistered_s },
        plain_restart: {
          stop_s: secs(stoppedMs),
          spawn_to_ready_s: secs(spawnMs),
          elected_s: plain.elected_s,
          serving_offers_s: plain.serving_offers_s,
          agents_reregistered_s: plain.agents_reregistered_s,
          note: 'from SIGTERM of a lone master (the others stopped) to serving again after a restart on the same store',
        },
      },
      tasks_disturbed_total: disturbed.length,
      violations,
      evidence: env.stats(),
    });
    if (Object.keys(violations).length || disturbed.length) failures.push(`master@${ttlMs}`);
  });
}

// ------------------------------------------------------------------ (2) orchestrator failover

async function orchestratorFigures(ttlMs: number): Promise<void> {
  progress(`orchestrator: lab with election TTL ${ttlMs} ms`);
  await withEnv(ttlMs, async (env) => {
    const samples: { leading_s: number; reconciled_s: number }[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      await settled(env);
      const old = await poll(() => env.leaderOrchestrator(), 15_000, 'a leading orchestrator');
      const before = new Set((await poll(async () => (await env.masterState()).frameworks?.find((f: any) => f.id === env.orchestratorFrameworkId)?.tasks, 5000, 'tasks')).map((t: any) => t.id));
      progress(`orchestrator: SIGKILL of the leader on h${old.host} (sample ${i + 1}/${SAMPLES})`);
      const t0 = await env.kill(old);
      const el = await env.waitElected('orchestrator', t0, 30_000, [old]);
      const reconciledLine = await poll(() => el.replica.lines.logs(/^initial reconciliation complete$/).find((l) => l.at >= el.at)?.at, 30_000, 'reconciled', 20);
      const convergedAt = await env.waitConverged(30_000);
      const after = new Set((await env.masterState()).frameworks?.find((f: any) => f.id === env.orchestratorFrameworkId)?.tasks.map((t: any) => t.id));
      if ([...before].some((id) => !after.has(id)) || after.size !== before.size) failures.push(`orchestrator@${ttlMs}: tasks changed across the failover`);
      samples.push({ leading_s: secs(el.at - t0), reconciled_s: secs(Math.max(reconciledLine, convergedAt) - t0) });
      progress(`orchestrator: leading ${samples.at(-1)!.leading_s} s, reconciled ${samples.at(-1)!.reconciled_s} s`);
      await env.restart(old);
    }
    await settled(env);
    const violations = await env.checkInvariants();
    const disturbed = env.disturbed();
    const reconciled = median(samples.map((s) => s.reconciled_s));
    emit({
      bench: 'failover-orchestrator',
      op: 'SIGKILL of the leading orchestrator → the standby leading and reconciled (its instances all RUNNING and healthy, the same tasks)',
      election_ttl_ms: ttlMs,
      samples: SAMPLES,
      leading_s: median(samples.map((s) => s.leading_s)),
      reconciled_s: reconciled,
      tasks_disturbed: disturbed.length,
      goal_s: ORCHESTRATOR_GOAL_S,
      meets_goal: reconciled <= ORCHESTRATOR_GOAL_S,
      kill_samples: samples,
      violations,
      evidence: env.stats(),
    });
    if (Object.keys(violations).length || disturbed.length) failures.push(`orchestrator@${ttlMs}`);
  });
}

// ------------------------------------------------------------------ (3) seeded rounds

async function rounds(): Promise<void> {
  const plans = planHaRounds(SEED, ROUNDS, { ttlMs: ROUNDS_TTL, require: REQUIRE, sequence: SEQUENCE });
  progress(`rounds: ${ROUNDS} rounds, seed ${SEED}, election TTL ${ROUNDS_TTL} ms: ${plans.map((p) => p.fault).join(' ')}`);
  await withEnv(ROUNDS_TTL, async (env) => {
    const summary = await runHaRounds(env, plans, (r) => {
      emit({ bench: 'failover-round', seed: SEED, ...r.line });
      progress(`round ${r.line.round}/${ROUNDS} ${r.line.fault} ${r.line.host ?? ''}: ${r.violations ? `${r.violations} VIOLATION(S)` : 'ok'}`);
    });
    emit({ bench: 'failover-rounds', seed: SEED, election_ttl_ms: ROUNDS_TTL, ...summary, evidence: env.stats() });
    if (summary.violations) failures.push('rounds');
  });
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const req = (REQUIRE.length ? ` --require ${REQUIRE.join(',')}` : '') + (SEQUENCE.length ? ` --sequence ${SEQUENCE.join(',')}` : '');
  emit({
    bench: 'failover-seed',
    seed: SEED,
    rounds: ROUNDS,
    rounds_election_ttl_ms: ROUNDS_TTL,
    replay: `npm run bench:failover -- --seed ${SEED} --rounds ${ROUNDS} --rounds-ttl-ms ${ROUNDS_TTL}${req} --only rounds`,
  });
  const steps: [string, () => Promise<void>][] = [
    ...TTLS.map((t): [string, () => Promise<void>] => ['master', () => masterFigures(t)]),
    ...TTLS.map((t): [string, () => Promise<void>] => ['orchestrator', () => orchestratorFigures(t)]),
    ['rounds', rounds],
  ];
  await run.steps(steps, ONLY);
}

run.finish(main);
