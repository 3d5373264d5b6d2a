// Property tests for placement safety: whatever the offers, existing instances and request,
// placements fit the offers, never reuse a port on an agent, and never violate UNIQUE or
// MAX_PER; GROUP_BY with ample capacity stays even; the kill selection is a valid choice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  place,
  selectInstancesToKill,
  type Attribute,
  type KillCandidate,
  type PlacedInstance,
  type PlacementOffer,
  type PlacementRequest,
} from '../../src/core/placement/index.ts';
import { addResources, containsResources, emptyResources, type Resources } from '../../src/core/resources.ts';

const RUNS = { numRuns: 300 };
const RACKS = ['r1', 'r2', 'r3'];

const rackAttr = (r: string | null): Attribute[] => (r === null ? [] : [{ name: 'rack', type: 'TEXT', text: { value: r } }]);

/** 1–6 agents with one offer each (unique hostnames), small resources so offers run out. */
const offersArb = fc
  .array(
    fc.record({
      cpus: fc.integer({ min: 0, max: 40 }).map((x) => x / 10),
      mem: fc.integer({ min: 0, max: 2048 }),
      portBegin: fc.integer({ min: 1, max: 12 }),
      portLen: fc.integer({ min: 0, max: 8 }),
      portGap: fc.integer({ min: 1, max: 5 }),
      portLen2: fc.integer({ min: 0, max: 4 }),
      rack: fc.constantFrom<string | null>('r1', 'r2', 'r3', null),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((specs) =>
    specs.map((s, i): PlacementOffer => {
      const ranges = [];
      if (s.portLen > 0) ranges.push({ begin: s.portBegin, end: s.portBegin + s.portLen - 1 });
      if (s.portLen2 > 0) {
        const b = s.portBegin + s.portLen + s.portGap;
        ranges.push({ begin: b, end: b + s.portLen2 - 1 });
      }
      const resources: Resources = { scalars: {}, ranges: {}, sets: {} };
      if (s.cpus > 0) resources.scalars.cpus = s.cpus;
      if (s.mem > 0) resources.scalars.mem = s.mem;
      if (ranges.length) resources.ranges.ports = ranges;
      return { offerId: `o${i}`, agentId: `a${i}`, hostname: `h${i}`, attributes: rackAttr(s.rack), resources };
    }),
  );

const constraintArb: fc.Arbitrary<readonly string[]> = fc.oneof(
  fc.constant(['hostname', 'UNIQUE']),
  fc.constant(['rack', 'UNIQUE']),
  fc.integer({ min: 1, max: 3 }).map((n) => ['rack', 'MAX_PER', String(n)]),
  fc.integer({ min: 1, max: 3 }).map((n) => ['hostname', 'MAX_PER', String(n)]),
  fc.constant(['rack', 'GROUP_BY']),
  fc.integer({ min: 1, max: 3 }).map((n) => ['rack', 'GROUP_BY', String(n)]),
  fc.constant(['rack', 'CLUSTER']),
  fc.constant(['rack', 'LIKE', 'r[12]']),
  fc.constant(['rack', 'UNLIKE', 'r3']),
);

const requestArb = fc.record({
  count: fc.integer({ min: 1, max: 12 }),
  cpus: fc.integer({ min: 0, max: 15 }).map((x) => x / 10),
  mem: fc.integer({ min: 0, max: 600 }),
  ports: fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 20 })), { maxLength: 3 }),
  requirePorts: fc.boolean(),
  constraints: fc.array(constraintArb, { maxLength: 2 }),
  maxPerOffer: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
});

/** Existing instances on some of the offers' agents (or on agents without an offer). */
function placedArb(n: number): fc.Arbitrary<PlacedInstance[]> {
  return fc.array(
    fc.record({ agent: fc.integer({ min: 0, max: Math.max(0, n + 1) }), rack: fc.constantFrom<string | null>(...RACKS, null) }),
    { maxLength: 5 },
  ).map((xs) => xs.map((x, i) => ({ instanceId: `p${i}`, agentId: `a${x.agent}`, hostname: `h${x.agent}`, attributes: rackAttr(x.rack) })));
}

