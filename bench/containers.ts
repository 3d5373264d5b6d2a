// Container start benchmark: how long the agent takes to start a task in a container image that is already
// cached, against a bare `runc run` of the same bundle measured in the same run. Prints JSON lines.
//
// Start latency = from the moment the agent (its own process, as in production) is sent RUN_TASK (the HTTP
// POST the master sends) until the container's process has started and shown a sign of life: its first
// action is an HTTP request (busybox wget) to a probe server (a small process of its own, so the arrival is
// timed when it arrives). The baseline is the same: from spawning `runc run --keep --bundle B ID` (the
// agent's own flags) until the same request arrives; B is a bundle with the agent's config.json (copied from
// one of its containers; only the cgroup path and the overlay's upper/work directories differ per run) over
// the same cached image. Also measured, for the breakdown: runc under the agent's exit-status wrapper shell
// (no agent), and the same command as a host task (no image) through the agent vs a bare spawn, i.e. what
// the agent's launch path costs without the containerizer. One container at a time, each after the previous
// one is fully deleted, the order of the kinds rotating per round. Goal: agent p50 ≤ 1.2 × bare runc p50.
//
//   node --import tsx bench/containers.ts [--samples 60]      (root; runc, umoci, skopeo, docker-registry, busybox)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Runc } from '../src/agent/containerizer/runc.ts';
import { WRAPPER_NAME, WRAPPER_SCRIPT } from '../src/agent/launcher.ts';
import type { TaskInfo, TaskStatus } from '../src/protocol/mesos.ts';
import { FakeMaster, spawnAgentProcess, waitUntil } from '../test/support/fake-master.ts';
import { mountsUnder, runcList, startTestRegistry } from '../test/integration/containers-registry.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '60' } } });
const SAMPLES = Number(values.samples);
const GOAL_RATIO = 1.2;

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const progress = (msg: string) => process.stderr.write(`[bench:containers] ${msg}\n`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100 : NaN;
};
const now = () => process.hrtime.bigint();
const msSince = (t0: bigint, t1 = now()) => Number(t1 - t0) / 1e6;

/**
 * Records when each container's first request arrives. The server is its own small process, so that the
 * arrival time is taken when the request arrives, not when this process (busy being the agent's master)
 * gets to it; process.hrtime is the machine's monotonic clock, the same in both processes. It can hold one
 * response (to copy a live container's bundle) until released.
 */
class Probe {
  private arrived = new Map<string, bigint>();
  private waiters = new Map<string, () => void>();
  private child = spawn(
    process.execPath,
    [
      '-e',
      `const http = require('node:http'); let held;
       const s = http.createServer((req, res) => {
         const t = process.hrtime.bigint();
         const id = decodeURIComponent((req.url || '').replace(/^\\/up\\//, ''));
         process.stdout.write(JSON.stringify({ id, t: String(t) }) + '\\n');
         if (id === process.argv[1]) held = res; else res.end('ok');
       });
       process.stdin.on('data', () => held && held.end('ok'));
       s.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: s.address().port }) + '\\n'));`,
      'warmup',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  url = '';
  async start(): Promise<void> {
    const lines = createInterface({ input: this.child.stdout! });
    await new Promise<void>((resolve) =>
      lines.on('line', (line) => {
        const m = JSON.parse(line) as { port?: number; id?: string; t?: string };
        if (m.port) {
          this.url = `http://127.0.0.1:${m.port}`;
          resolve();
        } else if (m.id !== undefined) {
          this.arrived.set(m.id, BigInt(m.t!));
          this.waiters.get(m.id)?.();
        }
      }),
    );
  }
  /** Lets the held 'warmup' response go. */
  release(): void {
    this.child.stdin!.write('go\n');
  }
  wait(id: string, timeoutMs = 20_000): Promise<bigint> {
    const got = this.arrived.get(id);
    if (got) return Promise.resolve(got);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no sign of life from ${id} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(id, () => {
        clearTimeout(t);
        this.waiters.delete(id);
        resolve(this.arrived.get(id)!);
      });
    });
  }
  close(): void {
    this.child.kill();
  }
}

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p)) ?? 'busybox';
const command = (probe: Probe, id: string) => `wget -q -O /dev/null ${probe.url}/up/${id}`;

/** Undo steps, run last-first whether the bench finishes or fails (nothing is left running or mounted). */
const undo: (() => unknown)[] = [];

