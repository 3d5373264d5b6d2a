// Deploy benchmark: a real `corral dev --agents 3` (master, 3 agents and the Marathon API as one
// child process; tasks are real processes). Deploys an app of N instances of a small HTTP server
// with a MESOS_HTTP health check, then runs two rolling upgrades of it, against the per-task
// baseline of starting the same server directly, measured in the same run. JSON lines on stdout,
// progress on stderr.
//
//   node --import tsx bench/deploy.ts [--instances 100] [--cpus 0.01] [--mem 16] [--baseline 20]
//                                     [--server python|node] [--allocation-interval-ms <ms>]
//                                     [--hc-interval 1] [--hc-timeout 1]   (health check, seconds)
//   BENCH_DEV_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   node flags for `corral dev` (profiling)
//   BENCH_VERBOSE=1                                               copy corral dev's stderr to stderr
//
// Measured:
//   deploy-baseline            spawn → first HTTP 200 of the server, N sequential runs, and the
//                              same for `instances` servers started at once (the floor for a deploy
//                              on this machine).
//   deploy-start               POST /v2/apps → all instances healthy (API view), goal ≤ 10 s.
//   deploy-start-profile       where that time went: launch waves (instances per offer round and
//                              agent), provisioned → TASK_STARTING → TASK_RUNNING → healthy
//                              (times from the SSE stream as this process received it).
//   deploy-rolling-upgrade     PUT (env change) → deployment_success, once with the default
//                              upgradeStrategy (1, 1) and once with (0.5, 0.2). Healthy instances
//                              (TASK_RUNNING with every healthCheckResult alive, old and new
//                              versions together) are sampled from GET /v2/apps/{id}/tasks every
//                              100 ms and after every SSE status/health event; the minimum seen must
//                              stay ≥ ceil(instances × minimumHealthCapacity), else exit 1. A second,
//                              stricter count is kept from the event stream alone (alive and
//                              condition Running and goal Running: an instance the orchestrator has
//                              decided to kill no longer counts), and a third that ignores health
//                              flaps (min_kept_by_orchestrator: passed its checks once, Running, not
//                              chosen to be killed), which tells an orchestrator that killed too
//                              early from instances that failed checks on their own; `drops` says
//                              why each instance left the healthy set.
//   deploy-rolling-upgrade-profile   as deploy-start-profile, for the new instances.
//
// Health check: intervalSeconds 1, timeoutSeconds 1, gracePeriodSeconds 10 and delaySeconds 0
// (Marathon's default delaySeconds is 15: with it no instance could be healthy before 15 s).
// The checks run in the agents, which `corral dev` runs in one event loop with the master and the
// orchestrator: a stall of that loop longer than timeoutSeconds (launching a batch of tasks with
// synchronous spawns, synchronous SQLite commits) fails checks of servers that answered at once.
// The (1, 1) upgrade then shows old instances in drops_below_required as "did not respond in
// time" while min_kept_by_orchestrator stays at the minimum; --hc-timeout 2 makes that go away.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MarathonClient, type MarathonEventFrame } from '../src/orchestrator/api/client.ts';
import { instanceIdOfTask } from '../src/orchestrator/task-ids.ts';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '100' },
    cpus: { type: 'string', default: '0.01' },
    mem: { type: 'string', default: '16' },
    baseline: { type: 'string', default: '20' },
    server: { type: 'string', default: 'python' },
    'allocation-interval-ms': { type: 'string' },
    'hc-interval': { type: 'string', default: '1' },
    'hc-timeout': { type: 'string', default: '1' },
  },
});
const INSTANCES = Number(values.instances);
const CPUS = Number(values.cpus);
const MEM = Number(values.mem);
const BASELINE_RUNS = Number(values.baseline);
const GOAL_S = 10;
const APP_ID = '/bench-deploy';
const SAMPLE_MS = 100;
const HEALTH_CHECK = {
  protocol: 'MESOS_HTTP',
  path: '/',
  portIndex: 0,
  intervalSeconds: Number(values['hc-interval']),
  timeoutSeconds: Number(values['hc-timeout']),
  gracePeriodSeconds: 10,
  delaySeconds: 0,
  maxConsecutiveFailures: 3,
};

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CORRAL_BIN = join(REPO_ROOT, 'bin', 'corral.js');

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const progress = (msg: string) => process.stderr.write(`[bench:deploy] ${msg}\n`);
const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? r2(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!) : NaN;
};

