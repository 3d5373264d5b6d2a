// A fake master for agent tests: a real HTTP server speaking internal.ts. It accepts (re-)registrations,
// records every message, and sends RUN_TASK / KILL_TASK / ACKNOWLEDGE / PING to the agent's endpoint.
// Waiting is event-driven: `waitFor` re-checks its condition on every message received.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { listen, Router, type ServerHandle } from '../../src/http/server.ts';
import { AGENT_MESSAGE_PATH, AgentToMaster, MASTER_MESSAGE_PATH } from '../../src/protocol/internal.ts';
import type { FrameworkInfo, TaskInfo, TaskStatus } from '../../src/protocol/mesos.ts';
import { parseOrThrow } from '../../src/protocol/validate.ts';
import { silentLogger } from '../../src/runtime/log.ts';

export type StatusUpdateMessage = Extract<AgentToMaster, { type: 'STATUS_UPDATE' }>;
export type RegistrationMessage = Extract<AgentToMaster, { type: 'REGISTER_AGENT' | 'REREGISTER_AGENT' }>;

export interface FakeMasterOptions {
  pingIntervalSeconds?: number;
  /** Acknowledge every status update as soon as it arrives (default false). */
  autoAck?: boolean;
  masterId?: string;
}

export const DEFAULT_FRAMEWORK: FrameworkInfo & { id: { value: string } } = {
  id: { value: 'fw-1' },
  name: 'test-framework',
  user: 'nobody',
  checkpoint: true,
};

export class FakeMaster {
  readonly messages: AgentToMaster[] = [];
  readonly registrations: RegistrationMessage[] = [];
  readonly updates: StatusUpdateMessage[] = [];
  /** Messages the master refused (schema errors): an agent bug if non-empty. */
  readonly invalid: unknown[] = [];
  agentEndpoint?: string;
  agentId?: string;
  autoAck: boolean;
  pingIntervalSeconds: number;
  readonly masterId: string;
  /** Overrides the reply to a message (e.g. REREGISTER_REQUIRED, SHUTDOWN, 503). */
  replyHook?: (msg: AgentToMaster) => { status?: number; body?: unknown } | undefined;
  private events = new EventEmitter();
  private agentSeq = 0;

  private constructor(
    private server: ServerHandle,
    opts: FakeMasterOptions,
  ) {
    this.autoAck = opts.autoAck ?? false;
    this.pingIntervalSeconds = opts.pingIntervalSeconds ?? 60;
    this.masterId = opts.masterId ?? 'fake-master-1';
    this.events.setMaxListeners(100);
  }

  get url(): string {
    return this.server.url;
  }

  static async start(opts: FakeMasterOptions = {}): Promise<FakeMaster> {
    const router = new Router();
    let self!: FakeMaster;
    router.on('POST', AGENT_MESSAGE_PATH, async (ctx) => self.receive(await ctx.json()));
    const server = await listen(router, { port: 0, log: silentLogger });
    self = new FakeMaster(server, opts);
    return self;
  }

  private receive(body: unknown): { status?: number; body?: unknown } {
    let msg: AgentToMaster;
    try {
      msg = parseOrThrow(AgentToMaster, body, 'message');
    } catch (e) {
      this.invalid.push(body);
      this.events.emit('message');
      throw e;
    }
    this.messages.push(msg);
    const hooked = this.replyHook?.(msg);
    if (msg.type === 'REGISTER_AGENT' || msg.type === 'REREGISTER_AGENT') this.registrations.push(msg);
    if (msg.type === 'STATUS_UPDATE') this.updates.push(msg);
    queueMicrotask(() => this.events.emit('message', msg));
    if (hooked) return hooked;
    switch (msg.type) {
      case 'REGISTER_AGENT': {
        this.agentId = `agent-${++this.agentSeq}-${Math.random().toString(36).slice(2, 8)}`;
        this.agentEndpoint = msg.endpoint;
        return { body: { type: 'REGISTERED', agent_id: { value: this.agentId }, master_id: this.masterId, ping_interval_seconds: this.pingIntervalSeconds } };
      }
      case 'REREGISTER_AGENT':
        this.agentId = msg.agent_info.id.value;
        this.agentEndpoint = msg.endpoint;
        return { body: { type: 'REREGISTERED', agent_id: { value: this.agentId }, master_id: this.masterId, ping_interval_seconds: this.pingIntervalSeconds } };
      case 'STATUS_UPDATE':
        if (this.autoAck) {
          const s = msg.update.status;
          setImmediate(() => void this.ack(msg.update.framework_id.value, s).catch(() => undefined));
        }
        return { body: { type: 'ACCEPTED' } };
      default:
        return { body: { type: 'ACCEPTED' } };
    }
  }