const scenario = offersArb.chain((offers) =>
  fc.record({ offers: fc.constant(offers), placed: placedArb(offers.length), r: requestArb }),
);

function fullRequest(r: Omit<PlacementRequest, 'appId' | 'disk' | 'gpus'>): PlacementRequest {
  return { appId: '/p', disk: 0, gpus: 0, ...r };
}

/** The agent's rack as the placed instance would record it (placed instances on offer-less agents keep their own). */
const rackOf = (attrs: readonly Attribute[]): string | undefined => attrs.find((a) => a.name === 'rack')?.text?.value;

test('property: placements never exceed any offer, ports are offered, per-offer cap holds', () => {
  fc.assert(
    fc.property(scenario, ({ offers, placed, r }) => {
      const req = fullRequest(r);
      const res = place(req, offers, placed);
      assert.ok(res.placements.length <= req.count);
      const used = new Map<string, Resources>();
      const perOffer = new Map<string, number>();
      for (const p of res.placements) {
        const o = offers.find((x) => x.offerId === p.offerId)!;
        assert.equal(p.agentId, o.agentId);
        assert.equal(p.hostPorts.length, req.ports.length);
        if (req.requirePorts) req.ports.forEach((port, i) => port > 0 && assert.equal(p.hostPorts[i], port));
        used.set(p.offerId, addResources(used.get(p.offerId) ?? emptyResources(), p.resources));
        perOffer.set(p.offerId, (perOffer.get(p.offerId) ?? 0) + 1);
      }
      for (const [id, u] of used) {
        const o = offers.find((x) => x.offerId === id)!;
        assert.ok(containsResources(o.resources, u), `offer ${id} overcommitted`);
      }
      for (const n of perOffer.values()) assert.ok(n <= (req.maxPerOffer ?? 5));
    }),
    RUNS,
  );
});

test('property: no port is handed out twice on an agent', () => {
  fc.assert(
    fc.property(scenario, ({ offers, placed, r }) => {
      const res = place(fullRequest(r), offers, placed);
      const seen = new Map<string, Set<number>>();
      for (const p of res.placements) {
        const s = seen.get(p.agentId) ?? new Set<number>();
        for (const port of p.hostPorts) {
          assert.ok(!s.has(port), `port ${port} twice on ${p.agentId}`);
          s.add(port);
        }
        seen.set(p.agentId, s);
      }
    }),
    RUNS,
  );
});

test('property: UNIQUE is never violated (new instances share no value with each other or existing ones)', () => {
  fc.assert(
    fc.property(scenario, fc.constantFrom('hostname', 'rack'), ({ offers, placed, r }, field) => {
      const req = fullRequest({ ...r, constraints: [[field, 'UNIQUE'], ...r.constraints] });
      const res = place(req, offers, placed);
      const valueOf = (agentId: string, hostname: string, attrs: readonly Attribute[]) => (field === 'hostname' ? hostname : rackOf(attrs));
      const taken = new Set(placed.map((p) => valueOf(p.agentId, p.hostname, p.attributes)));
      for (const p of res.placements) {
        const o = offers.find((x) => x.offerId === p.offerId)!;
        const v = valueOf(o.agentId, o.hostname, o.attributes);
        assert.notEqual(v, undefined, 'UNIQUE never places on an agent lacking the field');
        assert.ok(!taken.has(v), `${field}=${v} used twice`);
        taken.add(v);
      }
    }),
    RUNS,
  );
});

test('property: MAX_PER is never violated by new placements', () => {
  fc.assert(
    fc.property(scenario, fc.integer({ min: 1, max: 3 }), fc.constantFrom('hostname', 'rack'), ({ offers, placed, r }, max, field) => {
      const req = fullRequest({ ...r, constraints: [[field, 'MAX_PER', String(max)], ...r.constraints] });
      const res = place(req, offers, placed);
      const valueOf = (hostname: string, attrs: readonly Attribute[]) => (field === 'hostname' ? hostname : rackOf(attrs));
      const counts = new Map<string | undefined, number>();
      for (const p of placed) counts.set(valueOf(p.hostname, p.attributes), (counts.get(valueOf(p.hostname, p.attributes)) ?? 0) + 1);
      const received = new Set<string | undefined>();
      for (const p of res.placements) {
        const o = offers.find((x) => x.offerId === p.offerId)!;
        const v = valueOf(o.hostname, o.attributes);
        assert.notEqual(v, undefined);
        counts.set(v, (counts.get(v) ?? 0) + 1);
        received.add(v);
      }
      for (const v of received) assert.ok(counts.get(v)! <= max, `${field}=${v} has ${counts.get(v)} > ${max}`);
    }),
    RUNS,
  );
});

