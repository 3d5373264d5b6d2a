// The flattened encoding of reservations and persistent volumes (src/core/resource-keys.ts), its
// Mesos JSON boundary (both reservation formats, disk.persistence/volume), the agent's
// `--resources` syntax and the RESERVE/UNRESERVE/CREATE/DESTROY conversions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatKey, keyName, parseKey, underlyingKey, type ResourceKey } from '../../src/core/resource-keys.ts';
import {
  allocatableTo,
  applyCheckpointed,
  checkpointedOf,
  collapseByName,
  formatResources,
  fromMesosResources,
  parseResourceString,
  reservedByRole,
  resourcesEqual,
  toLegacyResources,
  toMesosResources,
  unreservedOf,
  type MesosResource,
} from '../../src/core/resources.ts';
import {
  applyConversion,
  createConversion,
  destroyConversion,
  reserveConversion,
  unreserveConversion,
} from '../../src/core/reservations.ts';
import { ConflictError, ValidationError } from '../../src/protocol/errors.ts';
import { Resource } from '../../src/protocol/mesos.ts';

const scalar = (name: string, value: number, extra: Partial<MesosResource> = {}): MesosResource => ({ name, type: 'SCALAR', scalar: { value }, ...extra });
const dyn = (role: string, principal?: string) => ({ reservations: [{ type: 'DYNAMIC' as const, role, ...(principal ? { principal } : {}) }] });
const volume = (id: string, containerPath: string, mode: 'RW' | 'RO' = 'RW') => ({
  disk: { persistence: { id }, volume: { container_path: containerPath, mode } },
});

test('keys: plain names are their own key; reservations and volumes are readable', () => {
  assert.equal(formatKey({ name: 'cpus' }), 'cpus');
  assert.equal(formatKey({ name: 'cpus', reservation: { type: 'STATIC', role: 'ops' } }), 'cpus@ops');
  assert.equal(formatKey({ name: 'cpus', reservation: { type: 'DYNAMIC', role: 'ops' } }), 'cpus@ops~');
  assert.equal(formatKey({ name: 'cpus', reservation: { type: 'DYNAMIC', role: 'ops', principal: 'alice' } }), 'cpus@ops~alice');
  assert.equal(
    formatKey({ name: 'disk', reservation: { type: 'DYNAMIC', role: 'ops', principal: 'alice' }, volume: { id: 'data1', containerPath: 'data', mode: 'RW' } }),
    'disk@ops~alice#data1:data:RW',
  );
  assert.equal(keyName('disk@ops~alice#data1:data:RW'), 'disk');
  assert.equal(underlyingKey('disk@ops~alice#data1:data:RW'), 'disk');
  assert.equal(underlyingKey('disk@ops#data1:data:RW'), 'disk@ops');
});

const component = fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom('a', 'b', '%', '@', '~', '#', ':', '/', '-', ' ', 'é') });
const keyArb: fc.Arbitrary<ResourceKey> = fc.record(
  {
    name: component,
    reservation: fc.record({ type: fc.constantFrom('STATIC' as const, 'DYNAMIC' as const), role: component, principal: component }).map((r) =>
      r.type === 'STATIC' ? { type: r.type, role: r.role } : r,
    ),
    volume: fc.record({ id: component, containerPath: component, mode: fc.constantFrom('RW' as const, 'RO' as const), principal: component }),
  },
  { requiredKeys: ['name'] },
).map((k) => JSON.parse(JSON.stringify(k.volume && !k.reservation ? { name: k.name } : k)) as ResourceKey); // plain objects for deepEqual

test('property: formatKey/parseKey round-trip any names, roles, principals, ids and paths', () => {
  fc.assert(
    fc.property(keyArb, (k) => {
      const key = formatKey(k);
      assert.deepEqual(parseKey(key), k);
      assert.equal(formatKey(parseKey(key)), key);
    }),
    { numRuns: 500 },
  );
});

test('fromMesosResources: post-refinement, pre-refinement and unreserved resources get distinct keys', () => {
  const r = fromMesosResources([
    scalar('cpus', 1),
    scalar('cpus', 2, { role: 'ops' }), // pre-refinement, no reservation info: static
    scalar('cpus', 3, { role: 'ops', reservation: { principal: 'p' } }), // pre-refinement dynamic
    scalar('cpus', 4, dyn('ops', 'p')), // the same, post-refinement: adds up
    scalar('mem', 64, { reservations: [{ type: 'STATIC', role: 'ops' }], role: 'ops' }),
    { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31009 }] }, ...dyn('ops') },
  ]);
  assert.deepEqual(r.scalars, { cpus: 1, 'cpus@ops': 2, 'cpus@ops~p': 7, 'mem@ops': 64 });
  assert.deepEqual(r.ranges, { 'ports@ops~': [{ begin: 31000, end: 31009 }] });
});

