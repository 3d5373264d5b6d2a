// The etcd Store rides through one member that stops answering while the other two keep quorum
// (issue 5): the member is SIGSTOPped, so its connections stay open and calls to it hang rather than
// fail — the case a random pick of members turned into lost leases and stalled watches. The paused
// member is the one the store prefers (listed first), so its keep-alives and its watch start there.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { createLogger } from '../../src/runtime/log.ts';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.ts';
import type { Lease, WatchEvent } from '../../src/store/index.ts';
import { startEtcd, type EtcdCluster, type EtcdMember } from '../support/etcd.ts';

const quiet = createLogger('store-test', 'error', () => {});
const TTL_MS = 2000;

/** Polls cond (bounded) until it holds; returns how long that took. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

async function timed<T>(what: string, limitMs: number, p: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const v = await p();
  const took = Date.now() - t0;
  assert.ok(took <= limitMs, `${what} took ${took} ms (at most ${limitMs} ms with one member paused)`);
  return v;
}

/** A member that is not etcd's leader: pausing it leaves the quorum and its leader untouched. */
async function aFollower(cluster: EtcdCluster): Promise<EtcdMember> {
  for (const m of cluster.members) {
    const c = new Etcd3({ hosts: [m.endpoint] });
    try {
      const st = await c.maintenance.status();
      if (st.leader !== st.header.member_id) return m;
    } finally {
      c.close();
    }
  }
  throw new Error('no follower found');
}

describe('etcd store with one of three members paused (quorum intact)', () => {
  let cluster: EtcdCluster;
  let victim: EtcdMember;
  let store: EtcdStore;
  /** Only watches (like an agent watching the election): no lease traffic tells it of the pause. */
  let watchOnly: EtcdStore;
  let writer: EtcdStore;
  before(async () => {
    cluster = await startEtcd({ members: 3 });
    victim = await aFollower(cluster);
    const others = cluster.endpoints.filter((e) => e !== victim.endpoint);
    store = await openEtcdStore([victim.endpoint, ...others], { logger: quiet });
    watchOnly = await openEtcdStore([victim.endpoint, ...others], { logger: quiet });
    writer = await openEtcdStore(others, { logger: quiet });
  });
  after(async () => {
    victim?.resume();
    await store?.close();
    await watchOnly?.close();
    await writer?.close();
    await cluster?.stop();
  });

  it('keeps leases alive, answers every call within a second and keeps the watch delivering; all good after resume', async (t) => {
    // Before: the store works through the member about to be paused.
    for (let i = 0; i < 3; i++) await store.get('md/none');
    const lease1 = await store.grantLease(TTL_MS);
    await store.put('md/leased-1', 'x', { lease: lease1 });
    const events: WatchEvent[] = [];
    store.watch('md/w/', (ev) => void events.push(ev));
    const seen = (value: string) => events.some((e) => e.type === 'put' && e.kv.value === value);
    const watchOnlyValues: string[] = [];
    watchOnly.watch('md/w/', (ev) => void (ev.type === 'put' && watchOnlyValues.push(ev.kv.value)));
    await writer.put('md/w/k', 'before');
    await until(() => seen('before') && watchOnlyValues.includes('before'), 'the event written before the pause', 3000);
    assert.equal(store.endpointHealth().find((e) => e.preferred)?.endpoint, victim.endpoint, 'the paused member is the one in use');

    victim.pause();
    const pausedAt = Date.now();
    // A write through the other members right at the pause reaches the watch (moved off the paused member).
    await writer.put('md/w/k', 'at-pause');
    const lag = await until(() => seen('at-pause'), 'the event written at the pause', 5000);
    assert.ok(lag <= 2000, `the watch delivered ${lag} ms after the write (at most 2000 ms)`);
    const lagWatchOnly = await until(() => watchOnlyValues.includes('at-pause'), 'the event at the watch-only store', 5000);
    assert.ok(lag + lagWatchOnly <= 2000, `the watch-only store's watch delivered ${lag + lagWatchOnly} ms after the write (at most 2000 ms)`);
    t.diagnostic(`watch event after the pause: ${lag} ms (store with leases), ${lag + lagWatchOnly} ms (watch-only store)`);
    const health = store.endpointHealth();
    assert.equal(health.find((e) => e.endpoint === victim.endpoint)?.healthy, false, JSON.stringify(health));
    assert.notEqual(health.find((e) => e.preferred)?.endpoint, victim.endpoint);

    const lease2: Lease = await timed('grantLease', 1000, () => store.grantLease(TTL_MS));
    await timed('put with a lease', 1000, () => store.put('md/leased-2', 'x', { lease: lease2 }));
    const lease2At = Date.now();
    // Each lease must outlive 3 TTLs of the pause while the store keeps working.
    let n = 0;
    let lastGet = 0;
    while (Date.now() < Math.max(pausedAt, lease2At) + 3 * TTL_MS) {
      n++;
      const rev = await timed('put', 1000, () => store.put('md/n', String(n)));
      const kv = await timed('get', 1000, () => store.get('md/n'));
      assert.equal(kv?.revision, rev);
      lastGet = kv!.revision;
      await timed('commit', 1000, () =>
        store.commit([{ key: 'md/n', revision: rev }], [{ type: 'put', key: 'md/n', value: `${n}c` }, { type: 'put', key: 'md/m', value: String(n) }]),
      );
      await timed('snapshot', 1000, () => store.snapshot('md/'));
      await writer.put('md/w/k', `during-${n}`);
      const l = await until(() => seen(`during-${n}`), `watch event ${n}`, 3000);
      assert.ok(l <= 1000, `watch event ${n} after ${l} ms`);
      await new Promise((r) => setTimeout(r, 100)); // pacing of the load, not synchronisation
    }
    assert.ok(n >= 5 && lastGet > 0);
    assert.equal(lease1.lost, false, 'the lease granted before the pause was kept alive');
    assert.equal(lease2.lost, false, 'the lease granted during the pause was kept alive');
    assert.equal((await writer.get('md/leased-1'))?.value, 'x');
    assert.equal((await writer.get('md/leased-2'))?.value, 'x');

    victim.resume();
    await until(() => store.endpointHealth().every((e) => e.healthy), 'the resumed member to count as healthy again', 5000);
    await timed('put after resume', 1000, () => store.put('md/n', 'after'));
    await writer.put('md/w/k', 'after');
    await until(() => seen('after') && watchOnlyValues.includes('after'), 'the event written after the resume', 2000);
    assert.deepEqual(watchOnlyValues.filter((v) => v.startsWith('during-')), Array.from({ length: n }, (_, k) => `during-${k + 1}`));
    const values = events.filter((e) => e.type === 'put').map((e) => (e.type === 'put' ? e.kv.revision : 0));
    assert.deepEqual(values, [...new Set(values)].sort((a, b) => a - b), 'each event once, in order');
    assert.equal(lease1.lost || lease2.lost, false);
    await lease1.revoke();
    await lease2.revoke();
    assert.equal(await writer.get('md/leased-1'), undefined);
  });
});
