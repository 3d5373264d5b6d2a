// The master's alert service on a ManualClock: it samples the snapshot and evaluates every interval,
// publishes state changes to subscribers, and stops for good (no timers left) when its term ends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRule, type AlertEvent } from '../../src/core/alerts/index.ts';
import { alertJson, alertsBody } from '../../src/master/alerts-api.ts';
import { SnapshotHistory } from '../../src/master/alerts-history.ts';
import { AlertService } from '../../src/master/alerts.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { silentLogger } from '../../src/runtime/log.ts';

describe('AlertService', () => {
  it('samples, evaluates every interval, publishes changes and stops', () => {
    const clock = new ManualClock(1_000_000);
    let agents = 2;
    const rule = compileRule({ name: 'AgentsDropping', expr: 'drop(master/slaves_active, 5m) > 0', for: '3s', severity: 'warning', summary: 'fewer agents' });
    const service = new AlertService({ clock, log: silentLogger, snapshot: () => ({ 'master/slaves_active': agents }), options: { rules: [rule], intervalMs: 1000 } });
    const seen: AlertEvent[] = [];
    service.subscribe((e) => seen.push(e));
    service.start();
    clock.advance(3000);
    assert.deepEqual(service.alerts(), []);
    agents = 1;
    clock.advance(1000);
    assert.deepEqual(seen.map((e) => `${e.to}@${e.at - 1_000_000}`), ['pending@4000']);
    clock.advance(2000);
    assert.equal(service.firing(), 0, '2 s < for 3 s');
    clock.advance(1000);
    assert.equal(service.firing(), 1);
    assert.deepEqual(seen.map((e) => `${e.to}@${e.at - 1_000_000}`), ['pending@4000', 'firing@7000']);

    const body = alertsBody(service);
    assert.equal(body.evaluated_at, 1007);
    assert.equal(body.interval_seconds, 1);
    assert.deepEqual(body.alerts, [
      { name: 'AgentsDropping', state: 'firing', severity: 'warning', summary: 'fewer agents', expr: 'drop(master/slaves_active, 5m) > 0', for: '3s', value: 1, active_at: 1004, fired_at: 1007, since: 1007 },
    ]);
    assert.equal(alertJson(service.alerts()[0]!).since, 1007);

    service.stop();
    assert.equal(clock.pendingTimers(), 0, 'no timer left once stopped');
    agents = 2;
    clock.advance(10 * 60_000);
    assert.equal(seen.length, 2, 'no events after stop');
  });

  it('keeps a bounded history', () => {
    const h = new SnapshotHistory(10_000);
    for (let t = 0; t <= 100_000; t += 100) h.record(t, { k: t });
    const s = h.series('k', Number.NEGATIVE_INFINITY);
    assert.ok(s[0]!.t >= 90_000, `oldest kept ${s[0]!.t}`);
    assert.equal(s.at(-1)!.t, 100_000);
    assert.deepEqual(h.series('k', 99_950).map((x) => x.t), [100_000]);
    assert.deepEqual(h.series('nope', 0), []);
  });
});
