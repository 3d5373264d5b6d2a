// Marathon constraint semantics (marathon.md §7), one table per operator: a single offer is
// evaluated against the app's placed instances and must be accepted or rejected exactly as
// Marathon's Constraints.scala would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attributeValueString,
  explain,
  formatScalar,
  place,
  validateConstraint,
  type Attribute,
  type PlacedInstance,
  type PlacementOffer,
  type PlacementRequest,
} from '../../src/core/placement/index.ts';
import { parseResourceString } from '../../src/core/resources.ts';
import { parseAttributeString } from '../../src/protocol/mesos.ts';

const text = (name: string, value: string): Attribute => ({ name, type: 'TEXT', text: { value } });
const scalar = (name: string, value: number): Attribute => ({ name, type: 'SCALAR', scalar: { value } });

interface Agent {
  host: string;
  attrs?: Attribute[];
  region?: string;
  zone?: string;
}

function offerOn(a: Agent): PlacementOffer {
  return {
    offerId: `offer-${a.host}`,
    agentId: `agent-${a.host}`,
    hostname: a.host,
    attributes: a.attrs ?? [],
    resources: parseResourceString('cpus:8;mem:8192;disk:1000;ports:[31000-31099]'),
    ...(a.region ? { region: a.region } : {}),
    ...(a.zone ? { zone: a.zone } : {}),
  };
}

let n = 0;
function placedOn(a: Agent): PlacedInstance {
  return {
    instanceId: `i-${n++}`,
    agentId: `agent-${a.host}`,
    hostname: a.host,
    attributes: a.attrs ?? [],
    ...(a.region ? { region: a.region } : {}),
    ...(a.zone ? { zone: a.zone } : {}),
  };
}

function request(constraints: string[][], count = 1): PlacementRequest {
  return { appId: '/app', count, cpus: 0.1, mem: 32, disk: 0, gpus: 0, ports: [], requirePorts: false, constraints };
}

interface Row {
  name: string;
  constraint: string[];
  offer: Agent;
  placed?: Agent[];
  accept: boolean;
}

const rack = (host: string, value: string | undefined): Agent => ({ host, attrs: value === undefined ? [] : [text('rack', value)] });

function runTable(op: string, rows: Row[]): void {
  for (const row of rows) {
    test(`${op}: ${row.name}`, () => {
      const res = place(request([row.constraint]), [offerOn(row.offer)], (row.placed ?? []).map(placedOn));
      if (row.accept) {
        assert.equal(res.placements.length, 1, `expected accept; rejections ${JSON.stringify(res.constraintRejections)}`);
        assert.equal(res.rejections.UnfulfilledConstraint, 0);
      } else {
        assert.equal(res.placements.length, 0, 'expected reject');
        assert.equal(res.rejections.UnfulfilledConstraint, 1);
        assert.deepEqual(res.constraintRejections, { [row.constraint.join(':')]: 1 });
      }
    });
  }
}

test('formatScalar is Java DecimalFormat("0.###"), HALF_EVEN on the exact double', () => {
  const cases: [number, string][] = [
    [0.8, '0.8'],
    [0.8001, '0.8'],
    [8, '8'],
    [8.0, '8'],
    [100, '100'],
    [1234567.5, '1234567.5'],
    [1.0005, '1'], // the double is just below the tie
    [1.00051, '1.001'],
    [1.1005, '1.101'], // the double is just above the tie
    [0.0625, '0.062'], // exact tie → even
    [0.1875, '0.188'], // exact tie → even
    [2.5, '2.5'],
    [0.9995, '1'],
    [-1.5, '-1.5'],
  ];
  for (const [x, s] of cases) assert.equal(formatScalar(x), s, String(x));
});

test('attribute values format as Marathon compares them', () => {
  const attrs = parseAttributeString('rack:r1;cores:8.000;bw:0.80;slots:[3-4,1-2];tags:{b,a,c}');
  assert.deepEqual(attrs.map(attributeValueString), ['r1', '8', '0.8', '[1-2,3-4]', '{a,b,c}']);
});

