// The shared metrics pieces: libprocess-style timers, the bounded history, Mesos key → Prometheus name
// mapping, the typed snapshot and the exposition it renders to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { masterKindOf } from '../../src/master/metrics.ts';
import { masterPromName } from '../../src/master/metrics-names.ts';
import { MetricsHistory } from '../../src/metrics/history.ts';
import { MetricSet } from '../../src/metrics/metric-set.ts';
import { exposition, familiesOf } from '../../src/metrics/prometheus.ts';
import { promSeries, sanitizeLabelName, withBaseUnits } from '../../src/metrics/prometheus-names.ts';
import { HistoryQuery, sinceMs } from '../../src/metrics/routes.ts';
import { quantile, WindowTimer } from '../../src/metrics/timer.ts';

describe('WindowTimer', () => {
  it('reports the last value, count, min, max and interpolated percentiles of the window', () => {
    let now = 0;
    const t = new WindowTimer(() => now, 60_000);
    assert.deepEqual(t.stats(), { count: 0, percentiles: {}, totalCount: 0, totalSumMs: 0 });
    for (let i = 1; i <= 100; i++) t.record(i);
    const s = t.stats();
    assert.equal(s.last, 100);
    assert.equal(s.count, 100);
    assert.equal(s.min, 1);
    assert.equal(s.max, 100);
    assert.equal(s.percentiles.p50, 50.5);
    assert.ok(Math.abs(s.percentiles.p99! - 99.01) < 1e-9);
    assert.equal(s.totalCount, 100);
    assert.equal(s.totalSumMs, 5050);
    assert.equal(t.stats(), s, 'unchanged window: the cached stats');
  });

  it('forgets samples older than the window but keeps the totals (Prometheus _count and _sum never go down)', () => {
    let now = 0;
    const t = new WindowTimer(() => now, 1000);
    t.record(500);
    now = 600;
    t.record(10);
    now = 1200;
    let s = t.stats();
    assert.deepEqual([s.count, s.min, s.max, s.last], [1, 10, 10, 10]);
    now = 5000;
    s = t.stats();
    assert.equal(s.count, 0);
    assert.equal(s.min, undefined);
    assert.equal(s.last, 10, 'the last value stays');
    assert.deepEqual([s.totalCount, s.totalSumMs], [2, 510]);
  });

  it('keeps at most `capacity` samples', () => {
    const t = new WindowTimer(() => 0, 60_000, 4);
    for (const v of [100, 1, 2, 3, 4]) t.record(v);
    const s = t.stats();
    assert.deepEqual([s.count, s.max, s.totalCount], [4, 4, 5]);
  });

  it('quantile interpolates between closest ranks', () => {
    assert.equal(quantile([10, 20, 30], 0.5), 20);
    assert.equal(quantile([10, 20], 0.5), 15);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });
});

describe('MetricsHistory', () => {
  it('keeps the last retention/interval samples per key, oldest first, skipping samples where a key had no value', () => {
    const h = new MetricsHistory({ intervalMs: 10, retentionMs: 30 });
    assert.equal(h.capacity, 4);
    for (let t = 0; t < 60; t += 10) h.record(t, t === 20 ? { a: t } : { a: t, b: -t });
    assert.deepEqual(h.points('a'), [[20, 20], [30, 30], [40, 40], [50, 50]]);
    assert.deepEqual(h.points('b'), [[30, -30], [40, -40], [50, -50]]);
    assert.deepEqual(h.points('a', 40), [[40, 40], [50, 50]]);
    assert.deepEqual(h.series('a', 45), [{ t: 50, v: 50 }]);
    assert.deepEqual(h.points('nope'), []);
    assert.equal(h.has('b'), true);
    assert.equal(h.has('nope'), false);
  });

  it('a key that appears late has no earlier points; non-finite values are not recorded', () => {
    const h = new MetricsHistory({ intervalMs: 10, retentionMs: 100 });
    h.record(0, { a: 1 });
    h.record(10, { a: 2, b: NaN });
    h.record(20, { a: 3, b: 7 });
    assert.deepEqual(h.points('b'), [[20, 7]]);
  });

  it('refuses keys beyond maxKeys (memory is bounded) and counts them', () => {
    const h = new MetricsHistory({ intervalMs: 10, retentionMs: 100, maxKeys: 2 });
    h.record(0, { a: 1, b: 2, c: 3 });
    assert.deepEqual(h.keys(), ['a', 'b']);
    assert.equal(h.droppedKeys, 1);
    // Once `b` has had no value for a whole window, a new key takes its place.
    for (let t = 10; t <= 120; t += 10) h.record(t, { a: 1 });
    h.record(130, { a: 1, d: 4 });
    assert.deepEqual(h.keys(), ['a', 'd']);
    assert.deepEqual(h.points('d'), [[130, 4]]);
  });

  it('`since` is epoch ms or a duration back from now; anything else is refused', () => {
    assert.equal(sinceMs('5m', 1_000_000), 700_000);
    assert.equal(sinceMs('90s', 100_000), 10_000);
    assert.equal(sinceMs('1700000000000', 0), 1_700_000_000_000);
    assert.equal(sinceMs(undefined, 5), -Infinity);
    for (const bad of ['-5', 'yesterday', '5d', '1.5m', '']) assert.equal(HistoryQuery.safeParse({ key: 'k', since: bad }).success, false, bad);
    assert.equal(HistoryQuery.safeParse({ since: '5m' }).success, false, 'key is required');
  });
});

