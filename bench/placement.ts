// Placement benchmark: one `place` call (greedy, all filters evaluated for every offer and
// instance) over synthetic offer sets. Run: node --import tsx bench/placement.ts
// Prints one JSON line per size, plus a baseline line (a trivial pass over the same offers,
// timed the same way in the same process) showing the noise floor.
import { place, type PlacedInstance, type PlacementOffer, type PlacementRequest } from '../src/core/placement/index.ts';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function build(nOffers: number, nPlaced: number, seed: number): { offers: PlacementOffer[]; placed: PlacedInstance[] } {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const offers: PlacementOffer[] = [];
  for (let i = 0; i < nOffers; i++) {
    const cpus = int(1, 32);
    offers.push({
      offerId: `o${i}`,
      agentId: `a${i}`,
      hostname: `host-${i}.example`,
      attributes: [
        { name: 'rack', type: 'TEXT', text: { value: `rack-${i % 40}` } },
        { name: 'cores', type: 'SCALAR', scalar: { value: cpus } },
      ],
      zone: `zone-${i % 3}`,
      resources: { scalars: { cpus, mem: cpus * 2048, disk: 100_000 }, ranges: { ports: [{ begin: 31000, end: 32000 }] }, sets: {} },
    });
  }
  const placed: PlacedInstance[] = [];
  for (let i = 0; i < nPlaced; i++) {
    const o = offers[int(0, nOffers - 1)]!;
    placed.push({ instanceId: `p${i}`, agentId: o.agentId, hostname: o.hostname, attributes: o.attributes, zone: o.zone });
  }
  return { offers, placed };
}

const request = (count: number): PlacementRequest => ({
  appId: '/bench',
  count,
  cpus: 0.5,
  mem: 256,
  disk: 0,
  gpus: 0,
  ports: [0, 0],
  requirePorts: false,
  constraints: [['rack', 'GROUP_BY', '10'], ['hostname', 'MAX_PER', '3'], ['@zone', 'UNLIKE', 'zone-9'], ['rack', 'LIKE', 'rack-[0-9]+']],
});

function time(fn: () => void, reps: number): number {
  fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / reps;
}

for (const [nOffers, count, nPlaced] of [
  [100, 10, 100],
  [1000, 100, 1000],
  [1000, 1000, 1000],
] as const) {
  const { offers, placed } = build(nOffers, nPlaced, 42);
  const req = request(count);
  let placedCount = 0;
  const reps = nOffers * count > 200_000 ? 3 : 20;
  const ms = time(() => {
    placedCount = place(req, offers, placed).placements.length;
  }, reps);
  let sink = 0;
  const baseline = time(() => {
    for (const o of offers) sink += o.resources.scalars.cpus ?? 0;
  }, reps);
  console.log(JSON.stringify({ bench: 'placement.place', offers: nOffers, count, placed: nPlaced, placedNow: placedCount, ms: +ms.toFixed(3), baselineMs: +baseline.toFixed(4), sink: sink > 0 }));
}