runTable('UNIQUE', [
  { name: 'hostname: free host', constraint: ['hostname', 'UNIQUE'], offer: { host: 'h2' }, placed: [{ host: 'h1' }], accept: true },
  { name: 'hostname: host taken', constraint: ['hostname', 'UNIQUE'], offer: { host: 'h1' }, placed: [{ host: 'h1' }], accept: false },
  { name: '@hostname is hostname', constraint: ['@hostname', 'UNIQUE'], offer: { host: 'h1' }, placed: [{ host: 'h1' }], accept: false },
  { name: 'lower-case operator', constraint: ['hostname', 'unique'], offer: { host: 'h1' }, placed: [{ host: 'h1' }], accept: false },
  { name: 'attribute: other host, same rack', constraint: ['rack', 'UNIQUE'], offer: rack('h2', 'r1'), placed: [rack('h1', 'r1')], accept: false },
  { name: 'attribute: new rack', constraint: ['rack', 'UNIQUE'], offer: rack('h2', 'r2'), placed: [rack('h1', 'r1')], accept: true },
  { name: 'attribute missing on offer', constraint: ['rack', 'UNIQUE'], offer: rack('h2', undefined), accept: false },
  { name: 'placed instance lacks the attribute', constraint: ['rack', 'UNIQUE'], offer: rack('h2', 'r1'), placed: [rack('h1', undefined)], accept: true },
  {
    name: 'scalars compared after formatting (8 vs 8.0001)',
    constraint: ['cores', 'UNIQUE'],
    offer: { host: 'h2', attrs: [scalar('cores', 8.0001)] },
    placed: [{ host: 'h1', attrs: [scalar('cores', 8)] }],
    accept: false,
  },
  { name: '@zone taken', constraint: ['@zone', 'UNIQUE'], offer: { host: 'h2', zone: 'a' }, placed: [{ host: 'h1', zone: 'a' }], accept: false },
  { name: '@zone free', constraint: ['@zone', 'UNIQUE'], offer: { host: 'h2', zone: 'b' }, placed: [{ host: 'h1', zone: 'a' }], accept: true },
]);

runTable('CLUSTER', [
  { name: 'value: match', constraint: ['rack', 'CLUSTER', 'r1'], offer: rack('h1', 'r1'), accept: true },
  { name: 'value: mismatch', constraint: ['rack', 'CLUSTER', 'r1'], offer: rack('h1', 'r2'), accept: false },
  { name: 'value: missing attribute', constraint: ['rack', 'CLUSTER', 'r1'], offer: rack('h1', undefined), accept: false },
  { name: 'value: placed elsewhere does not matter', constraint: ['rack', 'CLUSTER', 'r1'], offer: rack('h1', 'r1'), placed: [rack('h9', 'r2')], accept: true },
  { name: 'value: compared raw (no scalar formatting)', constraint: ['bw', 'CLUSTER', '0.80'], offer: { host: 'h1', attrs: [scalar('bw', 0.8)] }, accept: false },
  { name: 'value: formatted scalar matches', constraint: ['bw', 'CLUSTER', '0.8'], offer: { host: 'h1', attrs: [scalar('bw', 0.8)] }, accept: true },
  { name: 'no value: first instance goes anywhere', constraint: ['rack', 'CLUSTER'], offer: rack('h1', 'r7'), accept: true },
  { name: 'no value: first instance still needs the field', constraint: ['rack', 'CLUSTER'], offer: rack('h1', undefined), accept: false },
  { name: 'no value: follows first instance', constraint: ['rack', 'CLUSTER'], offer: rack('h2', 'r1'), placed: [rack('h1', 'r1')], accept: true },
  { name: 'no value: other value rejected', constraint: ['rack', 'CLUSTER'], offer: rack('h2', 'r2'), placed: [rack('h1', 'r1')], accept: false },
  { name: 'no value: the *first* placed decides', constraint: ['rack', 'CLUSTER'], offer: rack('h3', 'r2'), placed: [rack('h1', 'r1'), rack('h2', 'r2')], accept: false },
  { name: 'no value: first placed lacks field', constraint: ['rack', 'CLUSTER'], offer: rack('h2', 'r1'), placed: [rack('h1', undefined)], accept: false },
  { name: 'hostname, no value: same host', constraint: ['hostname', 'CLUSTER'], offer: { host: 'h1' }, placed: [{ host: 'h1' }], accept: true },
  { name: 'hostname, no value: other host', constraint: ['hostname', 'CLUSTER'], offer: { host: 'h2' }, placed: [{ host: 'h1' }], accept: false },
  { name: 'hostname, value', constraint: ['hostname', 'CLUSTER', 'h1'], offer: { host: 'h1' }, accept: true },
  { name: '@region, value', constraint: ['@region', 'CLUSTER', 'eu'], offer: { host: 'h1', region: 'us' }, accept: false },
]);

