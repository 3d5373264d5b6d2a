// `corral task run|list|log|kill`.
//
// `task kill`: Mesos has no operator "kill task" call; only the framework that
// owns a task may KILL it. So `corral task kill ID` looks the task's framework
// up in /master/state, SUBSCRIBEs *as* that framework (framework_info.id set),
// sends KILL, waits for the terminal update, and — for a `corral-cli`
// framework, which exists only to run that one task — TEARs it DOWN.
// Re-subscribing takes the subscription over from the running scheduler, so
// for other frameworks that are still connected it requires --force.
import { Command, Option } from 'commander';
import { OperatorClient, type LegacyFramework, type LegacyMasterState, type LegacySlave, type LegacyTask } from '../client/operator-client.ts';
import { SchedulerClient } from '../client/scheduler-client.ts';
import { isTerminalState, type FrameworkInfo, type TaskState } from '../protocol/mesos.ts';
import {
  CliError,
  UsageError,
  collect,
  delay,
  err,
  isoTime,
  masterOption,
  onStopSignals,
  out,
  parseNonNegativeNumber,
  parsePositiveInt,
  parsePositiveNumber,
  printJson,
  table,
} from './common.ts';
import { CLI_FRAMEWORK_NAME, runTask, type TaskRunOptions } from './task-run.ts';

export function registerTask(program: Command): void {
  const task = program.command('task').description('run, list, inspect and kill tasks');

  task
    .command('run')
    .description('launch one command as a task, stream its state changes, and exit with its exit code')
    .argument('<cmd...>', 'the command; one argument is run by /bin/sh -c as is, several are quoted word by word')
    .option('--cpus <n>', 'CPUs', parseNonNegativeNumber, 0.1)
    .option('--mem <mb>', 'memory in MB', parseNonNegativeNumber, 32)
    .option('--disk <mb>', 'disk in MB', parseNonNegativeNumber, 0)
    .option('--name <name>', 'task name (default: the program name); the task id is <name>.<uuid>')
    .option('--env <K=V>', 'environment variable for the task (repeatable)', collect)
    .option('--role <role>', 'role to run under', '*')
    .option('--offer-timeout <s>', 'give up when no offer fits within this many seconds', parsePositiveNumber, 30)
    .option('--kill-timeout <s>', 'after Ctrl-C, wait this long for the task to be killed', parsePositiveNumber, 30)
    .addOption(masterOption())
    .option('--json', 'JSON lines on stdout: subscribed, launched, status…, exit')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Prints the task id on stdout as soon as the task is launched, its state changes (with timestamps) on
stderr, and exits with the task's exit status: 0 for TASK_FINISHED, N for "exited with status N",
128+S when killed by signal S, 1 for other failures. Ctrl-C kills the task (exit 130).

The run is its own framework (name ${CLI_FRAMEWORK_NAME}, failover timeout 60 s): if this command dies,
the task keeps running for up to 60 s, during which \`corral task kill ID\` can stop it; after that the
master removes the framework and kills the task.

Examples:
  corral task run -- echo hello
  corral task run --cpus 0.5 --mem 128 --env GREETING=hi -- sh -c 'echo $GREETING; exit 3'
  corral task run 'for i in 1 2 3; do echo $i; sleep 1; done'`,
    )
    .action(async (cmd: string[], opts: TaskRunOptions) => {
      process.exitCode = await runTask(cmd, opts);
    });

  task
    .command('list')
    .description('list tasks (active ones; --all adds finished, failed, killed… tasks)')
    .option('--all', 'include terminal tasks')
    .addOption(masterOption())
    .option('--json', 'print JSON')
    .action(async (opts: { all?: boolean; master: string; json?: boolean }) => {
      await listTasks(opts);
    });

  task
    .command('log')
    .description("print a task's stdout (or stderr) from its sandbox on the agent")
    .argument('<id>', 'task id (or a unique prefix)')
    .option('-f, --follow', 'keep printing new output until the task has ended')
    .option('--stderr', 'read stderr instead of stdout')
    .option('-n, --lines <n>', 'only the last N lines', parsePositiveInt)
    .addOption(new Option('--poll-ms <ms>', 'polling period for --follow').argParser(parsePositiveInt).default(300).hideHelp())
    .addOption(masterOption())
    .action(async (id: string, opts: LogOptions) => {
      await taskLog(id, opts);
    });

  task
    .command('kill')
    .description('kill a task (acting as its framework), wait until it is terminal')
    .argument('<id>', 'task id (or a unique prefix)')
    .option('--force', 'also take over a connected framework other than corral-cli to kill its task')
    .option('--timeout <s>', 'how long to wait for the terminal state', parsePositiveNumber, 30)
    .addOption(masterOption())
    .option('--json', 'print the final status as JSON')
    .addHelpText(
      'after',
      `
Mesos lets only the framework that owns a task kill it. \`corral task kill\` therefore subscribes as the
task's framework, sends KILL, and waits for the terminal update; for ${CLI_FRAMEWORK_NAME} frameworks (one per
\`corral task run\`) it then tears the framework down. The \`corral task run\` that launched the task is
disconnected by this and exits. For other frameworks that are still connected (e.g. an orchestrator),
taking over their subscription needs --force; the framework re-subscribes afterwards.`,
    )
    .action(async (id: string, opts: KillOptions) => {
      await killTask(id, opts);
    });
}

