// The process supervisor of `corral dev --ha`: every part of the cluster is a child process (a "unit")
// that a user may kill at will; a unit that exits on its own is restarted after a backoff
// (dev-ha-restart.ts), and stop() takes the units down stage by stage (SIGTERM, SIGKILL after a bound).
//
// Children never outlive the supervisor: each runs in its own process group (a terminal's Ctrl-C reaches
// only the supervisor, which stops them in order) and holds a lifeline — its stdin, a pipe from the
// supervisor — that ends when the supervisor dies, however it dies; the child then stops itself
// (runtime/lifeline.mjs). etcd members get a signal from the kernel instead (coordination/etcd-server.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EtcdMemberProcess } from '../coordination/etcd-server.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import { decideRestart, type RestartPolicy } from './dev-ha-restart.ts';

export type Role = 'etcd' | 'master' | 'orchestrator' | 'agent';

export interface ExitInfo {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One supervised process. */
export interface Unit {
  readonly name: string;
  readonly role: Role;
  /** Its HTTP base URL (etcd: the client endpoint). May change when a unit on a free port must move. */
  readonly url: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly logFile: string | undefined;
  /** Spawns the process (does not wait for it to serve). */
  start(): Promise<void>;
  /** SIGTERM, SIGKILL after `timeoutMs`; resolves once it has exited. */
  stop(timeoutMs: number): Promise<void>;
  /** Called on every exit of the process; returns the unsubscribe function. */
  onExit(listener: (exit: ExitInfo) => void): () => void;
  /** Called before a restart (e.g. to pick another free port after a bind failure). */
  beforeRestart?(): Promise<void>;
}

export type SupervisorEvent =
  | { event: 'exited'; name: string; role: Role; pid: number; code: number | null; signal: string | null; restart_in_ms: number | null }
  | { event: 'restarted'; name: string; role: Role; pid: number | null; url: string; attempt: number }
  | { event: 'restart_failed'; name: string; role: Role; error: string }
  | { event: 'gave_up'; name: string; role: Role; exits: number; window_ms: number };

const BIN = fileURLToPath(new URL('../../bin/corral.js', import.meta.url));
const LIFELINE = pathToFileURL(fileURLToPath(new URL('../runtime/lifeline.mjs', import.meta.url))).href;

/** What a child does when its lifeline ends: a signal, then SIGKILL after a grace period. */
export interface LifelinePolicy {
  signal: 'SIGTERM' | 'SIGKILL';
  graceMs: number;
}

/** A `corral …` child: node bin/corral.js <args>, output appended to its log file. */
export class CorralUnit implements Unit {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(exit: ExitInfo) => void>();

  constructor(
    readonly name: string,
    readonly role: Role,
    private readonly host: string,
    private port: number,
    private readonly argsFor: (port: number) => string[],
    readonly logFile: string,
    private readonly opts: {
      env: NodeJS.ProcessEnv;
      /** What it does when the supervisor dies. */
      lifeline: LifelinePolicy;
      /** Called to move a unit whose port was free when chosen but got taken meanwhile; undefined: fixed port. */
      newPort?: () => Promise<number>;
    },
  ) {}

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.pid !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  onExit(listener: (exit: ExitInfo) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.running) return;
    const args = this.argsFor(this.port);
    const env = {
      ...this.opts.env,
      CORRAL_LIFELINE: 'stdin',
      CORRAL_LIFELINE_SIGNAL: this.opts.lifeline.signal,
      CORRAL_LIFELINE_GRACE_MS: String(this.opts.lifeline.graceMs),
    };
    const fd = openSync(this.logFile, 'a');
    let p: ChildProcess;
    try {
      writeFileSync(fd, `--- ${new Date().toISOString()} corral dev --ha: starting ${this.name}: corral ${args.join(' ')}\n`);
      // stdin is the lifeline: this process keeps its end open, and never writes.
      p = spawn(process.execPath, ['--import', LIFELINE, BIN, ...args], { stdio: ['pipe', fd, fd], detached: true, env });
    } finally {
      closeSync(fd);
    }
    p.stdin?.on('error', () => {}); // the child's end closes when it exits
    this.proc = p;
    this.exited = new Promise((resolve) => {
      p.once('exit', (code, signal) => {
        resolve();
        for (const l of [...this.listeners]) l({ pid: p.pid ?? 0, code, signal });
      });
      p.once('error', () => resolve());
    });
    await new Promise<void>((resolve, reject) => {
      p.once('spawn', () => resolve());
      p.once('error', (e) => reject(e));
    });
  }

