// `corral top` against a real `corral dev`: --once --json carries agents (used vs total), frameworks,
// apps (running/healthy/staged vs target), deployments in flight and firing alerts; without --once it
// redraws every interval (successive frames, no escape codes, when stdout is not a terminal) until Ctrl-C.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, jsonLines, startCluster, type Cluster } from '../support/cluster.ts';

describe('corral top', () => {
  let cluster: Cluster;
  let orch: string;
  const env = () => ({ CORRAL_ORCHESTRATOR: orch });

  before(async () => {
    cluster = await startCluster({ args: ['--allocation-interval-ms', '100'] });
    orch = jsonLines(cluster.process.stdout).find((o) => o.event === 'ready').orchestrator;
    const app = { id: '/top/web', cmd: 'sleep 1000', instances: 2, cpus: 0.05, mem: 16 };
    const res = await fetch(`${orch}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
    assert.equal(res.status, 201);
  });
  after(() => cluster?.stop());

  it('--once --json: agents, frameworks, apps, deployments and firing alerts', async () => {
    // The master evaluates alerts every 5 s; right after its start MasterRestarted fires.
    const snap = await eventually(
      async () => {
        const r = await cluster.cli(['top', '--once', '--json'], { env: env() });
        assert.equal(r.code, 0, r.stderr);
        const s = JSON.parse(r.stdout);
        const web = s.apps?.find((a: any) => a.id === '/top/web');
        return web?.running === 2 && s.alerts?.some((a: any) => a.name === 'MasterRestarted') ? s : undefined;
      },
      20_000,
      '/top/web running and MasterRestarted firing',
      300,
    );
    assert.equal(snap.master, cluster.master);
    assert.equal(snap.agents.length, 1);
    const agent = snap.agents[0];
    assert.equal(agent.id, cluster.agentIds[0]);
    assert.equal(agent.tasks, 2);
    assert.ok(Math.abs(agent.cpus.used - 0.1) < 1e-9, `cpus used ${agent.cpus.used}`);
    assert.ok(agent.cpus.total > 0 && agent.mem.total > 0 && agent.mem.used >= 32);
    const marathon = snap.frameworks.find((f: any) => f.name === 'marathon');
    assert.equal(marathon.tasks, 2);
    assert.equal(marathon.connected, true);
    assert.deepEqual(snap.apps, [{ id: '/top/web', instances: 2, running: 2, healthy: 0, unhealthy: 0, staged: 0 }]);
    assert.ok(Array.isArray(snap.deployments));
    assert.equal(snap.alerts.find((a: any) => a.name === 'MasterRestarted').severity, 'info');
    assert.deepEqual(snap.errors, {});
  });

  it('shows the rest when the orchestrator is unreachable', async () => {
    const r = await cluster.cli(['top', '--once', '--json', '--orchestrator', 'http://127.0.0.1:1']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.apps, null);
    assert.match(s.errors.orchestrator, /cannot reach orchestrator|ECONNREFUSED/);
    assert.equal(s.agents.length, 1);
  });

  it('live: a frame per interval, no screen clearing off a terminal, Ctrl-C ends it', async () => {
    const p = cluster.spawn(['top', '--interval', '0.2'], { env: env() });
    await p.waitFor((x) => ((x.stdout.match(/^corral top — /gm) ?? []).length >= 2 ? true : undefined), 10_000, 'two frames');
    assert.doesNotMatch(p.stdout, /\x1b\[/);
    assert.match(p.stdout, /^APPS \(1\)\n.*\n\/top\/web +2 +0 +0 +2$/m);
    p.kill('SIGINT');
    const r = await p.waitForExit(5000);
    assert.equal(r.code, 0, r.stderr);
  });
});
