// The Store contract, run against both local implementations, plus what the
// local implementations promise beyond it, plus a differential property test
// (memory vs SQLite must agree on every result of every random history).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { CompactedError, NotFoundError } from '../../src/protocol/errors.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { storeConformance } from '../support/store-conformance.ts';
import { BackendStore, DEFAULT_HISTORY_LIMIT, createMemoryStore, openEmbeddedStore, type Op, type Store, type WatchEvent } from '../../src/store/index.ts';

const quiet = createLogger('store-test', 'error', () => {});
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'corral-store-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// A local store keeps the last DEFAULT_HISTORY_LIMIT events: push that many more through it.
const fillHistory = async (s: Store) => {
  const perCommit = 128;
  for (let i = 0; i < Math.ceil(DEFAULT_HISTORY_LIMIT / perCommit) + 1; i++) {
    await s.commit([], Array.from({ length: perCommit }, (_, j) => ({ type: 'put' as const, key: `fill/${j}`, value: String(i) })));
  }
};
storeConformance('memory', () => createMemoryStore({ logger: quiet }), { compact: fillHistory });
storeConformance('embedded (SQLite)', () => openEmbeddedStore(join(tempDir(), 'store'), { logger: quiet }), { compact: fillHistory });

const locals: [string, () => Promise<BackendStore>][] = [
  ['memory', async () => createMemoryStore({ logger: quiet })],
  ['embedded', () => openEmbeddedStore(tempDir(), { logger: quiet })],
];

for (const [name, make] of locals) {
  describe(`local store extras: ${name}`, () => {
    it('starts at revision 0; the first write is revision 1', async () => {
      const s = await make();
      assert.equal(await s.revision(), 0);
      assert.equal(await s.put('a', '1'), 1);
      assert.equal(await s.commit([], [{ type: 'put', key: 'b', value: '2' }, { type: 'put', key: 'c', value: '3' }]), 2);
      await s.close();
    });

    it('delivers watch events synchronously, before the write resolves', async () => {
      const s = await make();
      const got: WatchEvent[] = [];
      s.watch('', (ev) => void got.push(ev));
      const p = s.put('a', '1');
      assert.equal(got.length, 1, 'delivered during the put call itself');
      await p;
      await s.close();
    });

    it('hands out immutable key-values, so one listener cannot corrupt another', async () => {
      const s = await make();
      let seen: WatchEvent | undefined;
      s.watch('', (ev) => {
        assert.throws(() => {
          (ev as { type: string }).type = 'delete';
        }, TypeError);
        seen = ev;
      });
      await s.put('a', '1');
      const kv = (await s.get('a'))!;
      assert.throws(() => {
        kv.value = 'mutated';
      }, TypeError);
      assert.equal((await s.get('a'))!.value, '1');
      assert.equal(seen?.type, 'put');
      await s.close();
    });

    it('expireLease ends a lease as if it expired: keys deleted in one revision, onLost("expired")', async () => {
      const s = await make();
      const lease = await s.grantLease(1000);
      assert.equal(lease.ttlMs, 1000, 'local leases keep the TTL asked for');
      const other = await s.grantLease(1000);
      await s.put('lead/a', '1', { lease });
      await s.put('lead/b', '1', { lease });
      await s.put('lead/c', '1', { lease: other });
      const got: WatchEvent[] = [];
      s.watch('lead/', (ev) => void got.push(ev));
      const reasons: string[] = [];
      lease.onLost((r) => reasons.push(r));
      const before = await s.revision();
      await s.expireLease(lease.id);
      assert.deepEqual(reasons, ['expired'], 'callbacks have run once expireLease resolves');
      assert.equal(lease.lost, true);
      assert.deepEqual(got, [
        { type: 'delete', key: 'lead/a', revision: before + 1 },
        { type: 'delete', key: 'lead/b', revision: before + 1 },
      ]);
      assert.deepEqual((await s.range('lead/')).map((kv) => kv.key), ['lead/c']);
      await s.expireLease(lease.id); // already ended: no-op
      await s.expireLease('no-such-lease');
      assert.deepEqual(reasons, ['expired']);
      assert.equal(other.lost, false);
      await s.close();
    });

    it('a lease of one store is refused by another, even with the same id', async () => {
      const a = await make();
      const b = await make();
      const lease = await a.grantLease(1000);
      await b.grantLease(1000); // same counter: same id
      await assert.rejects(b.put('k', 'v', { lease }), NotFoundError);
      await a.close();
      await b.close();
    });

    it('replays a watch from any retained revision, and refuses the revisions it dropped', async () => {
      const s = name === 'memory' ? createMemoryStore({ logger: quiet, historyLimit: 3 }) : await openEmbeddedStore(tempDir(), { logger: quiet, historyLimit: 3 });
      await s.put('a', '1'); // 1
      await s.commit([], [{ type: 'put', key: 'b', value: '2' }, { type: 'put', key: 'c', value: '2' }]); // 2
      await s.put('d', '3'); // 3: history is now [2, 2, 3]
      await s.put('e', '4'); // 4: trimming drops revision 2 whole, never half a commit
      assert.throws(() => s.watch('', () => {}, { fromRevision: 2 }), CompactedError);
      const got: number[] = [];
      s.watch('', (ev) => void got.push(ev.type === 'put' ? ev.kv.revision : ev.revision), { fromRevision: 3 });
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(got, [3, 4]);
      await s.close();
    });

    it('reports a throwing listener through the logger', async () => {
      const lines: string[] = [];
      const logger = createLogger('store', 'debug', (l) => lines.push(l));
      const s = name === 'memory' ? createMemoryStore({ logger }) : await openEmbeddedStore(tempDir(), { logger });
      s.watch('a', () => {
        throw new Error('boom');
      });
      await s.put('a', '1');
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /watch listener failed.*boom/);
      await s.close();
    });
  });
}