  async stop(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    const p = this.proc!;
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** A child on a port picked free that died saying the port is taken moves to another free port. */
  async beforeRestart(): Promise<void> {
    if (!this.opts.newPort) return;
    let tail = '';
    try {
      tail = readFileSync(this.logFile, 'utf8').slice(-2000);
    } catch {
      return;
    }
    if (/already in use|EADDRINUSE/.test(tail.slice(tail.lastIndexOf('--- ')))) this.port = await this.opts.newPort();
  }
}

/** An etcd member (coordination/etcd-server.ts) as a unit. */
export class EtcdUnit implements Unit {
  readonly role = 'etcd' as const;
  constructor(private readonly member: EtcdMemberProcess) {}
  get name(): string {
    return this.member.name;
  }
  get url(): string {
    return this.member.endpoint;
  }
  get pid(): number | undefined {
    return this.member.pid;
  }
  get running(): boolean {
    return this.member.running;
  }
  get logFile(): string | undefined {
    return this.member.logFile;
  }
  start(): Promise<void> {
    return this.member.start({ waitHealthy: false });
  }
  stop(timeoutMs: number): Promise<void> {
    return this.member.stop(timeoutMs);
  }
  onExit(listener: (exit: ExitInfo) => void): () => void {
    return this.member.onExit(listener);
  }
}

export interface SupervisorDeps {
  clock: Clock;
  log: Logger;
  policy: RestartPolicy;
  onEvent: (e: SupervisorEvent) => void;
}

export class Supervisor {
  private stopping = false;
  private readonly exits = new Map<Unit, number[]>();
  private readonly pending = new Map<Unit, TimerHandle>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    readonly units: readonly Unit[],
    private readonly deps: SupervisorDeps,
  ) {
    for (const u of units) this.unsubscribe.push(u.onExit((exit) => this.exited(u, exit)));
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  byRole(role: Role): Unit[] {
    return this.units.filter((u) => u.role === role);
  }

  private exited(u: Unit, exit: ExitInfo): void {
    if (this.stopping) return;
    const now = this.deps.clock.now();
    const history = [...(this.exits.get(u) ?? []), now];
    this.exits.set(u, history);
    const d = decideRestart(history, now, this.deps.policy);
    const base = { name: u.name, role: u.role, pid: exit.pid, code: exit.code, signal: exit.signal };
    if (d.action === 'give-up') {
      this.deps.log.error('a child keeps exiting: not restarting it', { ...base, log: u.logFile });
      this.deps.onEvent({ event: 'exited', ...base, restart_in_ms: null });
      this.deps.onEvent({ event: 'gave_up', name: u.name, role: u.role, exits: d.exitsInWindow, window_ms: this.deps.policy.windowMs });
      return;
    }
    this.deps.log.debug('a child exited: restarting it', { ...base, in_ms: d.delayMs, log: u.logFile });
    this.deps.onEvent({ event: 'exited', ...base, restart_in_ms: d.delayMs });
    this.pending.set(
      u,
      this.deps.clock.setTimeout(() => {
        this.pending.delete(u);
        void this.restart(u, d.attempt);
      }, d.delayMs),
    );
  }

  private async restart(u: Unit, attempt: number): Promise<void> {
    if (this.stopping || u.running) return;
    try {
      await u.beforeRestart?.();
      if (this.stopping) return;
      await u.start();
      this.deps.onEvent({ event: 'restarted', name: u.name, role: u.role, pid: u.pid ?? null, url: u.url, attempt });
    } catch (e) {
      // Counts as an exit: the policy decides whether to try again.
      this.deps.onEvent({ event: 'restart_failed', name: u.name, role: u.role, error: (e as Error).message });
      this.exited(u, { pid: 0, code: null, signal: null });
    }
  }

  /** Stops restarting, then stops the units stage by stage (each stage concurrently, each unit bounded). */
  async stop(stages: { role: Role; timeoutMs: number }[]): Promise<void> {
    this.stopping = true;
    for (const t of this.pending.values()) t.cancel();
    this.pending.clear();
    for (const s of stages) await Promise.all(this.byRole(s.role).map((u) => u.stop(s.timeoutMs)));
    for (const u of this.unsubscribe.splice(0)) u();
  }
}
