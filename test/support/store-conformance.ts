// The Store contract as an executable test suite. Every implementation (memory,
// embedded SQLite, later etcd) runs this same suite:
//
//   storeConformance('memory', () => createMemoryStore());
//
// Test-support code: it imports node:test, so import it from tests only.
// The suite asserts only what the interface promises (e.g. watch delivery may
// be asynchronous, revisions need not start at a particular number).
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CompactedError, ConflictError, NotFoundError, UnavailableError, ValidationError } from '../../src/protocol/errors.ts';
import { MAX_KEY_BYTES, MAX_TXN_OPS, MAX_VALUE_BYTES, type Store, type WatchEvent, type WatchOptions } from '../../src/store/store.ts';

export type StoreFactory = () => Store | Promise<Store>;

export interface ConformanceOptions {
  /**
   * Makes every revision up to the store's current one unavailable to watch({ fromRevision })
   * (compaction, or filling a bounded history). Without it the CompactedError case is skipped.
   */
  compact?: (store: Store) => Promise<void>;
}

/** Collects watch events; `until(n)` waits (bounded) for at least n of them. */
export function collect(store: Store, prefix: string, opts?: WatchOptions) {
  const events: WatchEvent[] = [];
  const handle = store.watch(prefix, (ev) => void events.push(ev), opts);
  return {
    events,
    handle,
    async until(n: number, timeoutMs = 2000): Promise<WatchEvent[]> {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline) assert.fail(`expected ${n} watch events, got ${events.length}`);
        await new Promise((r) => setTimeout(r, 1));
      }
      return events;
    },
  };
}

/** Lets any asynchronous delivery happen, so tests can assert that nothing (more) arrived. */
export const settle = () => new Promise((r) => setTimeout(r, 20));

const keyOf = (ev: WatchEvent) => (ev.type === 'put' ? ev.kv.key : ev.key);
const revOf = (ev: WatchEvent) => (ev.type === 'put' ? ev.kv.revision : ev.revision);

