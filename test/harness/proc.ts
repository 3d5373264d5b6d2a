// A real process running inside a lab namespace (`ip netns exec NS …`, which execs, so the pid is the
// program's own), in its own process group, with its output captured. Waiting is on output, exit or a
// deadline — never on sleeps.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { jsonLines } from '../support/cluster.ts';
import { waitForOutput } from '../support/wait-output.ts';

export { jsonLines };

export interface SpawnSpec {
  /** Namespace to run in. */
  ns: string;
  /** Host index in the lab (for messages). */
  host: number;
  /** A short name for messages and log files ("master", "agent-2"). */
  name: string;
  /** argv[0] and arguments. */
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Append everything the process prints to this file too (kept after the lab is gone). */
  logFile?: string;
}

export class LabProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly host: number;
  readonly ns: string;
  readonly startedAt = Date.now();
  stdout = '';
  stderr = '';
  exit?: { code: number | null; signal: NodeJS.Signals | null; at: number };
  readonly exited: Promise<void>;
  private readonly events = new EventEmitter();
  private readonly log?: fs.WriteStream;

  constructor(readonly spec: SpawnSpec) {
    this.name = spec.name;
    this.host = spec.host;
    this.ns = spec.ns;
    this.events.setMaxListeners(0);
    if (spec.logFile) this.log = fs.createWriteStream(spec.logFile, { flags: 'a' });
    this.child = spawn('ip', ['netns', 'exec', spec.ns, ...spec.argv], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.on('error', (e) => {
      this.stderr += `spawn failed: ${e.message}\n`;
      this.events.emit('change');
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.log?.write(d);
      this.events.emit('change');
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.log?.write(d);
      this.events.emit('change');
    });
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        this.log?.end(`--- exited ${code ?? signal}\n`);
        this.events.emit('change');
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  describe(tail = 6000): string {
    const state = this.exit ? `exited ${this.exit.code ?? this.exit.signal}` : 'running';
    return `${this.name} on h${this.host} (pid ${this.pid}, ${state}): ${this.spec.argv.slice(1).join(' ')}\n--- stdout\n${this.stdout.slice(-tail)}\n--- stderr\n${this.stderr.slice(-tail)}`;
  }

  /** The first JSON line on stdout matching `match` (optionally only among lines after `afterLines`). */
  waitForJson(match: (o: any) => boolean, timeoutMs: number, what: string): Promise<any> {
    return this.waitFor(() => jsonLines(this.stdout).find(match), timeoutMs, what);
  }

  /** Resolves with the first defined value of `check`, re-evaluated on every output or exit. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return waitForOutput(this, check, timeoutMs, what, this.name);
  }

  watch(onChange: () => void): () => void {
    this.events.on('change', onChange);
    return () => void this.events.off('change', onChange);
  }

  /** Signals the whole process group (the program and anything it started in its group). */
  signalGroup(signal: NodeJS.Signals): void {
    if (!this.running || this.pid <= 0) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      try {
        process.kill(this.pid, signal);
      } catch {
        // gone
      }
    }
  }

  /** Waits for the exit; false at the deadline. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (!this.running) return true;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return r;
  }
}
