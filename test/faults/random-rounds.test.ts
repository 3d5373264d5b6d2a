// Seeded random fault rounds in the suite: the bench's round runner (test/harness/rounds.ts) on the same
// lab and app, a few rounds, one of them a long partition (instances replaced during it, the surplus
// killed after the heal). Zero invariant violations allowed. The seed is printed; replay a failure with
//   CORRAL_FAULT_SEED=<seed> node --import tsx --test test/faults/random-rounds.test.ts
// (or the bench line printed beside it, which runs the very same plan).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FaultEnv, faultSuiteSkip, reportFigure } from '../harness/fault-env.ts';
import { DRAWS_PER_ROUND, FAULT_KINDS, ROUNDS_SETUP, longPartitionFloorMs, planRounds, roundsOptions, runRounds, startRoundsEnv, type FaultKind } from '../harness/rounds.ts';

const ROUNDS = 3;
const REQUIRE: FaultKind[] = ['long-partition'];

describe('random fault rounds: the plan', () => {
  const opts = { hosts: 3, timing: ROUNDS_SETUP.timing };

  test('a seed always stands for the same rounds, and each round draws the same number of values', () => {
    assert.deepEqual(planRounds(42, 30, opts), planRounds(42, 30, opts));
    assert.notDeepEqual(planRounds(42, 30, opts), planRounds(43, 30, opts));
    // Aligned draws: the first k rounds of a longer run are the k rounds of a shorter one.
    assert.deepEqual(planRounds(7, 30, opts).slice(0, 10), planRounds(7, 10, opts));
    assert.equal(DRAWS_PER_ROUND, 4);
  });

  test('every kind appears over many rounds, with parameters in range', () => {
    const plans = planRounds(12345, 400, opts);
    for (const k of FAULT_KINDS) assert.ok(plans.some((p) => p.fault === k), `${k} never drawn in 400 rounds`);
    const floor = longPartitionFloorMs(ROUNDS_SETUP.timing);
    // Detection (1000 ms × 3) + inactiveAfterSeconds (2 s) + room for the replacement.
    assert.equal(floor, 7000);
    for (const p of plans) {
      assert.ok(p.host >= 1 && p.host <= 3);
      if (p.fault === 'long-partition') assert.ok(p.cutMs! >= floor && p.cutMs! <= floor + 4000, `long partition ${p.cutMs} ms`);
      if (p.fault === 'partition') assert.ok(p.cutMs! >= 2000 && p.cutMs! <= 6000, `short partition ${p.cutMs} ms`);
      if (p.fault === 'lossy-link') assert.ok(p.lossPct! >= 10 && p.lossPct! <= 30 && p.lossMs! >= 2000 && p.lossMs! <= 5000);
      if (p.fault === 'host-crash') assert.ok(p.downMs! >= 0 && p.downMs! <= 4000);
    }
  });

  test('required kinds are forced into a short run, deterministically, keeping the other rounds', () => {
    for (let seed = 0; seed < 50; seed++) {
      const free = planRounds(seed, 3, opts);
      const forced = planRounds(seed, 3, { ...opts, require: ['long-partition', 'lossy-link'] });
      assert.deepEqual(forced, planRounds(seed, 3, { ...opts, require: ['long-partition', 'lossy-link'] }));
      assert.ok(forced.some((p) => p.fault === 'long-partition') && forced.some((p) => p.fault === 'lossy-link'), `seed ${seed}: ${forced.map((p) => p.fault)}`);
      const changed = forced.filter((p, i) => p.fault !== free[i]!.fault).length;
      assert.ok(changed <= 2, `seed ${seed}: ${changed} rounds changed to fit two kinds`);
      forced.forEach((p, i) => assert.equal(p.hostDraw, free[i]!.hostDraw, 'forcing a kind must not shift the draws'));
    }
    assert.throws(() => planRounds(1, 1, { ...opts, require: ['long-partition', 'lossy-link'] }), /cannot fit/);
  });
});

describe('random fault rounds on the lab', { skip: faultSuiteSkip() }, () => {
  let env: FaultEnv | undefined;
  FaultEnv.destroyAfter(() => env);

  test(`${ROUNDS} seeded rounds including a long partition: zero invariant violations`, { timeout: 90_000 }, async (t) => {
    const seed = process.env.CORRAL_FAULT_SEED !== undefined ? Number(process.env.CORRAL_FAULT_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32) >>> 0;
    const plans = planRounds(seed, ROUNDS, { hosts: ROUNDS_SETUP.hosts, timing: ROUNDS_SETUP.timing, require: REQUIRE });
    t.diagnostic(
      `seed ${seed}: ${plans.map((p) => p.fault).join(', ')}; replay: CORRAL_FAULT_SEED=${seed} node --import tsx --test test/faults/random-rounds.test.ts` +
        ` or npm run bench:faults -- --seed ${seed} --rounds ${ROUNDS} --require ${REQUIRE.join(',')} --only random`,
    );
    env = await startRoundsEnv();
    const lines: Record<string, unknown>[] = [];
    const summary = await runRounds(env, plans, roundsOptions(), (r) => {
      lines.push(r.line);
      t.diagnostic(JSON.stringify({ seed, ...r.line }));
    });
    await reportFigure(t, { figure: 'random_rounds', seed, ...summary, evidence: env.stats() });
    const failed = lines.filter((l) => l.violations);
    assert.equal(summary.violations, 0, `seed ${seed}: invariant violations:\n${failed.map((l) => JSON.stringify(l, null, 1)).join('\n')}\n\n${env.lab.describe(1500)}`);
    // The long partition really forced a replacement, and the heal left exactly `instances` (the checks
    // above): at the peak one surplus instance ran, never more.
    const long = lines.find((l) => l.fault === 'long-partition')!;
    assert.ok(long.cut_to_replaced_s !== undefined, `the long partition did not lead to a replacement: ${JSON.stringify(long)}`);
    assert.ok(Number(long.peak_running_processes) <= ROUNDS_SETUP.instances + 1, `peak ${long.peak_running_processes} live instances during the long partition`);
  });
});
