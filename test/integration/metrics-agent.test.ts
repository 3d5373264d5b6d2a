// The agent's metrics over real HTTP with real task processes: slave/* keys moving with tasks,
// /monitor/statistics from cgroups and /proc, app metrics sent by a task over StatsD (UDP) and
// aggregated per task with its app and Marathon labels, /metrics/history.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, type AgentHandle } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, FakeMaster, waitUntil } from '../support/fake-master.ts';

let master: FakeMaster;
let agent: AgentHandle;
let workDir: string;
const getJson = async (p: string) => {
  const res = await fetch(agent.url + p);
  return { status: res.status, body: (await res.json()) as any };
};
const snapshot = async (): Promise<Record<string, number>> => (await getJson('/metrics/snapshot')).body;

// bash's /dev/udp: one datagram per echo, to the port the agent gave this task.
const STATSD_SCRIPT = [
  'send() { printf "%s" "$1" > "/dev/udp/$STATSD_UDP_HOST/$STATSD_UDP_PORT"; }',
  'for i in 1 2 3 4 5; do send "web.hits:1|c"; done',
  'send "web.hits:10|c|@0.5"',
  'send "web.queue:7|g"; send "web.queue:+3|g"',
  `send "$(printf 'web.latency:10|ms\\nweb.latency:20|ms\\nweb.latency:30|ms')"`,
  'send "not statsd"; send "web.users:u1|s"',
  'touch sent',
  'exec sleep 1000',
].join('\n');

