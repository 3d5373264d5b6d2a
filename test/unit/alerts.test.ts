// The alert engine (src/core/alerts): expression parsing and evaluation over plain series, the
// Prometheus state machine (inactive → pending → firing after `for` → resolved) on a ManualClock, and
// every default rule firing — alone — on a synthetic history of the scenario it is about.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AlertEngine,
  DEFAULT_ALERT_RULES,
  compileRule,
  formatDuration,
  measure,
  parseDuration,
  parseExpr,
  parseRules,
  prometheusRulesFile,
  seriesHistory,
  withFor,
  type AlertEvent,
  type MetricHistory,
  type Sample,
} from '../../src/core/alerts/index.ts';
import { ValidationError } from '../../src/protocol/errors.ts';
import { ManualClock } from '../../src/runtime/clock.ts';

/** A history that records whole snapshots, as the master's sampler does. */
class Recorder implements MetricHistory {
  readonly data = new Map<string, Sample[]>();
  record(t: number, snapshot: Record<string, number>): void {
    for (const [k, v] of Object.entries(snapshot)) {
      let s = this.data.get(k);
      if (!s) this.data.set(k, (s = []));
      s.push({ t, v });
    }
  }
  series(key: string, since: number): Sample[] {
    return (this.data.get(key) ?? []).filter((s) => s.t >= since);
  }
}

describe('durations and expressions', () => {
  it('parses and prints durations as Prometheus does', () => {
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('5 m'), undefined);
    assert.equal(parseDuration('m'), undefined);
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(0), '0s');
  });

  it('parses the documented forms and refuses others with a reason', () => {
    assert.deepEqual(parseExpr('increase(master/tasks_lost, 5m) > 0'), { fn: 'increase', key: 'master/tasks_lost', windowMs: 300_000, op: '>', threshold: 0 });
    assert.deepEqual(parseExpr('value(master/elected)==0'), { fn: 'value', key: 'master/elected', op: '==', threshold: 0 });
    assert.throws(() => parseExpr('rate(master/tasks_lost, 5m) > 0'), /unknown function rate/);
    assert.throws(() => parseExpr('avg(master/cpus_percent) > 0.9'), /needs a window/);
    assert.throws(() => parseExpr('value(master/elected, 5m) == 0'), /takes no window/);
    assert.throws(() => parseExpr('master/elected == 0'), /expected FUNCTION/);
  });

  it('measures each function over a series', () => {
    const h = seriesHistory({
      c: [ { t: 0, v: 5 }, { t: 10, v: 7 }, { t: 20, v: 2 }, { t: 30, v: 4 } ], // reset at t=20
      g: [ { t: 0, v: 3 }, { t: 10, v: 3 }, { t: 20, v: 1 }, { t: 30, v: 2 } ],
    });
    const m = (text: string, now = 30) => measure(parseExpr(text), h, now);
    assert.equal(m('increase(c, 25ms) > 0'), 2 + 2 + 2, 'from the sample in force at the window start (5): +2, a reset to 2 counts +2, then +2');
    assert.equal(m('increase(c, 1h) > 0'), 5 + 2 + 2 + 2, 'born inside the window: counted from 0');
    assert.equal(m('delta(g, 15ms) < 0'), -1, 'last − the sample in force at the window start (10: 3)');
    assert.equal(m('drop(g, 15ms) > 0'), 1, 'below the window max (3) by 1');
    assert.equal(m('rise(g, 15ms) > 0'), 1, 'above the window min (1) by 1');
    assert.equal(m('min(g, 1h) < 0'), 1);
    assert.equal(m('max(g, 15ms) < 0'), 3);
    assert.equal(m('avg(g, 1h) < 0'), 9 / 4);
    assert.equal(m('value(g) > 0'), 2);
    assert.equal(m('value(nope) > 0'), undefined, 'an unknown key is no data');
    assert.equal(m('value(g) > 0', 30 + 6 * 60_000), undefined, 'a value older than 5 minutes is stale');
    assert.equal(m('avg(g, 10ms) > 0', 30 + 60_000), undefined, 'no sample in the window: no data');
  });

  it('validates rule files with the field at fault', () => {
    const good = { name: 'X', expr: 'value(a) > 1', severity: 'info', summary: 's' };
    assert.equal(parseRules({ rules: [good] })[0]!.forMs, 0);
    assert.throws(() => parseRules([{ ...good, expr: 'nope' }]), (e) => e instanceof ValidationError && /rules\[0\]\.expr/.test(e.message));
    assert.throws(() => parseRules([{ ...good, for: 'soon' }]), (e) => e instanceof ValidationError && /rules\[0\]\.for/.test(e.message));
    assert.throws(() => parseRules([good, good]), (e) => e instanceof ValidationError && /duplicate rule name X/.test(e.message));
    assert.throws(() => parseRules([{ ...good, name: 'a-b' }]), ValidationError);
  });
});

