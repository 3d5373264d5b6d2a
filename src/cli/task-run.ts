// `corral task run -- CMD…`: a one-task scheduler built on SchedulerClient.
//
// It subscribes as a fresh `corral-cli` framework (failover_timeout 60 s, so
// that `corral task kill` can act for it while it is connected or briefly after
// it died), waits for an offer that fits, launches one shell-command task,
// prints the task id at once, reports every status change (stderr, or JSON
// lines on stdout with --json), acknowledges every update, and exits with the
// task's exit status. On exit it TEARs DOWN its framework (the task is
// terminal by then). Ctrl-C kills the task first (exit 130; 143 for SIGTERM);
// a second Ctrl-C exits at once (the teardown still kills the task).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { constants as osConstants } from 'node:os';
import { OperatorClient } from '../client/operator-client.ts';
import { SchedulerClient, type Subscribed } from '../client/scheduler-client.ts';
import { isTerminalState, type FrameworkInfo, type Offer, type Resource, type TaskInfo, type TaskStatus } from '../protocol/mesos.ts';
import {
  CliError,
  UsageError,
  err,
  fmtCpus,
  fmtMb,
  isoTime,
  jsonLine,
  onStopSignals,
  out,
  scalars,
  signalExitCode,
  withTimeout,
  type StopSignal,
} from './common.ts';

export const CLI_FRAMEWORK_NAME = 'corral-cli';
export const CLI_FAILOVER_TIMEOUT_S = 60;

export interface TaskRunOptions {
  master: string;
  cpus: number;
  mem: number;
  disk: number;
  name?: string;
  env?: string[];
  role: string;
  json?: boolean;
  offerTimeout: number;
  killTimeout: number;
}

// ---- pure helpers (unit-tested) ----

/** POSIX sh quoting of one word. */
export function shellQuote(arg: string): string {
  if (arg === '') return "''";
  if (/^[A-Za-z0-9_\-+=.,/:@%^]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The shell command for the task: one argument is used verbatim (so `corral task run 'a | b'`
 * is a pipeline); several are quoted word by word (so `-- sh -c 'exit 3'` keeps its argv).
 */
export function commandLine(args: string[]): string {
  return args.length === 1 ? args[0]! : args.map(shellQuote).join(' ');
}

/** `K=V` pairs; the value may contain '='. */
export function parseEnv(pairs: string[]): { name: string; value: string }[] {
  return pairs.map((p) => {
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`--env ${JSON.stringify(p)}: expected NAME=VALUE`);
    const name = p.slice(0, i);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`--env ${JSON.stringify(p)}: invalid variable name`);
    return { name, value: p.slice(i + 1) };
  });
}

/** A Mesos-valid id fragment: no whitespace or slashes, bounded length. */
export function sanitizeIdPart(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return (cleaned || 'task').slice(0, 64);
}

/** Default task name: the basename of the program, e.g. `echo` for `-- /bin/echo hi`. */
export function defaultTaskName(args: string[]): string {
  const first = (args.length === 1 ? args[0]!.trim().split(/\s+/)[0] : args[0]) ?? 'task';
  return sanitizeIdPart(first.split('/').pop() ?? first);
}

// strsignal(3) descriptions, as in Mesos's "Command terminated with signal Killed".
const SIGNAL_DESCRIPTIONS: Record<string, number> = {
  hangup: 1,
  interrupt: 2,
  quit: 3,
  'illegal instruction': 4,
  'trace/breakpoint trap': 5,
  aborted: 6,
  'bus error': 7,
  'floating point exception': 8,
  killed: 9,
  'user defined signal 1': 10,
  'segmentation fault': 11,
  'user defined signal 2': 12,
  'broken pipe': 13,
  'alarm clock': 14,
  terminated: 15,
};

/** A signal number from "SIGTERM", "TERM", "15", or a strsignal description ("Terminated"). */
export function signalNumber(text: string): number | undefined {
  const t = text.trim().replace(/[.)]+$/, '');
  if (/^\d+$/.test(t)) return Number(t);
  const upper = t.toUpperCase();
  const sigs = osConstants.signals as Record<string, number>;
  if (sigs[upper] !== undefined) return sigs[upper];
  if (sigs[`SIG${upper}`] !== undefined) return sigs[`SIG${upper}`];
  return SIGNAL_DESCRIPTIONS[t.toLowerCase()];
}

/**
 * The process-style exit code of a terminal status: 0 for FINISHED; N for "exited with status N";
 * 128+signal for "terminated/killed by/with signal S"; 1 otherwise.
 */
