// The placement pipeline: greedy multi-instance placement within one call, resources and
// ports, maxPerOffer, spreading and bin-packing, rejection aggregation and explain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  choosePorts,
  explain,
  place,
  REJECT_REASONS,
  type Attribute,
  type PlacedInstance,
  type PlacementOffer,
  type PlacementRequest,
} from '../../src/core/placement/index.ts';
import { parseResourceString } from '../../src/core/resources.ts';

const text = (name: string, value: string): Attribute => ({ name, type: 'TEXT', text: { value } });

function offer(host: string, res = 'cpus:4;mem:4096;disk:1000;ports:[31000-31009]', extra: Partial<PlacementOffer> = {}): PlacementOffer {
  return { offerId: `o-${host}`, agentId: `a-${host}`, hostname: host, attributes: [], resources: parseResourceString(res), ...extra };
}

function req(partial: Partial<PlacementRequest> = {}): PlacementRequest {
  return { appId: '/app', count: 1, cpus: 1, mem: 128, disk: 0, gpus: 0, ports: [], requirePorts: false, constraints: [], ...partial };
}

function inst(id: string, o: PlacementOffer): PlacedInstance {
  return { instanceId: id, agentId: o.agentId, hostname: o.hostname, attributes: o.attributes };
}

const countBy = <T>(xs: T[], key: (x: T) => string): Record<string, number> =>
  xs.reduce<Record<string, number>>((m, x) => ((m[key(x)] = (m[key(x)] ?? 0) + 1), m), {});

test('UNIQUE hostname across 3 agents: places 3 and rejects the 4th with UnfulfilledConstraint', () => {
  const offers = ['h1', 'h2', 'h3'].map((h) => offer(h));
  const r = place(req({ count: 4, constraints: [['hostname', 'UNIQUE']] }), offers, []);
  assert.equal(r.placements.length, 3);
  assert.deepEqual(r.placements.map((p) => p.hostname).sort(), ['h1', 'h2', 'h3']);
  assert.equal(r.rejections.UnfulfilledConstraint, 3);
  assert.deepEqual(r.constraintRejections, { 'hostname:UNIQUE': 3 });
  assert.equal(r.rejections.InsufficientCpus, 0);
});

test('UNIQUE also counts existing instances', () => {
  const offers = ['h1', 'h2', 'h3'].map((h) => offer(h));
  const r = place(req({ count: 3, constraints: [['hostname', 'UNIQUE']] }), offers, [inst('i1', offers[1]!)]);
  assert.deepEqual(r.placements.map((p) => p.hostname), ['h1', 'h3']);
});

test('spreading: 6 instances over 3 equal agents → 2/2/2', () => {
  const offers = ['h1', 'h2', 'h3'].map((h) => offer(h, 'cpus:10;mem:10000'));
  const r = place(req({ count: 6 }), offers, []);
  assert.equal(r.placements.length, 6);
  assert.deepEqual(countBy(r.placements, (p) => p.hostname), { h1: 2, h2: 2, h3: 2 });
  // Round-robin in offer order, deterministic.
  assert.deepEqual(r.placements.map((p) => p.hostname), ['h1', 'h2', 'h3', 'h1', 'h2', 'h3']);
});

test('spreading counts existing instances per agent', () => {
  const offers = ['h1', 'h2'].map((h) => offer(h, 'cpus:10;mem:10000'));
  const placed = [inst('i1', offers[0]!), inst('i2', offers[0]!)];
  const r = place(req({ count: 4 }), offers, placed);
  // h2 catches up; at 2/2 bin-packing prefers the offer already in use, then h1 again.
  assert.deepEqual(r.placements.map((p) => p.hostname), ['h2', 'h2', 'h2', 'h1']);
});

test('bin-packing breaks spreading ties: the offer left least free wins', () => {
  const offers = [offer('big', 'cpus:16;mem:16384'), offer('small', 'cpus:2;mem:256')];
  const r = place(req({ count: 1 }), offers, []);
  assert.equal(r.placements[0]!.hostname, 'small');
});

