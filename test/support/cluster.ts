// Helpers for integration tests: run the real `corral` CLI as child processes
// (a `corral dev` cluster on free ports, one-shot commands), or an in-process
// cluster built from startMaster/startAgent. Nothing here sleeps to
// synchronise: everything waits on output, exit or a polled condition with a
// deadline, and fails with the process output when the deadline passes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForOutput } from './wait-output.ts';
import { fileURLToPath } from 'node:url';
import type { AgentHandle, AgentOptions } from '../../src/agent/index.ts';
import type { MasterHandle, MasterOptions } from '../../src/master/index.ts';
import { createLogger, silentLogger, type Logger } from '../../src/runtime/log.ts';
import type { Store } from '../../src/store/index.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CORRAL_BIN = join(REPO_ROOT, 'bin', 'corral.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Sets CORRAL_MASTER. */
  master?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Kill (SIGKILL) and reject after this long. Default 30 s. */
  timeoutMs?: number;
}

function childEnv(opts: RunOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...opts.env };
  if (opts.master) env.CORRAL_MASTER = opts.master;
  delete env.NODE_TEST_CONTEXT; // the child is not part of this test run
  return env;
}

/** A running `corral …` process with its output captured. */
export class CorralProcess {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private readonly exited: Promise<void>;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly args: string[],
    opts: RunOptions = {},
  ) {
    this.proc = spawn(process.execPath, [CORRAL_BIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: childEnv(opts),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.notify();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.notify();
    });
    this.exited = new Promise<void>((resolve) => {
      this.proc.on('close', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.notify();
        resolve();
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }
  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  describe(): string {
    return `corral ${this.args.join(' ')} (pid ${this.proc.pid}, exit ${this.exitCode ?? this.exitSignal ?? 'running'})\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr.slice(-8000)}`;
  }

  /** Resolves with the first value `pick` returns from the accumulated output; rejects on exit or timeout. */
  waitFor<T>(pick: (p: this) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return waitForOutput(this, () => pick(this), timeoutMs, what);
  }

  watch(onChange: () => void): () => void {
    this.waiters.add(onChange);
    return () => void this.waiters.delete(onChange);
  }

  /** The first JSON line on stdout that satisfies `match`. */
  waitForJson<T = any>(match: (obj: any) => boolean, timeoutMs: number, what: string): Promise<T> {
    return this.waitFor(() => jsonLines(this.stdout).find(match) as T | undefined, timeoutMs, what);
  }

  async waitForExit(timeoutMs = 30_000): Promise<CliResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([this.exited.then(() => 'exited' as const), timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`timed out after ${timeoutMs} ms waiting for exit\n${this.describe()}`);
    }
    return { code: this.exitCode, signal: this.exitSignal, stdout: this.stdout, stderr: this.stderr };
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.proc.kill(signal);
  }
}

/** Parses every line of `text` that is a JSON object. */
export function jsonLines(text: string): any[] {
  const out: any[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t));
    } catch {
      // not JSON (or an incomplete last line)
    }
  }
  return out;
}

export function spawnCorral(args: string[], opts: RunOptions = {}): CorralProcess {
  return new CorralProcess(args, opts);
}

/** Runs `corral …` to completion. */
export async function runCorral(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return spawnCorral(args, opts).waitForExit(opts.timeoutMs ?? 30_000);
}