// ---- Differential property test ----------------------------------------------------------

type Action =
  | { kind: 'put'; key: string; value: string; expect?: number }
  | { kind: 'delete'; key: string; expect?: number }
  | { kind: 'commit'; conds: { key: string; revision: number }[]; ops: Op[] }
  | { kind: 'get'; key: string }
  | { kind: 'range'; prefix: string };

// A small key alphabet so that histories collide, plus characters whose UTF-16
// and UTF-8 orders differ.
const keyArb = fc.constantFrom('a', 'a/', 'a/b', 'a/c', 'ab', 'b', '\uE000', '\u{10000}', 'é', 'a/\u{1F600}');
const revArb = fc.nat({ max: 12 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 4 }), expect: fc.option(revArb, { nil: undefined }) }),
  fc.record({ kind: fc.constant('delete' as const), key: keyArb, expect: fc.option(revArb, { nil: undefined }) }),
  fc.record({
    kind: fc.constant('commit' as const),
    conds: fc.array(fc.record({ key: keyArb, revision: revArb }), { maxLength: 2 }),
    ops: fc.array(
      fc.oneof(
        fc.record({ type: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
        fc.record({ type: fc.constant('delete' as const), key: keyArb }),
      ),
      { maxLength: 3 },
    ),
  }),
  fc.record({ kind: fc.constant('get' as const), key: keyArb }),
  fc.record({ kind: fc.constant('range' as const), prefix: fc.constantFrom('', 'a', 'a/', 'b', '\uE000', 'é') }),
);

async function run(s: Store, a: Action): Promise<unknown> {
  try {
    switch (a.kind) {
      case 'put':
        return await s.put(a.key, a.value, a.expect === undefined ? {} : { expectedRevision: a.expect });
      case 'delete':
        return await s.delete(a.key, a.expect === undefined ? {} : { expectedRevision: a.expect });
      case 'commit':
        return await s.commit(a.conds, a.ops);
      case 'get':
        return await s.get(a.key);
      case 'range':
        return await s.range(a.prefix);
    }
  } catch (e) {
    return { error: (e as Error).constructor.name };
  }
}

describe('memory and embedded stores agree (property)', () => {
  it('on every result, every watch event and the final state of random histories', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { maxLength: 25 }), async (actions) => {
        const mem = createMemoryStore({ logger: quiet });
        const dir = mkdtempSync(join(tmpdir(), 'corral-prop-'));
        const disk = await openEmbeddedStore(dir, { logger: quiet });
        try {
          const memEvents: WatchEvent[] = [];
          const diskEvents: WatchEvent[] = [];
          mem.watch('a', (e) => void memEvents.push(e));
          disk.watch('a', (e) => void diskEvents.push(e));
          for (const a of actions) assert.deepEqual(await run(disk, a), await run(mem, a), JSON.stringify(a));
          assert.deepEqual(await disk.range(''), await mem.range(''));
          assert.equal(await disk.revision(), await mem.revision());
          assert.deepEqual(diskEvents, memEvents);
          // Watch events replayed onto an empty map reproduce the final state under the prefix.
          const replay = new Map<string, string>();
          for (const e of memEvents) e.type === 'put' ? replay.set(e.kv.key, e.kv.value) : replay.delete(e.key);
          assert.deepEqual(new Map((await mem.range('a')).map((kv) => [kv.key, kv.value])), replay);
        } finally {
          await mem.close();
          await disk.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});