export function exitCodeOf(status: Pick<TaskStatus, 'state' | 'message'>): number {
  if (status.state === 'TASK_FINISHED') return 0;
  const msg = status.message ?? '';
  const exited = /exit(?:ed)?(?: with)? (?:status|code) (\d+)/i.exec(msg);
  if (exited) {
    const n = Number(exited[1]);
    return n === 0 ? 1 : n; // a non-FINISHED task that "exited 0" still failed
  }
  const sig = /(?:terminated|killed|signal(?:ed|led)?)\s+(?:by|with)?\s*signal\s+([A-Za-z0-9 /]+?)\s*(?:\(|$|[,;.])/i.exec(msg);
  if (sig) {
    const n = signalNumber(sig[1]!);
    if (n !== undefined) return 128 + n;
  }
  return 1;
}

/** Does the offer hold enough unreserved-or-allocated scalar resources? */
export function offerFits(offer: Pick<Offer, 'resources'>, need: { cpus: number; mem: number; disk: number }): boolean {
  const sum = (name: string) =>
    offer.resources
      .filter((r) => r.name === name && r.type === 'SCALAR' && (r as { revocable?: unknown }).revocable === undefined)
      .reduce((a, r) => a + (r.scalar?.value ?? 0), 0);
  const eps = 1e-6;
  return sum('cpus') + eps >= need.cpus && sum('mem') + eps >= need.mem && sum('disk') + eps >= need.disk;
}

export function resourceText(need: { cpus: number; mem: number; disk: number }): string {
  return `cpus:${need.cpus};mem:${need.mem}${need.disk > 0 ? `;disk:${need.disk}` : ''}`;
}

export function buildTaskInfo(args: {
  taskId: string;
  name: string;
  offer: Offer;
  command: string;
  env: { name: string; value: string }[];
  cpus: number;
  mem: number;
  disk: number;
}): TaskInfo {
  const alloc = args.offer.resources.find((r) => r.name === 'cpus')?.allocation_info ?? args.offer.allocation_info;
  const res = (name: string, value: number): Resource =>
    ({ name, type: 'SCALAR', scalar: { value }, ...(alloc ? { allocation_info: alloc } : {}) }) as Resource;
  const resources: Resource[] = [];
  if (args.cpus > 0) resources.push(res('cpus', args.cpus));
  if (args.mem > 0) resources.push(res('mem', args.mem));
  if (args.disk > 0) resources.push(res('disk', args.disk));
  return {
    name: args.name,
    task_id: { value: args.taskId },
    agent_id: args.offer.agent_id,
    resources,
    command: {
      shell: true,
      value: args.command,
      ...(args.env.length ? { environment: { variables: args.env.map((e) => ({ name: e.name, type: 'VALUE' as const, value: e.value })) } } : {}),
    },
  };
}

// ---- the command ----

interface Reporter {
  subscribed(sub: Subscribed): void;
  launched(taskId: string, offer: Offer): void;
  status(s: TaskStatus): void;
  info(msg: string): void;
  exit(code: number): void;
}

function reporter(json: boolean): Reporter {
  if (json) {
    return {
      subscribed: (sub) => jsonLine({ event: 'subscribed', framework_id: sub.frameworkId, master: sub.masterUrl }),
      launched: (taskId, offer) =>
        jsonLine({ event: 'launched', task_id: taskId, agent_id: offer.agent_id.value, hostname: offer.hostname, framework_id: offer.framework_id.value }),
      status: (s) =>
        jsonLine({
          event: 'status',
          task_id: s.task_id.value,
          state: s.state,
          timestamp: s.timestamp ?? Date.now() / 1000,
          ...(s.message ? { message: s.message } : {}),
          ...(s.reason ? { reason: s.reason } : {}),
          ...(s.source ? { source: s.source } : {}),
          ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
        }),
      info: (message) => jsonLine({ event: 'info', message }),
      exit: (code) => jsonLine({ event: 'exit', code }),
    };
  }
  return {
    subscribed: (sub) => err(`framework ${sub.frameworkId} subscribed at ${sub.masterUrl}`),
    launched: (taskId, offer) => {
      out(taskId);
      err(`launching ${taskId} on ${offer.hostname} (agent ${offer.agent_id.value})`);
    },
    status: (s) => {
      const detail = [s.reason, s.message].filter(Boolean).join(': ');
      err(`${isoTime(s.timestamp)} ${s.state}${detail ? `  ${detail}` : ''}`);
    },
    info: (msg) => err(msg),
    exit: () => {},
  };
}

export async function runTask(args: string[], opts: TaskRunOptions): Promise<number> {
  if (args.length === 0 || args.every((a) => a.trim() === '')) throw new UsageError('no command given: corral task run [options] -- CMD [ARGS…]');
  const command = commandLine(args);
  const env = parseEnv(opts.env ?? []);
  const name = opts.name ?? defaultTaskName(args);
  const taskId = `${sanitizeIdPart(name)}.${randomUUID()}`;
  const need = { cpus: opts.cpus, mem: opts.mem, disk: opts.disk };
  const rep = reporter(Boolean(opts.json));

  const frameworkInfo: FrameworkInfo = {
    user: os.userInfo().username,
    name: CLI_FRAMEWORK_NAME,
    failover_timeout: CLI_FAILOVER_TIMEOUT_S,
    role: opts.role,
    hostname: os.hostname(),
    capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }],
  };
  const client = new SchedulerClient({ masterUrl: opts.master });

  let phase: 'offers' | 'launching' | 'launched' | 'done' = 'offers';
  let agentId: string | undefined;
  let killedBy: StopSignal | undefined;
  let teardownOnExit = true;
  let finish!: (code: number) => void;
  let fail!: (e: unknown) => void;
  const result = new Promise<number>((resolve, reject) => {
    finish = (code) => {
      phase = 'done';
      resolve(code);
    };
    fail = (e) => {
      phase = 'done';
      reject(e);
    };
  });
  const timers: NodeJS.Timeout[] = [];

  client.on('offers', (offers) => {
    void (async () => {
      if (phase !== 'offers') {
        if (offers.length) await client.decline(offers.map((o) => o.id), { refuse_seconds: 3600 }).catch(() => {});
        return;
      }
      const fit = offers.find((o) => offerFits(o, need));
      const others = offers.filter((o) => o !== fit);
      if (others.length) await client.decline(others.map((o) => o.id), { refuse_seconds: fit ? 3600 : 1 }).catch(() => {});
      if (!fit || phase !== 'offers') return;
      phase = 'launching';
      agentId = fit.agent_id.value;
      const task = buildTaskInfo({ taskId, name, offer: fit, command, env, ...need });
      rep.launched(taskId, fit); // before the ACCEPT round trip, so the id precedes any status line
      await client.launch([fit.id], [task], { refuse_seconds: 3600 });
      if (phase === 'launching') phase = 'launched';
      await client.suppress().catch(() => {});
    })().catch(fail);
  });

  client.on('update', (status) => {
    void (async () => {
      if (status.task_id.value === taskId) rep.status(status);
      try {
        await client.acknowledge(status);
      } catch (e) {
        if (phase !== 'done') rep.info(`warning: acknowledging ${status.state} failed: ${(e as Error).message}`);
      }
      if (status.task_id.value !== taskId || !isTerminalState(status.state)) return;
      if (killedBy && status.state === 'TASK_KILLED') finish(signalExitCode(killedBy));
      else finish(exitCodeOf(status));
    })().catch(fail);
  });

  client.on('disconnected', (info) => {
    teardownOnExit = false;
    fail(
      new CliError(
        `lost the connection to the master (${info.reason})` +
          (agentId ? `; task ${taskId} may still be running (stop it with \`corral task kill ${taskId}\`)` : ''),
      ),
    );
  });
  client.on('master-error', (message) => {
    teardownOnExit = false;
    fail(new CliError(`the master ended this run's framework: ${message} (did \`corral task kill\` take it over?)`));
  });

  const removeSignals = onStopSignals(
    (sig) => {
      killedBy = sig;
      if (phase === 'offers' || !agentId) {
        finish(signalExitCode(sig));
        return;
      }
      rep.info(`${sig}: killing task ${taskId}… (again to exit at once)`);
      client.kill(taskId, agentId).catch((e: Error) => rep.info(`kill failed: ${e.message}`));
      const t = setTimeout(() => {
        rep.info(`task ${taskId} did not stop within ${opts.killTimeout} s; tearing the framework down`);
        finish(signalExitCode(sig));
      }, opts.killTimeout * 1000);
      timers.push(t);
    },
    (sig) => finish(signalExitCode(sig)),
  );

  const main = (async () => {
    const sub = await client.subscribe(frameworkInfo);
    if ((phase as string) === 'done') return result;
    rep.subscribed(sub);
    timers.push(
      setTimeout(() => {
        if (phase !== 'offers') return;
        void noOfferMessage(opts.master, need, opts.offerTimeout).then((msg) => fail(new CliError(msg)));
      }, opts.offerTimeout * 1000),
    );
    return result;
  })();

  let code: number;
  try {
    code = await Promise.race([result, main]);
  } finally {
    for (const t of timers) clearTimeout(t);
    removeSignals();
    if (client.frameworkId && teardownOnExit) {
      await withTimeout(
        client.teardown().then(
          () => undefined,
          () => undefined,
        ),
        5000,
        () => undefined,
      );
    }
    client.close();
  }
  rep.exit(code);
  return code;
}