runTable('GROUP_BY', [
  { name: 'no count: nothing placed', constraint: ['rack', 'GROUP_BY'], offer: rack('h1', 'r1'), accept: true },
  { name: 'no count: new value', constraint: ['rack', 'GROUP_BY'], offer: rack('h2', 'r2'), placed: [rack('h1', 'r1')], accept: true },
  // Without a count Marathon cannot know other values exist: the only group is also the smallest.
  { name: 'no count: only group is smallest', constraint: ['rack', 'GROUP_BY'], offer: rack('h2', 'r1'), placed: [rack('h1', 'r1')], accept: true },
  {
    name: 'no count: larger group rejected',
    constraint: ['rack', 'GROUP_BY'],
    offer: rack('h4', 'r1'),
    placed: [rack('h1', 'r1'), rack('h2', 'r1'), rack('h3', 'r2')],
    accept: false,
  },
  {
    name: 'no count: smallest group accepted',
    constraint: ['rack', 'GROUP_BY'],
    offer: rack('h4', 'r2'),
    placed: [rack('h1', 'r1'), rack('h2', 'r1'), rack('h3', 'r2')],
    accept: true,
  },
  { name: 'count 3: used value before 3 values are in use', constraint: ['rack', 'GROUP_BY', '3'], offer: rack('h2', 'r1'), placed: [rack('h1', 'r1')], accept: false },
  { name: 'count 3: unused value', constraint: ['rack', 'GROUP_BY', '3'], offer: rack('h3', 'r3'), placed: [rack('h1', 'r1'), rack('h2', 'r2')], accept: true },
  {
    name: 'count 3: all 3 in use, smallest group',
    constraint: ['rack', 'GROUP_BY', '3'],
    offer: rack('h4', 'r1'),
    placed: [rack('h1', 'r1'), rack('h2', 'r2'), rack('h3', 'r3')],
    accept: true,
  },
  {
    name: 'count 2: instances lacking the field form a group of their own',
    constraint: ['rack', 'GROUP_BY', '2'],
    offer: rack('h3', 'r1'),
    placed: [rack('h1', 'r1'), rack('h2', undefined)],
    accept: true,
  },
  { name: 'count inf: used values never again', constraint: ['rack', 'GROUP_BY', 'inf'], offer: rack('h2', 'r1'), placed: [rack('h1', 'r1')], accept: false },
  { name: 'offer lacks the field', constraint: ['rack', 'GROUP_BY', '2'], offer: rack('h1', undefined), accept: false },
  { name: 'hostname', constraint: ['hostname', 'GROUP_BY', '2'], offer: { host: 'h1' }, placed: [{ host: 'h1' }], accept: false },
]);

runTable('MAX_PER', [
  { name: 'under the limit', constraint: ['rack', 'MAX_PER', '2'], offer: rack('h2', 'r1'), placed: [rack('h1', 'r1')], accept: true },
  { name: 'at the limit', constraint: ['rack', 'MAX_PER', '2'], offer: rack('h3', 'r1'), placed: [rack('h1', 'r1'), rack('h2', 'r1')], accept: false },
  { name: 'other value', constraint: ['rack', 'MAX_PER', '2'], offer: rack('h3', 'r2'), placed: [rack('h1', 'r1'), rack('h2', 'r1')], accept: true },
  { name: 'hostname 1 = unique', constraint: ['hostname', 'MAX_PER', '1'], offer: { host: 'h1' }, placed: [{ host: 'h1' }], accept: false },
  { name: 'missing attribute', constraint: ['rack', 'MAX_PER', '2'], offer: rack('h1', undefined), accept: false },
  // As Marathon: a value without instances is always accepted, whatever the limit.
  { name: '0: unused value accepted (Marathon quirk)', constraint: ['rack', 'MAX_PER', '0'], offer: rack('h1', 'r1'), accept: true },
  { name: '0: used value rejected', constraint: ['rack', 'MAX_PER', '0'], offer: rack('h2', 'r1'), placed: [rack('h1', 'r1')], accept: false },
  { name: 'non-integer value rejects', constraint: ['rack', 'MAX_PER', 'two'], offer: rack('h1', 'r1'), accept: false },
]);

