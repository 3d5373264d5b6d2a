// HA orchestrators for real: one etcd process, two `corral orchestrator --store etcd://…` processes,
// and a master + agent in this process. The follower proxies the API to the leader; SIGKILL of the
// leader → the other leads within about the lease TTL, with the same framework id and the same
// tasks (none killed, none added). SIGSTOP of the leader → a standby takes over; SIGCONT → the old
// leader steps down without taking the framework back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger, silentLogger } from '../../src/runtime/log.ts';
import { eventually, jsonLines, spawnCorral, startInProcessCluster, testPortRange, type CorralProcess, type InProcessCluster } from '../support/cluster.ts';
import { startEtcd, type EtcdCluster } from '../support/etcd.ts';

const TTL_MS = 1000; // etcd's minimum here
const SLACK_MS = 3000; // lease expiry at etcd, watch delivery, state load and process scheduling on a busy 2-core machine

interface Orch {
  proc: CorralProcess;
  url: string;
}

let etcd: EtcdCluster;
let cluster: InProcessCluster;
const orchs: Orch[] = [];
const log = process.env.CORRAL_TEST_LOG ? createLogger('orch-ha-etcd', process.env.CORRAL_TEST_LOG as 'debug') : silentLogger;

async function get(url: string, path: string): Promise<{ status: number; headers: Headers; body: any } | undefined> {
  try {
    const res = await fetch(url + path, { signal: AbortSignal.timeout(1000) });
    return { status: res.status, headers: res.headers, body: await res.json() };
  } catch {
    return undefined; // killed, or not answering
  }
}

/** The one instance among `among` that says it is elected, once every other one says it is not. */
function leaderAmong(among: Orch[], timeoutMs: number): Promise<Orch> {
  return eventually(
    async () => {
      const infos = await Promise.all(among.map((o) => get(o.url, '/v2/info')));
      const flags = infos.map((i) => i?.body?.elected);
      return flags.filter((f) => f === true).length === 1 && flags.every((f) => f === true || f === false) ? among[flags.indexOf(true)] : undefined;
    },
    timeoutMs,
    'exactly one elected orchestrator',
  );
}

async function masterTasks(frameworkId: string): Promise<{ id: string; state: string }[]> {
  const state = (await (await fetch(`${cluster.masterUrl}/master/state`)).json()) as { frameworks: { id: string; tasks: { id: string; state: string }[] }[] };
  return state.frameworks.filter((f) => f.id === frameworkId).flatMap((f) => f.tasks);
}

async function frameworks(): Promise<{ id: string; connected: boolean }[]> {
  const state = (await (await fetch(`${cluster.masterUrl}/master/state`)).json()) as { frameworks: { id: string; connected: boolean }[] };
  return state.frameworks;
}

/** Runs body; a failure carries the orchestrators' output (what a failed run needs to be understood). */
async function withOutput(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof Error) e.message += `\n${orchs.map((o) => o.proc.describe()).join('\n')}`;
    throw e;
  }
}

const ids = (ts: { id: string }[]) => ts.map((t) => t.id).sort();

before(async () => {
  const [e, c] = await Promise.all([
    startEtcd({ members: 1 }),
    startInProcessCluster({ agents: 1, log, agent: { resources: `cpus:4;mem:4096;disk:1000;ports:[${testPortRange()}]`, processPollMs: 100, statusUpdateRetryMs: 200 } }),
  ]);
  etcd = e;
  cluster = c;
  const procs = [0, 1].map(() =>
    spawnCorral(['orchestrator', '--master', cluster.masterUrl, '--store', etcd.url, '--port', '0', '--election-ttl-ms', String(TTL_MS), '--json', '--log-level', 'warn']),
  );
  for (const proc of procs) {
    const ready = await proc.waitForJson((x) => x.event === 'ready', 20_000, 'orchestrator ready');
    assert.equal(ready.ha, true);
    orchs.push({ proc, url: ready.orchestrator });
  }
});

after(async () => {
  for (const o of orchs) o.proc.kill('SIGKILL');
  await cluster?.stop();
  await etcd?.stop();
});