test('fromMesosResources rejects inconsistent or unsupported reservations and volumes', () => {
  const bad: [MesosResource, RegExp][] = [
    [scalar('cpus', 1, { role: 'a', reservations: [{ type: 'DYNAMIC', role: 'b' }] }), /does not match/],
    [scalar('cpus', 1, { reservations: [{ type: 'STATIC', role: 'a' }, { type: 'DYNAMIC', role: 'a/b' }] }), /refined/],
    [scalar('cpus', 1, { reservations: [{ role: 'a' } as never] }), /STATIC or DYNAMIC/],
    [scalar('cpus', 1, dyn('*')), /cannot reserve for role/],
    [scalar('cpus', 1, dyn('-x')), /must not start with/],
    [scalar('cpus', 1, dyn('a//b')), /invalid role/],
    [scalar('disk', 10, volume('v1', 'data')), /needs reserved disk/],
    [scalar('disk', 10, { ...dyn('ops'), ...volume('../v', 'data') }), /invalid persistence id/],
    [scalar('disk', 10, { ...dyn('ops'), ...volume('v1', '/abs') }), /relative/],
    [scalar('disk', 10, { ...dyn('ops'), ...volume('v1', 'a/../../b') }), /'\.\.'/],
    [scalar('disk', 10, { ...dyn('ops'), disk: { persistence: { id: 'v1' } } }), /needs disk.volume/],
    [scalar('cpus', 10, { ...dyn('ops'), ...volume('v1', 'data') }), /only SCALAR disk/],
    [scalar('disk', 10, { ...dyn('ops'), disk: { source: { type: 'MOUNT' } } }), /not supported/],
  ];
  for (const [res, message] of bad) assert.throws(() => fromMesosResources([res]), (e: unknown) => e instanceof ValidationError && message.test(e.message), JSON.stringify(res));
});

test('toMesosResources renders both formats and volumes, and fromMesosResources reads them back', () => {
  const r = fromMesosResources([
    scalar('cpus', 1),
    scalar('cpus', 2, { role: 'ops' }),
    scalar('cpus', 3, dyn('ops', 'alice')),
    scalar('disk', 64, { ...dyn('ops', 'alice'), disk: { persistence: { id: 'v1', principal: 'alice' }, volume: { container_path: 'data', mode: 'RO' } } }),
  ]);
  const wire = toMesosResources(r, 'ops');
  const byKey = (name: string, role: string) => wire.filter((x) => x.name === name && x.role === role);
  assert.deepEqual(byKey('cpus', '*')[0], { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '*', allocation_info: { role: 'ops' } });
  const [staticCpus, dynamicCpus] = byKey('cpus', 'ops');
  assert.deepEqual(staticCpus!.reservations, [{ type: 'STATIC', role: 'ops' }]);
  assert.equal(staticCpus!.reservation, undefined);
  assert.deepEqual(dynamicCpus!.reservations, [{ type: 'DYNAMIC', role: 'ops', principal: 'alice' }]);
  assert.deepEqual(dynamicCpus!.reservation, { principal: 'alice' });
  const disk = wire.find((x) => x.name === 'disk')!;
  assert.deepEqual(disk.disk, { persistence: { id: 'v1', principal: 'alice' }, volume: { container_path: 'data', mode: 'RO' } });
  // Everything the master renders passes the wire schema and converts back to the same resources.
  for (const x of wire) assert.equal(Resource.safeParse(x).success, true, JSON.stringify(x));
  assert.ok(resourcesEqual(fromMesosResources(wire), r));
});

test('property: Mesos JSON round-trips resources with arbitrary reservations', () => {
  const role = fc.constantFrom('ops', 'web', 'eng/backend', 'a b'.replace(' ', '_'), 'r@1');
  const entry = fc.record({
    name: fc.constantFrom('cpus', 'mem', 'gpus', 'custom:x'),
    value: fc.integer({ min: 1, max: 10_000 }).map((x) => x / 1000),
    kind: fc.constantFrom('unreserved', 'static', 'dynamic'),
    role,
    principal: fc.option(fc.constantFrom('alice', 'b:o#b'), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 8 }), (entries) => {
      const wire: MesosResource[] = entries.map((e) =>
        scalar(e.name, e.value, e.kind === 'unreserved' ? {} : e.kind === 'static' ? { role: e.role } : dyn(e.role, e.principal)),
      );
      const r = fromMesosResources(wire);
      assert.ok(resourcesEqual(fromMesosResources(toMesosResources(r)), r));
      assert.ok(resourcesEqual(fromMesosResources(toMesosResources(r, 'x')), r));
    }),
    { numRuns: 300 },
  );
});

