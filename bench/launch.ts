// Launch benchmark: tasks running `true` through the whole path (subscribe, offer, accept,
// STARTING/RUNNING/FINISHED, acknowledge) on one agent, against a bare spawn('true') loop
// measured in the same run. Prints JSON lines.
//
//   node --import tsx bench/launch.ts [--tasks 500] [--sequential 100]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent } from '../src/agent/index.ts';
import { SchedulerClient } from '../src/client/scheduler-client.ts';
import { startMaster } from '../src/master/index.ts';
import type { Offer, TaskStatus } from '../src/protocol/mesos.ts';
import { silentLogger } from '../src/runtime/log.ts';
import { openEmbeddedStore } from '../src/store/index.ts';

const { values } = parseArgs({
  options: { tasks: { type: 'string', default: '500' }, sequential: { type: 'string', default: '100' } },
});
const TASKS = Number(values.tasks);
const SEQUENTIAL = Number(values.sequential);

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const progress = (msg: string) => process.stderr.write(`[bench:launch] ${msg}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100 : NaN;
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function spawnBaseline(n: number) {
  const lat: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const c = spawn('true', { stdio: 'ignore' });
      c.on('error', reject);
      c.on('exit', () => resolve());
    });
    lat.push(ms(t));
  }
  const total = ms(t0);
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSec: (n / total) * 1000 };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-'));
  const store = await openEmbeddedStore(join(dir, 'master'));
  const master = await startMaster({ port: 0, store, log: silentLogger, allocationIntervalMs: 1000 });
  const agent = await startAgent({
    masterUrl: master.url,
    port: 0,
    workDir: join(dir, 'agent'),
    resources: 'cpus:64;mem:65536;disk:10000;ports:[31000-32000]',
    log: silentLogger,
  });
  await agent.registered();

  progress(`baseline: ${TASKS} sequential spawn('true')`);
  const base = await spawnBaseline(TASKS);
  emit({ bench: 'launch-baseline', op: "spawn('true') to exit, sequential", tasks: TASKS, p50_ms: base.p50, p99_ms: base.p99, tasks_per_s: Math.round(base.perSec) });

  const client = new SchedulerClient({ masterUrl: master.url, log: silentLogger });
  const offers: Offer[] = [];
  let offerWaiter: (() => void) | undefined;
  client.on('offers', (os) => {
    offers.push(...os);
    offerWaiter?.();
  });
  const launchedAt = new Map<string, bigint>();
  const finished = new Map<string, number>();
  const finishWaiters = new Map<string, () => void>();
  client.on('update', (st: TaskStatus) => {
    if (st.uuid) void client.acknowledge(st).catch(() => {});
    const id = st.task_id.value;
    if (['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED'].includes(st.state)) {
      if (st.state !== 'TASK_FINISHED') progress(`task ${id} ended ${st.state}: ${st.message ?? ''}`);
      const t = launchedAt.get(id);
      if (t !== undefined && !finished.has(id)) finished.set(id, ms(t));
      finishWaiters.get(id)?.();
    }
  });
  await client.subscribe({ user: 'bench', name: 'bench-launch', capabilities: [{ type: 'PARTITION_AWARE' }] });

  const nextOffer = async (): Promise<Offer> => {
    while (offers.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no offer within 10 s')), 10_000);
        offerWaiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return offers.shift()!;
  };
  const taskInfo = (id: string, offer: Offer) => ({
    name: id,
    task_id: { value: id },
    agent_id: offer.agent_id,
    resources: [
      { name: 'cpus', type: 'SCALAR' as const, scalar: { value: 0.01 } },
      { name: 'mem', type: 'SCALAR' as const, scalar: { value: 1 } },
    ],
    command: { value: 'true', shell: false, arguments: ['true'] },
  });
  const waitFinished = (id: string) =>
    new Promise<void>((resolve, reject) => {
      if (finished.has(id)) return resolve();
      const t = setTimeout(() => reject(new Error(`task ${id} not finished within 30 s`)), 30_000);
      finishWaiters.set(id, () => {
        clearTimeout(t);
        resolve();
      });
    });

  // Phase 1: one task at a time (latency without queueing).
  progress(`sequential: ${SEQUENTIAL} tasks one at a time`);
  const seqLat: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const offer = await nextOffer();
    const id = `seq-${i}`;
    launchedAt.set(id, process.hrtime.bigint());
    await client.launch([offer.id], [taskInfo(id, offer)], { refuse_seconds: 0 });
    await waitFinished(id);
    seqLat.push(finished.get(id)!);
  }
  emit({
    bench: 'launch-sequential',
    tasks: SEQUENTIAL,
    p50_ms: pct(seqLat, 50),
    p99_ms: pct(seqLat, 99),
    added_p50_ms: Math.round((pct(seqLat, 50) - base.p50) * 100) / 100,
    added_p99_ms: Math.round((pct(seqLat, 99) - base.p99) * 100) / 100,
    goal_added_p50_ms: 15,
  });

  // Phase 2: TASKS tasks launched as fast as offers allow (throughput).
  progress(`throughput: ${TASKS} tasks`);
  const t0 = process.hrtime.bigint();
  let launched = 0;
  const all: Promise<void>[] = [];
  while (launched < TASKS) {
    const offer = await nextOffer();
    const fit = Math.floor(
      Math.min(...['cpus', 'mem'].map((n) => (offer.resources.find((r) => r.name === n)?.scalar?.value ?? 0) / (n === 'cpus' ? 0.01 : 1))) + 1e-9,
    );
    const batch = Math.min(100, TASKS - launched, fit);
    if (batch === 0) {
      await client.decline([offer.id], { refuse_seconds: 0 });
      continue;
    }
    const infos = Array.from({ length: batch }, (_, k) => taskInfo(`tp-${launched + k}`, offer));
    for (const ti of infos) {
      launchedAt.set(ti.task_id.value, process.hrtime.bigint());
      all.push(waitFinished(ti.task_id.value));
    }
    launched += batch;
    await client.launch([offer.id], infos, { refuse_seconds: 0 });
    if (launched % 100 === 0) progress(`launched ${launched}/${TASKS}`);
  }
  await Promise.all(all);
  const total = ms(t0);
  const tpLat = [...finished.entries()].filter(([k]) => k.startsWith('tp-')).map(([, v]) => v);
  emit({
    bench: 'launch-throughput',
    tasks: TASKS,
    total_ms: Math.round(total),
    tasks_per_s: Math.round((TASKS / total) * 1000),
    goal_tasks_per_s: 100,
    latency_p50_ms: pct(tpLat, 50),
    latency_p99_ms: pct(tpLat, 99),
    baseline_tasks_per_s: Math.round(base.perSec),
  });

  client.close();
  await agent.close({ killTasks: true });
  await master.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