describe('HA orchestrators on etcd (2 corral orchestrator processes)', () => {
  test('the follower proxies; SIGKILL of the leader → the other leads within about the TTL, tasks untouched', (t) =>
    withOutput(async () => {
      const l1 = await leaderAmong(orchs, 10_000);
      const follower = orchs.find((o) => o !== l1)!;
      await l1.proc.waitForJson((x) => x.event === 'elected', 2000, 'the elected line');
      await eventually(async () => (await get(follower.url, '/v2/leader'))?.body.leader === new URL(l1.url).host, 3000, 'the follower to name the leader');

      const res = await fetch(follower.url + '/v2/apps', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: '/sleepy', cmd: 'sleep 1000', instances: 2, cpus: 0.1, mem: 16 }),
      });
      assert.equal(res.status, 201, await res.text());
      assert.ok(res.headers.get('x-marathon-via'));
      const before = await eventually(
        async () => {
          const r = await get(follower.url, '/v2/apps/sleepy/tasks');
          const ts = (r?.body?.tasks ?? []) as { id: string; state: string }[];
          return ts.length === 2 && ts.every((t) => t.state === 'TASK_RUNNING') ? ts : undefined;
        },
        15_000,
        '2 running tasks',
      );
      const frameworkId = (await get(l1.url, '/v2/info'))!.body.frameworkId as string;
      assert.ok(frameworkId);
      assert.deepEqual(ids(await masterTasks(frameworkId)), ids(before));

      const killedAt = Date.now();
      l1.proc.kill('SIGKILL');
      // The master sees the scheduler's stream drop at once (long before the lease can expire).
      await eventually(async () => (await frameworks()).find((f) => f.id === frameworkId)?.connected === false, 2000, 'the framework disconnected');
      const l2 = await leaderAmong([follower], TTL_MS + SLACK_MS + 3000);
      const took = Date.now() - killedAt;
      t.diagnostic(`SIGKILL → new leader elected in ${took} ms`);
      assert.ok(took <= TTL_MS + SLACK_MS, `a new leader after ${took} ms`);
      await l2.proc.waitForJson((x) => x.event === 'elected', 2000, 'the elected line');

      // Same framework (re-subscribed with its id: connected again, no new framework), same tasks.
      await eventually(async () => (await frameworks()).find((f) => f.id === frameworkId)?.connected === true, 5000, 'the framework re-subscribed');
      assert.deepEqual((await frameworks()).map((f) => f.id), [frameworkId]);
      assert.equal((await get(l2.url, '/v2/info'))!.body.frameworkId, frameworkId);
      const after = (await get(l2.url, '/v2/apps/sleepy/tasks'))!.body.tasks as { id: string; state: string }[];
      assert.deepEqual(ids(after), ids(before), 'the new leader knows the same tasks');
      const inMaster = await masterTasks(frameworkId);
      assert.deepEqual(ids(inMaster), ids(before), 'none killed, none added');
      assert.ok(inMaster.every((t) => t.state === 'TASK_RUNNING'));
      assert.equal(jsonLines(l2.proc.stdout).filter((x) => x.event === 'deposed').length, 0);
    }),
  );

  test('SIGSTOP of the leader → a standby leads; SIGCONT → the old one steps down and leaves the framework alone', () =>
    withOutput(async () => {
      const proc = spawnCorral(['orchestrator', '--master', cluster.masterUrl, '--store', etcd.url, '--port', '0', '--election-ttl-ms', String(TTL_MS), '--json', '--log-level', 'warn']);
      const ready = await proc.waitForJson((x) => x.event === 'ready', 20_000, 'orchestrator ready');
      const standby: Orch = { proc, url: ready.orchestrator };
      orchs.push(standby);
      const live = orchs.filter((o) => o.proc.running);
      const old = await leaderAmong(live, 5000);
      assert.notEqual(old, standby, 'the newcomer queues behind the leader');
      const frameworkId = (await get(old.url, '/v2/info'))!.body.frameworkId as string;
      const before = ids(await masterTasks(frameworkId));

      old.proc.kill('SIGSTOP');
      // The standby is the only one answering, so it alone can say it is elected.
      await eventually(async () => (await get(standby.url, '/v2/info'))?.body?.elected === true, TTL_MS + SLACK_MS + 3000, 'the standby elected');
      await eventually(async () => (await frameworks()).find((f) => f.id === frameworkId)?.connected === true && (await get(standby.url, '/v2/apps/sleepy/tasks'))?.status === 200, 5000, 'the standby subscribed and serving');

      old.proc.kill('SIGCONT');
      const deposed = await old.proc.waitForJson((x) => x.event === 'deposed', 5000, 'the old leader steps down');
      assert.ok(deposed.reason);
      assert.equal(await leaderAmong([old, standby], 3000), standby);
      // The old instance now proxies to the new leader, which still holds the framework: nothing re-subscribed over it.
      const viaOld = await get(old.url, '/v2/apps/sleepy/tasks');
      assert.equal(viaOld?.status, 200);
      assert.deepEqual(ids(viaOld!.body.tasks), before);
      assert.equal((await frameworks()).find((f) => f.id === frameworkId)?.connected, true);
      assert.deepEqual((await frameworks()).map((f) => f.id), [frameworkId]);
      assert.deepEqual(ids(await masterTasks(frameworkId)), before, 'none killed, none added');
    }),
  );
});