  /** Resolves with the first truthy value of `check`, re-evaluated on every message; rejects after `timeoutMs`. */
  waitFor<T>(check: () => T | undefined | false | null, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = (): boolean => {
        const v = check();
        if (v) {
          cleanup();
          resolve(v);
          return true;
        }
        return false;
      };
      const onMessage = () => void attempt();
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; updates so far: ${this.describeUpdates()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('message', onMessage);
      };
      this.events.on('message', onMessage);
      attempt();
    });
  }

  /** Statuses received for a task, in arrival order (duplicates from retries included). */
  statusesOf(taskId: string): TaskStatus[] {
    return this.updates.filter((u) => u.update.status.task_id.value === taskId).map((u) => u.update.status);
  }

  /** Distinct states received for a task, in order (retries collapsed by uuid). */
  statesOf(taskId: string): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const s of this.statusesOf(taskId)) {
      if (s.uuid && seen.has(s.uuid)) continue;
      if (s.uuid) seen.add(s.uuid);
      out.push(s.state);
    }
    return out;
  }

  waitForState(taskId: string, state: string, timeoutMs = 10_000): Promise<TaskStatus> {
    return this.waitFor(() => this.statusesOf(taskId).find((s) => s.state === state), `${taskId} to reach ${state}`, timeoutMs);
  }

  waitForRegistrations(n: number, timeoutMs = 10_000): Promise<RegistrationMessage> {
    return this.waitFor(() => this.registrations[n - 1], `${n} registration(s)`, timeoutMs);
  }

  private describeUpdates(): string {
    return JSON.stringify(this.updates.map((u) => `${u.update.status.task_id.value}:${u.update.status.state}`));
  }

  /** POSTs a message (master_id filled in) to the agent. */
  async send(msg: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    if (!this.agentEndpoint) throw new Error('no agent has registered');
    const res = await fetch(this.agentEndpoint + MASTER_MESSAGE_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ master_id: this.masterId, ...msg }),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // text
    }
    return { status: res.status, body };
  }

  async runTask(task: TaskInfo, framework: FrameworkInfo & { id: { value: string } } = DEFAULT_FRAMEWORK): Promise<void> {
    const res = await this.send({ type: 'RUN_TASK', framework_info: framework, task: { ...task, agent_id: { value: this.agentId! } } });
    if (res.status !== 200) throw new Error(`RUN_TASK refused: ${res.status} ${JSON.stringify(res.body)}`);
  }

  async killTask(taskId: string, opts: { frameworkId?: string; gracePeriodMs?: number } = {}): Promise<{ status: number; body: unknown }> {
    return this.send({
      type: 'KILL_TASK',
      framework_id: { value: opts.frameworkId ?? DEFAULT_FRAMEWORK.id.value },
      task_id: { value: taskId },
      ...(opts.gracePeriodMs !== undefined ? { kill_policy: { grace_period: { nanoseconds: opts.gracePeriodMs * 1e6 } } } : {}),
    });
  }

  async ack(frameworkId: string, status: TaskStatus): Promise<{ status: number; body: unknown }> {
    return this.send({ type: 'ACKNOWLEDGE', framework_id: { value: frameworkId }, task_id: status.task_id, uuid: status.uuid });
  }

  /** Acknowledges the latest update of a task. */
  async ackLatest(taskId: string, frameworkId = DEFAULT_FRAMEWORK.id.value): Promise<TaskStatus> {
    const s = this.statusesOf(taskId).at(-1);
    if (!s) throw new Error(`no update for ${taskId}`);
    await this.ack(frameworkId, s);
    return s;
  }

  async ping(): Promise<{ status: number; body: unknown }> {
    return this.send({ type: 'PING', agent_id: { value: this.agentId } });
  }

  async close(): Promise<void> {
    await this.server.close();
  }
}

/** A command task; `agent_id` is filled in by FakeMaster.runTask. */
export function commandTask(id: string, command: string | { value?: string; shell?: boolean; arguments?: string[]; environment?: { variables: { name: string; value: string }[] }; user?: string }, extra: Partial<TaskInfo> = {}): TaskInfo {
  return {
    name: id,
    task_id: { value: id },
    agent_id: { value: 'filled-in' },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
    ],
    command: typeof command === 'string' ? { value: command } : command,
    ...extra,
  } as TaskInfo;
}

/** Polls a condition that no message announces (a process exit, a file); for use with a timeout only. */
export async function waitUntil<T>(check: () => T | undefined | false | null | Promise<T | undefined | false | null>, what: string, timeoutMs = 10_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ agent as a separate process

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

export interface AgentProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** Resolves with the agent id at the first "registered" line. */
  registered: Promise<string>;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Starts test/support/run-agent.ts as its own process (so it can be SIGKILLed like a crashed agent). */
export function spawnAgentProcess(args: Record<string, string | number | boolean>): Promise<AgentProcess> {
  const argv = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'run-agent.ts'), ...argv], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CORRAL_LOG_LEVEL: process.env.CORRAL_LOG_LEVEL ?? 'warn' },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout! });
  let onRegistered!: (id: string) => void;
  const registered = new Promise<string>((r) => (onRegistered = r));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent process did not start: ${err}`)), 20_000);
    void exited.then(({ code, signal }) => reject(new Error(`agent process exited early (${code ?? signal}): ${err}`)));
    lines.on('line', (line) => {
      let ev: { event?: string; url?: string; port?: number; agent_id?: string };
      try {
        ev = JSON.parse(line);
      } catch {
        return;
      }
      if (ev.event === 'listening') {
        clearTimeout(timer);
        resolve({ child, url: ev.url!, port: ev.port!, registered, exited, stderr: () => err });
      } else if (ev.event === 'registered') onRegistered(ev.agent_id!);
    });
  });
}