export interface Cluster {
  master: string;
  agents: string[];
  agentIds: (string | null)[];
  dataDir: string;
  process: CorralProcess;
  /** Runs a CLI command against this cluster. */
  cli(args: string[], opts?: Omit<RunOptions, 'master'>): Promise<CliResult>;
  /** Spawns a CLI command against this cluster without waiting for it. */
  spawn(args: string[], opts?: Omit<RunOptions, 'master'>): CorralProcess;
  /** Signals `corral dev` and waits for it to exit; removes a temporary data dir. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<CliResult>;
}

export interface StartClusterOptions {
  agents?: number;
  /** Default: a fresh temporary directory, removed by stop(). */
  dataDir?: string;
  /** Extra `corral dev` arguments (e.g. ['--allocation-interval-ms', '100']). */
  args?: string[];
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

/**
 * A random block of 200 task ports in 20000-29999 (below the kernel's ephemeral range and above
 * Marathon's service ports), so clusters of test files running in parallel never hand out the same
 * host port: a health check must never reach another test's task.
 */
export function testPortRange(): string {
  const block = Math.floor(Math.random() * 50);
  return `${20000 + block * 200}-${20000 + block * 200 + 199}`;
}

/** Spawns `corral dev --port 0 --json` and resolves once it printed {"event":"ready",…}. */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'corral-test-'));
  const proc = spawnCorral(
    ['dev', '--port', '0', '--agents', String(opts.agents ?? 1), '--data-dir', dataDir, '--json', '--ports', testPortRange(), ...(opts.args ?? [])],
    { env: { CORRAL_LOG_LEVEL: 'warn', ...opts.env } },
  );
  let ready: { master: string; agents: string[]; agent_ids?: (string | null)[] };
  try {
    ready = await proc.waitForJson((o) => o.event === 'ready', opts.readyTimeoutMs ?? 30_000, 'corral dev to be ready');
  } catch (e) {
    proc.kill('SIGKILL');
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    master: ready.master,
    agents: ready.agents,
    agentIds: ready.agent_ids ?? [],
    dataDir,
    process: proc,
    cli: (args, o = {}) => runCorral(args, { ...o, master: ready.master }),
    spawn: (args, o = {}) => spawnCorral(args, { ...o, master: ready.master }),
    async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 30_000) {
      proc.kill(signal);
      try {
        return await proc.waitForExit(timeoutMs);
      } finally {
        if (ownDir) rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

export interface InProcessCluster {
  master: MasterHandle;
  agents: AgentHandle[];
  store: Store;
  masterUrl: string;
  agentUrls: string[];
  dataDir: string;
  /** Closes the agents (killing tasks unless told otherwise), the master and the store; removes a temporary dir. */
  stop(opts?: { killTasks?: boolean }): Promise<void>;
}

export interface StartInProcessOptions {
  agents?: number;
  /** 'memory' (default) or 'embedded' (SQLite under dataDir/master). */
  store?: 'memory' | 'embedded';
  dataDir?: string;
  master?: Partial<Omit<MasterOptions, 'store'>>;
  agent?: Partial<Omit<AgentOptions, 'masterUrl' | 'workDir'>>;
  /** Default: silent, or stderr at CORRAL_TEST_LOG's level when that is set. */
  log?: Logger;
  /** Wait for every agent to register. Default true. */
  waitForAgents?: boolean;
}

/** Master + agents in this process on free ports (for tests that need to reach inside). */
export async function startInProcessCluster(opts: StartInProcessOptions = {}): Promise<InProcessCluster> {
  const [{ startMaster }, { startAgent }, storeMod] = await Promise.all([
    import('../../src/master/index.ts'),
    import('../../src/agent/index.ts'),
    import('../../src/store/index.ts'),
  ]);
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'corral-inproc-'));
  const log =
    opts.log ?? (process.env.CORRAL_TEST_LOG ? createLogger('test', process.env.CORRAL_TEST_LOG as 'debug') : silentLogger);
  const store = opts.store === 'embedded' ? await storeMod.openEmbeddedStore(join(dataDir, 'master')) : storeMod.createMemoryStore();
  const agents: AgentHandle[] = [];
  let master: MasterHandle | undefined;
  const n = opts.agents ?? 1;
  const stop = async (o: { killTasks?: boolean } = {}) => {
    await Promise.allSettled(agents.map((a) => a.close({ killTasks: o.killTasks ?? true })));
    await master?.close().catch(() => {});
    await store.close().catch(() => {});
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const m = await startMaster({ port: 0, store, log: log.child('master'), allocationIntervalMs: 100, ...opts.master });
    master = m;
    for (let i = 1; i <= n; i++) {
      agents.push(
        await startAgent({
          port: 0,
          resourceShare: 1 / n,
          log: log.child(`agent-${i}`),
          ...opts.agent,
          masterUrl: m.url,
          workDir: join(dataDir, `agent-${i}`),
        }),
      );
    }
    if (opts.waitForAgents ?? true) await Promise.all(agents.map((a) => a.registered()));
  } catch (e) {
    await stop();
    throw e;
  }
  return { master: master!, agents, store, masterUrl: master!.url, agentUrls: agents.map((a) => a.url), dataDir, stop };
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Is a process with this pid still alive (zombies count as gone)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}
