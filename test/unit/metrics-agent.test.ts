// The agent's metric readers: the StatsD line protocol, per-task aggregation (rates, percentiles,
// bounded series), /proc parsing and grouping of processes into containers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { containerUsage, parseProcStat, type ProcStat } from '../../src/agent/isolation/proc-stats.ts';
import { RateWindow, TaskAppMetrics } from '../../src/agent/statsd-aggregate.ts';
import { parseStatsdLine, parseStatsdPacket } from '../../src/agent/statsd-parse.ts';
import { statsdPortOf, taskMetricLabels } from '../../src/agent/statsd.ts';

describe('StatsD parsing', () => {
  it('reads counters, gauges (set and change), timers, sample rates; ignores tags', () => {
    assert.deepEqual(parseStatsdLine('hits:1|c'), { name: 'hits', type: 'counter', value: 1, rate: 1 });
    assert.deepEqual(parseStatsdLine('hits:3|c|@0.1|#env:prod'), { name: 'hits', type: 'counter', value: 3, rate: 0.1 });
    assert.deepEqual(parseStatsdLine('q:-2|g'), { name: 'q', type: 'gauge', value: -2, rate: 1, delta: true });
    assert.deepEqual(parseStatsdLine('q:5.5|g'), { name: 'q', type: 'gauge', value: 5.5, rate: 1 });
    assert.deepEqual(parseStatsdLine('lat:12.5|ms'), { name: 'lat', type: 'timer', value: 12.5, rate: 1 });
    assert.deepEqual(parseStatsdLine('lat:1|h'), { name: 'lat', type: 'timer', value: 1, rate: 1 });
    assert.equal(parseStatsdLine('users:bob|s'), 'unsupported');
    for (const bad of ['nocolon|c', 'x:1', 'x:abc|c', 'x:1|zz', 'x:1|c|@2', 'x:-1|ms', ':1|c', `${'n'.repeat(300)}:1|c`]) assert.equal(parseStatsdLine(bad), 'malformed', bad);
  });

  it('splits a datagram into lines and counts what it cannot use', () => {
    const p = parseStatsdPacket('a:1|c\nb:2|g\r\n\ngarbage\nu:x|s\n');
    assert.deepEqual(p.samples.map((s) => s.name), ['a', 'b']);
    assert.equal(p.malformed, 1);
    assert.equal(p.unsupported, 1);
  });
});

describe('per-task aggregation', () => {
  it('counters add up (scaled by sample rate) with a rate per second; gauges set and change; timers give percentiles', () => {
    let now = 1_000_000;
    const m = new TaskAppMetrics(() => now);
    m.ingest(parseStatsdPacket('hits:1|c\nhits:1|c|@0.5\nq:10|g\nq:-3|g\nlat:10|ms\nlat:30|ms').samples);
    now += 10_000;
    const v = m.view();
    assert.equal(v.counters.hits!.total, 3);
    assert.equal(v.counters.hits!.rate_per_second, 3 / 10);
    assert.equal(v.gauges.q, 7);
    const lat = v.timers.lat!;
    assert.deepEqual([lat.count, lat.min, lat.max, lat.p50, lat.total_count, lat.total_sum_ms], [2, 10, 30, 20, 2, 40]);
    assert.equal(lat.rate_per_second, 2 / 10);
  });

  it('a rate covers the last minute only', () => {
    const w = new RateWindow(0);
    w.add(1000, 60);
    assert.equal(w.perSecond(30_000), 2, 'younger than a minute: over its age');
    assert.equal(w.perSecond(50_000), 60 / 50);
    assert.equal(w.perSecond(200_000), 0);
  });

  it('caps the series per task and keeps a name to its first type', () => {
    const m = new TaskAppMetrics(() => 0, 2);
    m.ingest(parseStatsdPacket('a:1|c\nb:1|g\nc:1|c\na:1|g').samples);
    const v = m.view();
    assert.deepEqual(Object.keys(v.counters), ['a']);
    assert.deepEqual(Object.keys(v.gauges), ['b']);
    assert.equal(v.dropped_samples, 2);
  });

  it('labels: the app id from MARATHON_APP_ID and the task labels (at most 16)', () => {
    const labels = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    const info = { command: { environment: { variables: [{ name: 'MARATHON_APP_ID', value: '/a/b' }] } }, labels: { labels } } as any;
    const l = taskMetricLabels({ info });
    assert.equal(l.app, '/a/b');
    assert.equal(Object.keys(l.labels).length, 16);
  });

  it('finds the StatsD port a recovered task was given in its environment', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-proc-'));
    try {
      fs.mkdirSync(path.join(root, '42'));
      fs.writeFileSync(path.join(root, '42', 'environ'), 'PATH=/bin\0STATSD_UDP_PORT=40123\0HOME=/\0');
      fs.mkdirSync(path.join(root, '43'));
      fs.writeFileSync(path.join(root, '43', 'environ'), 'X_STATSD_UDP_PORT=1\0');
      assert.equal(statsdPortOf(42, root), 40123);
      assert.equal(statsdPortOf(43, root), undefined);
      assert.equal(statsdPortOf(44, root), undefined);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('/proc readers', () => {
  const stat = (pid: number, comm: string, pgrp: number, session: number, utime: number, threads: number, rss: number) =>
    `${pid} (${comm}) S 1 ${pgrp} ${session} 0 -1 4194560 100 0 0 0 ${utime} 5 2 1 20 0 ${threads} 0 12345 1000000 ${rss} 18446744073709551615`;

  it('parses /proc/<pid>/stat, commands with spaces and parentheses included', () => {
    const s = parseProcStat(7, stat(7, 'a (b) c', 7, 7, 30, 4, 250))!;
    assert.deepEqual(s, { pid: 7, pgrp: 7, session: 7, utime: 30, stime: 5, cutime: 2, cstime: 1, threads: 4, rss: 250 });
    assert.equal(parseProcStat(1, 'garbage'), undefined);
  });

  it('groups processes by the task wrapper’s process group or session, and by cgroup for those that left it', () => {
    const procs = [
      parseProcStat(100, stat(100, 'sh', 100, 100, 10, 1, 100))!,
      parseProcStat(101, stat(101, 'worker', 101, 100, 90, 8, 1000))!, // own group, same session
      parseProcStat(102, stat(102, 'daemon', 102, 102, 50, 2, 10))!, // escaped: setsid
      parseProcStat(200, stat(200, 'other', 200, 200, 1, 1, 1))!,
    ] as ProcStat[];
    const usage = containerUsage([{ containerId: 'c-1', pid: 100 }], procs, {
      clkTck: 100,
      pageSize: 4096,
      cgroupOf: (pid) => (pid === 102 ? '4:memory:/corral/c-1\n' : '4:memory:/\n'),
    });
    const u = usage.get('c-1')!;
    assert.equal(u.processes, 3);
    assert.equal(u.threads, 11);
    assert.equal(u.cpus_user_time_secs, (10 + 2 + 90 + 2 + 50 + 2) / 100);
    assert.equal(u.cpus_system_time_secs, (3 * 6) / 100);
    assert.equal(u.mem_rss_bytes, 1110 * 4096);
    assert.equal(containerUsage([{ containerId: 'c-1', pid: 100 }], procs, { clkTck: 100, pageSize: 4096 }).get('c-1')!.processes, 2, 'without cgroups: group and session only');
  });
});