runTable('LIKE', [
  { name: 'matches', constraint: ['rack', 'LIKE', 'rack-[1-3]'], offer: rack('h1', 'rack-2'), accept: true },
  { name: 'no match', constraint: ['rack', 'LIKE', 'rack-[1-3]'], offer: rack('h1', 'rack-4'), accept: false },
  { name: 'anchored at start', constraint: ['rack', 'LIKE', 'rack-[1-3]'], offer: rack('h1', 'xrack-1'), accept: false },
  { name: 'anchored at end', constraint: ['rack', 'LIKE', 'rack-[1-3]'], offer: rack('h1', 'rack-12'), accept: false },
  { name: 'alternation is anchored as a whole', constraint: ['rack', 'LIKE', 'a|b'], offer: rack('h1', 'ab'), accept: false },
  { name: 'alternation matches one branch', constraint: ['rack', 'LIKE', 'a|b'], offer: rack('h1', 'b'), accept: true },
  { name: 'missing attribute', constraint: ['rack', 'LIKE', '.*'], offer: rack('h1', undefined), accept: false },
  { name: 'hostname', constraint: ['hostname', 'LIKE', 'web[0-9]+'], offer: { host: 'web12' }, accept: true },
  { name: 'hostname prefix only', constraint: ['hostname', 'LIKE', 'web'], offer: { host: 'web12' }, accept: false },
  { name: 'scalar formatted', constraint: ['cores', 'LIKE', '8'], offer: { host: 'h1', attrs: [scalar('cores', 8.0)] }, accept: true },
  { name: 'set formatted sorted', constraint: ['tags', 'LIKE', '\\{a,b\\}'], offer: { host: 'h1', attrs: parseAttributeString('tags:{b,a}') }, accept: true },
  { name: 'ranges formatted sorted', constraint: ['slots', 'LIKE', '\\[1-2,3-4\\]'], offer: { host: 'h1', attrs: parseAttributeString('slots:[3-4,1-2]') }, accept: true },
  { name: 'empty value rejects', constraint: ['rack', 'LIKE', ''], offer: rack('h1', ''), accept: false },
  { name: 'invalid regex rejects', constraint: ['rack', 'LIKE', '('], offer: rack('h1', '('), accept: false },
]);

runTable('UNLIKE', [
  { name: 'matching value rejected', constraint: ['rack', 'UNLIKE', 'rack-[1-3]'], offer: rack('h1', 'rack-1'), accept: false },
  { name: 'other value accepted', constraint: ['rack', 'UNLIKE', 'rack-[1-3]'], offer: rack('h1', 'rack-4'), accept: true },
  { name: 'anchored: partial match is not a match', constraint: ['rack', 'UNLIKE', 'rack-[1-3]'], offer: rack('h1', 'rack-1x'), accept: true },
  { name: 'missing attribute accepted', constraint: ['rack', 'UNLIKE', 'rack-[1-3]'], offer: rack('h1', undefined), accept: true },
  { name: 'missing @zone accepted', constraint: ['@zone', 'UNLIKE', 'a'], offer: { host: 'h1' }, accept: true },
  { name: 'hostname', constraint: ['hostname', 'UNLIKE', 'db.*'], offer: { host: 'db1' }, accept: false },
  { name: 'invalid regex rejects', constraint: ['rack', 'UNLIKE', '['], offer: rack('h1', 'x'), accept: false },
]);

