// Helpers for end-to-end kernel tests (test/integration/kernel-*.test.ts): a real master in this process
// on an embedded store, agents as separate OS processes (the `corral agent` CLI, or test/support/run-agent.ts
// when a test needs a flag the CLI does not expose), and a framework built on SchedulerClient that records
// every update per task and acknowledges them. Nothing here sleeps to synchronise: waits re-check their
// condition on every event (or poll a condition nothing announces) and fail with context at a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SchedulerClient } from '../../src/client/scheduler-client.ts';
import type { MasterHandle, MasterOptions } from '../../src/master/index.ts';
import { startMaster } from '../../src/master/index.ts';
import { isTerminalState, type FrameworkInfo, type Offer, type Resource, type TaskInfo, type TaskStatus } from '../../src/protocol/mesos.ts';
import { createLogger, silentLogger, type Logger } from '../../src/runtime/log.ts';
import { openEmbeddedStore, type Store } from '../../src/store/index.ts';
import { CORRAL_BIN, REPO_ROOT, eventually, jsonLines, processAlive } from './cluster.ts';
import { waitForOutput } from './wait-output.ts';

export { eventually, processAlive };

const RUN_AGENT = path.join(REPO_ROOT, 'test', 'support', 'run-agent.ts');

export function testLog(name: string): Logger {
  return process.env.CORRAL_TEST_LOG ? createLogger(name, process.env.CORRAL_TEST_LOG as 'debug') : silentLogger;
}

// ------------------------------------------------------------------ cleanup

/** LIFO cleanup stack: every resource a test creates registers its undo here; run() never throws. */
export class Cleanup {
  private fns: { what: string; fn: () => unknown }[] = [];
  add(what: string, fn: () => unknown): void {
    this.fns.push({ what, fn });
  }
  async run(): Promise<void> {
    for (const { what, fn } of this.fns.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`cleanup '${what}' failed: ${(e as Error).message}\n`);
      }
    }
  }
}

export function tempDir(cleanup: Cleanup, prefix = 'corral-kernel-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.add(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** SIGKILLs a process group (tasks run as their own group leaders), ignoring groups that are gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // gone
  }
}

// ------------------------------------------------------------------ master

export interface MasterEnv {
  master: MasterHandle;
  store: Store;
  url: string;
  port: number;
  storeDir: string;
  /** Closes the master and its store (as a master process exiting would). */
  stop(): Promise<void>;
}

