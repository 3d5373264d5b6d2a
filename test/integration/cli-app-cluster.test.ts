// The CLI end to end with real processes: `corral dev` (master + agent),
// `corral orchestrator` against it, then `corral app deploy` following real
// deployments — one that succeeds (health-checked), one that never gets
// healthy and is cancelled (exit 1 with the reason) — and a clean SIGTERM.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCorral, spawnCorral, startCluster, type Cluster, type CorralProcess } from '../support/cluster.ts';

const SERVER_CMD = `${JSON.stringify(process.execPath)} -e "require('http').createServer((q,s)=>s.end('hi')).listen(+process.env.PORT0)"`;

describe('corral orchestrator + corral app against corral dev', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let orch: CorralProcess;
  let url: string;
  let dir: string;
  const corral = (args: string[], timeoutMs = 90_000) => runCorral(args, { env: { CORRAL_ORCHESTRATOR: url }, timeoutMs });
  const file = (name: string, def: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(def));
    return p;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'corral-cli-orch-'));
    cluster = await startCluster({ agents: 1, args: ['--allocation-interval-ms', '100'] });
    orch = spawnCorral(['orchestrator', '--master', cluster.master, '--port', '0', '--data-dir', join(dir, 'orch'), '--json'], {
      env: { CORRAL_LOG_LEVEL: 'warn' },
    });
    const ready = await orch.waitForJson((o) => o.event === 'ready', 30_000, 'the orchestrator to be ready');
    url = ready.orchestrator;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
  after(async () => {
    orch?.kill('SIGKILL');
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('deploy follows a real deployment to healthy and exits 0', async () => {
    const r = await corral([
      'app',
      'deploy',
      file('web.json', {
        id: '/web',
        cmd: SERVER_CMD,
        instances: 2,
        cpus: 0.05,
        mem: 32,
        healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0, gracePeriodSeconds: 30 }],
      }),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /step \d\/2 \S+ \/web {2}\d\/2 healthy/);
    assert.match(r.stderr, /2\/2 healthy/);
    assert.match(r.stdout, /\(deploy \/web\) succeeded/);
    const list = await corral(['app', 'list', '--json']);
    const web = JSON.parse(list.stdout).find((a: any) => a.id === '/web');
    assert.equal(web.tasksHealthy, 2);

    // Deploying the same definition again is a no-op deployment that still ends with success.
    const same = await corral(['app', 'deploy', join(dir, 'web.json')]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /\(deploy \/web\) succeeded/);

    const scale = await corral(['app', 'scale', '/web', '1']);
    assert.equal(scale.code, 0, scale.stderr);
    const rb = await corral(['app', 'rollback', '/web']);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(JSON.parse((await corral(['app', 'show', '/web', '--json'])).stdout).instances, 2);
  });

  test('a deployment that never gets healthy, cancelled: deploy exits 1 with the reason', async () => {
    const p = spawnCorral(
      [
        'app',
        'deploy',
        file('sick.json', {
          id: '/sick',
          cmd: 'sleep 600',
          instances: 1,
          cpus: 0.05,
          mem: 16,
          healthChecks: [{ protocol: 'MESOS_TCP', intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0, gracePeriodSeconds: 300 }],
        }),
      ],
      { env: { CORRAL_ORCHESTRATOR: url } },
    );
    const id = await p.waitFor((x) => /deployment ([0-9a-f-]+) started/.exec(x.stderr)?.[1], 30_000, 'the deployment to start');
    await p.waitFor((x) => (/0\/1 healthy/.test(x.stderr) ? true : undefined), 30_000, 'progress');
    const cancel = await corral(['deployment', 'cancel', id]);
    assert.equal(cancel.code, 0, cancel.stderr);
    const r = await p.waitForExit(60_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error: deployment ${id} \\(deploy /sick\\) did not succeed: .+`));
    const rm = await corral(['app', 'remove', '/sick']);
    assert.ok(rm.code === 0 || /no app \/sick/.test(rm.stderr), rm.stderr);
  });

  test('SIGTERM stops the orchestrator cleanly', async () => {
    orch.kill('SIGTERM');
    const r = await orch.waitForExit(30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('"event":"stopped"'), r.stdout);
    assert.ok(r.stdout.includes('"ok":true'), r.stdout);
  });
});
