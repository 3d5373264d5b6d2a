// The election recipe over the memory store: one leader among candidates, succession when the
// leader's lease expires or it resigns, and the fence failing once leadership is lost.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Election, type Term } from '../../src/coordination/election.ts';
import { currentLeader, MASTER_ELECTION } from '../../src/coordination/leader.ts';
import { ConflictError, UnavailableError } from '../../src/protocol/errors.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { BackendStore, createMemoryStore } from '../../src/store/index.ts';

const P = MASTER_ELECTION;

function candidate(store: BackendStore, id: string): Election {
  return new Election(store, P, { id, url: `http://127.0.0.1/${id}` }, { ttlMs: 1000, log: silentLogger });
}

/** Resolves with the value, or rejects if it has not settled within ms (a bounded wait, not a sync). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ]);
}

/** True when p has settled by the time the event loop has drained a few rounds of already-queued work. */
async function settledSoon(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  return done;
}

function leaseIdOf(term: Term): string {
  return term.key.slice(P.length);
}

describe('Election', () => {
  test('the first candidate leads; the others wait; the leader record is readable', async () => {
    const store = createMemoryStore() as BackendStore;
    const a = candidate(store, 'a');
    const b = candidate(store, 'b');
    const c = candidate(store, 'c');
    const ta = await within(a.campaign(), 2000, 'a elected');
    const pb = b.campaign();
    const pc = c.campaign();
    assert.equal(await settledSoon(pb), false, 'b waits');
    assert.equal(await settledSoon(pc), false, 'c waits');
    const leader = await currentLeader(store, P);
    assert.equal(leader?.id, 'a');
    assert.equal(leader?.key, ta.key);
    assert.deepEqual(ta.fence, [{ key: ta.key, revision: ta.revision }]);
    assert.equal(ta.ended, false);
    await a.resign();
    await b.resign();
    await c.resign();
    await Promise.allSettled([pb, pc]);
    await store.close();
  });

  test('the leader’s lease expires → it is deposed, the next in line leads, its fence fails', async () => {
    const store = createMemoryStore() as BackendStore;
    const a = candidate(store, 'a');
    const b = candidate(store, 'b');
    const c = candidate(store, 'c');
    const ta = await a.campaign();
    const pb = b.campaign();
    const pc = c.campaign();
    assert.equal(await settledSoon(pb), false);
    // A write under the fence works while the term lasts.
    await store.commit(ta.fence, [{ type: 'put', key: '/registry/x', value: '1' }]);

    await store.expireLease(leaseIdOf(ta));
    assert.match(await within(ta.lost, 2000, 'a deposed'), /lease lost|election key deleted/);
    assert.equal(ta.ended, true);
    const tb = await within(pb, 2000, 'b elected');
    assert.equal((await currentLeader(store, P))?.id, 'b');
    assert.equal(await settledSoon(pc), false, 'c still waits');
    await assert.rejects(store.commit(ta.fence, [{ type: 'put', key: '/registry/x', value: 'stale' }]), ConflictError);
    assert.equal((await store.get('/registry/x'))?.value, '1');
    await store.commit(tb.fence, [{ type: 'put', key: '/registry/x', value: '2' }]);

    // b resigns: c leads, b's term ends with 'resigned'.
    let reason: string | undefined;
    tb.onLost((r) => (reason = r));
    await b.resign();
    const tc = await within(pc, 2000, 'c elected');
    assert.equal(reason, 'resigned');
    assert.equal(tc.leader.id, 'c');
    await c.resign();
    await store.close();
  });

  test('deleting the leader’s key deposes it; a deposed candidate can campaign again and queues last', async () => {
    const store = createMemoryStore() as BackendStore;
    const a = candidate(store, 'a');
    const b = candidate(store, 'b');
    const ta = await a.campaign();
    const pb = b.campaign();
    await store.delete(ta.key);
    assert.equal(await within(ta.lost, 2000, 'a deposed'), 'election key deleted');
    await within(pb, 2000, 'b elected');
    const pa2 = a.campaign();
    assert.equal(await settledSoon(pa2), false, 'a queues behind b');
    await b.resign();
    const ta2 = await within(pa2, 2000, 'a elected again');
    assert.notEqual(ta2.key, ta.key);
    await a.resign();
    assert.equal(await currentLeader(store, P), undefined);
    await store.close();
  });

  test('a waiting candidate whose lease is lost fails its campaign; abort withdraws the candidacy', async () => {
    const store = createMemoryStore() as BackendStore;
    const a = candidate(store, 'a');
    const b = candidate(store, 'b');
    const c = candidate(store, 'c');
    await a.campaign();
    const pb = b.campaign();
    assert.equal(await settledSoon(pb), false);
    const waiting = (await store.range(P)).map((kv) => kv.key.slice(P.length));
    assert.equal(waiting.length, 2);
    await store.expireLease(waiting[1]!);
    await assert.rejects(within(pb, 2000, 'b fails'), UnavailableError);

    const ac = new AbortController();
    const pc = c.campaign(ac.signal);
    assert.equal(await settledSoon(pc), false);
    ac.abort();
    await assert.rejects(within(pc, 2000, 'c aborted'), { name: 'AbortError' });
    assert.equal((await store.range(P)).length, 1, 'only the leader’s key is left');
    await a.resign();
    await store.close();
  });

  test('closing the store deposes the leader', async () => {
    const store = createMemoryStore() as BackendStore;
    const a = candidate(store, 'a');
    const ta = await a.campaign();
    await store.close();
    assert.match(await within(ta.lost, 2000, 'a deposed'), /lease lost|election key deleted/);
  });
});