/** A real master on an embedded (SQLite) store in `storeDir`; port 0 picks a free one. */
export async function startKernelMaster(
  cleanup: Cleanup,
  storeDir: string,
  opts: Partial<Omit<MasterOptions, 'store'>> = {},
): Promise<MasterEnv> {
  const store = await openEmbeddedStore(storeDir);
  let master: MasterHandle;
  try {
    master = await startMaster({ port: 0, allocationIntervalMs: 100, log: testLog('master'), ...opts, store });
  } catch (e) {
    await store.close();
    throw e;
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await master.close().catch(() => undefined);
      await store.close().catch(() => undefined);
    })());
  cleanup.add('stop master', stop);
  return { master, store, url: master.url, port: master.port, storeDir, stop };
}

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${text}`);
  return JSON.parse(text);
}

// ------------------------------------------------------------------ agent process

export interface AgentProcOptions {
  master: string;
  workDir: string;
  port?: number;
  resources?: string;
  /**
   * 'cli' (default): `node bin/corral.js agent … --json`. 'run-agent': test/support/run-agent.ts, which
   * also takes the flags below that the CLI does not expose.
   */
  via?: 'cli' | 'run-agent';
  statusUpdateRetryMs?: number;
  /** Extra arguments, appended as given. */
  args?: string[];
  env?: Record<string, string>;
}

/**
 * An agent in its own OS process and its own process group (so a crash is a real SIGKILL of the whole
 * group). Task processes are their own group leaders and are not in it.
 */
export class AgentProc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly events = new EventEmitter();
  readonly exited: Promise<void>;

  constructor(readonly opts: AgentProcOptions) {
    const port = String(opts.port ?? 0);
    const resources = opts.resources ?? 'cpus:4;mem:4096;disk:4096';
    const argv =
      (opts.via ?? 'cli') === 'cli'
        ? [CORRAL_BIN, 'agent', '--master', opts.master, '--port', port, '--work-dir', opts.workDir, '--resources', resources, '--json', ...(opts.args ?? [])]
        : [
            '--import',
            'tsx',
            RUN_AGENT,
            '--master',
            opts.master,
            '--port',
            port,
            '--work_dir',
            opts.workDir,
            '--resources',
            resources,
            ...(opts.statusUpdateRetryMs !== undefined ? ['--status_update_retry_ms', String(opts.statusUpdateRetryMs)] : []),
            ...(opts.args ?? []),
          ];
    if ((opts.via ?? 'cli') === 'cli' && opts.statusUpdateRetryMs !== undefined)
      throw new Error("`corral agent` has no status-update retry flag; use via: 'run-agent'");
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CORRAL_LOG_LEVEL: process.env.CORRAL_TEST_LOG ?? 'warn', ...opts.env };
    delete env.NODE_TEST_CONTEXT;
    this.child = spawn(process.execPath, argv, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.events.emit('change');
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.events.emit('change');
    });
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal };
        this.events.emit('change');
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }
  get running(): boolean {
    return this.exit === undefined;
  }

  describe(): string {
    return `agent process ${this.pid} (${this.exit ? `exit ${this.exit.code ?? this.exit.signal}` : 'running'})\n--- stdout\n${this.stdout.slice(-4000)}\n--- stderr\n${this.stderr.slice(-8000)}`;
  }

  /** The first JSON line on stdout matching `match`; rejects if the process exits first or at the deadline. */
  waitForJson(match: (o: any) => boolean, timeoutMs: number, what: string): Promise<any> {
    return waitForOutput(this, () => jsonLines(this.stdout).find(match), timeoutMs, what, 'agent');
  }

  watch(onChange: () => void): () => void {
    this.events.on('change', onChange);
    return () => void this.events.off('change', onChange);
  }

  /** Resolves once listening: the agent's URL and port. */
  async listening(timeoutMs = 20_000): Promise<{ url: string; port: number }> {
    const ev = await this.waitForJson((o) => o.event === 'ready' || o.event === 'listening', timeoutMs, 'the agent to listen');
    const url: string = ev.agent ?? ev.url;
    return { url: url.replace(/\/+$/, ''), port: Number(new URL(url).port) };
  }

  /** Resolves with the agent id once the process reported its (re-)registration. */
  async registered(timeoutMs = 20_000): Promise<string> {
    return (await this.waitForJson((o) => o.event === 'registered', timeoutMs, 'the agent to register')).agent_id;
  }

  /** A crash: SIGKILL to the agent's process group, and wait until it is gone. */
  async crash(): Promise<void> {
    if (this.running) killGroup(this.pid);
    await this.exited;
  }
}

/** Starts an agent process (killed by `cleanup`) and waits until it is listening and registered. */
export async function startAgentProc(cleanup: Cleanup, opts: AgentProcOptions): Promise<{ proc: AgentProc; url: string; port: number; agentId: string }> {
  const proc = new AgentProc(opts);
  cleanup.add(`kill agent process ${proc.pid}`, () => proc.crash());
  const { url, port } = await proc.listening();
  const agentId = await proc.registered();
  return { proc, url, port, agentId };
}

// ------------------------------------------------------------------ framework

export interface Delivery {
  /** Order of arrival over all tasks (1-based). */
  seq: number;
  status: TaskStatus;
}

export interface FrameworkOptions {
  /** Return false to leave an update unacknowledged. Default: acknowledge everything with a uuid. */
  shouldAck?: (status: TaskStatus) => boolean;
  info?: Partial<FrameworkInfo>;
}

/**
 * A scheduler on SchedulerClient that records every UPDATE per task (duplicates included) and acknowledges
 * each one that carries a uuid (unless `shouldAck` says otherwise). `ackedAt` maps a uuid to the number of
 * deliveries seen when the master accepted its first acknowledgement.
 */
export class RecordingFramework {
  readonly client: SchedulerClient;
  readonly deliveries: Delivery[] = [];
  readonly ackedAt = new Map<string, number>();
  readonly ackErrors: string[] = [];
  readonly masterErrors: string[] = [];
  private offers: Offer[] = [];
  private readonly changes = new EventEmitter();
  private inflightAcks = new Set<Promise<unknown>>();
  frameworkId?: string;
  readonly info: FrameworkInfo;

  constructor(
    masterUrl: string,
    private readonly opts: FrameworkOptions = {},
  ) {
    this.info = { user: os.userInfo().username, name: 'kernel-test', checkpoint: true, failover_timeout: 3600, ...opts.info };
    this.client = new SchedulerClient({ masterUrl, log: testLog('scheduler') });
    this.changes.setMaxListeners(0);
    this.client.on('update', (s) => this.onUpdate(s));
    this.client.on('offers', (offers) => {
      this.offers.push(...offers);
      this.changes.emit('change');
    });
    this.client.on('rescind', (id) => {
      this.offers = this.offers.filter((o) => o.id.value !== id);
    });
    this.client.on('master-error', (m) => {
      this.masterErrors.push(m);
      this.changes.emit('change');
    });
    this.client.on('disconnected', () => this.changes.emit('change'));
  }

  async subscribe(): Promise<string> {
    const sub = await this.client.subscribe(this.frameworkId ? { ...this.info, id: { value: this.frameworkId } } : this.info);
    this.frameworkId = sub.frameworkId;
    this.offers = [];
    return sub.frameworkId;
  }

  /** After the master went away: waits for the disconnection, then re-subscribes (same id) until it works. */
  async resubscribe(timeoutMs = 15_000): Promise<string> {
    await this.waitFor(() => (this.client.isConnected ? undefined : true), timeoutMs, 'the scheduler stream to drop');
    return eventually(
      async () => {
        try {
          return await this.subscribe();
        } catch {
          return undefined; // master not up yet
        }
      },
      timeoutMs,
      're-subscription',
      100,
    );
  }

  private onUpdate(status: TaskStatus): void {
    this.deliveries.push({ seq: this.deliveries.length + 1, status });
    this.changes.emit('change');
    if (status.uuid && (this.opts.shouldAck?.(status) ?? true)) void this.ack(status);
  }

  /** Acknowledges one update now (also for ones `shouldAck` held back). */
  ack(status: TaskStatus): Promise<void> {
    const p = this.client.acknowledge(status).then(
      () => {
        if (!this.ackedAt.has(status.uuid!)) this.ackedAt.set(status.uuid!, this.deliveries.length);
        this.changes.emit('change');
      },
      (e: Error) => {
        this.ackErrors.push(`${status.task_id.value} ${status.state}: ${e.message}`);
      },
    );
    this.inflightAcks.add(p);
    void p.finally(() => this.inflightAcks.delete(p));
    return p;
  }

  /** Waits for outstanding acknowledgement calls to settle. */
  async acksSettled(): Promise<void> {
    while (this.inflightAcks.size) await Promise.allSettled([...this.inflightAcks]);
  }

  /** Deliveries for one task, in arrival order (retransmissions included). */
  updatesOf(taskId: string): TaskStatus[] {
    return this.deliveries.filter((d) => d.status.task_id.value === taskId).map((d) => d.status);
  }

  /** The states a task went through: deliveries with a uuid already seen collapsed (they are retransmissions). */
  statesOf(taskId: string, opts: { withReconciliation?: boolean } = {}): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const s of this.updatesOf(taskId)) {
      if (opts.withReconciliation === false && isReconciliation(s)) continue;
      if (s.uuid) {
        if (seen.has(s.uuid)) continue;
        seen.add(s.uuid);
      }
      out.push(s.state);
    }
    return out;
  }

  summary(): string {
    return this.deliveries
      .map((d) => `#${d.seq} ${d.status.task_id.value} ${d.status.state} ${d.status.uuid ?? '-'} ${d.status.source ?? ''} ${d.status.reason ?? ''}`)
      .join('\n');
  }

  /** Resolves with the first value of `check` (re-evaluated on every update, offer, ack or disconnection). */
  waitFor<T>(check: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        let v: T | undefined | false;
        try {
          v = check();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (v !== undefined && v !== false) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; updates so far:\n${this.summary()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.changes.off('change', attempt);
      };
      this.changes.on('change', attempt);
      attempt();
    });
  }

  waitForState(taskId: string, state: string, timeoutMs = 15_000, after = 0): Promise<TaskStatus> {
    return this.waitFor(
      () => this.deliveries.find((d) => d.seq > after && d.status.task_id.value === taskId && d.status.state === state)?.status,
      timeoutMs,
      `${taskId} to reach ${state}`,
    );
  }

  /** Waits for an offer from `agentId` and launches the tasks on it in one ACCEPT. */
  async launch(agentId: string, tasks: { id: string; command: string; cpus?: number; mem?: number }[], timeoutMs = 15_000): Promise<void> {
    const offer = await this.waitFor(() => this.offers.find((o) => o.agent_id.value === agentId), timeoutMs, `an offer from ${agentId}`);
    this.offers = this.offers.filter((o) => o !== offer);
    const alloc = offer.resources.find((r) => r.name === 'cpus')?.allocation_info ?? offer.allocation_info;
    const res = (name: string, value: number): Resource =>
      ({ name, type: 'SCALAR', scalar: { value }, ...(alloc ? { allocation_info: alloc } : {}) }) as Resource;
    const infos: TaskInfo[] = tasks.map((t) => ({
      name: t.id,
      task_id: { value: t.id },
      agent_id: offer.agent_id,
      resources: [res('cpus', t.cpus ?? 0.1), res('mem', t.mem ?? 32)],
      command: { shell: true, value: t.command },
    }));
    await this.client.launch([offer.id], infos, { refuse_seconds: 3600 });
  }

  close(): void {
    this.client.close();
  }
}

