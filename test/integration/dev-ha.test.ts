// `corral dev --ha` for real: the supervisor starts 3 etcd members, 3 masters, 2 orchestrators and an
// agent as child processes. An app launched through the follower orchestrator (proxied to the leader)
// keeps its task, same id and same process, through a SIGKILL of the leading master: another master
// leads, and the supervisor restarts the killed one, which comes back as a follower. SIGTERM then stops
// the whole tree, task included, and the supervisor exits 0.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { eventually, jsonLines, processAlive, spawnCorral, testPortRange, type CorralProcess } from '../support/cluster.ts';

interface Row {
  name: string;
  url: string;
  pid: number;
  leader?: boolean;
}

const dataDir = mkdtempSync(join(tmpdir(), 'corral-dev-ha-'));
let dev: CorralProcess | undefined;
after(() => {
  dev?.kill('SIGKILL'); // its children die with it (setpriv --pdeathsig)
  rmSync(dataDir, { recursive: true, force: true });
});

async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: any } | undefined> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  } catch {
    return undefined;
  }
}

/** host:port the master at `url` redirects to, and whether it says it leads itself. */
async function redirectOf(url: string): Promise<{ to: string; self: boolean } | undefined> {
  try {
    const res = await fetch(`${url}/master/redirect`, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    const loc = res.headers.get('location');
    return res.status === 307 && loc ? { to: loc.replace(/^\/\//, ''), self: res.headers.get('corral-leading') === 'true' } : undefined;
  } catch {
    return undefined;
  }
}

async function elected(url: string): Promise<number | undefined> {
  const r = await fetchJson(`${url}/metrics/snapshot`);
  return r?.body?.['master/elected'];
}

test('corral dev --ha: failover of the leading master keeps the task; SIGTERM stops the whole tree', { timeout: 60_000 }, async (t) => {
  const t0 = Date.now();
  dev = spawnCorral(['dev', '--ha', '--agents', '1', '--port', '0', '--json', '--data-dir', dataDir, '--ports', testPortRange()], {
    env: { CORRAL_LOG_LEVEL: 'warn' },
  });
  const ready = await dev.waitForJson((o) => o.event === 'ready', 30_000, 'the HA cluster to be ready');
  t.diagnostic(`ready after ${Date.now() - t0} ms`);
  const masters = ready.masters as Row[];
  const orchestrators = ready.orchestrators as Row[];
  const etcd = ready.etcd as Row[];
  const agents = ready.agents as Row[];
  assert.equal(etcd.length, 3);
  assert.equal(masters.length, 3);
  assert.equal(orchestrators.length, 2);
  assert.equal(agents.length, 1);
  const pids = new Set<number>([...etcd, ...masters, ...orchestrators, ...agents].map((r) => r.pid));
  assert.equal(pids.size, 9, 'every child has its own process');
  for (const pid of pids) assert.ok(processAlive(pid), `pid ${pid} runs`);

  // Any master names the leader (once its own watch has caught up); it agrees with the ready line.
  const seen = await eventually(() => redirectOf(masters[1]!.url), 5000, 'master-2 to answer /master/redirect');
  const leader = masters.find((m) => new URL(m.url).host === seen.to);
  assert.ok(leader, `the redirect (${seen.to}) names one of the masters`);
  assert.equal(leader.leader, true);
  assert.equal(masters.filter((m) => m.leader).length, 1);

  // An app through the follower orchestrator: proxied to the leader.
  const follower = orchestrators.find((o) => !o.leader)!;
  const pidFile = join(dataDir, 'task.pid');
  const created = await fetchJson(`${follower.url}/v2/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: '/ha-demo', cmd: `echo $$ > ${pidFile}; exec sleep 1000`, instances: 1, cpus: 0.1, mem: 16 }),
  });
  assert.equal(created?.status, 201, JSON.stringify(created?.body));
  assert.ok(created.headers.get('x-marathon-via'), 'the follower proxied the call');
  const task = await eventually(
    async () => {
      const ts = ((await fetchJson(`${follower.url}/v2/apps/ha-demo/tasks`))?.body?.tasks ?? []) as { id: string; state: string }[];
      return ts.length === 1 && ts[0]!.state === 'TASK_RUNNING' ? ts[0]! : undefined;
    },
    15_000,
    'the app task running',
  );
  const taskPid = await eventually(() => Number(readFileSync(pidFile, 'utf8').trim()) || undefined, 5000, 'the task pid file');
  assert.ok(processAlive(taskPid));

  // SIGKILL the leading master: another one leads; the supervisor restarts the killed one.
  const killedAt = Date.now();
  const mark = jsonLines(dev.stdout).length; // events from here on
  const eventAfterKill = (match: (o: any) => boolean, what: string) => dev!.waitFor(() => jsonLines(dev!.stdout).slice(mark).find(match), 15_000, what);
  process.kill(leader.pid, 'SIGKILL');
  const change = await eventAfterKill((o) => o.event === 'leader' && o.role === 'master' && o.name && o.name !== leader.name, 'a new leading master');
  t.diagnostic(`SIGKILL of the leading master → ${change.name} leads after ${Date.now() - killedAt} ms`);
  const newLeader = masters.find((m) => m.name === change.name)!;
  const restarted = await eventAfterKill((o) => o.event === 'restarted' && o.name === leader.name, 'the killed master restarted');
  assert.notEqual(restarted.pid, leader.pid);
  assert.equal(restarted.url, leader.url, 'it comes back on its port');
  pids.add(restarted.pid);
  // It rejoins as a follower that redirects to the new leader.
  await eventually(
    async () => {
      const r = await redirectOf(leader.url);
      return r && !r.self && r.to === new URL(newLeader.url).host && (await elected(leader.url)) === 0;
    },
    15_000,
    'the restarted master to follow the new leader',
  );
  // Elected, it reports master/elected 1 once it has loaded the registry.
  await eventually(async () => (await elected(newLeader.url)) === 1, 10_000, 'the new leader to report master/elected 1');

  // The task ran on throughout: same id, same process, running in the new leader's state too.
  await eventually(
    async () => {
      const tasks = ((await fetchJson(`${newLeader.url}/master/tasks`))?.body?.tasks ?? []) as { id: string; state: string }[];
      return tasks.length === 1 && tasks[0]!.id === task.id && tasks[0]!.state === 'TASK_RUNNING';
    },
    10_000,
    'the new leader to know the running task',
  );
  const viaOrch = ((await fetchJson(`${follower.url}/v2/apps/ha-demo/tasks`))?.body?.tasks ?? []) as { id: string; state: string }[];
  assert.deepEqual(viaOrch.map((x) => [x.id, x.state]), [[task.id, 'TASK_RUNNING']]);
  assert.ok(processAlive(taskPid), 'the task process was never touched');

  // SIGTERM: everything stops, the task included, and the supervisor exits 0.
  // The agent's recovery-timeout watchdog (its own session, outside the supervisor's reach) must go too.
  const watchdogPid = (JSON.parse(readFileSync(join(dataDir, 'agent-1', 'watchdog', 'watchdog.json'), 'utf8')) as { pid: number }).pid;
  assert.ok(processAlive(watchdogPid));
  const stopAt = Date.now();
  dev.kill('SIGTERM');
  const exit = await dev.waitForExit(30_000);
  t.diagnostic(`stopped in ${Date.now() - stopAt} ms`);
  assert.equal(exit.code, 0, dev.describe());
  assert.ok(jsonLines(exit.stdout).some((o) => o.event === 'stopped' && o.ok === true));
  const left = [...pids, taskPid].filter(processAlive);
  assert.deepEqual(left, [], 'no process of the tree is left');
  // It notices that its agent stopped after killing the tasks at its next poll (at most 1 s).
  await eventually(() => !processAlive(watchdogPid), 5000, 'the agent watchdog to exit');
});