test('apps without GPUs rank GPU agents last; declineScarceResources rejects them', () => {
  const offers = [offer('gpu', 'cpus:2;mem:256;gpus:2'), offer('plain', 'cpus:16;mem:16384')];
  assert.equal(place(req(), offers, []).placements[0]!.hostname, 'plain');
  const only = place(req({ declineScarceResources: true }), [offers[0]!], []);
  assert.equal(only.placements.length, 0);
  assert.equal(only.rejections.DeclinedScarceResources, 1);
  assert.equal(place(req(), [offers[0]!], []).placements.length, 1, 'accepted when nothing else is there');
  const gpuApp = place(req({ gpus: 1, declineScarceResources: true }), offers, []);
  assert.equal(gpuApp.placements[0]!.hostname, 'gpu');
  assert.deepEqual(gpuApp.placements[0]!.resources.scalars, { cpus: 1, mem: 128, gpus: 1 });
});

test('an offer shrinks as instances land on it; resources are exact', () => {
  const r = place(req({ count: 5, cpus: 1.5, mem: 100, disk: 10 }), [offer('h1', 'cpus:4;mem:4096;disk:1000')], []);
  assert.equal(r.placements.length, 2);
  for (const p of r.placements) assert.deepEqual(p.resources, { scalars: { cpus: 1.5, mem: 100, disk: 10 }, ranges: {}, sets: {} });
  assert.equal(r.rejections.InsufficientCpus, 1);
  assert.equal(r.rejections.InsufficientMemory, 0);
});

test('scalar fit uses Mesos 3-decimal precision', () => {
  const r = place(req({ count: 3, cpus: 0.1, mem: 1 }), [offer('h1', 'cpus:0.3;mem:10')], []);
  assert.equal(r.placements.length, 3);
});

test('maxPerOffer caps instances per offer (default 5), not counted as a Marathon reason', () => {
  const big = offer('h1', 'cpus:100;mem:100000');
  const d = place(req({ count: 10, cpus: 0.1, mem: 1 }), [big], []);
  assert.equal(d.placements.length, 5);
  assert.ok(REJECT_REASONS.every((k) => d.rejections[k] === 0));
  const two = place(req({ count: 10, cpus: 0.1, mem: 1, maxPerOffer: 2 }), [big, offer('h2', 'cpus:100;mem:100000')], []);
  assert.deepEqual(countBy(two.placements, (p) => p.offerId), { 'o-h1': 2, 'o-h2': 2 });
  const e = explain(req({ count: 10, cpus: 0.1, mem: 1, maxPerOffer: 2 }), [big], []);
  assert.equal(e.unplaced, 8);
  const st = e.offers[0]!.statuses.find((s) => s.filter === 'MaxInstancesPerOffer')!.status;
  assert.ok(!st.ok && st.reason === 'MaxInstancesPerOffer');
});

test('ports: lowest free ports, never handed out twice within a call', () => {
  const r = place(req({ count: 4, cpus: 0.1, mem: 1, ports: [0, 0] }), [offer('h1', 'cpus:4;mem:4096;ports:[31000-31002,31005-31007]')], []);
  assert.deepEqual(r.placements.map((p) => p.hostPorts), [[31000, 31001], [31002, 31005], [31006, 31007]]);
  assert.deepEqual(r.placements[1]!.resources.ranges, { ports: [{ begin: 31002, end: 31002 }, { begin: 31005, end: 31005 }] });
  assert.deepEqual(r.placements[0]!.resources.ranges, { ports: [{ begin: 31000, end: 31001 }] });
  assert.equal(r.rejections.InsufficientPorts, 1);
});

test('ports: non-zero without requirePorts is a service port, the host port is dynamic', () => {
  const r = place(req({ ports: [8080, 0] }), [offer('h1')], []);
  assert.deepEqual(r.placements[0]!.hostPorts, [31000, 31001]);
});

test('requirePorts: exact ports or InsufficientPorts', () => {
  const web = req({ count: 2, ports: [8080, 0], requirePorts: true });
  const none = place(web, [offer('h1')], []);
  assert.equal(none.placements.length, 0);
  assert.equal(none.rejections.InsufficientPorts, 1);
  const one = place(web, [offer('h1', 'cpus:4;mem:4096;ports:[8079-8081]')], []);
  assert.deepEqual(one.placements.map((p) => p.hostPorts), [[8080, 8079]]);
  assert.equal(one.rejections.InsufficientPorts, 1, 'second instance: 8080 is taken on this offer');
  const two = place(web, [offer('h1', 'cpus:4;mem:4096;ports:[8000-9000]'), offer('h2', 'cpus:4;mem:4096;ports:[8000-9000]')], []);
  assert.deepEqual(two.placements.map((p) => [p.hostname, ...p.hostPorts]), [['h1', 8080, 8000], ['h2', 8080, 8000]]);
});

