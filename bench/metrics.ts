// Metrics benchmark. Prints JSON lines, each with a baseline measured in the same run.
//
//  1. GET /metrics/snapshot on a master holding 10k tasks (100 fake agents re-registering with 100
//     running tasks each), over real HTTP; goal p99 ≤ 20 ms. Baselines: GET /health over the same HTTP
//     stack, and JSON.stringify of an object with as many keys as the snapshot.
//  2. What metric collection (the history sampled every 5 s on the master and the agent) costs an idle
//     `corral dev` (master + 1 agent + orchestrator, as `corral dev` starts them): the process CPU time over
//     the same period with collection off, then on, each in a fresh child process; goal < 2 % of one core.
//     The time spent inside the samplers is also measured directly (the difference of two noisy CPU
//     readings is dominated by the cluster's own idle work).
//
//   node --import tsx bench/metrics.ts [--tasks 10000] [--requests 300] [--seconds 30]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startAgent } from '../src/agent/index.ts';
import { startMaster } from '../src/master/index.ts';
import { startOrchestratorStack } from '../src/orchestrator/api/stack.ts';
import { silentLogger } from '../src/runtime/log.ts';
import { createMemoryStore, openEmbeddedStore } from '../src/store/index.ts';
import { FakeAgent } from '../test/support/fake-agent.ts';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '30' },
    // Internal: run one idle phase in this (child) process.
    phase: { type: 'string' },
  },
});
const TASKS = Number(values.tasks);
const REQUESTS = Number(values.requests);
const SECONDS = Number(values.seconds);
const SNAPSHOT_GOAL_P99_MS = 20;
const CPU_GOAL_PERCENT = 2;

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const progress = (msg: string) => process.stderr.write(`[bench:metrics] ${msg}\n`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
function stats(xs: number[]): { p50_ms: number; p90_ms: number; p99_ms: number; max_ms: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => round(s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
  return { p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: round(s.at(-1)!) };
}

async function timeRequests(url: string, n: number): Promise<{ times: number[]; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n + 20; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body.slice(0, 200)}`);
    if (i >= 20) times.push(performance.now() - t0); // the first 20 warm up
    bytes = body.length;
  }
  return { times, bytes };
}

async function snapshotBench(): Promise<void> {
  const store = createMemoryStore({ logger: silentLogger });
  // Slow pings: 100 fake agents must stay registered while the bench runs, without the pings adding noise.
  const master = await startMaster({ store, port: 0, log: silentLogger, agentPingTimeoutMs: 10_000, metrics: { sampling: false } });
  const agents: FakeAgent[] = [];
  try {
    const perAgent = 100;
    const nAgents = Math.ceil(TASKS / perAgent);
    progress(`building a master with ${TASKS} tasks on ${nAgents} agents`);
    const framework = { id: { value: 'bench-framework' }, name: 'bench', user: 'bench' };
    for (let a = 0; a < nAgents; a++) {
      const agent = await FakeAgent.start({ masterUrl: master.url, cpus: perAgent, mem: perAgent * 64, hostname: `bench-${a}` });
      agents.push(agent);
      await agent.register();
      const n = Math.min(perAgent, TASKS - a * perAgent);
      const tasks = Array.from({ length: n }, (_, i) => ({
        name: `t${a}-${i}`,
        task_id: { value: `t${a}-${i}` },
        framework_id: framework.id,
        agent_id: { value: agent.agentId! },
        state: 'TASK_RUNNING' as const,
        statuses: [],
        resources: [
          { name: 'cpus', type: 'SCALAR' as const, scalar: { value: 0.5 } },
          { name: 'mem', type: 'SCALAR' as const, scalar: { value: 32 } },
        ],
      }));
      await agent.reregister({ tasks, frameworks: [framework] });
    }
    const first = (await (await fetch(master.url + '/metrics/snapshot')).json()) as Record<string, number>;
    if (first['master/tasks_running'] !== TASKS) throw new Error(`expected ${TASKS} running tasks, the master has ${first['master/tasks_running']}`);
    const keys = Object.keys(first).length;

    progress(`timing ${REQUESTS} GET /metrics/snapshot`);
    const snap = await timeRequests(master.url + '/metrics/snapshot', REQUESTS);
    const health = await timeRequests(master.url + '/health', REQUESTS);
    const prom = await timeRequests(master.url + '/metrics', Math.min(REQUESTS, 100));
    const same = Object.fromEntries(Object.keys(first).map((k, i) => [k, i + 0.5]));
    const stringify: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now();
      JSON.stringify(same);
      stringify.push(performance.now() - t0);
    }
    const s = stats(snap.times);
    emit({ bench: 'metrics-snapshot', tasks: TASKS, agents: nAgents, keys, bytes: snap.bytes, requests: REQUESTS, ...s, goal_p99_ms: SNAPSHOT_GOAL_P99_MS, ok: s.p99_ms <= SNAPSHOT_GOAL_P99_MS });
    emit({ bench: 'metrics-snapshot-baseline', op: 'GET /health (same HTTP stack)', requests: REQUESTS, ...stats(health.times) });
    emit({ bench: 'metrics-snapshot-baseline', op: `JSON.stringify of a ${keys}-key object`, runs: REQUESTS, ...stats(stringify) });
    emit({ bench: 'metrics-prometheus', tasks: TASKS, bytes: prom.bytes, requests: prom.times.length, ...stats(prom.times) });
  } finally {
    await master.close();
    await Promise.all(agents.map((a) => a.close()));
    await store.close();
  }
}

/** Child process: an idle `corral dev` with collection on or off; prints its CPU use over SECONDS. */
async function idlePhase(sampling: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-metrics-'));
  const masterStore = await openEmbeddedStore(join(dir, 'master'));
  const orchestratorStore = await openEmbeddedStore(join(dir, 'orchestrator'));
  // Time spent inside the samplers (each sample: a snapshot of every metric, recorded into the history).
  let samplingMs = 0;
  const metrics = { sampling };
  const { HistorySampler } = await import('../src/metrics/history.ts');
  const sample = HistorySampler.prototype.sample;
  HistorySampler.prototype.sample = function (this: InstanceType<typeof HistorySampler>) {
    const t0 = performance.now();
    try {
      sample.call(this);
    } finally {
      samplingMs += performance.now() - t0;
    }
  };
  const master = await startMaster({ store: masterStore, port: 0, log: silentLogger, metrics });
  const agent = await startAgent({ masterUrl: master.url, port: 0, workDir: join(dir, 'agent-1'), resources: 'ports:[31000-32000]', log: silentLogger, metrics });
  await agent.registered();
  const orchestrator = await startOrchestratorStack({ masterUrl: master.url, store: orchestratorStore, port: 0, log: silentLogger });
  // Settle (JIT, first allocations, orchestrator subscription), then measure.
  await new Promise((r) => setTimeout(r, 3000));
  samplingMs = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  await orchestrator.close();
  await agent.close({ killTasks: true });
  await master.close();
  await masterStore.close();
  await orchestratorStore.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ sampling, wall_ms: wallMs, cpu_ms: (cpu.user + cpu.system) / 1000, sampling_ms: samplingMs }));
}

function runPhase(sampling: boolean): Promise<{ sampling: boolean; wall_ms: number; cpu_ms: number; sampling_ms: number }> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--phase', sampling ? 'on' : 'off', '--seconds', String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1);
      if (code !== 0 || !line) return reject(new Error(`idle phase (sampling ${sampling}) exited with ${code}: ${out}`));
      resolve(JSON.parse(line));
    });
  });
}

async function idleBench(): Promise<void> {
  progress(`idle corral dev: ${SECONDS} s with metric collection off, then ${SECONDS} s with it on (fresh processes)`);
  const off = await runPhase(false);
  const on = await runPhase(true);
  const pct = (ms: number, wall: number) => round((100 * ms) / wall, 3);
  const collectionPct = pct(on.sampling_ms, on.wall_ms);
  const differencePct = pct(on.cpu_ms - off.cpu_ms, on.wall_ms);
  emit({
    bench: 'metrics-collection-cpu',
    seconds: SECONDS,
    sampler_cpu_percent_of_core: collectionPct,
    on_minus_off_cpu_percent_of_core: differencePct,
    goal_percent: CPU_GOAL_PERCENT,
    ok: collectionPct < CPU_GOAL_PERCENT && differencePct < CPU_GOAL_PERCENT,
  });
  emit({ bench: 'metrics-collection-cpu-baseline', op: 'idle corral dev, collection off', cpu_percent_of_core: pct(off.cpu_ms, off.wall_ms) });
  emit({ bench: 'metrics-collection-cpu-on', op: 'idle corral dev, collection on', cpu_percent_of_core: pct(on.cpu_ms, on.wall_ms) });
}

if (values.phase) await idlePhase(values.phase === 'on');
else {
  await snapshotBench();
  await idleBench();
}