runTable('IS', [
  { name: 'text equal', constraint: ['rack', 'IS', 'r1'], offer: rack('h1', 'r1'), accept: true },
  { name: 'text differs', constraint: ['rack', 'IS', 'r1'], offer: rack('h1', 'r10'), accept: false },
  { name: 'scalar 8 IS 8', constraint: ['cores', 'IS', '8'], offer: { host: 'h1', attrs: [scalar('cores', 8)] }, accept: true },
  { name: 'scalar 0.8 IS 0.80', constraint: ['bw', 'IS', '0.80'], offer: { host: 'h1', attrs: [scalar('bw', 0.8)] }, accept: true },
  { name: 'scalar 0.8 IS 0.8001', constraint: ['bw', 'IS', '0.8001'], offer: { host: 'h1', attrs: [scalar('bw', 0.8)] }, accept: true },
  { name: 'scalar 0.8001 IS 0.8', constraint: ['bw', 'IS', '0.8'], offer: { host: 'h1', attrs: [scalar('bw', 0.8001)] }, accept: true },
  { name: 'scalar 8.1 IS 8', constraint: ['cores', 'IS', '8'], offer: { host: 'h1', attrs: [scalar('cores', 8.1)] }, accept: false },
  // The constraint value is formatted as a scalar even against a text attribute (as Marathon).
  { name: 'text "0.80" IS 0.80 does not match', constraint: ['bw', 'IS', '0.80'], offer: { host: 'h1', attrs: [text('bw', '0.80')] }, accept: false },
  { name: 'missing attribute', constraint: ['rack', 'IS', 'r1'], offer: rack('h1', undefined), accept: false },
  { name: '@region', constraint: ['@region', 'IS', 'us-east'], offer: { host: 'h1', region: 'us-east' }, accept: true },
  { name: '@region missing', constraint: ['@region', 'IS', 'us-east'], offer: { host: 'h1' }, accept: false },
  { name: 'hostname', constraint: ['@hostname', 'IS', 'h1'], offer: { host: 'h1' }, accept: true },
]);

test('unknown operator rejects every offer with a readable detail', () => {
  const r = place(request([['rack', 'NEAR', 'x']]), [offerOn(rack('h1', 'x'))], []);
  assert.equal(r.placements.length, 0);
  assert.deepEqual(r.constraintRejections, { 'rack:NEAR:x': 1 });
  const e = explain(request([['rack', 'NEAR', 'x']]), [offerOn(rack('h1', 'x'))], []);
  const st = e.offers[0]!.statuses.find((s) => !s.status.ok)!.status;
  assert.ok(!st.ok && /operator must be one of/.test(st.detail));
});

test('several constraints: an offer counts once per reason, each failing constraint once', () => {
  const c = [['hostname', 'UNIQUE'], ['rack', 'IS', 'r1'], ['rack', 'LIKE', 'x.*']];
  const r = place(request(c), [offerOn(rack('h1', 'r2'))], [placedOn({ host: 'h1' })]);
  assert.equal(r.rejections.UnfulfilledConstraint, 1);
  assert.deepEqual(r.constraintRejections, { 'hostname:UNIQUE': 1, 'rack:IS:r1': 1, 'rack:LIKE:x.*': 1 });
});

test('validateConstraint: Marathon 422 messages', () => {
  const cases: [unknown, string | undefined][] = [
    [['hostname', 'UNIQUE'], undefined],
    [['hostname', 'unique'], undefined],
    [['hostname', 'UNIQUE', 'x'], 'UNIQUE does not accept a value'],
    [['hostname'], 'Each constraint must have either 2 or 3 fields'],
    [['a', 'b', 'c', 'd'], 'Each constraint must have either 2 or 3 fields'],
    [['', 'UNIQUE'], 'illegal constraint specification'],
    [['rack', 'NEAR'], 'operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS'],
    [['rack', 'CLUSTER'], undefined],
    [['rack', 'CLUSTER', 'r1'], undefined],
    [['rack', 'GROUP_BY'], undefined],
    [['rack', 'GROUP_BY', '3'], undefined],
    [['rack', 'GROUP_BY', 'three'], 'GROUP BY must define an integer value or else no value at all'],
    [['rack', 'MAX_PER', '2'], undefined],
    [['rack', 'MAX_PER'], 'MAX_PER requires an integer value'],
    [['rack', 'MAX_PER', '2.5'], 'MAX_PER requires an integer value'],
    [['rack', 'LIKE'], 'LIKE and UNLIKE require a non-empty, regular expression value'],
    [['rack', 'UNLIKE', 'r[0-9]'], undefined],
    [['rack', 'LIKE', '('], 'is not a valid regular expression'],
    [['rack', 'IS', '0.8'], undefined],
    [['rack', 'IS', '{a,b}'], 'IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)'],
  ];
  for (const [c, msg] of cases) assert.equal(validateConstraint(c), msg, JSON.stringify(c));
});