test('choosePorts edge cases', () => {
  assert.deepEqual(choosePorts([], [], false), { ok: true, hostPorts: [] });
  assert.equal(choosePorts([{ begin: 1, end: 10 }], [5, 5], true).ok, false);
  assert.deepEqual(choosePorts([{ begin: 1, end: 3 }], [0, 1, 0], true), { ok: true, hostPorts: [2, 1, 3] });
  assert.deepEqual(choosePorts([{ begin: 1, end: 3 }], [0, 0, 0, 0], false), { ok: false, detail: 'needs 4 more ports, offer has 3 free' });
  // Huge ranges are not walked.
  assert.deepEqual(choosePorts([{ begin: 1, end: 4_000_000_000 }], [0], false), { ok: true, hostPorts: [1] });
});

test('GROUP_BY holds within one call', () => {
  const at = (h: string, r: string) => offer(h, 'cpus:10;mem:10000', { attributes: [text('rack', r)] });
  const offers = [at('a', 'r1'), at('b', 'r1'), at('c', 'r1'), at('d', 'r2')];
  const r = place(req({ count: 4, constraints: [['rack', 'GROUP_BY', '2']] }), offers, []);
  assert.deepEqual(countBy(r.placements, (p) => offers.find((o) => o.offerId === p.offerId)!.attributes[0]!.text!.value), { r1: 2, r2: 2 });
  assert.deepEqual(r.placements.map((p) => p.hostname), ['a', 'd', 'b', 'd']);
});

test('CLUSTER without value: the first instance of the call fixes the value', () => {
  const at = (h: string, r: string) => offer(h, 'cpus:10;mem:10000', { attributes: [text('rack', r)] });
  const offers = [at('a', 'r1'), at('b', 'r2'), at('c', 'r1')];
  const r = place(req({ count: 4, constraints: [['rack', 'CLUSTER']] }), offers, []);
  assert.deepEqual(r.placements.map((p) => p.hostname), ['a', 'c', 'a', 'c']);
});

test('MAX_PER holds within one call', () => {
  const at = (h: string, r: string) => offer(h, 'cpus:10;mem:10000', { attributes: [text('rack', r)] });
  const offers = [at('a', 'r1'), at('b', 'r1'), at('c', 'r2'), at('d', 'r2')];
  const r = place(req({ count: 5, constraints: [['rack', 'MAX_PER', '2']] }), offers, []);
  assert.equal(r.placements.length, 4);
  assert.deepEqual(r.constraintRejections, { 'rack:MAX_PER:2': 4 });
});

test('rejections aggregate over offers, once per reason per offer; every Marathon reason is present', () => {
  const offers = [
    offer('cpu', 'cpus:0.5;mem:4096;ports:[1-10]'),
    offer('mem', 'cpus:4;mem:64;ports:[1-10]'),
    offer('both', 'cpus:0.5;mem:64'),
    offer('role', 'cpus:4;mem:4096;ports:[1-10]', { role: 'slave_public' }),
    offer('maint', 'cpus:4;mem:4096;ports:[1-10]', { maintenance: true }),
    offer('attr', 'cpus:4;mem:4096;ports:[1-10]', { attributes: [text('rack', 'r2')] }),
  ];
  const r = place(req({ count: 2, ports: [0], acceptedResourceRoles: ['*'], constraints: [['rack', 'IS', 'r1'], ['hostname', 'UNLIKE', 'x.*']] }), offers, []);
  assert.equal(r.placements.length, 0);
  assert.deepEqual(r.rejections, {
    UnfulfilledRole: 1,
    UnfulfilledConstraint: 6,
    NoCorrespondingReservationFound: 0,
    AgentMaintenance: 1,
    InsufficientCpus: 2,
    InsufficientMemory: 2,
    InsufficientDisk: 0,
    InsufficientGpus: 0,
    InsufficientPorts: 1,
    DeclinedScarceResources: 0,
  });
  assert.deepEqual(r.constraintRejections, { 'rack:IS:r1': 6 });
  assert.deepEqual(r.offerRejections, {
    'o-cpu': ['InsufficientCpus', 'UnfulfilledConstraint'],
    'o-mem': ['InsufficientMemory', 'UnfulfilledConstraint'],
    'o-both': ['InsufficientCpus', 'InsufficientMemory', 'InsufficientPorts', 'UnfulfilledConstraint'],
    'o-role': ['UnfulfilledRole', 'UnfulfilledConstraint'],
    'o-maint': ['AgentMaintenance', 'UnfulfilledConstraint'],
    'o-attr': ['UnfulfilledConstraint'],
  });
});

