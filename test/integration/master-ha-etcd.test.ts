// HA masters for real: one etcd process and three `corral master --store etcd://…` processes.
// SIGKILL of the leader → another master leads within about the lease TTL. SIGSTOP of the new
// leader → the last master leads; SIGCONT → the paused one notices, steps down, and nothing of its
// old term reaches the registry or the agents.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AGENT_MESSAGE_PATH } from '../../src/protocol/internal.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store, WatchEvent, WatchHandle } from '../../src/store/store.ts';
import { eventually, jsonLines, spawnCorral, type CorralProcess } from '../support/cluster.ts';
import { startEtcd, type EtcdCluster } from '../support/etcd.ts';
import { FakeAgent } from '../support/fake-agent.ts';

const TTL_MS = 1000; // etcd's minimum here (the test cluster's election timeout is 500 ms)
const SLACK_MS = 2500; // election, watch delivery and process scheduling on a busy 2-core machine

interface Master {
  proc: CorralProcess;
  url: string;
}

let etcd: EtcdCluster;
let store: Store;
const masters: Master[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

async function elected(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url + '/metrics/snapshot', { signal: AbortSignal.timeout(500) });
    return ((await res.json()) as Record<string, number>)['master/elected'];
  } catch {
    return undefined; // stopped or killed
  }
}

/** The one master among `among` that says it leads, once every other one says it does not. */
function leaderAmong(among: Master[], timeoutMs: number): Promise<Master> {
  return eventually(
    async () => {
      const flags = await Promise.all(among.map((m) => elected(m.url)));
      return flags.filter((f) => f === 1).length === 1 && flags.every((f) => f === 0 || f === 1) ? among[flags.indexOf(1)] : undefined;
    },
    timeoutMs,
    'exactly one elected master',
  );
}

const events = (m: Master, type: string) => jsonLines(m.proc.stdout).filter((e) => e.event === type);

before(async () => {
  etcd = await startEtcd({ members: 1 });
  store = await openStore(etcd.url);
  const procs = [0, 1, 2].map(() =>
    spawnCorral(['master', '--store', etcd.url, '--port', '0', '--election-ttl-ms', String(TTL_MS), '--agent-ping-timeout-ms', '300', '--json', '--log-level', 'warn']),
  );
  for (const proc of procs) {
    cleanups.push(() => proc.kill('SIGKILL'));
    const ready = await proc.waitForJson((e) => e.event === 'ready', 20_000, 'master ready');
    masters.push({ proc, url: ready.master });
  }
});

after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  for (const m of masters) m.proc.kill('SIGCONT');
  await store?.close().catch(() => undefined);
  await etcd?.stop();
});

describe('HA masters on etcd (3 corral master processes)', () => {
  test('SIGKILL of the leader → another master leads within about the TTL; followers redirect to it', async () => {
    const l1 = await leaderAmong(masters, 10_000);
    assert.equal(events(l1, 'elected').length, 1);
    const killedAt = Date.now();
    l1.proc.kill('SIGKILL');
    const rest = masters.filter((m) => m !== l1);
    const l2 = await leaderAmong(rest, TTL_MS + SLACK_MS + 2000);
    const took = Date.now() - killedAt;
    assert.ok(took <= TTL_MS + SLACK_MS, `a new leader after ${took} ms`);
    await l2.proc.waitForJson((e) => e.event === 'elected', 2000, 'the elected line');
    const follower = rest.find((m) => m !== l2)!;
    const r = await fetch(follower.url + '/master/redirect', { redirect: 'manual' });
    assert.equal(r.status, 307);
    assert.equal(r.headers.get('location'), `//127.0.0.1:${new URL(l2.url).port}`);
    const s = await fetch(follower.url + '/api/v1/scheduler', { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(s.status, 307);
    assert.equal(s.headers.get('location'), l2.url + '/api/v1/scheduler');
  });

  test('SIGSTOP of the leader → the other leads; SIGCONT → the old one steps down and writes nothing', async () => {
    const live = masters.filter((m) => m.proc.running);
    assert.equal(live.length, 2);
    const old = await leaderAmong(live, 5000);
    const next = live.find((m) => m !== old)!;

    // An agent registered with the leader that will be paused: its ping timer is armed.
    const agent = await FakeAgent.start({ masterUrl: old.url, hostname: 'a' });
    cleanups.push(() => agent.close());
    await agent.register();
    const oldId = agent.masterId!;
    // Pause it right after a PING, so that no message of its is in flight: the next one is due a
    // full ping interval later, when the process is long stopped.
    await agent.waitFor('PING', (m) => m.master_id === oldId, { from: agent.mark() });
    old.proc.kill('SIGSTOP');
    const pausedAt = Date.now();
    const sincePause = agent.mark();
    await leaderAmong([next], TTL_MS + SLACK_MS + 2000);
    const took = Date.now() - pausedAt;
    assert.ok(took <= TTL_MS + SLACK_MS, `a new leader after ${took} ms`);
    // The new leader recovered the agent from the registry and pings it under its own id.
    const nextPing = await agent.waitFor('PING', (m) => m.master_id !== oldId);
    const newKey = '/corral/registry/master';
    const info = await eventually(
      async () => {
        const kv = await store.get(newKey);
        return kv && JSON.parse(kv.value).master_info.id === nextPing.master_id ? kv : undefined;
      },
      3000,
      'the new leader’s MasterInfo in the registry',
    );

    // From here on, count every registry write.
    const writes: WatchEvent[] = [];
    const watch: WatchHandle = store.watch('/corral/registry/', (ev) => writes.push(ev), { fromRevision: info.revision + 1 });
    cleanups.push(() => watch.cancel());
    const registryBefore = await store.range('/corral/registry/');

    old.proc.kill('SIGCONT');
    const deposed = await old.proc.waitForJson((e) => e.event === 'deposed', 5000, 'the old leader steps down');
    assert.equal(deposed.master_id, oldId);
    assert.equal(await elected(old.url), 0);
    const redirected = await fetch(old.url + AGENT_MESSAGE_PATH, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'PONG', agent_id: { value: agent.agentId } }),
    });
    assert.equal(redirected.status, 307);
    assert.equal(redirected.headers.get('location'), next.url + AGENT_MESSAGE_PATH);

    // The agent hears only the new leader: a few more of its pings, and nothing from the old term
    // since the pause (its ping timer fell due while it was stopped, but the term ended first).
    for (let i = 0; i < 3; i++) await agent.waitFor('PING', (m) => m.master_id === nextPing.master_id, { from: agent.mark() });
    assert.deepEqual(agent.received.slice(sincePause).filter((m) => m.master_id === oldId), [], 'no message from the deposed term');
    assert.deepEqual(writes, [], 'no registry write since the new leader took over');
    assert.deepEqual(await store.range('/corral/registry/'), registryBefore);
    assert.equal((await leaderAmong(live, 3000)).url, next.url);
  });
});