export const isReconciliation = (s: TaskStatus): boolean => !s.uuid && s.reason === 'REASON_RECONCILIATION';

/**
 * Checks one task's update history as the framework saw it. `expectedTerminal` undefined: the task must
 * still be running. Returns a list of problems (empty = valid):
 * - distinct updates (by uuid) must read [TASK_STARTING], TASK_RUNNING, then exactly one terminal state;
 * - a retransmission must repeat the same state as the first delivery of its uuid;
 * - no update may arrive for a uuid after its acknowledgement was accepted by the master, for terminal
 *   updates (a duplicate RUNNING can legitimately race an ack across an agent crash, a terminal one after
 *   the ack cannot);
 * - every delivered update carries a uuid (they all come from the agent here); reconciliation answers
 *   are left out.
 */
export function checkTaskHistory(fw: RecordingFramework, taskId: string, expectedTerminal: string | undefined): string[] {
  const problems: string[] = [];
  // Answers to RECONCILE calls (SOURCE_MASTER, no uuid) report state, they are not transitions.
  const statuses = fw.deliveries.filter((d) => d.status.task_id.value === taskId && !isReconciliation(d.status));
  const stateOf = new Map<string, string>();
  for (const { status: s, seq } of statuses) {
    if (!s.uuid) {
      problems.push(`#${seq} ${s.state} has no uuid (source ${s.source}, reason ${s.reason}: ${s.message})`);
      continue;
    }
    const prev = stateOf.get(s.uuid);
    if (prev !== undefined && prev !== s.state) problems.push(`#${seq} uuid ${s.uuid} was ${prev}, now ${s.state}`);
    stateOf.set(s.uuid, s.state);
    const ackedAt = fw.ackedAt.get(s.uuid);
    if (isTerminalState(s.state as never) && ackedAt !== undefined && seq > ackedAt)
      problems.push(`#${seq} ${s.state} (uuid ${s.uuid}) delivered again after its acknowledgement (accepted at #${ackedAt})`);
  }
  const states = fw.statesOf(taskId, { withReconciliation: false });
  const expected = expectedTerminal ? /^(TASK_STARTING )?TASK_RUNNING \S+$/ : /^(TASK_STARTING )?TASK_RUNNING$/;
  if (!expected.test(states.join(' '))) problems.push(`states ${JSON.stringify(states)}`);
  if (expectedTerminal && states.at(-1) !== expectedTerminal) problems.push(`ended in ${states.at(-1)}, expected ${expectedTerminal}`);
  return problems.map((p) => `${taskId}: ${p}`);
}