// ---- shared lookups ----

export interface TaskRow {
  id: string;
  name: string;
  state: string;
  framework_id: string;
  framework_name: string;
  agent_id: string;
  host: string;
  executor_id?: string;
  started?: number;
  updated?: number;
  message?: string;
}

interface Located {
  task: LegacyTask;
  framework?: LegacyFramework;
  frameworkActive: boolean;
  slave?: LegacySlave;
}

function allTasks(state: LegacyMasterState): Located[] {
  const slaves = new Map((state.slaves ?? []).map((s) => [s.id, s]));
  const out: Located[] = [];
  const seen = new Set<string>();
  const add = (t: LegacyTask, fw: LegacyFramework | undefined, active: boolean) => {
    const key = `${t.framework_id}/${t.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ task: t, framework: fw, frameworkActive: active, slave: slaves.get(t.slave_id) });
  };
  for (const fw of state.frameworks ?? []) {
    for (const t of [...(fw.tasks ?? []), ...(fw.unreachable_tasks ?? []), ...(fw.completed_tasks ?? [])]) add(t, fw, true);
  }
  for (const fw of state.completed_frameworks ?? []) {
    for (const t of [...(fw.tasks ?? []), ...(fw.unreachable_tasks ?? []), ...(fw.completed_tasks ?? [])]) add(t, fw, false);
  }
  return out;
}

function toRow(l: Located): TaskRow {
  const statuses = l.task.statuses ?? [];
  const last = statuses.at(-1);
  return {
    id: l.task.id,
    name: l.task.name,
    state: l.task.state,
    framework_id: l.task.framework_id,
    framework_name: l.framework?.name ?? '',
    agent_id: l.task.slave_id,
    host: l.slave?.hostname ?? '',
    ...(l.task.executor_id ? { executor_id: l.task.executor_id } : {}),
    ...(statuses[0]?.timestamp !== undefined ? { started: statuses[0].timestamp } : {}),
    ...(last?.timestamp !== undefined ? { updated: last.timestamp } : {}),
    ...(last?.message ? { message: last.message } : {}),
  };
}

const terminal = (state: string) => isTerminalState(state as TaskState);

/** Finds a task by exact id, else by unique prefix. */
async function locateTask(op: OperatorClient, id: string): Promise<Located & { state: LegacyMasterState }> {
  const state = await op.state();
  let all = allTasks(state);
  // /master/tasks may know tasks the state summary dropped (e.g. beyond per-framework caps).
  if (!all.some((l) => l.task.id === id)) {
    try {
      const extra = await op.tasks({ task_id: id, limit: 1000 });
      const fws = new Map([...(state.frameworks ?? []), ...(state.completed_frameworks ?? [])].map((f) => [f.id, f]));
      const slaves = new Map((state.slaves ?? []).map((s) => [s.id, s]));
      for (const t of extra.tasks ?? [])
        if (!all.some((l) => l.task.id === t.id))
          all = [...all, { task: t, framework: fws.get(t.framework_id), frameworkActive: (state.frameworks ?? []).some((f) => f.id === t.framework_id), slave: slaves.get(t.slave_id) }];
    } catch {
      // best effort
    }
  }
  const exact = all.filter((l) => l.task.id === id);
  // Prefer the live copy if a task id was reused across frameworks.
  const pick = (ls: Located[]) => ls.find((l) => !terminal(l.task.state)) ?? ls[0]!;
  if (exact.length) return { ...pick(exact), state };
  const prefixed = all.filter((l) => l.task.id.startsWith(id));
  const ids = [...new Set(prefixed.map((l) => l.task.id))];
  if (ids.length === 1) return { ...pick(prefixed), state };
  if (ids.length > 1) throw new CliError(`task id prefix ${JSON.stringify(id)} is ambiguous: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`);
  throw new CliError(`no task ${JSON.stringify(id)} is known to the master at ${op.masterUrl} (see \`corral task list --all\`)`);
}

// ---- list ----

async function listTasks(opts: { all?: boolean; master: string; json?: boolean }): Promise<void> {
  const op = new OperatorClient(opts.master);
  try {
    const state = await op.state();
    const located = allTasks(state);
    const known = new Set(located.map((l) => `${l.task.framework_id}/${l.task.id}`));
    // Merge /master/tasks for anything the state document does not carry.
    try {
      const { tasks } = await op.tasks({ limit: 10_000 });
      const fws = new Map([...(state.frameworks ?? []), ...(state.completed_frameworks ?? [])].map((f) => [f.id, f]));
      const slaves = new Map((state.slaves ?? []).map((s) => [s.id, s]));
      for (const t of tasks ?? []) {
        if (known.has(`${t.framework_id}/${t.id}`)) continue;
        known.add(`${t.framework_id}/${t.id}`);
        located.push({ task: t, framework: fws.get(t.framework_id), frameworkActive: false, slave: slaves.get(t.slave_id) });
      }
    } catch {
      // /master/state alone is enough
    }
    const rows = located
      .map(toRow)
      .filter((r) => opts.all || !terminal(r.state))
      .sort((a, b) => (a.started ?? 0) - (b.started ?? 0) || a.id.localeCompare(b.id));
    if (opts.json) return printJson(rows);
    if (rows.length === 0) {
      out(opts.all ? 'no tasks' : 'no active tasks (--all shows finished ones too)');
      return;
    }
    out(
      table(
        ['ID', 'NAME', 'STATE', 'FRAMEWORK', 'AGENT', 'HOST', 'UPDATED'],
        rows.map((r) => [
          r.id,
          r.name,
          r.state,
          r.framework_name || r.framework_id,
          r.agent_id,
          r.host || '-',
          r.updated !== undefined ? isoTime(r.updated).replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-',
        ]),
      ),
    );
  } finally {
    op.close();
  }
}

// ---- log ----

interface LogOptions {
  follow?: boolean;
  stderr?: boolean;
  lines?: number;
  pollMs: number;
  master: string;
}

const READ_CHUNK = 64 * 1024;

async function taskLog(id: string, opts: LogOptions): Promise<void> {
  const op = new OperatorClient(opts.master);
  let stop = false;
  const removeSignals = opts.follow ? onStopSignals(() => (stop = true), () => process.exit(130)) : () => {};
  try {
    const located = await locateTask(op, id);
    const task = located.task;
    const which = opts.stderr ? 'stderr' : 'stdout';
    // Through the master's /files proxy (it finds the agent and the sandbox), so one URL is enough.
    const query = (offset: number, length?: number) =>
      new URLSearchParams({ task_id: task.id, framework_id: task.framework_id, path: which, offset: String(offset), ...(length ? { length: String(length) } : {}) });
    const fetchChunk = (offset: number, length?: number) => op.master<{ offset: number; data: string }>(`/files/read?${query(offset, length)}`);
    const notFound = (e: unknown) => (e as { status?: number }).status === 404;

    // The sandbox may not exist for a moment right after launch: with --follow, wait for it.
    for (let attempt = 0; ; attempt++) {
      try {
        await fetchChunk(-1);
        break;
      } catch (e) {
        if (!notFound(e) || !opts.follow || stop || attempt > 100) {
          if (notFound(e)) throw new CliError(`${which} of task ${task.id} is not available: ${(e as Error).message.replace(/^GET \/files\/read failed: /, '')}`);
          throw e;
        }
      }
      await delay(opts.pollMs);
    }

    const read = async (offset: number) => {
      try {
        return await fetchChunk(offset, READ_CHUNK);
      } catch (e) {
        if (notFound(e)) throw new CliError(`${which} of task ${task.id} is no longer available (its sandbox may have been garbage-collected)`);
        throw e;
      }
    };
    const size = async () => (await read(-1)).offset;

    let offset = 0;
    if (opts.lines !== undefined) offset = await tailOffset(read, await size(), opts.lines);
    // Drain from offset to the current end.
    const drain = async (): Promise<boolean> => {
      let any = false;
      for (;;) {
        const chunk = await read(offset);
        if (!chunk.data) return any;
        process.stdout.write(chunk.data);
        offset += Buffer.byteLength(chunk.data, 'utf8');
        any = true;
        if (Buffer.byteLength(chunk.data, 'utf8') < READ_CHUNK && !opts.follow) return any;
      }
    };
    await drain();
    if (!opts.follow) return;

    let lastStateCheck = 0;
    let ended = terminal(task.state);
    while (!stop) {
      const got = await drain();
      if (got) continue;
      if (ended) break; // terminal and drained
      if (Date.now() - lastStateCheck >= 1000) {
        lastStateCheck = Date.now();
        try {
          const now = await locateTask(op, task.id);
          ended = terminal(now.task.state);
          if (ended) continue; // one more drain before leaving
        } catch (e) {
          if (e instanceof CliError) ended = true;
          else throw e;
        }
      }
      await delay(opts.pollMs);
    }
  } finally {
    removeSignals();
    op.close();
  }
}

/** Byte offset where the last `lines` lines start (a trailing newline does not start a new line). */
export async function tailOffset(
  read: (offset: number) => Promise<{ offset: number; data: string }>,
  size: number,
  lines: number,
): Promise<number> {
  let pos = size;
  let newlines = 0;
  let first = true;
  while (pos > 0) {
    const start = Math.max(0, pos - READ_CHUNK);
    const chunk = Buffer.from((await read(start)).data, 'utf8').subarray(0, pos - start);
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (chunk[i] !== 0x0a) continue;
      if (first && start + i === size - 1) continue; // the file's final newline
      newlines++;
      if (newlines === lines) return start + i + 1;
    }
    first = false;
    pos = start;
  }
  return 0;
}