test('all placed: rejections cover only the offers that got no instance', () => {
  const offers = [offer('h1'), offer('tiny', 'cpus:0.1;mem:10'), offer('h3')];
  const r = place(req({ count: 2, constraints: [['hostname', 'UNIQUE']] }), offers, []);
  assert.equal(r.placements.length, 2);
  assert.equal(r.rejections.InsufficientCpus, 1);
  assert.equal(r.rejections.InsufficientMemory, 1);
  assert.equal(r.rejections.UnfulfilledConstraint, 0, 'h1 was used, it is not a rejected offer');
  assert.deepEqual(r.offerRejections, { 'o-tiny': ['InsufficientCpus', 'InsufficientMemory'] });
});

test('explain: every filter status per offer, scores for feasible ones', () => {
  const offers = [offer('h1'), offer('h2', 'cpus:0.5;mem:4096')];
  const e = explain(req({ count: 0, constraints: [['hostname', 'UNIQUE']] }), offers, [inst('i1', offers[0]!)]);
  assert.equal(e.placements.length, 0);
  assert.equal(e.unplaced, 0);
  const [h1, h2] = e.offers;
  assert.equal(h1!.feasible, false);
  assert.deepEqual(
    h1!.statuses.filter((s) => !s.status.ok),
    [{ filter: 'Constraint(hostname:UNIQUE)', status: { ok: false, reason: 'UnfulfilledConstraint', detail: '1 instance already on hostname=h1', constraint: 'hostname:UNIQUE' } }],
  );
  assert.deepEqual(
    h1!.statuses.map((s) => s.filter),
    ['MaxInstancesPerOffer', 'AgentMaintenance', 'Roles', 'ScarceResources', 'Cpus', 'Memory', 'Disk', 'Gpus', 'Ports', 'Constraint(hostname:UNIQUE)'],
  );
  assert.equal(h2!.feasible, false);
  const cpu = h2!.statuses.find((s) => s.filter === 'Cpus')!.status;
  assert.deepEqual(cpu, { ok: false, reason: 'InsufficientCpus', detail: 'needs cpus 1, offer has 0.5' });
  assert.equal(e.rejections.UnfulfilledConstraint, 1);
  assert.equal(e.rejections.InsufficientCpus, 1);

  const ok = explain(req({ count: 1 }), offers, []);
  assert.equal(ok.offers[0]!.placed, 1);
  assert.deepEqual(Object.keys(ok.offers[0]!.scores!), ['Spread', 'AvoidScarce', 'BinPack']);
});

test('pure: inputs are not mutated and the answer is deterministic', () => {
  const offers = [offer('h1', 'cpus:4;mem:4096;ports:[1-5]', { attributes: [text('rack', 'r1')] }), offer('h2')];
  const placed = [inst('i1', offers[0]!)];
  const r0 = req({ count: 3, ports: [0, 0], constraints: [['rack', 'GROUP_BY'], ['hostname', 'MAX_PER', '2']] });
  const snapshot = JSON.stringify([r0, offers, placed]);
  const a = place(r0, offers, placed);
  const b = place(r0, offers, placed);
  assert.deepEqual(a, b);
  assert.equal(JSON.stringify([r0, offers, placed]), snapshot);
});

test('count 0 and no offers', () => {
  assert.deepEqual(place(req({ count: 0 }), [offer('h1')], []).placements, []);
  const none = place(req({ count: 3 }), [], []);
  assert.deepEqual(none.placements, []);
  assert.ok(REJECT_REASONS.every((k) => none.rejections[k] === 0));
});

test('bad numbers never crash and never place', () => {
  const r = place(req({ cpus: Number.NaN }), [offer('h1')], []);
  assert.equal(r.placements.length, 0);
  assert.equal(r.rejections.InsufficientCpus, 1);
});
