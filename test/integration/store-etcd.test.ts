// The Store contract against a real etcd, plus what only etcd does: leases that outlive a killed
// owner by exactly their TTL, surviving the loss of a cluster member, compaction, and failing fast
// (UnavailableError, not a hang) when no member answers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { CompactedError, UnavailableError } from '../../src/protocol/errors.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { openStore, type Store, type WatchEvent } from '../../src/store/index.ts';
import { openEtcdStore } from '../../src/store/etcd.ts';
import { startEtcd, waitForHealth, type EtcdCluster } from '../support/etcd.ts';
import { storeConformance } from '../support/store-conformance.ts';

const quiet = createLogger('store-test', 'error', () => {});
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const storeModule = new URL('../../src/store/index.ts', import.meta.url).href;

let etcd: EtcdCluster;
let admin: Etcd3;
before(async () => {
  etcd = await startEtcd({ members: 1 });
  admin = new Etcd3({ hosts: etcd.endpoints });
});
after(async () => {
  admin?.close();
  await etcd?.stop();
});

/** Polls cond (bounded) until it holds; returns how long that took. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

// Every conformance test gets an empty keyspace (the global revision carries on, as the suite allows).
storeConformance(
  'etcd',
  async () => {
    await admin.delete().all();
    return openStore(etcd.url, { logger: quiet });
  },
  {
    compact: undefined, // etcd reports compaction asynchronously (onError); tested below
  },
);

describe('etcd store specifics', () => {
  it('a lease outlives its SIGKILLed owner by its TTL, then its keys vanish', async () => {
    const key = `owner/${process.pid}`;
    const script = `
      const { openStore } = await import(${JSON.stringify(storeModule)});
      const s = await openStore(${JSON.stringify(etcd.url)});
      const lease = await s.grantLease(1000);
      await s.put(${JSON.stringify(key)}, 'alive', { lease });
      console.log('ready ' + lease.ttlMs);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await until(() => /ready/.test(out) || child.exitCode !== null, 'the child to put its key', 10_000);
      assert.match(out, /ready 1000/, err);
      const s = await openStore(etcd.url, { logger: quiet });
      try {
        assert.equal((await s.get(key))?.value, 'alive');
        // Kept alive: still there after more than one TTL.
        await new Promise((r) => setTimeout(r, 1300));
        assert.equal((await s.get(key))?.value, 'alive', 'keep-alives hold the key past its TTL');
        child.kill('SIGKILL');
        await exited;
        const gone = await until(async () => (await s.get(key)) === undefined, 'the key to vanish', 4000);
        assert.ok(gone <= 1000 + 1500, `vanished ${gone} ms after the kill (TTL 1000 ms + slack)`);
      } finally {
        await s.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('onLost fires within the TTL when etcd stops answering (paused), before etcd could expire the lease', async () => {
    const s = await openEtcdStore(etcd.endpoints, { logger: quiet, callTimeoutMs: 1000 });
    const lease = await s.grantLease(1000);
    const reasons: string[] = [];
    lease.onLost((r) => reasons.push(r));
    const t0 = Date.now();
    etcd.members[0]!.pause();
    try {
      const took = await until(() => reasons.length > 0, 'onLost', 3000);
      assert.ok(took <= 1000 + 700, `lost after ${took} ms (TTL 1000 ms + timer slack)`);
      assert.match(reasons[0]!, /expired/);
      assert.equal(lease.lost, true);
    } finally {
      etcd.members[0]!.resume();
    }
    await until(async () => (await fetch(`${etcd.endpoints[0]}/health`).then((r) => r.ok, () => false)), 'etcd to answer again', 5000);
    assert.ok(Date.now() - t0 < 5000);
    await s.close();
  });

  it('a watch from a compacted revision reports CompactedError through onError', async () => {
    const s = await openStore(etcd.url, { logger: quiet });
    const r1 = await s.put('compact/a', '1');
    await s.put('compact/a', '2');
    const r3 = await s.put('compact/a', '3');
    await admin.kv.compact({ revision: r3, physical: true });
    const errors: Error[] = [];
    const got: WatchEvent[] = [];
    s.watch('compact/', (ev) => void got.push(ev), { fromRevision: r1, onError: (e) => errors.push(e) });
    await until(() => errors.length > 0, 'onError', 3000);
    assert.ok(errors[0] instanceof CompactedError, String(errors[0]));
    assert.equal((errors[0] as CompactedError).status, 410);
    assert.deepEqual(got, []);
    // From the compaction point on, watching works.
    const w: WatchEvent[] = [];
    s.watch('compact/', (ev) => void w.push(ev), { fromRevision: r3 });
    await until(() => w.length === 1, 'the retained event', 3000);
    await s.close();
  });

  it('openStore on endpoints where nothing listens fails fast with UnavailableError naming them', async () => {
    const t0 = Date.now();
    await assert.rejects(openStore('etcd://127.0.0.1:1', { logger: quiet, callTimeoutMs: 500 }), (e: unknown) => {
      assert.ok(e instanceof UnavailableError, String(e));
      assert.match(e.message, /127\.0\.0\.1:1/);
      return true;
    });
    assert.ok(Date.now() - t0 < 3000);
  });
});

describe('etcd store on a 3-member cluster', () => {
  let cluster: EtcdCluster;
  let store: Store;
  before(async () => {
    cluster = await startEtcd({ members: 3 });
    store = await openStore(cluster.url, { logger: quiet, callTimeoutMs: 3000 });
  });
  after(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it('keeps working, and its watch keeps delivering every event once, while members are killed one at a time', async () => {
    const events: WatchEvent[] = [];
    const start = await store.snapshot('ha/');
    store.watch('ha/', (ev) => void events.push(ev), { fromRevision: start.revision + 1 });
    // A TTL that rides through a leader election (about 0.6 s here) with room for a slow keep-alive.
    const lease = await store.grantLease(3000);
    const revs: number[] = [];
    let counter = 0;
    const writeSome = async () => {
      for (let i = 0; i < 5; i++) {
        const kv = await store.get('ha/counter');
        revs.push(await store.put('ha/counter', String(++counter), { expectedRevision: kv?.revision ?? 0 }));
      }
      revs.push(await store.commit([], [{ type: 'put', key: `ha/leased-${counter}`, value: 'x', lease: lease.id }]));
    };
    await writeSome();
    for (const victim of cluster.members) {
      await victim.kill();
      // A write sent while the survivors elect a leader may time out with its outcome unknown (etcd
      // drops proposals that have no leader): that is UnavailableError by design, not what this tests.
      await waitForHealth(cluster.members.filter((m) => m !== victim), 5000);
      await writeSome();
      await victim.start();
    }
    assert.equal((await store.get('ha/counter'))?.value, String(counter));
    await until(() => events.length >= revs.length, `${revs.length} events`, 5000);
    assert.deepEqual(events.map((e) => (e.type === 'put' ? e.kv.revision : e.revision)), revs, 'each event once, in order');
    assert.equal(lease.lost, false, 'keep-alives went on through the member failures');
    await lease.revoke();
    assert.deepEqual((await store.range('ha/')).map((kv) => kv.key), ['ha/counter']);
  });

  it('fails with UnavailableError within its call timeout when no member answers, and recovers after', async () => {
    const s = await openStore(cluster.url, { logger: quiet, callTimeoutMs: 1000 });
    const lease = await s.grantLease(1000);
    const lost: string[] = [];
    lease.onLost((r) => lost.push(r));
    const watched: WatchEvent[] = [];
    s.watch('down/', (ev) => void watched.push(ev));
    await Promise.all(cluster.members.map((m) => m.kill()));
    const t0 = Date.now();
    const calls = [s.get('down/x'), s.put('down/x', '1'), s.snapshot('down/'), s.commit([], [{ type: 'delete', key: 'down/y' }]), s.grantLease(1000)];
    for (const r of await Promise.allSettled(calls)) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as unknown;
      assert.ok(e instanceof UnavailableError, String(e));
      assert.ok(e.message.includes(cluster.endpoints[0]!), e.message);
    }
    assert.ok(Date.now() - t0 <= 1000 + 1000, `took ${Date.now() - t0} ms (call timeout 1000 ms)`);
    await until(() => lost.length > 0, 'the lease to be lost', 3000);
    await Promise.all(cluster.members.map((m) => m.start({ waitHealthy: false })));
    await until(async () => (await Promise.all(cluster.endpoints.map((e) => fetch(`${e}/health`).then((r) => r.ok, () => false)))).every(Boolean), 'the cluster to recover', 10_000);
    await until(async () => s.put('down/x', 'back').then(() => true, () => false), 'a write to succeed again', 5000);
    await until(() => watched.length > 0, 'the watch to resume', 5000);
    // A put that timed out may still have been applied, so 'back' may appear more than once.
    assert.ok(watched.every((e) => e.type === 'put' && e.kv.key === 'down/x' && e.kv.value === 'back'), JSON.stringify(watched));
    await s.close();
  });
});