// ---- kill ----

interface KillOptions {
  force?: boolean;
  timeout: number;
  master: string;
  json?: boolean;
}

function frameworkInfoFor(fw: LegacyFramework, fallbackUser: string): FrameworkInfo {
  const caps = (fw.capabilities ?? [])
    .map((c) => (typeof c === 'string' ? c : (c as { type?: string }).type))
    .filter((c): c is string => typeof c === 'string');
  const info: Record<string, unknown> = {
    id: { value: fw.id },
    name: fw.name,
    user: fw.user || fallbackUser,
    failover_timeout: fw.failover_timeout ?? 0,
    ...(fw.checkpoint !== undefined ? { checkpoint: fw.checkpoint } : {}),
    ...(fw.principal ? { principal: fw.principal } : {}),
    ...(fw.hostname ? { hostname: fw.hostname } : {}),
    ...(fw.webui_url ? { webui_url: fw.webui_url } : {}),
    ...(caps.length ? { capabilities: caps.map((type) => ({ type })) } : {}),
  };
  if (Array.isArray(fw.roles) && fw.roles.length && caps.includes('MULTI_ROLE')) info.roles = fw.roles;
  else if (typeof fw.role === 'string') info.role = fw.role;
  else if (Array.isArray(fw.roles) && fw.roles.length === 1) info.role = fw.roles[0];
  return info as FrameworkInfo;
}