async function main() {
  if (process.geteuid?.() !== 0) throw new Error('bench:containers needs root (runc)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-bench-containers-'));
  undo.push(() => {
    // The bare runs' cgroups' parents (runc removes each run's own).
    for (const h of fs.readdirSync('/sys/fs/cgroup')) {
      try {
        fs.rmdirSync(path.join('/sys/fs/cgroup', h, 'corral-bench'));
      } catch {
        // not there (v2 layout, or a hierarchy runc did not use)
      }
    }
    if (!mountsUnder(dir).length) fs.rmSync(dir, { recursive: true, force: true });
  });
  const workDir = path.join(dir, 'agent');
  const registry = await startTestRegistry();
  undo.push(() => registry.close());
  const image = registry.push('bench', '1');
  const probe = new Probe();
  undo.push(() => probe.close());
  await probe.start();
  const master = await FakeMaster.start({ autoAck: true });
  undo.push(() => master.close());
  // The agent runs as its own process, as in production: this process (fake master, probe) does not
  // compete with it for an event loop.
  const agent = await spawnAgentProcess({ master: master.url, work_dir: workDir, resources: 'cpus:8;mem:8192;disk:10000' });
  undo.push(async () => {
    agent.child.kill('SIGTERM');
    await agent.exited;
  });
  await agent.registered;
  const realWork = fs.realpathSync(workDir);

  const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST'];
  const task = (id: string, onHost = false): TaskInfo =>
    ({
      name: id,
      task_id: { value: id },
      agent_id: { value: master.agentId! },
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
        { name: 'mem', type: 'SCALAR', scalar: { value: 64 } },
      ],
      command: { value: onHost ? `${BUSYBOX} ${command(probe, id)}` : command(probe, id) },
      ...(onHost ? {} : { container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: image } } } } }),
    }) as TaskInfo;
  const ended = (id: string) => master.waitFor(() => master.statusesOf(id).find((s) => TERMINAL.includes(s.state)), `${id} to end`, 30_000);
  const allDeleted = () => waitUntil(() => runcList(realWork).length === 0 && mountsUnder(path.join(realWork, 'provisioner')).length === 0, 'containers to be deleted', 20_000, 5);

  // The first task pulls the image; its container's config.json becomes the baseline's.
  progress(`pulling ${image} and copying the agent's bundle config`);
  const bundle = path.join(dir, 'bare');
  fs.mkdirSync(bundle);
  const tPull = now();
  await master.runTask(task('warmup'));
  await probe.wait('warmup', 60_000);
  const pullMs = msSince(tPull);
  const containerId = (master.statusesOf('warmup').find((s) => s.container_status)!.container_status as { container_id: { value: string } }).container_id.value;
  const agentBundle = path.join(realWork, 'provisioner', 'containers', containerId);
  const spec = JSON.parse(fs.readFileSync(path.join(agentBundle, 'config.json'), 'utf8')) as {
    linux: { cgroupsPath: string };
    process: { args: string[] };
    mounts: { destination: string; type: string; options?: string[] }[];
  };
  probe.release();
  const warm = await ended('warmup');
  if (warm.state !== 'TASK_FINISHED') throw new Error(`the warm-up task ended ${warm.state}: ${warm.message}`);
  await allDeleted();
  emit({ bench: 'containers-pull', image, first_start_with_pull_ms: Math.round(pullMs) });

  // The agent's root filesystem is an overlay runc mounts (the config's first mount): the bare runs get
  // fresh upper/work directories each, as each agent container does.
  const overlay = spec.mounts[0]!;
  if (overlay.type !== 'overlay') throw new Error(`expected the agent's config to start with its overlay mount, got ${overlay.type}`);
  fs.mkdirSync(path.join(bundle, 'rootfs'));
  const runc = new Runc('runc', path.join(dir, 'runc-bare'));
  fs.mkdirSync(runc.root);
  undo.push(async () => {
    for (const c of await runc.list()) await runc.delete(c.id);
  });

  const bare = async (i: number, wrapped = false): Promise<number> => {
    const id = `${wrapped ? 'wrapped' : 'bare'}-${i}`;
    spec.linux.cgroupsPath = `/corral-bench/${id}`;
    spec.process.args = ['/bin/sh', '-c', command(probe, id)];
    for (const d of ['upper', 'work']) fs.mkdirSync(path.join(bundle, `${d}-${id}`));
    overlay.options = overlay.options!.map((o) => o.replace(/^(upperdir|workdir)=.*$/, (_, k: string) => `${k}=${path.join(bundle, `${k.replace('dir', '')}-${id}`)}`));
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const argv = runc.runArgv(id, bundle, path.join(bundle, 'pid'));
    // wrapped: under the agent's exit-status wrapper shell, as the agent starts it (no agent around).
    const [bin, ...args] = wrapped ? ['/bin/sh', '-c', WRAPPER_SCRIPT, WRAPPER_NAME, path.join(bundle, `exit-${i}`), ...argv] : argv;
    const t0 = now();
    const child = spawn(bin!, args, { stdio: 'ignore', detached: wrapped });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const at = await probe.wait(id);
    const code = await exited;
    if (code !== 0) throw new Error(`bare runc run ${id} exited ${code}`);
    await runc.delete(id);
    return msSince(t0, at);
  };
  const viaAgent = async (i: number, onHost = false): Promise<{ start: number; running: number }> => {
    const id = `${onHost ? 'host' : 'agent'}-${i}`;
    let runningAt: bigint | undefined;
    const t0 = now();
    await master.runTask(task(id, onHost));
    const at = await probe.wait(id);
    await master.waitFor(() => master.statusesOf(id).find((s: TaskStatus) => s.state === 'TASK_RUNNING') && (runningAt ??= now()), `${id} RUNNING`);
    const end = await ended(id);
    if (end.state !== 'TASK_FINISHED') throw new Error(`${id} ended ${end.state}: ${end.message}`);
    await allDeleted();
    return { start: msSince(t0, at), running: msSince(t0, runningAt!) };
  };

  progress(`${SAMPLES} samples each of bare runc, runc under the wrapper, the agent, and the host references, in rotating order`);
  /** The same command on the host: what the agent's launch path costs without a container. */
  const spawnHost = async (i: number): Promise<number> => {
    const id = `spawn-${i}`;
    const t0 = now();
    const child = spawn('/bin/sh', ['-c', `${BUSYBOX} ${command(probe, id)}`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const at = await probe.wait(id);
    if ((await exited) !== 0) throw new Error(`${id} failed`);
    return msSince(t0, at);
  };
  const hostLat: number[] = [];
  const hostAgentLat: number[] = [];
  const bareLat: number[] = [];
  const wrappedLat: number[] = [];
  const agentLat: number[] = [];
  const runningLat: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    // The order rotates, so that none of the three always runs first (after the previous deletions) or last.
    const runs = [
      async () => bareLat.push(await bare(i)),
      async () => wrappedLat.push(await bare(i, true)),
      async () => {
        const a = await viaAgent(i);
        agentLat.push(a.start);
        runningLat.push(a.running);
      },
      async () => hostLat.push(await spawnHost(i)),
      async () => hostAgentLat.push((await viaAgent(i, true)).start),
    ];
    for (let k = 0; k < runs.length; k++) await runs[(i + k) % runs.length]!();
    if ((i + 1) % 10 === 0) progress(`${i + 1}/${SAMPLES}`);
  }
  emit({ bench: 'containers-baseline', op: 'spawn `runc run` of the same bundle → first request from inside the container', samples: SAMPLES, p50_ms: pct(bareLat, 50), p99_ms: pct(bareLat, 99) });
  emit({ bench: 'containers-wrapped', op: 'the same, under the agent\'s exit-status wrapper shell (no agent)', samples: SAMPLES, p50_ms: pct(wrappedLat, 50), p99_ms: pct(wrappedLat, 99) });
  emit({
    bench: 'containers-agent',
    op: 'RUN_TASK to the agent (cached image) → first request from inside the container',
    samples: SAMPLES,
    p50_ms: pct(agentLat, 50),
    p99_ms: pct(agentLat, 99),
    task_running_p50_ms: pct(runningLat, 50),
    backend: overlay.type,
  });
  emit({
    bench: 'containers-host-reference',
    op: 'the same command on the host (no container): bare spawn vs RUN_TASK to the agent, i.e. the agent launch path without the containerizer',
    samples: SAMPLES,
    bare_spawn_p50_ms: pct(hostLat, 50),
    agent_p50_ms: pct(hostAgentLat, 50),
    agent_added_p50_ms: Math.round((pct(hostAgentLat, 50) - pct(hostLat, 50)) * 100) / 100,
    container_agent_added_p50_ms: Math.round((pct(agentLat, 50) - pct(bareLat, 50)) * 100) / 100,
  });
  const ratio = Math.round((pct(agentLat, 50) / pct(bareLat, 50)) * 100) / 100;
  emit({ bench: 'containers-ratio', load_1min: Math.round(os.loadavg()[0]! * 100) / 100, cpus: os.availableParallelism(), p50_ratio: ratio, p99_ratio: Math.round((pct(agentLat, 99) / pct(bareLat, 99)) * 100) / 100, goal_p50_ratio: GOAL_RATIO, ok: ratio <= GOAL_RATIO });
}

async function cleanUp(): Promise<void> {
  for (const fn of undo.splice(0).reverse()) {
    try {
      await fn();
    } catch (e) {
      progress(`clean-up step failed: ${(e as Error).message}`);
    }
  }
}

main()
  .finally(cleanUp)
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