// ---------------------------------------------------------------------------------------------
// The server every task (and the baseline) runs. python3's http.server starts faster than node
// here (≈40 ms vs ≈60 ms to the first 200) and uses half the memory; the interpreter is resolved
// to the real binary (a pyenv shim is a bash script and would add ~50 ms to every start).

function serverCommand(kind: string): { kind: string; cmd: string } {
  if (kind === 'python') {
    const r = spawnSync('python3', ['-c', 'import sys, http.server; print(sys.executable)'], { encoding: 'utf8' });
    const exe = r.status === 0 ? r.stdout.trim() : '';
    if (exe) return { kind, cmd: `exec ${exe} -m http.server "$PORT0" --bind 127.0.0.1` };
    progress('python3 not available; using node for the server');
    kind = 'node';
  }
  if (kind !== 'node') throw new Error(`--server must be python or node, not ${kind}`);
  return { kind, cmd: `exec ${process.execPath} -e "require('http').createServer((q,s)=>s.end('ok')).listen(+process.env.PORT0,'127.0.0.1')"` };
}

// ---------------------------------------------------------------------------------------------
// Processes this bench starts, so that cleanup can always end them.

const children = new Set<ChildProcess>();

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

function exited(c: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    c.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function killAndWait(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill('SIGKILL');
  await exited(c, 5000);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function httpOk(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Spawns the server on a free port and resolves with ms from spawn to its first HTTP 200. */
async function startServer(cmd: string, pollMs: number, timeoutMs = 15_000): Promise<{ ms: number; child: ChildProcess }> {
  const port = await freePort();
  const t0 = now();
  const child = track(spawn('/bin/sh', ['-c', cmd], { env: { ...process.env, PORT0: String(port) }, stdio: 'ignore' }));
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  for (;;) {
    if (await httpOk(port)) return { ms: now() - t0, child };
    if (spawnError) throw spawnError;
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before answering: ${cmd}`);
    if (now() - t0 > timeoutMs) {
      await killAndWait(child);
      throw new Error(`server did not answer within ${timeoutMs} ms: ${cmd}`);
    }
    await sleep(pollMs);
  }
}

async function baseline(cmd: string) {
  const seq: number[] = [];
  for (let i = 0; i < BASELINE_RUNS; i++) {
    const { ms, child } = await startServer(cmd, 5);
    seq.push(ms);
    await killAndWait(child);
  }
  // All instances at once: what starting N servers costs this machine (the floor for a deploy).
  const t0 = now();
  const started = await Promise.allSettled(Array.from({ length: INSTANCES }, () => startServer(cmd, 20)));
  const all = now() - t0;
  const par: number[] = [];
  for (const s of started) if (s.status === 'fulfilled') par.push(s.value.ms);
  await Promise.all(started.map((s) => (s.status === 'fulfilled' ? killAndWait(s.value.child) : undefined)));
  const failed = started.filter((s) => s.status === 'rejected');
  if (failed.length) throw new Error(`parallel baseline: ${failed.length} servers failed: ${(failed[0] as PromiseRejectedResult).reason}`);
  return { seq, par, allMs: all };
}

// ---------------------------------------------------------------------------------------------
// `corral dev`

class Dev {
  readonly proc: ChildProcess;
  stdout = '';
  stderrTail = '';
  private readonly exitP: Promise<void>;

  constructor(args: string[]) {
    this.proc = track(
      spawn(process.execPath, [...(process.env.BENCH_DEV_NODE_ARGS?.split(' ').filter(Boolean) ?? []), CORRAL_BIN, ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, NO_COLOR: '1', CORRAL_LOG_LEVEL: process.env.CORRAL_LOG_LEVEL ?? 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-8000);
      if (process.env.BENCH_VERBOSE) process.stderr.write(d);
    });
    this.exitP = new Promise((r) => this.proc.on('close', () => r()));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async ready(timeoutMs: number): Promise<{ master: string; orchestrator: string; agents: string[] }> {
    const deadline = now() + timeoutMs;
    for (;;) {
      for (const line of this.stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const o = JSON.parse(line);
          if (o.event === 'ready') {
            if (!o.orchestrator) throw new Error('corral dev is ready without an orchestrator');
            return o;
          }
        } catch (e) {
          if (e instanceof SyntaxError) continue;
          throw e;
        }
      }
      if (!this.running) throw new Error(`corral dev exited (${this.proc.exitCode ?? this.proc.signalCode}) before ready\n${this.stderrTail}`);
      if (now() > deadline) throw new Error(`corral dev not ready within ${timeoutMs} ms\n${this.stderrTail}`);
      await sleep(50);
    }
  }

  /** SIGINT (the dev command kills its tasks), then SIGKILL if it does not exit in time. */
  async stop(timeoutMs = 60_000): Promise<void> {
    if (this.running) {
      this.proc.kill('SIGINT');
      const ok = await Promise.race([this.exitP.then(() => true), sleep(timeoutMs).then(() => false)]);
      if (!ok) {
        progress(`corral dev did not exit within ${timeoutMs} ms of SIGINT: SIGKILL`);
        this.proc.kill('SIGKILL');
        await Promise.race([this.exitP, sleep(5000)]);
      }
    }
  }
}

/** Pids whose working directory lies under `dir` (task processes left behind by a killed agent). */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/cwd`).startsWith(dir)) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the bench knows about the app's instances: from the event stream, and from API samples.

interface InstanceSeen {
  version: string;
  agentId?: string;
  condition?: string;
  goal?: string;
  alive?: boolean;
  provisionedAt?: number;
  /** status_update_event TASK_STARTING (the agent got the task and is about to spawn it). */
  startingAt?: number;
  runningAt?: number;
  healthyAt?: number;
  /** Message of the latest status update (the agent's health check result, for one). */
  lastMessage?: string;
}

interface Sample {
  at: number;
  total: number;
  healthy: number;
  byVersion: Record<string, { total: number; healthy: number }>;
}

const counted = (i: InstanceSeen) => i.alive === true && i.condition === 'Running' && i.goal === 'Running';

const TERMINAL = new Set(['Killed', 'Failed', 'Finished', 'Gone', 'Dropped', 'Error', 'Unknown']);

class Watch {
  readonly instances = new Map<string, InstanceSeen>();
  readonly deploymentsDone = new Map<string, { at: number; ok: boolean; reason?: string }>();
  readonly failures: string[] = [];
  latest?: Sample;
  samples = 0;
  /** Response times of the samples (a loaded orchestrator answers late), per phase. */
  sampleMs: number[] = [];
  /** Per-phase minima and maxima; reset by startPhase(). */
  minApi = Infinity;
  minEvents = Infinity;
  /** Minimum of instances that passed their checks and were not chosen to be killed (health flaps ignored). */
  minKept = Infinity;
  maxTotal = 0;
  /** Set when waiting is pointless (corral dev exited): every wait rejects with it. */
  private fatal?: Error;
  private sampleErrors = 0;
  private inFlight = false;
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly client: MarathonClient) {}

  /** Instances that stopped counting as healthy (event stream), with why; per phase. */
  drops: { at: number; instanceId: string; version: string; reason: string; countAfter: number }[] = [];
  /** Messages of terminal status updates, per phase. */
  messages = new Map<string, number>();

  startPhase(): void {
    this.drops = [];
    this.messages = new Map();
    this.minApi = Infinity;
    this.minEvents = Infinity;
    this.minKept = Infinity;
    this.maxTotal = 0;
    this.samples = 0;
    this.sampleMs = [];
  }

  /** Healthy by the event stream alone: alive, Running, and not chosen to be killed. */
  healthyByEvents(): number {
    let n = 0;
    for (const i of this.instances.values()) if (counted(i)) n++;
    return n;
  }

  onEvent(f: MarathonEventFrame): void {
    const d = f.data ?? {};
    const at = now();
    // Which instance this event is about, and whether it counted as healthy before it.
    const subject: string | undefined =
      typeof d.instanceId === 'string' ? d.instanceId : typeof d.taskId === 'string' ? instanceIdOfTask(d.taskId) : undefined;
    const before = subject ? this.instances.get(subject) : undefined;
    const wasCounted = before ? counted(before) : false;
    const beforeCopy = before ? { ...before } : undefined;
    switch (f.event) {
      case 'instance_changed_event': {
        if (d.runSpecId !== APP_ID) return;
        if (TERMINAL.has(d.condition)) {
          this.instances.delete(d.instanceId);
          break;
        }
        const i: InstanceSeen = this.instances.get(d.instanceId) ?? { version: d.runSpecVersion };
        i.condition = d.condition;
        i.goal = d.goal ?? i.goal ?? 'Running';
        i.agentId = d.agentId;
        i.provisionedAt ??= at;
        if (d.condition === 'Running') i.runningAt ??= at;
        this.instances.set(d.instanceId, i);
        break;
      }
      case 'health_status_changed_event':
      case 'instance_health_changed_event': {
        if ((d.appId ?? d.runSpecId) !== APP_ID) return;
        const i = this.instances.get(d.instanceId);
        if (!i) return;
        i.alive = f.event === 'health_status_changed_event' ? d.alive === true : d.healthy === true;
        if (i.alive) i.healthyAt ??= at;
        break;
      }
      case 'status_update_event': {
        if (d.appId !== APP_ID) return;
        const id = instanceIdOfTask(String(d.taskId));
        const i = id ? this.instances.get(id) : undefined;
        if (i && d.taskStatus === 'TASK_STARTING') i.startingAt ??= at;
        if (i && d.taskStatus === 'TASK_RUNNING') i.runningAt ??= at;
        if (i) i.lastMessage = String(d.message ?? '');
        break;
      }
      case 'deployment_success':
        this.deploymentsDone.set(d.id, { at, ok: true });
        break;
      case 'deployment_failed':
        this.deploymentsDone.set(d.id, { at, ok: false, reason: d.reason });
        break;
      case 'unhealthy_instance_kill_event':
        if (d.appId === APP_ID) this.failures.push(`unhealthy_instance_kill_event ${d.instanceId ?? d.taskId}: ${d.reason ?? ''}`);
        return;
      default:
        return;
    }
    if (this.timer) {
      const n = this.healthyByEvents();
      this.minEvents = Math.min(this.minEvents, n);
      let kept = 0;
      for (const i of this.instances.values()) if (i.healthyAt !== undefined && i.condition === 'Running' && i.goal === 'Running') kept++;
      this.minKept = Math.min(this.minKept, kept);
      const after = subject ? this.instances.get(subject) : undefined;
      if (subject && beforeCopy && wasCounted && !(after && counted(after))) {
        let reason: string;
        if (!after) reason = `terminated (${d.condition ?? d.taskStatus ?? f.event})`;
        else if (after.goal !== 'Running') reason = `kill decided (goal ${after.goal})`;
        else if (after.alive !== true) reason = `health check failing: ${(after.lastMessage ?? '').replace(/\d+/g, 'N').slice(0, 120)}`;
        else reason = `condition ${after.condition}`;
        this.drops.push({ at, instanceId: subject, version: beforeCopy.version, reason, countAfter: n });
      }
      if (f.event === 'status_update_event' && /FAILED|KILLED|LOST|ERROR|GONE|DROPPED/.test(String(d.taskStatus)) && d.message)
        this.messages.set(String(d.message), (this.messages.get(String(d.message)) ?? 0) + 1);
    }
    this.sampleSoon();
    this.notify();
  }

  /** Starts sampling every SAMPLE_MS (and after every event). */
  startSampling(): void {
    this.timer ??= setInterval(() => this.sampleSoon(), SAMPLE_MS);
  }

  stopSampling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One GET at a time; events that arrive meanwhile ask for one more right after. */
  private sampleSoon(): void {
    if (!this.timer) return;
    if (this.inFlight) {
      this.dirty = true;
      return;
    }
    this.inFlight = true;
    this.dirty = false;
    void this.sample()
      .catch((e) => {
        if (this.timer && this.sampleErrors++ % 50 === 0) progress(`sample failed (${this.sampleErrors}): ${(e as Error).message}`);
      })
      .finally(() => {
        this.inFlight = false;
        if (this.dirty) this.sampleSoon();
      });
  }

  private async sample(): Promise<void> {
    const at = now();
    const { tasks } = await this.client.get<{ tasks: any[] }>(`/v2/apps${APP_ID}/tasks`);
    const s: Sample = { at, total: 0, healthy: 0, byVersion: {} };
    for (const t of tasks) {
      if (['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE'].includes(t.state)) continue;
      const v = (s.byVersion[t.version] ??= { total: 0, healthy: 0 });
      s.total++;
      v.total++;
      const hr: { alive: boolean }[] = t.healthCheckResults ?? [];
      if (t.state === 'TASK_RUNNING' && hr.length > 0 && hr.every((h) => h.alive)) {
        s.healthy++;
        v.healthy++;
      }
    }
    if (!this.timer) return;
    this.latest = s;
    this.samples++;
    this.sampleMs.push(now() - at);
    this.minApi = Math.min(this.minApi, s.healthy);
    this.maxTotal = Math.max(this.maxTotal, s.total);
    this.notify();
  }

  fail(e: Error): void {
    this.fatal ??= e;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the first value `pick` returns (checked after every event and sample). */
  until<T>(pick: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        let v: T | undefined;
        try {
          if (this.fatal) throw this.fatal;
          v = pick();
        } catch (e) {
          done();
          return reject(e);
        }
        if (v !== undefined) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (last sample: ${JSON.stringify(this.latest ?? null)})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  deploymentDone(id: string, timeoutMs: number): Promise<{ at: number; ok: boolean; reason?: string }> {
    return this.until(
      () => {
        const d = this.deploymentsDone.get(id);
        if (d && !d.ok) throw new Error(`deployment ${id} failed: ${d.reason ?? 'no reason given'}`);
        return d;
      },
      timeoutMs,
      `deployment ${id}`,
    );
  }
}

/** Counts drops by "old|new version: reason" (only those leaving fewer than `below` healthy). */
function summariseDrops(drops: Watch['drops'], oldVersions: Set<string>, below: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of drops) {
    if (d.countAfter >= below) continue;
    const k = `${oldVersions.has(d.version) ? 'old' : 'new'}: ${d.reason}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Where the time of a launch went, from the instances first seen after `t0`. */
function profile(t0: number, seen: Map<string, InstanceSeen>) {
  const insts = [...seen.values()].filter((i) => i.provisionedAt !== undefined && i.provisionedAt >= t0);
  // Launch waves: instances provisioned (matched to an offer) less than 50 ms apart form one wave.
  const byTime = insts.map((i) => ({ at: i.provisionedAt!, agent: i.agentId ?? '?' })).sort((a, b) => a.at - b.at);
  const waves: { at_s: number; instances: number; agents: number; per_agent: number[] }[] = [];
  let cur: { at: number; last: number; byAgent: Map<string, number> } | undefined;
  const flush = () => {
    if (!cur) return;
    const per = [...cur.byAgent.values()];
    waves.push({ at_s: r3((cur.at - t0) / 1000), instances: per.reduce((a, b) => a + b, 0), agents: per.length, per_agent: per });
  };
  for (const x of byTime) {
    if (!cur || x.at - cur.last > 50) {
      flush();
      cur = { at: x.at, last: x.at, byAgent: new Map() };
    }
    cur.last = x.at;
    cur.byAgent.set(x.agent, (cur.byAgent.get(x.agent) ?? 0) + 1);
  }
  flush();
  const toRun = insts.filter((i) => i.runningAt !== undefined).map((i) => i.runningAt! - i.provisionedAt!);
  const toStarting = insts.filter((i) => i.startingAt !== undefined).map((i) => i.startingAt! - i.provisionedAt!);
  const startingToRun = insts.filter((i) => i.startingAt !== undefined && i.runningAt !== undefined).map((i) => i.runningAt! - i.startingAt!);
  const toHealthy = insts.filter((i) => i.runningAt !== undefined && i.healthyAt !== undefined).map((i) => i.healthyAt! - i.runningAt!);
  const s = (xs: (number | undefined)[]) => {
    const v = xs.filter((x): x is number => x !== undefined).map((x) => (x - t0) / 1000);
    return v.length ? { first: r3(Math.min(...v)), p50: r3(pct(v, 50)), last: r3(Math.max(...v)) } : null;
  };
  return {
    launch_waves: waves,
    provisioned_s: s(insts.map((i) => i.provisionedAt)),
    starting_s: s(insts.map((i) => i.startingAt)),
    running_s: s(insts.map((i) => i.runningAt)),
    healthy_s: s(insts.map((i) => i.healthyAt)),
    provisioned_to_running_ms: { p50: pct(toRun, 50), p99: pct(toRun, 99), max: r2(Math.max(...toRun, 0)) },
    provisioned_to_starting_ms: { p50: pct(toStarting, 50), p99: pct(toStarting, 99), max: r2(Math.max(...toStarting, 0)) },
    starting_to_running_ms: { p50: pct(startingToRun, 50), p99: pct(startingToRun, 99), max: r2(Math.max(...startingToRun, 0)) },
    running_to_healthy_ms: { p50: pct(toHealthy, 50), p99: pct(toHealthy, 99), max: r2(Math.max(...toHealthy, 0)) },
  };
}

// ---------------------------------------------------------------------------------------------

let cleanupStarted: Promise<void> | undefined;

async function main(): Promise<number> {
  if (!Number.isInteger(INSTANCES) || INSTANCES < 1) throw new Error('--instances must be a positive integer');
  // `corral dev --agents 3`: each agent offers a third of this machine's cpus and memory.
  const perAgent = Math.min(Math.floor(cpus().length / 3 / CPUS + 1e-9), Math.floor(totalmem() / 2 ** 20 / 3 / MEM + 1e-9));
  const capacity = 3 * perAgent;
  if (capacity < INSTANCES) throw new Error(`${INSTANCES} × (cpus ${CPUS}, mem ${MEM}) do not fit on 3 agents of this machine (about ${capacity} do): lower --cpus`);
  progress(`capacity ≈ ${capacity} instances (${perAgent} per agent); a rolling upgrade may run up to ${Math.min(capacity, 2 * INSTANCES)} at once`);
  const server = serverCommand(values.server!);
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-deploy-'));
  let dev: Dev | undefined;
  let client: MarathonClient | undefined;
  let stream: { close(): void; closed: Promise<void> } | undefined;
  let watch: Watch | undefined;

  const cleanup = () =>
    (cleanupStarted ??= (async () => {
      watch?.stopSampling();
      stream?.close();
      client?.close();
      for (const c of [...children]) if (c !== dev?.proc) await killAndWait(c);
      if (dev) {
        progress('stopping corral dev (SIGINT)');
        await dev.stop();
      }
      const left = existsSync(dir) ? processesUnder(dir) : [];
      if (left.length) {
        progress(`killing ${left.length} task process(es) left under ${dir}: ${left.join(' ')}`);
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    progress(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let violated = false;
  try {
    // Baseline first, on an idle machine (as the app's tasks will find it).
    progress(`baseline (${server.kind}): ${BASELINE_RUNS} sequential starts, then ${INSTANCES} at once`);
    const base = await baseline(server.cmd);
    emit({
      bench: 'deploy-baseline',
      server: server.kind,
      cmd: server.cmd,
      op: 'spawn → first HTTP 200 on its port',
      sequential: { runs: BASELINE_RUNS, p50_ms: pct(base.seq, 50), p99_ms: pct(base.seq, 99), poll_ms: 5 },
      parallel: { servers: INSTANCES, all_ok_ms: Math.round(base.allMs), p50_ms: pct(base.par, 50), p99_ms: pct(base.par, 99), poll_ms: 20 },
    });

    const args = ['dev', '--agents', '3', '--port', '0', '--orchestrator-port', '0', '--json', '--data-dir', dir];
    if (values['allocation-interval-ms']) args.push('--allocation-interval-ms', values['allocation-interval-ms']);
    progress(`starting corral ${args.join(' ')}`);
    dev = new Dev(args);
    const ready = await dev.ready(60_000);
    progress(`ready: master ${ready.master}, orchestrator ${ready.orchestrator}`);
    client = new MarathonClient(ready.orchestrator, 15_000);
    const w = (watch = new Watch(client));
    dev.proc.once('exit', (code, signal) => {
      const e = new Error(`corral dev exited (${code ?? signal}) during the run`);
      e.stack = e.message; // where it was noticed says nothing
      w.fail(e);
    });
    stream = await client.events((f) => w.onEvent(f));

    // ---- Deploy N instances.
    const app = {
      id: APP_ID,
      cmd: server.cmd,
      instances: INSTANCES,
      cpus: CPUS,
      mem: MEM,
      disk: 0,
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http' }],
      env: { BENCH_GENERATION: '1' },
      healthChecks: [HEALTH_CHECK],
    };
    progress(`POST ${APP_ID}: ${INSTANCES} × (cpus ${CPUS}, mem ${MEM}), MESOS_HTTP every ${HEALTH_CHECK.intervalSeconds} s (timeout ${HEALTH_CHECK.timeoutSeconds} s), delaySeconds 0`);
    w.startPhase();
    w.startSampling();
    const t0 = now();
    const created = await client.request('POST', '/v2/apps', { body: app });
    const startDeployment: string | undefined = created.body?.deployments?.[0]?.id;
    const allHealthy = await w.until(() => (w.latest && w.latest.at >= t0 && w.latest.healthy >= INSTANCES ? w.latest : undefined), 120_000, `${INSTANCES} healthy`);
    const tHealthy = allHealthy.at; // the sample's request time: the state was seen no later than this
    let deploymentS: number | undefined;
    if (startDeployment) deploymentS = r3(((await w.deploymentDone(startDeployment, 60_000)).at - t0) / 1000);
    const eventsHealthyAt = [...w.instances.values()].map((i) => i.healthyAt ?? Infinity).sort((a, b) => a - b)[INSTANCES - 1];
    const startSeconds = r3((tHealthy - t0) / 1000);
    emit({
      bench: 'deploy-start',
      instances: INSTANCES,
      seconds_to_all_healthy: startSeconds,
      seconds_to_all_healthy_events: eventsHealthyAt !== undefined && Number.isFinite(eventsHealthyAt) ? r3((eventsHealthyAt - t0) / 1000) : null,
      seconds_to_deployment_success: deploymentS ?? null,
      goal_s: GOAL_S,
      goal_met: startSeconds <= GOAL_S,
      sample_latency_ms: { p50: pct(w.sampleMs, 50), max: r2(Math.max(...w.sampleMs, 0)) },
      resources: { cpus: CPUS, mem: MEM, capacity_instances: capacity },
      health_check: { ...HEALTH_CHECK, note: "Marathon's default delaySeconds is 15; set to 0 here" },
      baseline_parallel_all_ok_ms: Math.round(base.allMs),
    });
    emit({ bench: 'deploy-start-profile', ...profile(t0, w.instances) });
    if (startSeconds > GOAL_S) progress(`goal missed: ${startSeconds} s > ${GOAL_S} s`);

    // ---- Rolling upgrades.
    const upgrades: { env: string; strategy?: { minimumHealthCapacity: number; maximumOverCapacity: number } }[] = [
      { env: '2' },
      { env: '3', strategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.2 } },
    ];
    for (const u of upgrades) {
      const strategy = u.strategy ?? { minimumHealthCapacity: 1, maximumOverCapacity: 1 };
      const required = Math.ceil(INSTANCES * strategy.minimumHealthCapacity);
      const maxCapacity = Math.floor(INSTANCES * (1 + strategy.maximumOverCapacity));
      progress(`rolling upgrade: env BENCH_GENERATION=${u.env}, upgradeStrategy ${JSON.stringify(strategy)}${u.strategy ? '' : ' (default)'}`);
      const seen = new Map(w.instances);
      const versionBefore = new Set([...w.instances.values()].map((i) => i.version));
      w.startPhase();
      const tu = now();
      const body: Record<string, unknown> = { env: { BENCH_GENERATION: u.env } };
      if (u.strategy) body.upgradeStrategy = u.strategy;
      const put = await client.request('PUT', `/v2/apps${APP_ID}`, { body });
      const id: string | undefined = put.body?.deploymentId;
      if (!id) throw new Error(`PUT ${APP_ID} returned no deploymentId: ${put.text}`);
      const done = await w.deploymentDone(id, 180_000);
      // One last look after the deployment finished.
      const after = await w.until(() => (w.latest && w.latest.at > done.at ? w.latest : undefined), 10_000, 'a sample after the deployment');
      const minApi = w.minApi;
      const minEvents = w.minEvents;
      const ok = minApi >= required && minEvents >= required;
      if (!ok) violated = true;
      const newVersion = Object.entries(after.byVersion).sort((a, b) => b[1].total - a[1].total)[0];
      emit({
        bench: 'deploy-rolling-upgrade',
        strategy,
        default_strategy: !u.strategy,
        instances: INSTANCES,
        seconds: r3((done.at - tu) / 1000),
        min_healthy_seen: minApi,
        min_healthy_seen_events: minEvents,
        min_healthy_required: required,
        min_kept_by_orchestrator: w.minKept,
        max_instances_seen: w.maxTotal,
        max_capacity: maxCapacity,
        samples: w.samples,
        sample_latency_ms: { p50: pct(w.sampleMs, 50), max: r2(Math.max(...w.sampleMs, 0)) },
        drops: summariseDrops(w.drops, versionBefore, Infinity),
        drops_below_required: summariseDrops(w.drops, versionBefore, required),
        terminal_messages: Object.fromEntries(w.messages),
        after: { total: after.total, healthy: after.healthy, versions: Object.keys(after.byVersion).length, new_version_healthy: newVersion?.[1].healthy ?? 0 },
        ok,
      });
      emit({ bench: 'deploy-rolling-upgrade-profile', strategy, ...profile(tu, new Map([...w.instances].filter(([k]) => !seen.has(k)))) });
      if (!ok) {
        const cause =
          w.minKept >= required
            ? `the orchestrator never went below it (min_kept_by_orchestrator ${w.minKept}): instances failed health checks (see drops_below_required)`
            : `the orchestrator itself killed or lost instances below it (min_kept_by_orchestrator ${w.minKept})`;
        progress(`VIOLATION: healthy instances fell to ${Math.min(minApi, minEvents)} < ${required} (API min ${minApi}, event-stream min ${minEvents}); ${cause}`);
      }
      if (w.maxTotal > maxCapacity) progress(`note: ${w.maxTotal} instances seen at once > maxCapacity ${maxCapacity}`);
    }
    if (w.failures.length) progress(`health-check kills during the run: ${w.failures.length}\n  ${w.failures.slice(0, 10).join('\n  ')}`);
    w.stopSampling();
  } catch (e) {
    if (cleanupStarted) {
      await cleanupStarted; // interrupted: the signal handler cleans up and exits
      return 130;
    }
    progress(`failed: ${(e as Error).stack ?? e}`);
    if (dev) progress(`corral dev stderr (tail):\n${dev.stderrTail || '(empty)'}`);
    await cleanup();
    return 1;
  }
  await cleanup();
  return violated ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanupStarted;
    process.exit(code);
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