async function noOfferMessage(master: string, need: { cpus: number; mem: number; disk: number }, waitedS: number): Promise<string> {
  const want = resourceText(need);
  const hint = 'is an agent registered? see `corral agent list`';
  const op = new OperatorClient(master, { timeoutMs: 5000 });
  try {
    const { slaves } = await op.slaves();
    const list = slaves ?? [];
    if (list.length === 0)
      return `no agent offers ${want} — no agent is registered with the master at ${op.masterUrl} (start one with \`corral agent\`, or use \`corral dev\`)`;
    const free = list.map((s) => {
      const t = scalars(s.resources);
      const u = scalars(s.used_resources);
      return { cpus: t.cpus - u.cpus, mem: t.mem - u.mem, disk: t.disk - u.disk };
    });
    const best = free.sort((a, b) => b.cpus - a.cpus || b.mem - a.mem)[0]!;
    return (
      `no agent offers ${want} within ${waitedS} s — ${hint} (${list.length} agent(s) registered; ` +
      `the freest has cpus:${fmtCpus(best.cpus)};mem:${fmtMb(best.mem)};disk:${fmtMb(best.disk)} unused)`
    );
  } catch {
    return `no agent offers ${want} within ${waitedS} s — ${hint}`;
  } finally {
    op.close();
  }
}
