import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  isConsideredHealthy,
  minHealthyAndMaxCapacity,
  rollingUpgradeTick,
  type AppSpec,
  type InstanceView,
  type TickResult,
} from '../../src/core/deployment/index.ts';

function spec(instances: number, mhc: number, moc: number, over: Partial<AppSpec> = {}): AppSpec {
  return {
    id: '/app',
    version: 'v2',
    instances,
    dependencies: [],
    upgradeStrategy: { minimumHealthCapacity: mhc, maximumOverCapacity: moc },
    hasHealthChecks: true,
    hasReadinessChecks: false,
    killSelection: 'YOUNGEST_FIRST',
    backoff: { seconds: 1, factor: 1.15, maxLaunchDelaySeconds: 300 },
    unreachable: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 },
    configHash: 'c2',
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// A tiny deterministic world: instances move Scheduled → Staging → Running → health result →
// readiness result; kills take one world step. `fate` decides what a new instance does.

type Fate = 'healthy' | 'never' | 'fails';
interface SimInst extends InstanceView {
  fate: Fate;
}

interface SimOptions {
  /** Fate of the k-th new instance launched (0-based). */
  fate?: (k: number) => Fate;
  /** Whether instance `id` advances in world step `step` (default: always). */
  advances?: (id: string, step: number) => boolean;
  /** Launches as a queue level (materialized one world step later) instead of Scheduled records. */
  queueMode?: boolean;
  /** Old instances that fail on their own: (id, step) → true to drop it. */
  oldFails?: (id: string, step: number) => boolean;
}

class Sim {
  insts: SimInst[] = [];
  step = 0;
  launched = 0;
  queued = 0;
  history: { kill: number; launch: number; total: number; healthy: number }[] = [];

  constructor(
    readonly app: AppSpec,
    oldCount: number,
    readonly opts: SimOptions = {},
  ) {
    for (let k = 0; k < oldCount; k++) {
      this.insts.push({
        instanceId: `old-${k}`,
        version: 'v1',
        condition: 'Running',
        healthy: true,
        ready: true,
        stagedAt: k * 10,
        startedAt: k * 10 + 1,
        fate: 'healthy',
      });
    }
  }

  serving(): number {
    return this.insts.filter((i) => i.condition !== 'Killing' && isConsideredHealthy(this.app, i, i.version === this.app.version)).length;
  }
  total(): number {
    return this.insts.filter((i) => i.condition !== 'UnreachableInactive').length + this.queued;
  }

  private newInstance(): SimInst {
    const k = this.launched++;
    const t = 1000 + this.step * 10 + k;
    return { instanceId: `new-${k}`, version: this.app.version, condition: 'Scheduled', stagedAt: t, fate: this.opts.fate?.(k) ?? 'healthy' };
  }

  /** One decision: apply kills and launches, return the decision. */
  decide(): TickResult {
    const r = rollingUpgradeTick(this.app, this.insts.map(({ fate: _f, ...v }) => v));
    for (const k of r.kill) {
      const i = this.insts.find((x) => x.instanceId === k.instanceId);
      assert.ok(i, `kill of unknown ${k.instanceId}`);
      assert.notEqual(i.condition, 'Killing', 'never kills twice');
      assert.ok(k.reason.length > 0);
      i.condition = 'Killing';
    }
    if (this.opts.queueMode) this.queued = r.launch;
    else for (let k = 0; k < r.launch; k++) this.insts.push(this.newInstance());
    return r;
  }

  /** One world step. */
  world(): void {
    const s = this.step++;
    const adv = (id: string): boolean => this.opts.advances?.(id, s) ?? true;
    const next: SimInst[] = [];
    for (const i of this.insts) {
      if (!adv(i.instanceId)) {
        next.push(i);
        continue;
      }
      if (i.condition === 'Killing') continue;
      if (i.version !== this.app.version) {
        if (this.opts.oldFails?.(i.instanceId, s)) continue;
        next.push(i);
        continue;
      }
      switch (i.condition) {
        case 'Scheduled':
          next.push({ ...i, condition: 'Staging' });
          break;
        case 'Staging':
          if (i.fate === 'fails') break; // terminal → gone
          next.push({ ...i, condition: 'Running', startedAt: 1000 + s * 10 });
          break;
        case 'Running':
          if (this.app.hasHealthChecks && i.healthy === undefined) next.push({ ...i, healthy: i.fate === 'healthy' });
          else if (this.app.hasReadinessChecks && i.ready === undefined && (i.healthy !== false || !this.app.hasHealthChecks))
            next.push({ ...i, ready: i.fate === 'healthy' });
          else next.push(i);
          break;
        default:
          next.push(i);
      }
    }
    if (this.opts.queueMode) {
      for (let k = 0; k < this.queued; k++) next.push({ ...this.newInstance(), condition: 'Staging' });
      this.queued = 0;
    }
    this.insts = next;
  }

  /** Runs decide/world until done or `maxTicks`; checks the invariants after every decision. */
  run(maxTicks: number, check: (sim: Sim, r: TickResult, servingBefore: number) => void): TickResult {
    let r: TickResult | undefined;
    for (let t = 0; t < maxTicks; t++) {
      const before = this.serving();
      r = this.decide();
      this.history.push({ kill: r.kill.length, launch: r.launch, total: this.total(), healthy: this.serving() });
      check(this, r, before);
      if (r.done) return r;
      this.world();
    }
    return r!;
  }
}

/** The safety invariants, for non-resident apps starting from `instances` healthy old instances. */
function invariants(sim: Sim, _r: TickResult, servingBefore: number): void {
  const { minHealthy, maxCapacity, special } = minHealthyAndMaxCapacity(sim.app);
  const cap = maxCapacity + (special ? 1 : 0);
  assert.ok(sim.total() <= cap, `total ${sim.total()} ≤ ${cap} (tick ${sim.step}: ${JSON.stringify(sim.history.at(-1))})`);
  const floor = Math.min(minHealthy, servingBefore);
  assert.ok(sim.serving() >= floor, `healthy ${sim.serving()} ≥ ${floor} after kills (tick ${sim.step})`);
}

function finishedCleanly(sim: Sim): void {
  const n = sim.app.instances;
  assert.equal(sim.insts.filter((i) => i.version !== sim.app.version).length, 0, 'no old instance left');
  assert.equal(sim.insts.length, n, 'exactly `instances` instances');
  assert.equal(sim.insts.filter((i) => isConsideredHealthy(sim.app, i, true)).length, n, 'all new ones healthy(+ready)');
}

const STRATEGIES: [number, number][] = [
  [1, 1],
  [1, 0],
  [0, 0],
  [0.5, 0],
  [0.5, 0.5],
];
const CHECKS: { hc: boolean; rc: boolean }[] = [
  { hc: true, rc: false },
  { hc: false, rc: false },
  { hc: true, rc: true },
];

test('rolling upgrade runs to completion for every strategy, 1..10 instances, with capacity/health invariants', () => {
  for (const [mhc, moc] of STRATEGIES)
    for (const { hc, rc } of CHECKS)
      for (const queueMode of [false, true])
        for (let n = 1; n <= 10; n++) {
          const sim = new Sim(spec(n, mhc, moc, { hasHealthChecks: hc, hasReadinessChecks: rc }), n, { queueMode });
          const r = sim.run(200, invariants);
          assert.ok(r.done, `(${mhc},${moc}) n=${n} hc=${hc} rc=${rc} queue=${queueMode} finished`);
          assert.deepEqual(r.progress, { newHealthy: n, oldRemaining: 0, target: n });
          finishedCleanly(sim);
        }
});

test('rolling upgrade: first decisions per strategy (Nomad-style table)', () => {
  // [mhc, moc, n] → first tick {kill, launch}, and the bounds
  const table: { s: [number, number, number]; kill: number; launch: number; minHealthy: number; maxCapacity: number; eff: number }[] = [
    { s: [1, 1, 3], kill: 0, launch: 3, minHealthy: 3, maxCapacity: 6, eff: 6 }, // all new side by side
    { s: [1, 0, 3], kill: 0, launch: 1, minHealthy: 3, maxCapacity: 3, eff: 4 }, // special case: one over
    { s: [0, 0, 3], kill: 3, launch: 0, minHealthy: 0, maxCapacity: 3, eff: 3 }, // kill all first (downtime)
    { s: [0.5, 0, 4], kill: 2, launch: 0, minHealthy: 2, maxCapacity: 4, eff: 4 }, // kill half first
    { s: [0.5, 0.5, 4], kill: 2, launch: 2, minHealthy: 2, maxCapacity: 6, eff: 6 },
    { s: [0.5, 0, 1], kill: 0, launch: 1, minHealthy: 1, maxCapacity: 1, eff: 2 }, // special case at n=1
    { s: [0.5, 0.5, 1], kill: 0, launch: 1, minHealthy: 1, maxCapacity: 1, eff: 2 },
    { s: [0.7, 0.15, 10], kill: 3, launch: 1, minHealthy: 7, maxCapacity: 11, eff: 11 },
    { s: [0.5, 0.15, 100], kill: 50, launch: 15, minHealthy: 50, maxCapacity: 115, eff: 115 }, // 1.15×100 is 114.99999999999999
  ];
  for (const row of table) {
    const [mhc, moc, n] = row.s;
    const app = spec(n, mhc, moc);
    const b = minHealthyAndMaxCapacity(app);
    assert.deepEqual([b.minHealthy, b.maxCapacity, b.effectiveMaxCapacity], [row.minHealthy, row.maxCapacity, row.eff], `bounds ${row.s}`);
    const sim = new Sim(app, n);
    const r = sim.decide();
    assert.deepEqual([r.kill.length, r.launch], [row.kill, row.launch], `first tick ${row.s}`);
    assert.ok(r.kill.every((k) => k.reason === 'replaced by version v2'));
  }
});

test('rolling upgrade (1,0): one new instance at a time, never more than n+1', () => {
  const sim = new Sim(spec(3, 1, 0), 3);
  const r = sim.run(100, invariants);
  assert.ok(r.done);
  assert.ok(sim.history.every((h) => h.total <= 4));
  assert.ok(sim.history.every((h) => h.launch <= 1));
});

test('rolling upgrade stalls — without violating capacity — when new instances never become healthy', () => {
  for (const [mhc, moc] of STRATEGIES)
    for (const { hc, rc } of CHECKS.filter((c) => c.hc || c.rc))
      for (let n = 1; n <= 10; n++)
        for (const bad of ['first', 'all'] as const) {
          const fate = (k: number): Fate => (bad === 'all' || k === 0 ? 'never' : 'healthy');
          const sim = new Sim(spec(n, mhc, moc, { hasHealthChecks: hc, hasReadinessChecks: rc }), n, { fate });
          const r = sim.run(150, invariants);
          assert.equal(r.done, false, `(${mhc},${moc}) n=${n} ${bad} stalls`);
          assert.ok(r.progress.newHealthy < n);
          // The old instances are only killed as far as the strategy allows.
          const { minHealthy } = minHealthyAndMaxCapacity(sim.app);
          assert.ok(sim.serving() >= minHealthy);
        }
});

test('rolling upgrade replaces new instances that fail to start', () => {
  const sim = new Sim(spec(4, 1, 0.5), 4, { fate: (k) => (k % 3 === 0 && k < 6 ? 'fails' : 'healthy') });
  const r = sim.run(200, invariants);
  assert.ok(r.done);
  finishedCleanly(sim);
});

test('rolling upgrade is resumable: a half-done restart continues from the instances alone', () => {
  const app = spec(4, 1, 0);
  const sim = new Sim(app, 4);
  for (let t = 0; t < 5; t++) {
    sim.decide();
    sim.world();
  }
  // "Failover": a fresh simulator with the same instances.
  const resumed = new Sim(app, 0);
  resumed.insts = sim.insts.map((i) => ({ ...i }));
  resumed.launched = sim.launched;
  const r = resumed.run(100, invariants);
  assert.ok(r.done);
  finishedCleanly(resumed);
});

const old = (id: string, over: Partial<InstanceView> = {}): InstanceView => ({
  instanceId: id,
  version: 'v1',
  condition: 'Running',
  healthy: true,
  stagedAt: 0,
  startedAt: 1,
  ...over,
});

test('rolling upgrade kill order: unreachable → unhealthy → staging before healthy ones', () => {
  const instances = [
    old('h1', { startedAt: 100 }),
    old('h2', { startedAt: 200 }),
    old('st', { condition: 'Staging', healthy: undefined, startedAt: undefined }),
    old('un', { condition: 'Unreachable', unreachableSince: 5 }),
    old('bad', { healthy: false }),
    old('h3', { startedAt: 300 }),
  ];
  // 6 old, target 3: the 3 extra go, not-healthy ones first; the 3 healthy stay.
  const r = rollingUpgradeTick(spec(3, 1, 1), instances);
  assert.deepEqual(r.kill.map((k) => k.instanceId), ['un', 'bad', 'st']);
  assert.equal(r.kill[0]!.reason, 'replaced by version v2 (unreachable)');
  assert.equal(r.launch, 0, 'the instances being killed still hold capacity (6 = maxCapacity)');
});

test('rolling upgrade killSelection picks among healthy old instances', () => {
  const five = [1, 2, 3, 4, 5].map((k) => old(`o${k}`, { startedAt: k * 100 }));
  // (1,0), n=3: minHealthy 3, 5 healthy → 2 can go (and 2 are extra).
  const young = rollingUpgradeTick(spec(3, 1, 0), five);
  assert.deepEqual(young.kill.map((k) => k.instanceId), ['o5', 'o4']);
  const oldest = rollingUpgradeTick(spec(3, 1, 0, { killSelection: 'OLDEST_FIRST' }), five);
  assert.deepEqual(oldest.kill.map((k) => k.instanceId), ['o1', 'o2']);
});

test('rolling upgrade: inactive and never-launched old instances go at once and free capacity', () => {
  const r = rollingUpgradeTick(spec(2, 1, 0), [
    old('a'),
    old('b', { condition: 'UnreachableInactive', unreachableSince: 0 }),
    old('c', { condition: 'Scheduled', healthy: undefined }),
  ]);
  assert.deepEqual(
    r.kill.map((k) => [k.instanceId, k.reason]),
    [
      ['b', 'replaced by version v2 (unreachable too long)'],
      ['c', 'replaced by version v2 (never launched)'],
    ],
  );
  // minHealthy 2 = maxCapacity 2 → special case, capacity 3; 1 counted (a) → 2 launches.
  assert.equal(r.launch, 2);
});

test('rolling upgrade: health results unknown after a failover do not count as healthy (no kills)', () => {
  const r = rollingUpgradeTick(spec(3, 0.5, 0), [old('a', { healthy: undefined }), old('b', { healthy: undefined }), old('c', { healthy: undefined })]);
  assert.equal(r.kill.length, 0);
  assert.equal(r.launch, 0, 'no capacity: maxCapacity 3 is used by the old ones');
});

test('rolling upgrade: readiness gates the kill of old instances', () => {
  const app = spec(1, 1, 1, { hasReadinessChecks: true });
  const fresh: InstanceView = { instanceId: 'n', version: 'v2', condition: 'Running', healthy: true, stagedAt: 5, startedAt: 6 };
  let r = rollingUpgradeTick(app, [old('o'), fresh]);
  assert.deepEqual([r.kill.length, r.launch, r.done], [0, 0, false]);
  r = rollingUpgradeTick(app, [old('o'), { ...fresh, ready: true }]);
  assert.deepEqual(r.kill.map((k) => k.instanceId), ['o']);
  r = rollingUpgradeTick(app, [{ ...fresh, ready: true }]);
  assert.equal(r.done, true);
});

test('rolling upgrade: extra new-version instances (came back after a partition) are killed', () => {
  const app = spec(2, 1, 1);
  const n = (id: string, over: Partial<InstanceView> = {}): InstanceView => ({ instanceId: id, version: 'v2', condition: 'Running', healthy: true, stagedAt: 1, startedAt: 2, ...over });
  const r = rollingUpgradeTick(app, [n('a'), n('b'), n('back', { wasUnreachable: true })]);
  assert.deepEqual(r.kill, [{ instanceId: 'back', reason: 'surplus after partition heal' }]);
  assert.equal(r.done, false);
  assert.equal(rollingUpgradeTick(app, [n('a'), n('b')]).done, true);
});

test('rolling upgrade of a resident app never goes over capacity (kills one more instead)', () => {
  const app = spec(3, 1, 0, { resident: true });
  const sim = new Sim(app, 3);
  const r = sim.run(100, (s) => {
    assert.ok(s.total() <= 3, 'resident: no over-capacity');
    assert.ok(s.serving() >= 2, 'at most one below minHealthy');
  });
  assert.ok(r.done);
  finishedCleanly(sim);
});

test('rolling upgrade to 0 instances kills the old ones and finishes', () => {
  const sim = new Sim(spec(0, 1, 1), 3);
  const r = sim.run(10, () => {});
  assert.ok(r.done);
  assert.equal(sim.insts.length, 0);
});

test('property: random strategies, sizes and health outcomes never break capacity or the health floor', () => {
  const frac = fc.oneof(fc.constantFrom(0, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true }));
  fc.assert(
    fc.property(
      fc.record({
        n: fc.integer({ min: 0, max: 10 }),
        oldCount: fc.integer({ min: 0, max: 12 }),
        mhc: frac,
        moc: frac,
        hc: fc.boolean(),
        rc: fc.boolean(),
        queueMode: fc.boolean(),
        fates: fc.array(fc.constantFrom<Fate>('healthy', 'healthy', 'healthy', 'never', 'fails'), { minLength: 1, maxLength: 30 }),
        moves: fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        oldFail: fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 4 }),
      }),
      (p) => {
        const app = spec(p.n, p.mhc, p.moc, { hasHealthChecks: p.hc, hasReadinessChecks: p.rc });
        const { maxCapacity, special } = minHealthyAndMaxCapacity(app);
        const oldCount = Math.min(p.oldCount, maxCapacity + (special ? 1 : 0)); // a valid starting point
        let h = 0;
        const sim = new Sim(app, oldCount, {
          queueMode: p.queueMode,
          fate: (k) => p.fates[k % p.fates.length]!,
          // Random progress for 60 steps, then everything moves (so that liveness can be judged).
          advances: (_id, s) => s >= 60 || p.moves[h++ % p.moves.length]!,
          oldFails: (id, s) => p.oldFail.includes(s * 16 + Number(id.slice(4))),
        });
        const r = sim.run(160, invariants);
        const allGood = p.fates.every((f) => f === 'healthy');
        if (allGood) {
          assert.ok(r.done, 'with healthy new instances the restart finishes');
          finishedCleanly(sim);
        }
        if (r.done) finishedCleanly(sim);
      },
    ),
    { numRuns: 400 },
  );
});

test('rolling upgrade never kills a healthy old instance while a not-healthy one is left (health floor)', () => {
  // (1,0), n=3: minHealthy 3. A came back from a partition (healthy), B is staging, C healthy, N new healthy.
  const fresh: InstanceView = { instanceId: 'N', version: 'v2', condition: 'Running', healthy: true, stagedAt: 5, startedAt: 6 };
  const r = rollingUpgradeTick(spec(3, 1, 0), [old('A', { wasUnreachable: true }), old('B', { condition: 'Staging', healthy: undefined }), old('C'), fresh]);
  assert.deepEqual(r.kill.map((k) => k.instanceId), ['B']);
});