// ------------------------------------------------------------------ sandboxes

/** Reads a file of a task's sandbox through the agent's /files/read (the latest run). */
export async function readSandboxFile(agentUrl: string, frameworkId: string, taskId: string, file: string): Promise<string> {
  const p = `/frameworks/${frameworkId}/executors/${taskId}/runs/latest/${file}`;
  const body = await getJson(`${agentUrl}/files/read?path=${encodeURIComponent(p)}&offset=0`);
  return body.data as string;
}

/** The run directories (containers) of a task's executor in the work dir, `latest` excluded. */
export function runsOf(workDir: string, agentId: string, frameworkId: string, taskId: string): string[] {
  const dir = path.join(workDir, 'slaves', agentId, 'frameworks', frameworkId, 'executors', taskId, 'runs');
  return fs.readdirSync(dir).filter((n) => n !== 'latest' && !n.startsWith('.'));
}

export function sandboxOf(workDir: string, agentId: string, frameworkId: string, taskId: string): string {
  const runs = runsOf(workDir, agentId, frameworkId, taskId);
  if (runs.length !== 1) throw new Error(`${taskId}: expected one run, found ${JSON.stringify(runs)}`);
  return path.join(workDir, 'slaves', agentId, 'frameworks', frameworkId, 'executors', taskId, 'runs', runs[0]!);
}

/** The wrapper pid (the task's process group) the agent reported in container_status. */
export function executorPidOf(status: TaskStatus | { container_status?: unknown }): number | undefined {
  return (status.container_status as { executor_pid?: number } | undefined)?.executor_pid;
}
