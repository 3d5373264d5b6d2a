// `corral app …` and `corral deployment …` as real processes against the
// Marathon API server over a fake orchestrator that plays deployments (tasks
// come up one by one; cmd "FAIL" fails; cmd "STALL" never gets healthy).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startOrchestratorServer, type OrchestratorServer } from '../../src/orchestrator/api/server.ts';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CORRAL_BIN, runCorral, spawnCorral } from '../support/cluster.ts';
import { FakeOrchestrator } from './orchestrator-api-fake.ts';

const HELP = [
  ['orchestrator'],
  ['app'],
  ['app', 'deploy'],
  ['app', 'list'],
  ['app', 'show'],
  ['app', 'scale'],
  ['app', 'restart'],
  ['app', 'rollback'],
  ['app', 'remove'],
  ['deployment'],
  ['deployment', 'list'],
  ['deployment', 'watch'],
  ['deployment', 'cancel'],
];

describe('corral app / deployment CLI (fake orchestrator)', () => {
  let fake: FakeOrchestrator;
  let server: OrchestratorServer;
  let dir: string;
  const env = () => ({ CORRAL_ORCHESTRATOR: server.url });
  const corral = (args: string[], timeoutMs = 30_000) => runCorral(args, { env: env(), timeoutMs });
  const file = (name: string, def: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(def));
    return p;
  };

  before(async () => {
    fake = new FakeOrchestrator({ autoRun: 60 });
    server = await startOrchestratorServer({ service: fake, port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'corral-cli-app-'));
  });
  after(async () => {
    await fake?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--help exits 0 for every command', async () => {
    const results = await Promise.all(HELP.map((c) => runCorral([...c, '--help'])));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `${HELP[i]!.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: corral/);
    });
    assert.match(results[2]!.stdout, /--no-wait/);
    assert.match(results[2]!.stdout, /CORRAL_ORCHESTRATOR/);
    assert.match(results[0]!.stdout, /--data-dir/);
  });

  test('app deploy creates, shows progress lines (not a TTY) and exits 0; a second deploy updates', async () => {
    const def = { id: '/web', cmd: 'serve', instances: 3, cpus: 0.1, mem: 32, healthChecks: [{ protocol: 'MESOS_HTTP', path: '/' }] };
    const r = await corral(['app', 'deploy', file('web.json', def)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /deployment [0-9a-f-]+ started \(deploy \/web\)/);
    assert.match(r.stderr, /deployment [0-9a-f-]+: step 1\/2 StartApplication \/web {2}0\/3 healthy/);
    assert.match(r.stderr, /step 2\/2 ScaleApplication \/web {2}\d\/3 healthy/);
    assert.match(r.stderr, /3\/3 healthy/);
    assert.doesNotMatch(r.stderr, /\r|\x1b\[/, 'no bar redraws when stderr is not a terminal');
    assert.match(r.stdout, /^deployment [0-9a-f-]+ \(deploy \/web\) succeeded in \d+\.\ds\n$/);
    assert.equal(fake.getApp('/web')!.counts.running, 3);

    const up = await corral(['app', 'deploy', file('web2.json', { ...def, instances: 2, env: { A: 'b' } }), '--json']);
    assert.equal(up.code, 0, up.stderr);
    const outcome = JSON.parse(up.stdout);
    assert.equal(outcome.ok, true);
    assert.equal(fake.getApp('/web')!.app.instances, 2);
    assert.deepEqual(fake.getApp('/web')!.app.env, { A: 'b' });
    assert.equal(up.stderr, '', '--json: no progress output');
  });

  test('app deploy reads stdin with -', async () => {
    const child = spawn(process.execPath, [CORRAL_BIN, 'app', 'deploy', '-', '--json'], {
      env: { ...process.env, ...env(), NO_COLOR: '1', NODE_TEST_CONTEXT: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(JSON.stringify({ id: '/from-stdin', cmd: 'x' }));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(JSON.parse(stdout).ok, true);
    assert.ok(fake.getApp('/from-stdin'));
  });

  test('a failing deployment exits 1 with the reason', async () => {
    const r = await corral(['app', 'deploy', file('bad.json', { id: '/bad', cmd: 'FAIL now', instances: 2 })]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^error: deployment [0-9a-f-]+ \(deploy \/bad\) did not succeed: Task of \/bad failed: Command exited with status 1$/m);
  });

  test('a cancelled deployment exits 1 with the reason (event), and without an event (state)', async () => {
    const p = spawnCorral(['app', 'deploy', file('stall.json', { id: '/stall', cmd: 'STALL', instances: 2 })], { env: env() });
    const id = await p.waitFor((x) => /deployment ([0-9a-f-]+) started/.exec(x.stderr)?.[1], 20_000, 'the deployment to start');
    await fake.cancelDeployment(id, { force: true });
    const r = await p.waitForExit();
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /did not succeed: The deployment was cancelled \(force, no rollback\)/);

    // Silently gone (no deployment_failed event): judged from the app's state.
    const q = spawnCorral(['app', 'restart', '/stall'], { env: env() });
    const id2 = await q.waitFor((x) => /deployment ([0-9a-f-]+) started/.exec(x.stderr)?.[1], 20_000, 'the restart to start');
    fake.deployments.get(id2)!.state = 'cancelled';
    const r2 = await q.waitForExit();
    assert.equal(r2.code, 1, r2.stderr);
    assert.match(r2.stderr, /did not succeed: the deployment was cancelled: app \/stall has 0\/2 healthy instances/);
  });

  test('deployment list / watch / cancel', async () => {
    const started = await corral(['app', 'deploy', file('slow.json', { id: '/slow', cmd: 'STALL', instances: 1 }), '--no-wait', '--json']);
    assert.equal(started.code, 0, started.stderr);
    const { deploymentId } = JSON.parse(started.stdout);
    const list = await corral(['deployment', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+APPS\s+STEP\s+CURRENT ACTIONS\s+VERSION/);
    assert.ok(list.stdout.includes(deploymentId));
    const json = await corral(['deployment', 'list', '--json']);
    assert.ok(JSON.parse(json.stdout).some((d: any) => d.id === deploymentId));

    const watch = spawnCorral(['deployment', 'watch', deploymentId], { env: env() });
    await watch.waitFor((x) => (/healthy/.test(x.stderr) ? true : undefined), 20_000, 'watch progress');
    const cancel = await corral(['deployment', 'cancel', deploymentId]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /cancelled; rolling back in deployment [0-9a-f-]+/);
    const w = await watch.waitForExit();
    assert.equal(w.code, 1, w.stderr);
    assert.match(w.stderr, /did not succeed: The deployment was cancelled and rolled back/);

    const missing = await corral(['deployment', 'cancel', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: no running deployment nope$/m);
    const watchMissing = await corral(['deployment', 'watch', 'nope']);
    assert.equal(watchMissing.code, 1);
    assert.match(watchMissing.stderr, /no running deployment nope/);
  });

  test('app list / show / scale / restart / rollback / remove', async () => {
    const d = await corral(['app', 'deploy', file('api.json', { id: '/shop/api', cmd: 'api v1', instances: 1, cpus: 0.2, mem: 48 })]);
    assert.equal(d.code, 0, d.stderr);
    const list = await corral(['app', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+INSTANCES\s+RUNNING\s+HEALTHY\s+CPUS\s+MEM\s+DEPLOYMENTS\s+VERSION/);
    assert.match(list.stdout, /\/shop\/api\s+1\s+1\s+-\s+0\.2\s+48M\s+-/);
    const listJson = JSON.parse((await corral(['app', 'list', '--json'])).stdout);
    assert.ok(listJson.some((a: any) => a.id === '/shop/api'));

    const show = await corral(['app', 'show', 'shop/api']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /id: +\/shop\/api/);
    assert.match(show.stdout, /TASK\s+STATE/);
    const showJson = JSON.parse((await corral(['app', 'show', '/shop/api', '--json'])).stdout);
    assert.equal(showJson.id, '/shop/api');
    assert.equal(showJson.tasks.length, 1);

    const scale = await corral(['app', 'scale', '/shop/api', '3']);
    assert.equal(scale.code, 0, scale.stderr);
    assert.match(scale.stdout, /scale \/shop\/api to 3\) succeeded/);
    assert.equal(fake.getApp('/shop/api')!.counts.running, 3);

    const v1 = fake.getApp('/shop/api')!.app.version!;
    const upd = await corral(['app', 'deploy', file('api2.json', { id: '/shop/api', cmd: 'api v2', instances: 3 })]);
    assert.equal(upd.code, 0, upd.stderr);
    assert.equal(fake.getApp('/shop/api')!.app.cmd, 'api v2');
    const rb = await corral(['app', 'rollback', '/shop/api']);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, /rollback \/shop\/api to \S+\) succeeded/);
    assert.equal(fake.getApp('/shop/api')!.app.cmd, 'api v1');
    const rbTo = await corral(['app', 'rollback', '/shop/api', '--to', v1, '--json']);
    assert.equal(rbTo.code, 0, rbTo.stderr);
    const rbBad = await corral(['app', 'rollback', '/shop/api', '--to', '2001-01-01T00:00:00.000Z']);
    assert.equal(rbBad.code, 1);
    assert.match(rbBad.stderr, /has no version 2001-01-01T00:00:00.000Z/);

    const restart = await corral(['app', 'restart', '/shop/api', '--no-wait']);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(restart.stdout, /deployment [0-9a-f-]+ started \(restart \/shop\/api\)/);

    // A deployment that never finishes locks its app: 409 → a clear message; --force overrides.
    const stuck = await corral(['app', 'deploy', file('stuck.json', { id: '/stuck', cmd: 'STALL', instances: 1 }), '--no-wait']);
    assert.equal(stuck.code, 0, stuck.stderr);
    const locked = await corral(['app', 'scale', '/stuck', '2', '--no-wait']);
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /^error: the app is locked by deployment [0-9a-f-]+; wait for it \(`corral deployment watch [0-9a-f-]+`\), cancel it, or use --force$/m);
    const forced = await corral(['app', 'scale', '/stuck', '2', '--no-wait', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(fake.getApp('/stuck')!.app.instances, 2);

    const rm = await corral(['app', 'remove', '/shop/api']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /remove \/shop\/api\) succeeded/);
    assert.equal(fake.getApp('/shop/api'), undefined);
  });

  test('without the event stream (polling fallback): success exits 0, a cancelled deployment exits 1', async () => {
    // A proxy that refuses /v2/events and forwards everything else.
    const proxy = http.createServer((req, res) => {
      if (req.url?.startsWith('/v2/events')) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"no events here"}');
        return;
      }
      const up = http.request(server.url + req.url, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const purl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const ok = await runCorral(['app', 'deploy', file('polled.json', { id: '/polled', cmd: 'serve', instances: 2 })], { env: { CORRAL_ORCHESTRATOR: purl } });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /\(deploy \/polled\) succeeded/);
      const p = spawnCorral(['app', 'deploy', file('polled-stall.json', { id: '/polled-stall', cmd: 'STALL', instances: 1 })], { env: { CORRAL_ORCHESTRATOR: purl } });
      const id = await p.waitFor((x) => /deployment ([0-9a-f-]+) started/.exec(x.stderr)?.[1], 20_000, 'the deployment to start');
      await fake.cancelDeployment(id, { force: true });
      const r = await p.waitForExit();
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /did not succeed: the deployment was cancelled: app \/polled-stall has 0\/1 healthy instances/);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  test('errors: unknown app, invalid definition (422 details), bad file, unreachable orchestrator, usage', async () => {
    const show = await corral(['app', 'show', '/nope']);
    assert.equal(show.code, 1);
    assert.equal(show.stderr, 'error: no app /nope (see `corral app list`)\n');
    const invalid = await corral(['app', 'deploy', file('invalid.json', { id: '/inv', cmd: 'x', cpus: -1, instances: -2 })]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /422 Object is not valid \(.*\/cpus: got -1/);
    assert.match(invalid.stderr, /\/instances: got -2, expected 0 or more/);
    const notJson = join(dir, 'broken.json');
    writeFileSync(notJson, '{"id": ');
    const broken = await corral(['app', 'deploy', notJson]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /broken\.json is not valid JSON/);
    const missingFile = await corral(['app', 'deploy', join(dir, 'missing.json')]);
    assert.equal(missingFile.code, 1);
    assert.match(missingFile.stderr, /cannot read/);
    const down = await runCorral(['app', 'list'], { env: { CORRAL_ORCHESTRATOR: 'http://127.0.0.1:1' } });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: cannot reach orchestrator at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\(is `corral orchestrator` running\?/);
    assert.equal(down.stderr.trim().split('\n').length, 1);
    const usage = await corral(['app', 'scale', '/web', 'lots']);
    assert.equal(usage.code, 2);
  });
});