test("parseResourceString reads Mesos's static reservation syntax", () => {
  const r = parseResourceString('cpus(ops):2;mem(ops):1024;cpus:2;ports(ops):[31000-31009];disk(*):100');
  assert.deepEqual(r.scalars, { 'cpus@ops': 2, 'mem@ops': 1024, cpus: 2, disk: 100 });
  assert.deepEqual(r.ranges, { 'ports@ops': [{ begin: 31000, end: 31009 }] });
  assert.equal(formatResources(r), 'cpus(ops):2;mem(ops):1024;cpus:2;disk:100;ports(ops):[31000-31009]');
  assert.throws(() => parseResourceString('cpus(-bad):1'), ValidationError);
});

test('views: by role, unreserved, allocatable to a role, collapsed by name, legacy JSON', () => {
  const r = parseResourceString('cpus(ops):2;mem(ops):1024;cpus:2;mem:512;cpus(web):1');
  assert.deepEqual(unreservedOf(r).scalars, { cpus: 2, mem: 512 });
  assert.deepEqual(allocatableTo(r, 'ops').scalars, { 'cpus@ops': 2, 'mem@ops': 1024, cpus: 2, mem: 512 });
  assert.deepEqual(Object.fromEntries([...reservedByRole(r)].map(([k, v]) => [k, v.scalars])), { ops: { 'cpus@ops': 2, 'mem@ops': 1024 }, web: { 'cpus@web': 1 } });
  assert.deepEqual(collapseByName(r).scalars, { cpus: 5, mem: 1536 });
  assert.deepEqual(toLegacyResources(r), { cpus: 5, gpus: 0, mem: 1536, disk: 0 });
});

test('conversions: RESERVE → CREATE → DESTROY → UNRESERVE returns to where it started', () => {
  const total = parseResourceString('cpus:4;mem:1024;disk:1000');
  const reserved = fromMesosResources([scalar('cpus', 1, dyn('ops', 'p')), scalar('disk', 100, dyn('ops', 'p'))]);
  const vol = fromMesosResources([scalar('disk', 100, { ...dyn('ops', 'p'), ...volume('v1', 'data') })]);
  const a = applyConversion(total, reserveConversion(reserved));
  assert.deepEqual(a.scalars, { cpus: 3, mem: 1024, disk: 900, 'cpus@ops~p': 1, 'disk@ops~p': 100 });
  const b = applyConversion(a, createConversion(vol, new Set()));
  assert.deepEqual(b.scalars, { cpus: 3, mem: 1024, disk: 900, 'cpus@ops~p': 1, 'disk@ops~p#v1:data:RW': 100 });
  assert.deepEqual(checkpointedOf(b).scalars, { 'cpus@ops~p': 1, 'disk@ops~p#v1:data:RW': 100 });
  // The agent's view: static resources + checkpoint gives the same total.
  assert.ok(resourcesEqual(applyConversion(total, reserveConversion(reserved)), applyCheckpointed(total, checkpointedOf(a))));
  assert.ok(resourcesEqual(applyCheckpointed(total, checkpointedOf(b)), b));
  // A volume must be destroyed before its disk is unreserved.
  assert.throws(() => unreserveConversion(vol), /destroyed before/);
  const c = applyConversion(b, destroyConversion(vol));
  const d = applyConversion(c, unreserveConversion(reserved));
  assert.ok(resourcesEqual(d, total));
});

test('conversions refuse what Mesos refuses', () => {
  const total = parseResourceString('cpus:1;cpus(ops):1');
  assert.throws(() => reserveConversion(parseResourceString('cpus:1')), /name the role/);
  assert.throws(() => reserveConversion(parseResourceString('cpus(ops):1')), /DYNAMIC/);
  assert.throws(() => unreserveConversion(parseResourceString('cpus(ops):1')), /statically reserved/);
  assert.throws(() => applyConversion(total, reserveConversion(fromMesosResources([scalar('cpus', 2, dyn('ops'))]))), ConflictError);
  const vol = fromMesosResources([scalar('disk', 1, { ...dyn('ops'), ...volume('v1', 'd') })]);
  assert.throws(() => createConversion(vol, new Set(['ops/v1'])), /already used/);
  assert.throws(() => destroyConversion(fromMesosResources([scalar('disk', 1, dyn('ops'))])), /persistent volumes/);
  assert.throws(() => applyCheckpointed(parseResourceString('cpus:1'), fromMesosResources([scalar('cpus', 2, dyn('ops'))])), /does not fit/);
});
