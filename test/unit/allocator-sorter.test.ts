import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrfSorter } from '../../src/core/allocator/sorter.ts';

const TOTAL = { cpus: 100, mem: 1000 };

function sorter(...names: string[]): DrfSorter {
  const s = new DrfSorter();
  s.setTotal(TOTAL);
  for (const n of names) s.add(n);
  return s;
}

test('sorter: empty clients sort by name', () => {
  assert.deepEqual(sorter('c', 'a', 'b').sort(), ['a', 'b', 'c']);
});

test('sorter: dominant share is the max over scalar resources', () => {
  const s = sorter('a', 'b');
  s.allocate('a', { cpus: 10, mem: 50 }); // 0.1
  s.allocate('b', { cpus: 5, mem: 200 }); // 0.2
  assert.equal(s.share('a'), 0.1);
  assert.equal(s.share('b'), 0.2);
  assert.deepEqual(s.sort(), ['a', 'b']);
  s.allocate('a', { mem: 250 }); // a: 0.3
  assert.deepEqual(s.sort(), ['b', 'a']);
});

test('sorter: resources not in the total, or with total 0, are ignored', () => {
  const s = new DrfSorter();
  s.setTotal({ cpus: 10, gpus: 0 });
  s.add('a');
  s.allocate('a', { cpus: 1, gpus: 4, bogus: 99 });
  assert.equal(s.share('a'), 0.1);
});

test('sorter: excluded resource names do not count', () => {
  const s = new DrfSorter({ excludedResourceNames: ['mem'] });
  s.setTotal(TOTAL);
  s.add('a');
  s.allocate('a', { cpus: 10, mem: 900 });
  assert.equal(s.share('a'), 0.1);
});

test('sorter: weights divide the share', () => {
  const s = sorter('a', 'b');
  s.setWeight('a', 2);
  s.allocate('a', { cpus: 30 }); // 0.3 / 2 = 0.15
  s.allocate('b', { cpus: 20 }); // 0.2
  assert.deepEqual(s.sort(), ['a', 'b']);
  assert.equal(s.share('a'), 0.15);
  assert.equal(s.dominantShare('a'), 0.3);
  s.setWeight('a', 1);
  assert.deepEqual(s.sort(), ['b', 'a']);
  assert.throws(() => s.setWeight('a', 0), RangeError);
  assert.throws(() => s.setWeight('a', Number.NaN), RangeError);
});

test('sorter: unallocate moves a client forward and clamps at zero', () => {
  const s = sorter('a', 'b', 'c');
  s.allocate('a', { cpus: 50 });
  s.allocate('b', { cpus: 40 });
  s.allocate('c', { cpus: 30 });
  assert.deepEqual(s.sort(), ['c', 'b', 'a']);
  s.unallocate('a', { cpus: 45 });
  assert.deepEqual(s.sort(), ['a', 'c', 'b']);
  s.unallocate('a', { cpus: 1000, mem: 5 });
  assert.deepEqual(s.allocation('a'), {});
  assert.equal(s.share('a'), 0);
});

test('sorter: fixed-point accounting does not drift', () => {
  const s = sorter('a');
  for (let i = 0; i < 1000; i++) s.allocate('a', { cpus: 0.1 });
  for (let i = 0; i < 1000; i++) s.unallocate('a', { cpus: 0.1 });
  assert.deepEqual(s.allocation('a'), {});
  for (let i = 0; i < 10; i++) s.allocate('a', { cpus: 0.1 });
  assert.equal(s.allocation('a').cpus, 1);
});

test('sorter: ties are broken by name', () => {
  const s = sorter('b', 'a');
  s.allocate('a', { cpus: 10 });
  s.allocate('b', { mem: 100 });
  assert.deepEqual(s.sort(), ['a', 'b']);
});

test('sorter: add / remove / contains and errors', () => {
  const s = sorter('a', 'b', 'c');
  s.allocate('a', { cpus: 1 });
  assert.equal(s.size, 3);
  assert.equal(s.remove('b'), true);
  assert.equal(s.remove('b'), false);
  assert.equal(s.contains('b'), false);
  assert.deepEqual(s.sort(), ['c', 'a']);
  assert.equal(s.nameAt(0), 'c');
  assert.throws(() => s.add('a'), /already/);
  assert.throws(() => s.allocate('zz', { cpus: 1 }), /no client/);
  assert.throws(() => s.nameAt(5), RangeError);
  s.add('b');
  assert.deepEqual(s.sort(), ['b', 'c', 'a']);
});

test('sorter: setTotal recomputes every share', () => {
  const s = sorter('a', 'b');
  s.allocate('a', { cpus: 10 }); // 0.1
  s.allocate('b', { mem: 200 }); // 0.2
  assert.deepEqual(s.sort(), ['a', 'b']);
  s.setTotal({ cpus: 20, mem: 1000 }); // a 0.5, b 0.2
  assert.deepEqual(s.sort(), ['b', 'a']);
  assert.deepEqual(s.getTotal(), { cpus: 20, mem: 1000 });
});

test('sorter: incremental order matches a full sort after random updates', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const names = Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`);
  const s = sorter(...names);
  for (let step = 0; step < 2000; step++) {
    const n = names[Math.floor(rnd() * names.length)]!;
    const op = rnd();
    if (op < 0.6) s.allocate(n, { cpus: Math.floor(rnd() * 5), mem: Math.floor(rnd() * 30) });
    else if (op < 0.9) s.unallocate(n, { cpus: Math.floor(rnd() * 5), mem: Math.floor(rnd() * 30) });
    else s.setWeight(n, 1 + Math.floor(rnd() * 3));
  }
  const expected = [...names].sort((a, b) => s.share(a) - s.share(b) || (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(s.sort(), expected);
});