test('property: GROUP_BY with ample capacity keeps racks within one of each other', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 4 }),
      fc.integer({ min: 1, max: 20 }),
      (agentsPerRack, count) => {
        const offers: PlacementOffer[] = [];
        agentsPerRack.forEach((k, r) => {
          for (let j = 0; j < k; j++) {
            const id = `${r}-${j}`;
            offers.push({ offerId: `o${id}`, agentId: `a${id}`, hostname: `h${id}`, attributes: rackAttr(`r${r}`), resources: { scalars: { cpus: 100, mem: 100000 }, ranges: {}, sets: {} } });
          }
        });
        const req = fullRequest({ count, cpus: 1, mem: 1, ports: [], requirePorts: false, constraints: [['rack', 'GROUP_BY', String(agentsPerRack.length)]], maxPerOffer: 100 });
        const res = place(req, offers, []);
        assert.equal(res.placements.length, count);
        const perRack = new Map<string, number>();
        for (const p of res.placements) {
          const rk = rackOf(offers.find((o) => o.offerId === p.offerId)!.attributes)!;
          perRack.set(rk, (perRack.get(rk) ?? 0) + 1);
        }
        const sizes = agentsPerRack.map((_, r) => perRack.get(`r${r}`) ?? 0);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, JSON.stringify(sizes));
      },
    ),
    RUNS,
  );
});

test('property: kill selection returns min(count, n) distinct candidates, sentenced first, and keeps GROUP_BY even', () => {
  const candArb = fc.array(
    fc.record({
      rack: fc.constantFrom(...RACKS),
      condition: fc.constantFrom('Running', 'Staging', 'Unreachable'),
      healthy: fc.option(fc.boolean(), { nil: undefined }),
      at: fc.integer({ min: 0, max: 1000 }),
      sentenced: fc.boolean(),
    }),
    { maxLength: 12 },
  );
  fc.assert(
    fc.property(candArb, fc.integer({ min: 0, max: 14 }), fc.boolean(), (specs, count, groupBy) => {
      const cs: KillCandidate[] = specs.map((s, i) => ({
        instanceId: `i${i}`,
        agentId: `a${i}`,
        hostname: `h${i}`,
        attributes: rackAttr(s.rack),
        condition: s.condition,
        ...(s.healthy === undefined ? {} : { healthy: s.healthy }),
        stagedAt: s.at,
        sentenced: s.sentenced,
      }));
      const constraints = groupBy ? [['rack', 'GROUP_BY']] : [];
      const out = selectInstancesToKill(cs, count, constraints, 'YOUNGEST_FIRST');
      assert.equal(out.length, Math.min(count, cs.length));
      assert.equal(new Set(out).size, out.length);
      const sentenced = cs.filter((c) => c.sentenced).map((c) => c.instanceId);
      const k = Math.min(sentenced.length, out.length);
      assert.ok(out.slice(0, k).every((id) => sentenced.includes(id)));
      if (groupBy) {
        // Among the non-sentenced, each kill comes from a largest rack at that moment.
        const sizes = new Map<string, number>();
        for (const c of cs) if (!c.sentenced) sizes.set(rackOf(c.attributes)!, (sizes.get(rackOf(c.attributes)!) ?? 0) + 1);
        for (const id of out.slice(k)) {
          const rk = rackOf(cs.find((c) => c.instanceId === id)!.attributes)!;
          assert.equal(sizes.get(rk), Math.max(...sizes.values()));
          sizes.set(rk, sizes.get(rk)! - 1);
        }
      }
    }),
    RUNS,
  );
});