describe('agent metrics', () => {
  before(async () => {
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-metrics-'));
    agent = await startAgent({
      masterUrl: master.url,
      workDir,
      port: 0,
      log: silentLogger,
      resources: 'cpus:4;mem:2048;disk:1000;ports:[31000-31100]',
      metrics: { history: { intervalMs: 50, retentionMs: 60_000 } },
    });
    await agent.registered();
  });
  after(async () => {
    await agent.close({ killTasks: true });
    await master.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  test('slave/* keys, /monitor/statistics and the history follow real tasks', async () => {
    const m0 = await snapshot();
    assert.equal(m0['slave/registered'], 1);
    assert.equal(m0['slave/cpus_total'], 4);
    assert.equal(m0['slave/tasks_running'], 0);
    assert.ok(m0['system/cpus_total']! >= 1);

    // A task that burns CPU in a child process and holds memory.
    await master.runTask(
      commandTask('busy', 'sh -c "while :; do :; done" & head -c 20000000 /dev/zero | tail -c 1 >/dev/null; exec sleep 1000', {
        resources: [
          { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } },
          { name: 'mem', type: 'SCALAR', scalar: { value: 64 } },
          { name: 'disk', type: 'SCALAR', scalar: { value: 10 } },
        ],
      }),
    );
    await master.waitForState('busy', 'TASK_RUNNING');
    const m1 = await snapshot();
    assert.equal(m1['slave/tasks_running'], 1);
    assert.equal(m1['slave/executors_running'], 1);
    assert.equal(m1['slave/cpus_used'], 0.5);
    assert.equal(m1['slave/mem_used'], 64);
    assert.equal(m1['slave/frameworks_active'], 1);

    const stats = await waitUntil(async () => {
      const s = (await getJson('/monitor/statistics')).body as any[];
      const e = s.find((x) => x.source === 'busy');
      return e && e.statistics.processes >= 2 && e.statistics.cpus_user_time_secs > 0.1 ? e : undefined;
    }, 'the busy task to show CPU time and its processes');
    assert.equal(stats.framework_id, 'fw-1');
    assert.equal(stats.executor_id, 'busy');
    const st = stats.statistics;
    assert.ok(st.timestamp > 0);
    assert.equal(st.cpus_limit, 0.5);
    assert.equal(st.disk_limit_bytes, 10 * 1024 * 1024);
    assert.ok(st.threads >= st.processes, `threads ${st.threads} ≥ processes ${st.processes}`);
    assert.ok(st.mem_rss_bytes > 0);
    assert.ok(st.cpus_system_time_secs >= 0);
    if (st.mem_limit_bytes !== undefined) assert.equal(st.mem_limit_bytes, 64 * 1024 * 1024);

    await waitUntil(async () => ((await getJson('/metrics/history?key=slave/tasks_running')).body.points as [number, number][]).some(([, v]) => v === 1), 'the history to see the task');
    await master.killTask('busy', { gracePeriodMs: 100 });
    await master.waitForState('busy', 'TASK_KILLED');
    const m2 = await snapshot();
    assert.equal(m2['slave/tasks_killed'], (m1['slave/tasks_killed'] ?? 0) + 1);
    assert.equal(m2['slave/executors_terminated'], (m1['slave/executors_terminated'] ?? 0) + 1);
    assert.equal(m2['slave/tasks_running'], 0);
    assert.equal(m2['slave/cpus_used'], 0);
    assert.ok(!((await getJson('/monitor/statistics')).body as any[]).some((x) => x.source === 'busy'));

    const h = await waitUntil(async () => {
      const r = await getJson('/metrics/history?key=slave/tasks_running&since=1h');
      return r.body.points.at(-1)?.[1] === 0 ? r : undefined;
    }, 'the history to see the task gone');
    assert.equal(h.status, 200);
    assert.ok(h.body.points.some(([, v]: [number, number]) => v === 1));
    const unknown = await getJson('/metrics/history?key=slave/nope');
    assert.equal(unknown.status, 404);
    assert.equal((await getJson('/metrics/history?key=slave/uptime_secs&since=soon')).status, 400);
  });

  test('a task sends StatsD to the port in its environment: counters, gauges and timers per task, with its labels', async () => {
    await master.runTask(
      commandTask(
        'web',
        { value: `bash -c '${STATSD_SCRIPT.replace(/'/g, `'\\''`)}'`, environment: { variables: [{ name: 'MARATHON_APP_ID', value: '/demo/web' }] } },
        { labels: { labels: [{ key: 'team', value: 'payments' }, { key: 'tier.name', value: 'front' }] } } as any,
      ),
    );
    await master.waitForState('web', 'TASK_RUNNING');
    const entry = await waitUntil(async () => {
      const tasks = (await getJson('/metrics/tasks')).body as any[];
      const t = tasks.find((x) => x.task_id === 'web');
      return t && t.counters['web.hits']?.total === 25 && t.timers['web.latency']?.count === 3 && t.unsupported_lines === 1 ? t : undefined;
    }, 'the app metrics of the task');
    assert.equal(entry.app, '/demo/web');
    assert.deepEqual(entry.labels, { team: 'payments', 'tier.name': 'front' });
    assert.equal(entry.statsd.host, '127.0.0.1');
    assert.ok(entry.counters['web.hits'].rate_per_second > 0);
    assert.equal(entry.gauges['web.queue'], 10);
    const lat = entry.timers['web.latency'];
    assert.deepEqual([lat.min, lat.p50, lat.max], [10, 20, 30]);
    assert.ok(lat.rate_per_second > 0);
    assert.equal(entry.malformed_lines, 1);

    // The task's environment names that port.
    const sandbox = (await getJson('/state')).body.frameworks[0].executors.find((e: any) => e.id === 'web').directory as string;
    await waitUntil(() => fs.existsSync(path.join(sandbox, 'sent')), 'the task to finish sending');

    const prom = await (await fetch(agent.url + '/metrics')).text();
    const labels = `app="/demo/web",task_id="web",framework_id="fw-1",label_team="payments",label_tier_name="front"`;
    assert.ok(prom.includes(`corral_app_web_hits_total{${labels}} 25`), prom.split('\n').filter((l) => l.includes('web_hits')).join('\n'));
    assert.ok(prom.includes(`corral_app_web_queue{${labels}} 10`));
    assert.ok(prom.includes(`corral_app_web_latency_seconds{${labels},quantile="0.5"} 0.02`));
    assert.ok(prom.includes(`corral_app_web_latency_seconds_count{${labels}} 3`));
    assert.match(prom, /^mesos_slave_tasks_running 1$/m);

    await master.killTask('web', { gracePeriodMs: 100 });
    await master.waitForState('web', 'TASK_KILLED');
    assert.ok(!((await getJson('/metrics/tasks')).body as any[]).some((x) => x.task_id === 'web'), 'the socket goes with the task');
  });

  test('an agent restarted with its tasks running collects their StatsD on the same port again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-metrics-restart-'));
    const fake = await FakeMaster.start({ autoAck: true });
    const opts = { masterUrl: fake.url, workDir: dir, port: 0, log: silentLogger, resources: 'cpus:1;mem:512;disk:100' };
    let a = await startAgent(opts);
    try {
      await a.registered();
      const loop = `while :; do printf "beats:1|c" > "/dev/udp/$STATSD_UDP_HOST/$STATSD_UDP_PORT"; sleep 0.02; done`;
      await fake.runTask(commandTask('beat', `exec bash -c '${loop}'`));
      await fake.waitForState('beat', 'TASK_RUNNING');
      const tasksOf = async (url: string) => (await (await fetch(url + '/metrics/tasks')).json()) as any[];
      const before = await waitUntil(async () => (await tasksOf(a.url)).find((t) => t.task_id === 'beat' && t.counters.beats?.total > 0), 'beats before the restart');

      await a.close(); // the task keeps running
      a = await startAgent(opts);
      await a.registered();
      const after = await waitUntil(async () => (await tasksOf(a.url)).find((t) => t.task_id === 'beat' && t.counters.beats?.total > 0), 'beats after the restart');
      assert.equal(after.statsd.port, before.statsd.port);
    } finally {
      await a.close({ killTasks: true });
      await fake.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