describe('alert state machine (ManualClock)', () => {
  const rule = compileRule({ name: 'High', expr: 'value(x) > 10', for: '30s', severity: 'warning', summary: 'x is high' });

  it('goes pending, fires once it held for `for`, and resolves', () => {
    const clock = new ManualClock(1_000_000);
    const h = new Recorder();
    const engine = new AlertEngine([rule]);
    const events: AlertEvent[] = [];
    let x = 0;
    clock.setInterval(() => {
      h.record(clock.now(), { x });
      events.push(...engine.evaluate(clock.now(), h));
    }, 5000);

    clock.advance(10_000);
    assert.deepEqual(engine.alerts(), []);
    x = 11;
    clock.advance(5000);
    const start = clock.now();
    assert.deepEqual(events.map((e) => `${e.from}→${e.to}`), ['inactive→pending']);
    assert.equal(engine.alerts()[0]!.state, 'pending');
    assert.equal(engine.alerts()[0]!.activeAt, start);
    clock.advance(25_000);
    assert.equal(engine.alerts()[0]!.state, 'pending', 'not yet: 25 s < 30 s');
    clock.advance(5000);
    assert.equal(engine.alerts()[0]!.state, 'firing');
    assert.equal(engine.alerts()[0]!.firedAt, start + 30_000);
    assert.equal(engine.alerts()[0]!.value, 11);
    assert.equal(engine.firingCount(), 1);
    x = 3;
    clock.advance(5000);
    assert.deepEqual(engine.alerts(), []);
    assert.deepEqual(events.map((e) => `${e.from}→${e.to}`), ['inactive→pending', 'pending→firing', 'firing→inactive']);
    assert.equal(events[2]!.value, 3);
  });

  it('a dip while pending starts the wait over; for: 0 fires at once', () => {
    const h = seriesHistory({ x: [ { t: 0, v: 11 }, { t: 10_000, v: 0 }, { t: 20_000, v: 11 } ] });
    const engine = new AlertEngine([rule, compileRule({ name: 'Now', expr: 'value(x) > 10', severity: 'info', summary: 's' })]);
    engine.evaluate(0, h);
    assert.deepEqual(engine.alerts().map((a) => `${a.name}:${a.state}`), ['Now:firing', 'High:pending']);
    engine.evaluate(10_000, h);
    assert.deepEqual(engine.alerts(), []);
    engine.evaluate(20_000, h);
    engine.evaluate(45_000, h);
    assert.equal(engine.alerts().find((a) => a.name === 'High')!.state, 'pending', 'activeAt restarted at 20 s');
    engine.evaluate(50_000, h);
    assert.equal(engine.alerts().find((a) => a.name === 'High')!.state, 'firing');
  });
});

