// Allocator benchmark: one `allocate` cycle over synthetic clusters.
// Run: node --import tsx bench/allocator.ts   (or npm run bench:allocator)
// Prints one JSON line per size, plus a baseline line (a trivial pass over the
// same agents, timed the same way in the same process) showing the noise floor.
import { allocate, type AllocationInput, type AllocatorAgent, type AllocatorFramework, type OfferFilter } from '../src/core/allocator/index.ts';
import { DEFAULT_MIN_ALLOCATABLE } from '../src/core/allocator/min-allocatable.ts';
import { addResources, emptyResources, subtractResources, type Resources } from '../src/core/resources.ts';

const FRAMEWORKS = 200;
const ROLES = 20;
const GOAL_MS = 50;

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

function buildCluster(nAgents: number, seed: number): Omit<AllocationInput, 'random'> {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const frameworks: AllocatorFramework[] = [];
  for (let i = 0; i < FRAMEWORKS; i++) {
    const role = `role-${i % ROLES}`;
    frameworks.push({
      id: `fw-${i}`,
      roles: i % 25 === 0 ? [role, `role-${(i + 7) % ROLES}`] : [role], // a few multi-role frameworks
      active: i % 50 !== 49, // a few disconnected
      suppressedRoles: i % 40 === 39 ? [role] : [],
      capabilities: i % 10 === 0 ? ['GPU_RESOURCES', 'MULTI_ROLE'] : ['MULTI_ROLE'],
      allocated: {},
    });
  }
  const agents: AllocatorAgent[] = [];
  const filters: OfferFilter[] = [];
  for (let a = 0; a < nAgents; a++) {
    const cpus = int(8, 64);
    const total: Resources = {
      scalars: { cpus, mem: cpus * 4096, disk: int(100, 1000) * 1024, ...(a % 100 === 0 ? { gpus: 4 } : {}) },
      ranges: { ports: [{ begin: 31000, end: 32000 }] },
      sets: {},
    };
    // ~half the cluster is in use by tasks of random frameworks.
    let available = total;
    const tasks = int(0, 3);
    for (let t = 0; t < tasks; t++) {
      const c = Math.min(int(1, 8), available.scalars.cpus ?? 0);
      if (c <= 0) break;
      const port = 31000 + int(0, 1000);
      const used: Resources = { scalars: { cpus: c, mem: c * 2048, disk: 1024 }, ranges: { ports: [{ begin: port, end: port }] }, sets: {} };
      available = subtractResources(available, used);
      const fw = frameworks[int(0, FRAMEWORKS - 1)]!;
      const role = fw.roles[0]!;
      fw.allocated[role] = addResources(fw.allocated[role] ?? emptyResources(), used);
    }
    if (a % 20 === 0) {
      filters.push({ frameworkId: `fw-${int(0, FRAMEWORKS - 1)}`, role: `role-${int(0, ROLES - 1)}`, agentId: `agent-${a}`, resources: total, expiresAt: 2_000 });
    }
    agents.push({ id: `agent-${a}`, hostname: `host-${a}.example`, total, available, active: a % 500 !== 1 });
  }
  const weights: Record<string, number> = {};
  for (let r = 0; r < ROLES; r += 5) weights[`role-${r}`] = 2;
  return { now: 1_000, agents, frameworks, weights, filters, minAllocatable: DEFAULT_MIN_ALLOCATABLE.map((s) => ({ ...s })) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function time(runs: number, warmup: number, fn: (i: number) => unknown): { p50: number; p90: number; max: number } {
  let sink = 0;
  for (let i = 0; i < warmup; i++) sink ^= (fn(i) as unknown[] | number) ? 1 : 0;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = fn(warmup + i);
    times.push(performance.now() - t0);
    sink ^= r ? 1 : 0;
  }
  if (sink === 42) console.error('unreachable');
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p90: percentile(times, 0.9), max: times[times.length - 1]! };
}

const round = (x: number) => Math.round(x * 100) / 100;

const sizes: Array<[number, number]> = [
  [1_000, 50],
  [10_000, 30],
  [50_000, 10],
];
for (const [n, runs] of sizes) {
  const base = buildCluster(n, n);
  let offers = 0;
  const r = time(runs, 3, (i) => {
    const out = allocate({ ...base, random: mulberry32(i + 1) });
    offers = out.length;
    return out;
  });
  const b = time(runs, 3, () => {
    let s = 0;
    for (const a of base.agents) s += a.available.scalars.cpus ?? 0;
    return s;
  });
  console.log(JSON.stringify({ bench: 'allocator', agents: n, frameworks: FRAMEWORKS, roles: ROLES, p50_ms: round(r.p50), p90_ms: round(r.p90), max_ms: round(r.max), runs, goal_ms: GOAL_MS, offers }));
  console.log(JSON.stringify({ bench: 'allocator-baseline', agents: n, op: 'sum available cpus', p50_ms: round(b.p50), p90_ms: round(b.p90), max_ms: round(b.max), runs }));
}