/** Polls cond (bounded) until it holds. */
async function until(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

export function storeConformance(name: string, factory: StoreFactory, options: ConformanceOptions = {}): void {
  describe(`Store conformance: ${name}`, () => {
    const open: Store[] = [];
    const fresh = async () => {
      const s = await factory();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    describe('CRUD and revisions', () => {
      it('an empty store has nothing', async () => {
        const s = await fresh();
        assert.equal(await s.get('a'), undefined);
        assert.deepEqual(await s.range(''), []);
        assert.equal(typeof (await s.revision()), 'number');
      });

      it('put then get round-trips, with mod and create revision', async () => {
        const s = await fresh();
        const before = await s.revision();
        const rev = await s.put('a', 'one');
        assert.ok(rev > before);
        assert.equal(await s.revision(), rev);
        assert.deepEqual(await s.get('a'), { key: 'a', value: 'one', revision: rev, createRevision: rev });
      });

      it('overwriting bumps the mod revision and keeps the create revision', async () => {
        const s = await fresh();
        const r1 = await s.put('a', 'one');
        const r2 = await s.put('a', 'two');
        assert.ok(r2 > r1);
        assert.deepEqual(await s.get('a'), { key: 'a', value: 'two', revision: r2, createRevision: r1 });
      });

      it('revisions are global and strictly increasing', async () => {
        const s = await fresh();
        const revs: number[] = [];
        for (const k of ['a', 'b', 'a', 'c', 'b']) revs.push(await s.put(k, k));
        revs.push(await s.revision());
        for (let i = 1; i < revs.length - 1; i++) assert.ok(revs[i]! > revs[i - 1]!, `${revs}`);
        assert.equal(revs.at(-1), revs.at(-2));
        assert.equal((await s.get('b'))!.revision, revs[4]);
        assert.equal((await s.get('a'))!.revision, revs[2]);
      });

      it('delete removes the key, bumps the revision and reports whether it existed', async () => {
        const s = await fresh();
        await s.put('a', '1');
        const before = await s.revision();
        assert.equal(await s.delete('a'), true);
        const after = await s.revision();
        assert.ok(after > before);
        assert.equal(await s.get('a'), undefined);
        assert.equal(await s.delete('a'), false);
        assert.equal(await s.delete('never'), false);
        assert.equal(await s.revision(), after, 'deleting a missing key changes nothing');
      });

      it('a key re-created after delete gets a new create revision', async () => {
        const s = await fresh();
        const r1 = await s.put('a', '1');
        await s.delete('a');
        const r3 = await s.put('a', '2');
        assert.deepEqual(await s.get('a'), { key: 'a', value: '2', revision: r3, createRevision: r3 });
        assert.ok(r3 > r1);
      });

      it('values round-trip exactly: empty, NUL, non-ASCII, astral, maximum size', async () => {
        const s = await fresh();
        const big = 'x'.repeat(MAX_VALUE_BYTES - 4) + '😀'; // exactly MAX_VALUE_BYTES UTF-8 bytes
        const values = ['', 'a\0b', 'héllo wörld', '😀 \u{10FFFF} \uFFFF', '{"json":[1,2]}', big];
        for (const [i, v] of values.entries()) await s.put(`v/${i}`, v);
        for (const [i, v] of values.entries()) assert.equal((await s.get(`v/${i}`))!.value, v);
      });

      it('keys may be any well-formed text up to the limit', async () => {
        const s = await fresh();
        const keys = ['/', ' ', 'a b', 'é'.repeat(MAX_KEY_BYTES / 2), 'k'.repeat(MAX_KEY_BYTES), '😀', '%_*'];
        for (const k of keys) await s.put(k, k.slice(0, 8));
        for (const k of keys) assert.equal((await s.get(k))!.key, k);
      });

      it('many concurrent writes each get their own revision', async () => {
        const s = await fresh();
        const revs = await Promise.all(Array.from({ length: 50 }, (_, i) => s.put(`c/${i % 7}`, String(i))));
        assert.equal(new Set(revs).size, 50);
        assert.equal(await s.revision(), Math.max(...revs));
      });
    });

    describe('validation', () => {
      const badKeys: [string, unknown][] = [
        ['empty', ''],
        ['NUL', 'a\0b'],
        ['too long', 'k'.repeat(MAX_KEY_BYTES + 1)],
        ['too long in UTF-8 bytes', 'é'.repeat(MAX_KEY_BYTES / 2 + 1)],
        ['lone surrogate', 'a\uD800'],
        ['not a string', 42],
        ['undefined', undefined],
      ];
      for (const [what, key] of badKeys) {
        it(`rejects a bad key (${what}) everywhere, writing nothing`, async () => {
          const s = await fresh();
          const rev = await s.revision();
          const k = key as string;
          await assert.rejects(s.put(k, 'v'), ValidationError);
          await assert.rejects(s.get(k), ValidationError);
          await assert.rejects(s.delete(k), ValidationError);
          await assert.rejects(s.commit([], [{ type: 'put', key: 'ok', value: '1' }, { type: 'put', key: k, value: '2' }]), ValidationError);
          await assert.rejects(s.commit([{ key: k, revision: 0 }], [{ type: 'put', key: 'ok', value: '1' }]), ValidationError);
          assert.equal(await s.revision(), rev);
          assert.equal(await s.get('ok'), undefined);
        });
      }

      it('rejects a value over the limit (in UTF-8 bytes), a lone surrogate or a non-string', async () => {
        const s = await fresh();
        await assert.rejects(s.put('a', 'x'.repeat(MAX_VALUE_BYTES + 1)), ValidationError);
        await assert.rejects(s.put('a', 'x'.repeat(MAX_VALUE_BYTES - 1) + 'é'), ValidationError);
        await assert.rejects(s.put('a', '\uDC00'), ValidationError);
        await assert.rejects(s.put('a', 7 as unknown as string), ValidationError);
        assert.equal(await s.get('a'), undefined);
      });

      it('rejects bad prefixes, revisions and malformed commits', async () => {
        const s = await fresh();
        await assert.rejects(s.range('a\0'), ValidationError);
        await assert.rejects(s.range('k'.repeat(MAX_KEY_BYTES + 1)), ValidationError);
        assert.throws(() => s.watch('a\0', () => {}), ValidationError);
        await assert.rejects(s.put('a', 'v', { expectedRevision: -1 }), ValidationError);
        await assert.rejects(s.put('a', 'v', { expectedRevision: 1.5 }), ValidationError);
        await assert.rejects(s.delete('a', { expectedRevision: NaN }), ValidationError);
        await assert.rejects(s.commit([{ key: 'a', revision: -1 }], []), ValidationError);
        await assert.rejects(s.commit([], [{ type: 'get', key: 'a' } as unknown as never]), ValidationError);
        await assert.rejects(s.commit([], [{ type: 'put', key: 'a' } as unknown as never]), ValidationError);
        await assert.rejects(s.commit(null as unknown as [], []), ValidationError);
        const tooMany = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: '' }));
        await assert.rejects(s.commit([], tooMany), ValidationError);
        assert.equal(await s.get('k0'), undefined);
        await s.commit([], tooMany.slice(0, MAX_TXN_OPS)); // exactly the limit is fine
      });

      it('rejects a commit that writes the same key twice, writing nothing', async () => {
        const s = await fresh();
        await assert.rejects(
          s.commit([], [
            { type: 'put', key: 'a', value: '1' },
            { type: 'delete', key: 'a' },
          ]),
          ValidationError,
        );
        assert.equal(await s.get('a'), undefined);
      });
    });

    describe('compare-and-set', () => {
      it('put with expectedRevision 0 creates only when absent', async () => {
        const s = await fresh();
        const r1 = await s.put('a', '1', { expectedRevision: 0 });
        const err = await s.put('a', '2', { expectedRevision: 0 }).then(
          () => assert.fail('should conflict'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ConflictError);
        assert.equal(err.status, 409);
        assert.deepEqual(await s.get('a'), { key: 'a', value: '1', revision: r1, createRevision: r1 });
        assert.equal(await s.revision(), r1);
      });

      it('put with the current mod revision succeeds; a stale one conflicts and changes nothing', async () => {
        const s = await fresh();
        const r1 = await s.put('a', '1');
        const r2 = await s.put('a', '2', { expectedRevision: r1 });
        await assert.rejects(s.put('a', '3', { expectedRevision: r1 }), ConflictError);
        await assert.rejects(s.put('b', '3', { expectedRevision: r1 }), ConflictError, 'absent key, non-zero expectation');
        assert.equal((await s.get('a'))!.value, '2');
        assert.equal(await s.get('b'), undefined);
        assert.equal(await s.revision(), r2);
      });

      it('delete with expectedRevision', async () => {
        const s = await fresh();
        const r1 = await s.put('a', '1');
        const r2 = await s.put('a', '2');
        await assert.rejects(s.delete('a', { expectedRevision: r1 }), ConflictError);
        await assert.rejects(s.delete('a', { expectedRevision: 0 }), ConflictError);
        assert.equal((await s.get('a'))!.value, '2');
        assert.equal(await s.delete('a', { expectedRevision: r2 }), true);
        await assert.rejects(s.delete('a', { expectedRevision: r2 }), ConflictError);
        assert.equal(await s.delete('a', { expectedRevision: 0 }), false, 'absent as expected: nothing to do');
      });

      it('a conflict says which key failed and why', async () => {
        const s = await fresh();
        const r1 = await s.put('a', '1');
        await assert.rejects(s.commit([{ key: 'a', revision: r1 + 100 }], [{ type: 'delete', key: 'a' }]), (e: unknown) => {
          assert.ok(e instanceof ConflictError);
          assert.match(e.message, /\ba\b/);
          assert.deepEqual(e.details.failed, [{ key: 'a', expected: r1 + 100, actual: r1 }]);
          return true;
        });
      });

      it('CAS retry loops from concurrent writers never lose an update', async () => {
        const s = await fresh();
        await s.put('counter', '0');
        const increment = async () => {
          for (;;) {
            const kv = (await s.get('counter'))!;
            try {
              await s.put('counter', String(Number(kv.value) + 1), { expectedRevision: kv.revision });
              return;
            } catch (e) {
              if (!(e instanceof ConflictError)) throw e;
            }
          }
        };
        await Promise.all(Array.from({ length: 20 }, increment));
        assert.equal((await s.get('counter'))!.value, '20');
      });
    });

    describe('commit (multi-op transactions)', () => {
      it('applies all ops at one new revision', async () => {
        const s = await fresh();
        await s.put('old', 'x');
        const before = await s.revision();
        const rev = await s.commit([{ key: 'new', revision: 0 }], [
          { type: 'put', key: 'a', value: '1' },
          { type: 'put', key: 'b', value: '2' },
          { type: 'delete', key: 'old' },
          { type: 'put', key: 'new', value: '3' },
        ]);
        assert.ok(rev > before);
        assert.equal(await s.revision(), rev);
        const kvs = await s.range('');
        assert.deepEqual(kvs.map((kv) => [kv.key, kv.value, kv.revision]), [
          ['a', '1', rev],
          ['b', '2', rev],
          ['new', '3', rev],
        ]);
      });

      it('a failed condition applies nothing, not even the ops before it', async () => {
        const s = await fresh();
        const ra = await s.put('a', '1');
        const rb = await s.put('b', '1');
        const before = await s.range('');
        const rev = await s.revision();
        const w = collect(s, '');
        await assert.rejects(
          s.commit(
            [
              { key: 'a', revision: ra },
              { key: 'b', revision: ra }, // stale: b is at rb
            ],
            [
              { type: 'put', key: 'a', value: '2' },
              { type: 'delete', key: 'b' },
              { type: 'put', key: 'c', value: '2' },
            ],
          ),
          ConflictError,
        );
        assert.deepEqual(await s.range(''), before);
        assert.equal(await s.revision(), rev);
        assert.equal((await s.get('b'))!.revision, rb);
        await settle();
        assert.deepEqual(w.events, [], 'no events for a failed commit');
      });

      it('all conditions are evaluated against the state before the ops', async () => {
        const s = await fresh();
        const rev = await s.commit(
          [
            { key: 'x', revision: 0 },
            { key: 'y', revision: 0 },
          ],
          [
            { type: 'put', key: 'x', value: '1' },
            { type: 'put', key: 'y', value: '1' },
          ],
        );
        assert.equal((await s.get('y'))!.createRevision, rev);
      });

      it('a commit that changes nothing does not bump the revision', async () => {
        const s = await fresh();
        const r1 = await s.put('a', '1');
        assert.equal(await s.commit([{ key: 'a', revision: r1 }], []), r1);
        assert.equal(await s.commit([], [{ type: 'delete', key: 'missing' }]), r1);
        assert.equal(await s.revision(), r1);
        await assert.rejects(s.commit([{ key: 'a', revision: 0 }], []), ConflictError, 'conditions still checked');
      });
    });

    describe('range', () => {
      it('matches by prefix only: a/ never matches ab or a', async () => {
        const s = await fresh();
        for (const k of ['a', 'a/', 'a/x', 'a/y/z', 'ab', 'a0', 'a.', 'b/x', '/a/x']) await s.put(k, k);
        assert.deepEqual((await s.range('a/')).map((kv) => kv.key), ['a/', 'a/x', 'a/y/z']);
        assert.deepEqual((await s.range('a/y/')).map((kv) => kv.key), ['a/y/z']);
        assert.deepEqual((await s.range('zz')).map((kv) => kv.key), []);
        assert.deepEqual((await s.range('a')).map((kv) => kv.key), ['a', 'a.', 'a/', 'a/x', 'a/y/z', 'a0', 'ab']);
      });

      it("'' ranges over everything, sorted by key in UTF-8 byte order", async () => {
        const s = await fresh();
        // U+10000 is a surrogate pair in UTF-16 (sorts before U+E000 with JS `<`) but 4 UTF-8 bytes (sorts after).
        const keys = ['\u{10000}', '\uE000', 'b', 'B', 'a/b', 'a', 'é', 'z', '~', '\u007f', 'a b'];
        for (const k of [...keys].reverse()) await s.put(k, 'v');
        const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual((await s.range('')).map((kv) => kv.key), byBytes);
      });

      it('returns full key-values and does not see deleted keys', async () => {
        const s = await fresh();
        const r1 = await s.put('p/1', 'one');
        await s.put('p/2', 'two');
        await s.delete('p/2');
        assert.deepEqual(await s.range('p/'), [{ key: 'p/1', value: 'one', revision: r1, createRevision: r1 }]);
      });

      it('treats LIKE/GLOB metacharacters literally', async () => {
        const s = await fresh();
        for (const k of ['a%', 'a%b', 'ab', 'a_', 'a_b', 'a*', 'a*b', 'a[', 'a?']) await s.put(k, k);
        assert.deepEqual((await s.range('a%')).map((kv) => kv.key), ['a%', 'a%b']);
        assert.deepEqual((await s.range('a_')).map((kv) => kv.key), ['a_', 'a_b']);
        assert.deepEqual((await s.range('a*')).map((kv) => kv.key), ['a*', 'a*b']);
      });
    });

    describe('watch', () => {
      it('delivers puts and deletes under the prefix, in revision order', async () => {
        const s = await fresh();
        const w = collect(s, 'w/');
        const r1 = await s.put('w/a', '1');
        await s.put('other', 'x');
        await s.put('wx', 'x');
        const r2 = await s.put('w/b', '2');
        const r3 = await s.put('w/a', '3');
        const r4 = await s.delete('w/b').then(() => s.revision());
        await s.delete('w/missing');
        const evs = await w.until(4);
        await settle();
        assert.deepEqual(evs, [
          { type: 'put', kv: { key: 'w/a', value: '1', revision: r1, createRevision: r1 } },
          { type: 'put', kv: { key: 'w/b', value: '2', revision: r2, createRevision: r2 } },
          { type: 'put', kv: { key: 'w/a', value: '3', revision: r3, createRevision: r1 } },
          { type: 'delete', key: 'w/b', revision: r4 },
        ]);
      });

      it('sees only what was committed after it started', async () => {
        const s = await fresh();
        await s.put('a', 'before');
        const w = collect(s, '');
        const r = await s.put('b', 'after');
        await w.until(1);
        await settle();
        assert.deepEqual(w.events.map(revOf), [r]);
      });

      it('a watch started by a listener misses the rest of the commit being delivered', async () => {
        const s = await fresh();
        let late: ReturnType<typeof collect> | undefined;
        const first = s.watch('', () => {
          late ??= collect(s, '');
          first.cancel();
        });
        await s.commit([], [
          { type: 'put', key: 'a', value: '1' },
          { type: 'put', key: 'b', value: '1' },
        ]);
        const deadline = Date.now() + 2000;
        while (!late && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
        const r = await s.put('c', '1');
        await late!.until(1);
        await settle();
        assert.deepEqual(late!.events.map(revOf), [r]);
      });

      it('delivers every event of one commit, at the commit revision, in op order', async () => {
        const s = await fresh();
        await s.put('t/gone', 'x');
        const w = collect(s, 't/');
        const rev = await s.commit([], [
          { type: 'put', key: 't/z', value: '1' },
          { type: 'delete', key: 't/gone' },
          { type: 'put', key: 't/a', value: '2' },
          { type: 'put', key: 'elsewhere', value: '3' },
        ]);
        const evs = await w.until(3);
        await settle();
        assert.deepEqual(evs.map((e) => [e.type, keyOf(e), revOf(e)]), [
          ['put', 't/z', rev],
          ['delete', 't/gone', rev],
          ['put', 't/a', rev],
        ]);
      });

      it('keeps revision order across many concurrent writers and several watchers', async () => {
        const s = await fresh();
        const ws = [collect(s, ''), collect(s, 'k/'), collect(s, 'k/1')];
        const revs = await Promise.all(Array.from({ length: 40 }, (_, i) => s.put(`k/${i % 13}`, String(i))));
        const all = await ws[0]!.until(40);
        assert.deepEqual(all.map(revOf), [...revs].sort((a, b) => a - b));
        for (const w of ws) {
          const rs = w.events.map(revOf);
          assert.deepEqual(rs, [...rs].sort((a, b) => a - b));
        }
        const expect1 = revs.filter((_, i) => String(i % 13).startsWith('1')).length;
        await ws[2]!.until(expect1);
        assert.equal(ws[1]!.events.length, 40);
      });

      it('a listener sees its event already committed', async () => {
        const s = await fresh();
        const seen: Promise<string | undefined>[] = [];
        s.watch('c/', (ev) => void seen.push(s.get(keyOf(ev)).then((kv) => kv?.value)));
        await s.put('c/1', 'v1');
        const deadline = Date.now() + 2000;
        while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
        assert.equal(await seen[0], 'v1');
      });

      it('cancel stops delivery and is idempotent; other watchers continue', async () => {
        const s = await fresh();
        const a = collect(s, '');
        const b = collect(s, '');
        await s.put('x', '1');
        await a.until(1);
        a.handle.cancel();
        a.handle.cancel();
        await s.put('x', '2');
        await b.until(2);
        await settle();
        assert.equal(a.events.length, 1);
      });

      it('a listener cancelling itself gets nothing more', async () => {
        const s = await fresh();
        const got: WatchEvent[] = [];
        const h = s.watch('', (ev) => {
          got.push(ev);
          h.cancel();
        });
        await s.commit([], [
          { type: 'put', key: 'a', value: '1' },
          { type: 'put', key: 'b', value: '1' },
        ]);
        await s.put('c', '1');
        // Delivery may be asynchronous (etcd): wait for the first event, then give more a chance to arrive.
        const deadline = Date.now() + 2000;
        while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        await settle();
        assert.equal(got.length, 1);
      });

      it('a throwing listener breaks neither the store nor other listeners', async () => {
        const s = await fresh();
        s.watch('', () => {
          throw new Error('listener bug');
        });
        s.watch('', () => Promise.reject(new Error('async listener bug')));
        const ok = collect(s, '');
        await s.put('a', '1');
        await s.put('b', '2');
        await ok.until(2);
        assert.equal((await s.get('b'))!.value, '2');
      });

      it('a listener may write to the store; order is still revision order', async () => {
        const s = await fresh();
        const w = collect(s, '');
        s.watch('in/', (ev) => {
          if (ev.type === 'put') void s.put(`out/${ev.kv.key}`, ev.kv.value);
        });
        const w2 = collect(s, '');
        await s.put('in/a', '1');
        await s.put('in/b', '2');
        await w.until(4);
        await w2.until(4);
        for (const x of [w, w2]) {
          const rs = x.events.map(revOf);
          assert.deepEqual(rs, [...rs].sort((a, b) => a - b));
        }
        assert.equal((await s.get('out/in/b'))!.value, '2');
      });
    });

    describe('snapshot', () => {
      it('returns range() and the revision it was read at', async () => {
        const s = await fresh();
        const empty = await s.snapshot('');
        assert.deepEqual(empty.kvs, []);
        assert.equal(empty.revision, await s.revision());
        const r1 = await s.put('p/b', '1');
        await s.put('q', '2');
        const r3 = await s.put('p/a', '3');
        const snap = await s.snapshot('p/');
        assert.equal(snap.revision, r3);
        assert.deepEqual(snap.kvs, [
          { key: 'p/a', value: '3', revision: r3, createRevision: r3 },
          { key: 'p/b', value: '1', revision: r1, createRevision: r1 },
        ]);
        await assert.rejects(s.snapshot('a\0'), ValidationError);
      });
    });

    describe('watch from a revision', () => {
      it('replays history from fromRevision, then continues live, without gaps or duplicates', async () => {
        const s = await fresh();
        await s.put('h/a', '0');
        const r1 = await s.put('h/a', '1');
        await s.put('elsewhere', 'x');
        const r2 = await s.commit([], [
          { type: 'put', key: 'h/b', value: '2' },
          { type: 'delete', key: 'h/a' },
        ]);
        const w = collect(s, 'h/', { fromRevision: r1 });
        const r3 = await s.put('h/c', '3');
        const evs = await w.until(4);
        await settle();
        assert.deepEqual(evs, [
          { type: 'put', kv: { key: 'h/a', value: '1', revision: r1, createRevision: r1 - 1 } },
          { type: 'put', kv: { key: 'h/b', value: '2', revision: r2, createRevision: r2 } },
          { type: 'delete', key: 'h/a', revision: r2 },
          { type: 'put', kv: { key: 'h/c', value: '3', revision: r3, createRevision: r3 } },
        ]);
      });

      it('snapshot + watch from its revision + 1 misses nothing written around it', async () => {
        const s = await fresh();
        const writes: Promise<number>[] = [];
        for (let i = 0; i < 10; i++) writes.push(s.put(`g/${i % 4}`, `a${i}`));
        const snap = await s.snapshot('g/');
        for (let i = 0; i < 10; i++) writes.push(s.put(`g/${i % 4}`, `b${i}`));
        const w = collect(s, 'g/', { fromRevision: snap.revision + 1 });
        for (let i = 0; i < 10; i++) writes.push(s.put(`g/${i % 4}`, `c${i}`));
        const revs = await Promise.all(writes);
        const expected = revs.filter((r) => r > snap.revision).sort((a, b) => a - b);
        await w.until(expected.length);
        await settle();
        assert.deepEqual(w.events.map(revOf), expected);
        // The snapshot plus the events reproduce the final state.
        const state = new Map(snap.kvs.map((kv) => [kv.key, kv.value]));
        for (const e of w.events) e.type === 'put' ? state.set(e.kv.key, e.kv.value) : state.delete(e.key);
        assert.deepEqual(state, new Map((await s.range('g/')).map((kv) => [kv.key, kv.value])));
      });

      it('a future fromRevision delivers only from there', async () => {
        const s = await fresh();
        const now = await s.revision();
        const w = collect(s, '', { fromRevision: now + 2 });
        await s.put('f', '1');
        const r2 = await s.put('f', '2');
        await w.until(1);
        await settle();
        assert.deepEqual(w.events.map(revOf), [r2]);
      });

      it('a listener cancelling itself during the replay gets nothing more', async () => {
        const s = await fresh();
        const r1 = await s.put('x/1', '1');
        await s.put('x/2', '2');
        const got: WatchEvent[] = [];
        const h = s.watch('x/', (ev) => {
          got.push(ev);
          h.cancel();
        }, { fromRevision: r1 });
        await s.put('x/3', '3');
        await until(() => got.length > 0, 'the first event');
        await settle();
        assert.equal(got.length, 1);
        assert.equal(revOf(got[0]!), r1);
      });

      it('rejects a fromRevision that is not a positive integer', async () => {
        const s = await fresh();
        for (const bad of [0, -1, 1.5, NaN, '3']) {
          assert.throws(() => s.watch('', () => {}, { fromRevision: bad as number }), ValidationError, String(bad));
        }
      });

      it('a revision older than the retained history throws CompactedError (410)', { skip: !options.compact && 'this store cannot be made to compact' }, async () => {
        const s = await fresh();
        const old = await s.put('old', '1');
        await options.compact!(s);
        const err = (() => {
          try {
            s.watch('', () => {}, { fromRevision: old });
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        assert.ok(err instanceof CompactedError, `expected CompactedError, got ${String(err)}`);
        assert.equal(err.status, 410);
        const now = await s.revision();
        const w = collect(s, '', { fromRevision: now + 1 });
        const r = await s.put('new', '1');
        await w.until(1);
        assert.deepEqual(w.events.map(revOf), [r]);
      });
    });

    describe('leases', () => {
      it('grantLease validates the TTL and returns a live lease', async () => {
        const s = await fresh();
        for (const bad of [0, -1, NaN, Infinity, '1000', undefined]) {
          await assert.rejects(s.grantLease(bad as number), ValidationError, String(bad));
        }
        const l = await s.grantLease(5000);
        assert.equal(typeof l.id, 'string');
        assert.ok(l.id.length > 0);
        assert.ok(l.ttlMs >= 5000);
        assert.equal(l.lost, false);
        const l2 = await s.grantLease(5000);
        assert.notEqual(l2.id, l.id);
      });

      it('revoke deletes the lease keys in one revision; watchers see the deletes; onLost does not run', async () => {
        const s = await fresh();
        const lease = await s.grantLease(5000);
        const lost: string[] = [];
        lease.onLost((r) => lost.push(r));
        const r1 = await s.put('l/a', '1', { lease });
        const r2 = await s.commit([], [
          { type: 'put', key: 'l/b', value: '2', lease: lease.id },
          { type: 'put', key: 'l/plain', value: '3' },
        ]);
        assert.deepEqual(await s.get('l/a'), { key: 'l/a', value: '1', revision: r1, createRevision: r1 });
        assert.equal((await s.get('l/b'))!.revision, r2);
        const w = collect(s, 'l/');
        await lease.revoke();
        assert.equal(lease.lost, true);
        assert.equal(await s.get('l/a'), undefined);
        assert.equal(await s.get('l/b'), undefined);
        assert.equal((await s.get('l/plain'))!.value, '3');
        const evs = await w.until(2);
        await settle();
        assert.deepEqual(evs.map((e) => e.type).sort(), ['delete', 'delete']);
        assert.deepEqual(evs.map(keyOf).sort(), ['l/a', 'l/b']);
        assert.equal(revOf(evs[0]!), revOf(evs[1]!), 'one revision');
        assert.equal(revOf(evs[0]!), await s.revision());
        await lease.revoke(); // idempotent
        await settle();
        assert.deepEqual(lost, [], 'revoke is not a loss');
      });

      it('a put without the lease detaches the key (etcd semantics); a put with it re-attaches', async () => {
        const s = await fresh();
        const lease = await s.grantLease(5000);
        await s.put('d/kept', '1', { lease });
        await s.put('d/kept', '2');
        await s.put('d/gone', '1');
        await s.put('d/gone', '2', { lease });
        await lease.revoke();
        assert.equal((await s.get('d/kept'))!.value, '2');
        assert.equal(await s.get('d/gone'), undefined);
      });

      it('leases are independent; a deleted key is no longer the lease\'s', async () => {
        const s = await fresh();
        const a = await s.grantLease(5000);
        const b = await s.grantLease(5000);
        await s.put('i/a', '1', { lease: a });
        await s.put('i/b', '1', { lease: b });
        await s.put('i/x', '1', { lease: a });
        await s.delete('i/x');
        const before = await s.revision();
        await a.revoke();
        assert.equal(await s.get('i/a'), undefined);
        assert.equal((await s.get('i/b'))!.value, '1');
        assert.equal(await s.revision(), before + 1, 'one revision for the lease, none for the already-deleted key');
        assert.equal(b.lost, false);
      });

      it('a put or commit with an ended lease fails with NotFoundError and writes nothing', async () => {
        const s = await fresh();
        const lease = await s.grantLease(5000);
        await lease.revoke();
        const rev = await s.revision();
        await assert.rejects(s.put('e/a', '1', { lease }), NotFoundError);
        await assert.rejects(s.commit([], [{ type: 'put', key: 'e/b', value: '1', lease: lease.id }]), NotFoundError);
        await assert.rejects(s.put('e/a', '1', { lease: {} as never }), ValidationError);
        await assert.rejects(s.commit([], [{ type: 'put', key: 'e/b', value: '1', lease: '' }]), ValidationError);
        assert.equal(await s.get('e/a'), undefined);
        assert.equal(await s.get('e/b'), undefined);
        assert.equal(await s.revision(), rev);
      });

      it('close ends every lease: onLost runs with a reason, and afterwards for late callbacks too', async () => {
        const s = await fresh();
        const lease = await s.grantLease(5000);
        await s.put('c/a', '1', { lease });
        const reasons: string[] = [];
        lease.onLost((r) => reasons.push(r));
        await s.close();
        await until(() => reasons.length === 1, 'onLost after close');
        assert.equal(lease.lost, true);
        assert.equal(typeof reasons[0], 'string');
        const late: string[] = [];
        lease.onLost((r) => late.push(r));
        await until(() => late.length === 1, 'a late onLost');
        await settle();
        assert.equal(reasons.length, 1, 'once');
        await lease.revoke(); // harmless after close
      });
    });

    describe('close', () => {
      it('is idempotent, and afterwards every call fails with UnavailableError', async () => {
        const s = await fresh();
        await s.put('a', '1');
        await s.close();
        await s.close();
        await assert.rejects(s.get('a'), UnavailableError);
        await assert.rejects(s.put('a', '2'), UnavailableError);
        await assert.rejects(s.delete('a'), UnavailableError);
        await assert.rejects(s.range(''), UnavailableError);
        await assert.rejects(s.commit([], []), UnavailableError);
        await assert.rejects(s.revision(), UnavailableError);
        await assert.rejects(s.snapshot(''), UnavailableError);
        await assert.rejects(s.grantLease(1000), UnavailableError);
        assert.throws(() => s.watch('', () => {}), UnavailableError);
        assert.throws(() => s.watch('', () => {}, { fromRevision: 1 }), UnavailableError);
      });

      it('stops watches', async () => {
        const s = await fresh();
        const w = collect(s, '');
        await s.close();
        w.handle.cancel(); // still harmless
        await settle();
        assert.deepEqual(w.events, []);
      });
    });
  });
}