describe('default rules, each on the scenario it is about', () => {
  const STEP = 5000;
  const healthy = (t: number): Record<string, number> => ({
    'master/uptime_secs': 10_000 + t / 1000,
    'master/elected': 1,
    'master/slaves_active': 3,
    'master/tasks_lost': 0,
    'master/tasks_unreachable': 0,
    'master/cpus_percent': 0.2,
    'master/mem_percent': 0.3,
    'master/disk_percent': 0.1,
  });
  const T0 = 10 * 60_000; // ten healthy minutes first
  // `lag`: how long the windowed function takes to cross its threshold after the change; `also`: rules
  // that the same scenario rightly moves too (a restart looks like the start of flapping, and back).
  type Scenario = { change: (s: Record<string, number>, since: number) => void; firesAfter: number; lag?: number; also?: string[] };
  const scenarios: Record<string, Scenario> = {
    MasterRestarted: { change: (s, since) => void (s['master/uptime_secs'] = since / 1000), firesAfter: 0, also: ['MasterFlapping'] },
    MasterFlapping: { change: (s, since) => void (s['master/uptime_secs'] = (since / 1000) % 50), firesAfter: 5 * 60_000, also: ['MasterRestarted'] },
    TasksLost: { change: (s) => void (s['master/tasks_lost'] = 4), firesAfter: 0 },
    TasksUnreachable: { change: (s) => void (s['master/tasks_unreachable'] = 2), firesAfter: 0 },
    AgentsDropping: { change: (s) => void (s['master/slaves_active'] = 2), firesAfter: 30_000 },
    ClusterCpuHigh: { change: (s) => void (s['master/cpus_percent'] = 1), firesAfter: 5 * 60_000, lag: 5 * 60_000 },
    ClusterMemHigh: { change: (s) => void (s['master/mem_percent'] = 0.97), firesAfter: 5 * 60_000, lag: 5 * 60_000 },
    ClusterDiskHigh: { change: (s) => void (s['master/disk_percent'] = 0.95), firesAfter: 5 * 60_000 },
    NoLeader: { change: (s) => void (s['master/elected'] = 0), firesAfter: 60_000 },
    TaskOomKilled: { change: (s) => void (s['master/task_failed/source_slave/reason_container_limitation_memory'] = 1), firesAfter: 0 },
  };

  it('has a scenario for every default rule', () => {
    assert.deepEqual(Object.keys(scenarios).sort(), DEFAULT_ALERT_RULES.map((r) => r.name).sort());
  });

  for (const [name, sc] of Object.entries(scenarios)) {
    it(`${name} fires within its for window, and nothing else does`, () => {
      const clock = new ManualClock(0);
      const h = new Recorder();
      const engine = new AlertEngine(DEFAULT_ALERT_RULES);
      let changedAt: number | undefined;
      let firedAt: number | undefined;
      const others = new Set<string>();
      clock.setInterval(() => {
        const now = clock.now();
        const snap = healthy(now);
        if (now >= T0) sc.change(snap, now - T0);
        h.record(now, snap);
        changedAt ??= now >= T0 ? now : undefined;
        for (const e of engine.evaluate(now, h)) {
          if (e.name === name) {
            if (e.to === 'firing') firedAt ??= now;
          } else if (!sc.also?.includes(e.name)) others.add(`${e.name} ${e.from}→${e.to}`);
        }
      }, STEP);
      clock.advance(T0 + 11 * 60_000);
      assert.deepEqual([...others], [], 'only the rule of the scenario changes state');
      assert.ok(firedAt !== undefined, `${name} fired`);
      const after = firedAt - changedAt!;
      const rule = DEFAULT_ALERT_RULES.find((r) => r.name === name)!;
      assert.equal(rule.forMs, sc.firesAfter);
      assert.ok(after >= rule.forMs && after <= rule.forMs + (sc.lag ?? 0) + STEP, `${name} fired ${after} ms after the change (for ${rule.forMs} ms)`);
    });
  }

  it('withFor shortens a rule without touching the others', () => {
    const r = withFor(DEFAULT_ALERT_RULES, { AgentsDropping: '1s' });
    assert.equal(r.find((x) => x.name === 'AgentsDropping')!.forMs, 1000);
    assert.equal(r.find((x) => x.name === 'NoLeader')!.forMs, 60_000);
    assert.throws(() => withFor(DEFAULT_ALERT_RULES, { NoLeader: 'later' }), /bad duration/);
  });
});

describe('Prometheus export', () => {
  it('translates every function to PromQL on the given names', () => {
    const text = prometheusRulesFile(DEFAULT_ALERT_RULES, (k) => `m_${k.replace(/\W/g, '_')}`);
    assert.match(text, /expr: "increase\(m_master_tasks_lost\[5m\]\) > 0"/);
    assert.match(text, /expr: "max_over_time\(m_master_slaves_active\[5m\]\) - m_master_slaves_active > 0"\n {8}for: 30s/);
    assert.match(text, /expr: "m_master_tasks_unreachable - min_over_time\(m_master_tasks_unreachable\[5m\]\) > 0"/);
    assert.match(text, /expr: "avg_over_time\(m_master_cpus_percent\[5m\]\) > 0.9"/);
    assert.match(text, /expr: "m_master_uptime_secs < 120"/);
    assert.match(text, /expr: "max\(m_master_elected\) < 1 or absent\(m_master_elected\)"/);
    assert.match(text, /severity: "critical"/);
    assert.equal(text.match(/- alert: /g)!.length, DEFAULT_ALERT_RULES.length);
  });
});