async function killTask(id: string, opts: KillOptions): Promise<void> {
  const op = new OperatorClient(opts.master);
  let client: SchedulerClient | undefined;
  try {
    const located = await locateTask(op, id);
    const task = located.task;
    if (terminal(task.state)) throw new CliError(`task ${task.id} is not running: it is already ${task.state}`);
    const fw = located.framework;
    if (!fw || !located.frameworkActive)
      throw new CliError(`the framework ${task.framework_id} of task ${task.id} is gone; the master kills its tasks itself`);
    const isCli = fw.name === CLI_FRAMEWORK_NAME;
    if (!isCli && fw.connected !== false && fw.active !== false && !opts.force)
      throw new UsageError(
        `task ${task.id} belongs to framework ${JSON.stringify(fw.name)} (${fw.id}), which is connected; ` +
          'killing it means taking over its subscription — pass --force to do that anyway',
      );

    client = new SchedulerClient({ masterUrl: opts.master });
    const c = client;
    const terminalStatus = c.waitFor(
      (ev) => {
        if (ev.type !== 'UPDATE') return undefined;
        const status = (ev as { update: { status: import('../protocol/mesos.ts').TaskStatus } }).update.status;
        if (status.task_id.value !== task.id) return undefined;
        return isTerminalState(status.state) ? status : undefined;
      },
      opts.timeout * 1000,
      `task ${task.id} to become terminal`,
    );
    terminalStatus.catch(() => {});
    c.on('update', (status) => {
      if (status.task_id.value === task.id) void c.acknowledge(status).catch(() => {});
    });
    await c.subscribe(frameworkInfoFor(fw, task.user ?? 'root'));
    await c.kill(task.id, task.slave_id);
    if (!opts.json) err(`kill sent to task ${task.id} (framework ${fw.name} ${fw.id}); waiting for it to stop…`);
    const status = await terminalStatus;
    if (isCli) await c.teardown().catch(() => {});
    if (opts.json) printJson({ task_id: task.id, state: status.state, message: status.message ?? null, reason: status.reason ?? null });
    else out(`${task.id} ${status.state}${status.message ? `  ${status.message}` : ''}`);
  } finally {
    client?.close();
    op.close();
  }
}