describe('Prometheus names', () => {
  it('maps Mesos keys as documented: prefix, / → _, counters _total, gauge _total dropped, base units', () => {
    const cases: Array<[string, string]> = [
      ['master/tasks_running', 'mesos_master_tasks_running'],
      ['master/tasks_lost', 'mesos_master_tasks_lost_total'],
      ['master/cpus_total', 'mesos_master_cpus'],
      ['master/mem_revocable_total', 'mesos_master_mem_revocable'],
      ['master/uptime_secs', 'mesos_master_uptime_seconds'],
      ['master/slave_removals/reason_unhealthy', 'mesos_master_slave_removals_reason_unhealthy_total'],
      ['registrar/state_fetch_ms', 'mesos_registrar_state_fetch_seconds'],
      ['system/mem_total_bytes', 'mesos_system_mem_total_bytes'],
      ['master/task_lost/source_master/reason_slave_removed', 'mesos_master_task_state_reasons_total{state="task_lost",source="source_master",reason="reason_slave_removed"}'],
      ['allocator/mesos/roles/eng/ci/shares/dominant', 'mesos_allocator_mesos_role_dominant_share{role="eng/ci"}'],
      ['master/frameworks/my%20fw/F-1/calls/accept', 'mesos_master_framework_calls_by_type_total{framework_name="my fw",framework_id="F-1",type="accept"}'],
      ['master/frameworks/my%20fw/F-1/tasks/active/task_running', 'mesos_master_framework_tasks_active{framework_name="my fw",framework_id="F-1",state="task_running"}'],
      ['master/operations/reserve/finished', 'mesos_master_operations_finished_by_type_total{type="reserve"}'],
    ];
    for (const [key, name] of cases) assert.equal(masterPromName(key), name, key);
    assert.equal(promSeries('registrar/state_store_ms', 'gauge', { prefix: 'mesos' }).scale, 1 / 1000);
  });

  it('classifies master keys as counters or gauges', () => {
    for (const k of ['master/tasks_finished', 'master/messages_kill_task', 'master/task_failed/source_slave/reason_container_limitation_memory', 'master/frameworks/x/y/offers/sent'])
      assert.equal(masterKindOf(k), 'counter', k);
    for (const k of ['master/tasks_running', 'master/cpus_total', 'master/frameworks/x/y/tasks/active/task_running', 'master/elected']) assert.equal(masterKindOf(k), 'gauge', k);
  });

  it('sanitizes names and label names', () => {
    assert.deepEqual(withBaseUnits('a_ms_p99'), { name: 'a_seconds_p99', scale: 1 / 1000 });
    assert.equal(sanitizeLabelName('tier.name'), 'tier_name');
    assert.equal(sanitizeLabelName('__x'), 'x');
    assert.equal(sanitizeLabelName('9lives'), 'label_9lives');
  });
});

describe('MetricSet', () => {
  it('renders Mesos JSON (timers as libprocess keys) and the Prometheus exposition from the same values', async () => {
    let now = 0;
    const timer = new WindowTimer(() => now);
    timer.record(2);
    timer.record(4);
    const set = new MetricSet().gauge('master/elected', 1).counter('master/tasks_lost', 3).gauge('master/broken', NaN).timer('allocator/mesos/allocation_run_ms', timer.stats());
    const flat = set.flat();
    assert.equal(flat['master/elected'], 1);
    assert.equal(flat['master/tasks_lost'], 3);
    assert.equal('master/broken' in flat, false);
    assert.equal(flat['allocator/mesos/allocation_run_ms'], 4);
    assert.equal(flat['allocator/mesos/allocation_run_ms/count'], 2);
    assert.equal(flat['allocator/mesos/allocation_run_ms/p50'], 3);
    assert.equal(flat['allocator/mesos/allocation_run_ms/max'], 4);

    const text = await exposition(familiesOf(set, { prefix: 'mesos' }).build(), { processMetrics: false });
    assert.match(text, /^# TYPE mesos_master_tasks_lost_total counter\nmesos_master_tasks_lost_total 3$/m);
    assert.match(text, /^mesos_master_elected 1$/m);
    assert.match(text, /^# TYPE mesos_allocator_mesos_allocation_run_seconds summary$/m);
    assert.match(text, /^mesos_allocator_mesos_allocation_run_seconds\{quantile="0.5"\} 0.003$/m);
    assert.match(text, /^mesos_allocator_mesos_allocation_run_seconds_count 2$/m);
    assert.match(text, /^mesos_allocator_mesos_allocation_run_seconds_sum 0.006$/m);
    assert.match(text, /^mesos_allocator_mesos_allocation_run_last_seconds 0.004$/m);
    assert.doesNotMatch(text, /broken/);
  });
});
