// GET /metrics on a real master, agent and orchestrator passes `promtool check metrics` (Prometheus's
// own linter), carries the same values as /metrics/snapshot under the documented names, and an app's
// StatsD metrics reach it with the app id, task id and the app's Marathon labels as labels.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { masterPromName } from '../../src/master/metrics-names.ts';
import { startOrchestratorServer, type OrchestratorServer } from '../../src/orchestrator/api/server.ts';
import { startOrchestrator } from '../../src/orchestrator/index.ts';
import type { OrchestratorService } from '../../src/orchestrator/service.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore, type Store } from '../../src/store/index.ts';
import { eventually, startInProcessCluster, testPortRange, type InProcessCluster } from '../support/cluster.ts';

const promtool = spawnSync('promtool', ['--version']).status === 0;

function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** `name{labels} value` lines of an exposition, by the text before the value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

// An app that sends StatsD until stopped (bash's /dev/udp; the agent named the port in its environment).
const STATSD_APP_CMD = `exec bash -c 'while :; do printf "orders.placed:1|c" > /dev/udp/$STATSD_UDP_HOST/$STATSD_UDP_PORT; sleep 0.05; done'`;

describe('Prometheus exposition', { timeout: 60_000 }, () => {
  let cluster: InProcessCluster;
  let store: Store;
  let service: OrchestratorService;
  let api: OrchestratorServer;

  before(async () => {
    // A missing tool fails the suite with its package name (scripts/install-deps.sh installs it); never a silent skip.
    assert.ok(promtool, 'promtool is missing: install the Debian package prometheus (scripts/install-deps.sh does)');
    cluster = await startInProcessCluster({ agents: 1, agent: { resources: `cpus:2;mem:2048;disk:1000;ports:[${testPortRange()}]` } });
    store = createMemoryStore();
    service = await startOrchestrator({ masterUrl: cluster.masterUrl, store, tickIntervalMs: 200, log: silentLogger });
    api = await startOrchestratorServer({ service, port: 0 });
  });
  after(async () => {
    await api?.close();
    await service?.close();
    await store?.close();
    await cluster?.stop();
  });

  test('master, agent and orchestrator pass promtool; an app’s StatsD metrics carry its Marathon labels', async () => {
    const app = { id: '/shop/orders', cmd: STATSD_APP_CMD, instances: 1, cpus: 0.1, mem: 32, portDefinitions: [], labels: { team: 'payments', 'cost-center': '42' } };
    const created = await fetch(api.url + '/v2/apps', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
    assert.equal(created.status, 201, await created.text());

    const agentText = await eventually(
      async () => {
        const text = await (await fetch(cluster.agentUrls[0] + '/metrics')).text();
        return /^corral_app_orders_placed_total\{[^}]*\} ([1-9]\d*)$/m.test(text) ? text : undefined;
      },
      20_000,
      'the app metrics at the agent',
    );
    const line = agentText.split('\n').find((l) => l.startsWith('corral_app_orders_placed_total{'))!;
    assert.match(line, /app="\/shop\/orders"/);
    assert.match(line, /task_id="shop_orders\.instance-[^"]+"/);
    assert.match(line, /label_team="payments"/);
    assert.match(line, /label_cost_center="42"/);
    let r = promtoolCheck(agentText);
    assert.equal(r.status, 0, `promtool on the agent's /metrics:\n${r.output}`);

    const [masterText, snapshot] = await Promise.all([
      fetch(cluster.masterUrl + '/metrics').then((res) => {
        assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
        return res.text();
      }),
      fetch(cluster.masterUrl + '/metrics/snapshot').then((res) => res.json() as Promise<Record<string, number>>),
    ]);
    r = promtoolCheck(masterText);
    assert.equal(r.status, 0, `promtool on the master's /metrics:\n${r.output}`);
    // The same values under the documented names (the two reads are a few ms apart: only stable keys).
    const m = samples(masterText);
    for (const key of ['master/tasks_running', 'master/cpus_total', 'master/slaves_active', 'master/slave_registrations', 'master/elected', 'master/mem_total'])
      assert.equal(m.get(masterPromName(key)), snapshot[key], key);
    assert.equal(masterPromName('master/tasks_lost'), 'mesos_master_tasks_lost_total');
    assert.equal(masterPromName('master/cpus_total'), 'mesos_master_cpus');
    assert.equal(masterPromName('master/uptime_secs'), 'mesos_master_uptime_seconds');
    assert.ok(m.get('mesos_master_uptime_seconds')! > 0);
    assert.ok([...m.keys()].some((k) => k.startsWith('mesos_master_framework_calls_by_type_total{framework_name="marathon"')), 'per-framework families are labelled');
    assert.ok(m.has('process_cpu_user_seconds_total'), "the process's own metrics");
    assert.ok(m.get('mesos_allocator_mesos_allocation_run_seconds_count')! > 0);

    for (const path of ['/metrics/prometheus', '/metrics']) {
      const res = await fetch(api.url + path, { headers: { accept: 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1' } });
      assert.equal(res.status, 200);
      const text = await res.text();
      r = promtoolCheck(text);
      assert.equal(r.status, 0, `promtool on the orchestrator's ${path}:\n${r.output}`);
      assert.equal(samples(text).get('marathon_apps_active'), 1);
    }
    // Marathon clients still get Marathon's JSON.
    const json = (await (await fetch(api.url + '/metrics', { headers: { accept: 'application/json' } })).json()) as any;
    assert.equal(json.gauges['marathon.apps.active.gauge'].value, 1);
  });
});
