// The fenced store over the memory store and a real election: writes land while the term holds;
// once its lease ends (BackendStore.expireLease) or another candidate leads, no write of the old
// term lands, the first refused write reports the loss once and seals the store; the caller's own
// conditions still fail as plain conflicts; reads and watches pass through.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Election, type Term } from '../../src/coordination/election.ts';
import { fencedStore } from '../../src/coordination/fenced-store.ts';
import { ORCHESTRATOR_ELECTION } from '../../src/coordination/leader.ts';
import { ConflictError, UnavailableError } from '../../src/protocol/errors.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { BackendStore, createMemoryStore } from '../../src/store/index.ts';
import type { WatchEvent } from '../../src/store/store.ts';

const P = ORCHESTRATOR_ELECTION;

async function elect(store: BackendStore, id: string): Promise<{ election: Election; term: Term }> {
  const election = new Election(store, P, { id, url: `http://127.0.0.1/${id}` }, { ttlMs: 1000, log: silentLogger });
  return { election, term: await election.campaign() };
}

const leaseIdOf = (term: Term) => term.key.slice(P.length);

describe('fencedStore', () => {
  test('writes land while the term holds; reads, watches and results are the store’s', async () => {
    const store = createMemoryStore();
    const { election, term } = await elect(store, 'a');
    const fenced: string[] = [];
    const fs = fencedStore(store, { fence: term.fence, onFenced: (e) => fenced.push(e.message) });
    const seen: WatchEvent[] = [];
    const w = fs.watch('/k/', (ev) => seen.push(ev));

    const r1 = await fs.put('/k/a', '1');
    assert.equal((await store.get('/k/a'))?.value, '1');
    assert.equal((await store.get('/k/a'))?.revision, r1);
    const r2 = await fs.put('/k/a', '2', { expectedRevision: r1 });
    assert.ok(r2 > r1);
    await fs.commit([], [
      { type: 'put', key: '/k/b', value: 'b' },
      { type: 'put', key: '/k/c', value: 'c' },
    ]);
    assert.deepEqual((await fs.range('/k/')).map((kv) => [kv.key, kv.value]), [
      ['/k/a', '2'],
      ['/k/b', 'b'],
      ['/k/c', 'c'],
    ]);
    assert.equal(await fs.delete('/k/b'), true);
    assert.equal(await fs.delete('/k/b'), false, 'already gone');
    const c = (await fs.get('/k/c'))!;
    assert.equal(await fs.delete('/k/c', { expectedRevision: c.revision }), true);
    assert.equal(await fs.delete('/k/none', { expectedRevision: 0 }), false);
    assert.equal((await fs.snapshot('/k/')).kvs.length, 1);
    assert.equal(await fs.revision(), await store.revision());
    // A put with a lease attaches the key to it.
    const lease = await fs.grantLease(1000);
    await fs.put('/k/leased', 'x', { lease });
    await store.expireLease(lease.id);
    assert.equal(await store.get('/k/leased'), undefined);

    assert.deepEqual(
      seen.map((e) => (e.type === 'put' ? `put ${e.kv.key}` : `delete ${e.key}`)),
      ['put /k/a', 'put /k/a', 'put /k/b', 'put /k/c', 'delete /k/b', 'delete /k/c', 'put /k/leased', 'delete /k/leased'],
    );
    w.cancel();
    assert.deepEqual(fenced, []);
    assert.equal(fs.sealed, false);
    await election.resign();
    await store.close();
  });

  test('the caller’s own condition failing is a plain conflict, not a lost term', async () => {
    const store = createMemoryStore();
    const { election, term } = await elect(store, 'a');
    let fencedCalls = 0;
    const fs = fencedStore(store, { fence: term.fence, onFenced: () => fencedCalls++ });
    const r = await fs.put('/k/a', '1');
    await assert.rejects(fs.put('/k/a', '2', { expectedRevision: r + 100 }), ConflictError);
    await assert.rejects(fs.put('/k/a', '2', { expectedRevision: 0 }), ConflictError);
    await assert.rejects(fs.commit([{ key: '/k/zz', revision: 5 }], [{ type: 'put', key: '/k/b', value: 'b' }]), ConflictError);
    await assert.rejects(fs.delete('/k/a', { expectedRevision: r + 1 }), ConflictError);
    assert.equal(fencedCalls, 0);
    assert.equal(fs.sealed, false);
    assert.equal((await fs.get('/k/a'))?.value, '1');
    await fs.put('/k/a', '3');
    assert.equal((await store.get('/k/a'))?.value, '3');
    await election.resign();
    await store.close();
  });

  test('after the lease ends, no write lands: the first refusal reports once and seals the store', async () => {
    const store = createMemoryStore();
    const { term } = await elect(store, 'a');
    const reports: ConflictError[] = [];
    const fs = fencedStore(store, { fence: term.fence, onFenced: (e) => reports.push(e) });
    await fs.put('/k/a', 'before');
    await store.expireLease(leaseIdOf(term));
    await term.lost;

    const rev = await store.revision();
    await assert.rejects(fs.put('/k/a', 'after'), (e: unknown) => e instanceof UnavailableError && /no longer the leader/.test(e.message));
    assert.equal(reports.length, 1);
    assert.ok(reports[0] instanceof ConflictError);
    assert.equal(fs.sealed, true);
    // Sealed: refused before reaching the store, and not reported again.
    await assert.rejects(fs.delete('/k/a'), UnavailableError);
    await assert.rejects(fs.commit([], [{ type: 'put', key: '/k/b', value: 'x' }]), UnavailableError);
    await assert.rejects(fs.put('/k/c', 'x', { expectedRevision: 0 }), UnavailableError);
    assert.equal(reports.length, 1);
    assert.equal(await store.revision(), rev, 'nothing was written');
    assert.equal((await fs.get('/k/a'))?.value, 'before', 'reads still pass through');
    await store.close();
  });

  test('a deposed leader cannot write over its successor, even with its own conditions met', async () => {
    const store = createMemoryStore();
    const a = await elect(store, 'a');
    const b = new Election(store, P, { id: 'b', url: 'http://127.0.0.1/b' }, { ttlMs: 1000, log: silentLogger });
    const bTerm = b.campaign();
    let aFenced = 0;
    const fa = fencedStore(store, { fence: a.term.fence, onFenced: () => aFenced++ });
    const r = await fa.put('/k/state', 'a1');

    await store.expireLease(leaseIdOf(a.term));
    const tb = await bTerm;
    const fb = fencedStore(store, { fence: tb.fence });
    await fb.put('/k/state', 'b1');

    // Refused even for a key nobody else touched, and even with a's own condition still holding.
    await fa.put('/k/other', 'x').catch(() => undefined);
    assert.equal(aFenced, 1);
    await assert.rejects(fa.put('/k/state', 'a2', { expectedRevision: r }), UnavailableError);
    assert.equal((await store.get('/k/state'))?.value, 'b1');
    assert.equal(await store.get('/k/other'), undefined);
    await b.resign();
    await store.close();
  });

  test('seal() and close() refuse writes without touching the inner store', async () => {
    const store = createMemoryStore();
    const { election, term } = await elect(store, 'a');
    let reports = 0;
    const fs = fencedStore(store, { fence: term.fence, onFenced: () => reports++ });
    fs.seal();
    await assert.rejects(fs.put('/k/a', '1'), UnavailableError);
    assert.equal(await store.get('/k/a'), undefined);
    assert.equal(reports, 0, 'sealing is not a fence failure');
    await fs.close();
    await assert.rejects(fs.get('/k/a'), UnavailableError);
    assert.equal(await store.get('/k/a'), undefined, 'the inner store stays open');
    await election.resign();
    await store.close();
  });
});
