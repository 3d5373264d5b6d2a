// `corral dev`: a master, N agents and the orchestrator (Marathon API) in one
// foreground process, for development and tests. Ctrl-C (or SIGTERM) stops the
// orchestrator (its framework stays registered, so a restart resumes its apps),
// then the agents with their tasks killed (SIGTERM, then SIGKILL after the grace
// period), then the master, then closes the stores, and exits 0.
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import type { AgentHandle } from '../agent/index.ts';
import type { MasterHandle } from '../master/index.ts';
import type { OrchestratorStack } from '../orchestrator/api/stack.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';
import type { Store } from '../store/index.ts';
import {
  CliError,
  DEFAULT_MASTER,
  UsageError,
  bold,
  err,
  isAddrInUse,
  isStoreLocked,
  jsonLine,
  onStopSignals,
  out,
  parseLogLevel,
  parseNonNegativeInt,
  parsePort,
  parsePositiveInt,
  withTimeout,
} from './common.ts';
import type { DevHaOptions } from './dev-ha.ts';

/** The HA supervisor takes the same options; `--ha` picks it. */
interface DevOptions extends DevHaOptions {
  ha?: boolean;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a master and N agents in this process: a local cluster in the foreground')
    .option('--port <port>', 'master port; agents listen on port+1 … port+N (0 = any free ports)', parsePort, 5050)
    .option('--agents <n>', 'number of agents; each offers 1/N of this machine (0: master only)', parseNonNegativeInt, 1)
    .option('--data-dir <dir>', 'state directory: the master store in <dir>/master, agent i in <dir>/agent-<i> (default ./.corral; ./.corral-ha with --ha)')
    .option('--host <host>', 'address to bind and advertise', '127.0.0.1')
    .option('--allocation-interval-ms <ms>', 'batch allocation period (default 1000)', parsePositiveInt)
    .option('--log-level <level>', 'debug | info | warn | error (default: $CORRAL_LOG_LEVEL or info)', parseLogLevel)
    .option('--orchestrator-port <port>', 'Marathon API port of the built-in orchestrator (default 8080; 0 with --port 0)', parsePort)
    .option('--no-orchestrator', 'do not start the built-in orchestrator')
    .option('--ports <range>', 'host port range the agents offer to tasks, split between them', parsePortRange, '31000-32000')
    .option('--register-timeout-ms <ms>', 'how long to wait for the agents to register before reporting ready', parseNonNegativeInt, 30_000)
    .option('--json', 'print events as JSON lines on stdout: {"event":"ready","master":URL,"agents":[URL…]}, then "stopping"/"stopped"')
    .option('--ha', 'HA cluster of child processes: 3 etcd members, 3 masters, 2 orchestrators and the agents, supervised (see docs/operations.md)')
    .option('--etcd-port <port>', 'with --ha: client port of the first etcd member; members use port … port+5 (default 2379)', parsePort)
    .option('--election-ttl-ms <ms>', 'with --ha: leader lease TTL of the masters and orchestrators (default 2000)', parsePositiveInt)
    .addHelpText(
      'after',
      `
Ctrl-C (SIGINT) or SIGTERM stops the cluster: tasks are killed (SIGTERM, then SIGKILL after their grace
period), then the agents, the master and the store are closed, and the command exits 0. A second
Ctrl-C exits at once. Only one process may use a data directory at a time.

With --ha every part is a child process (kill -9 the leading master and watch another take over; the
supervisor restarts what dies). --json then prints {"event":"ready","masters":[…],"orchestrators":[…],
"agents":[…],"etcd":[…],"leaders":{…}}, then "leader", "exited", "restarted" events. Logs: <data dir>/logs.

Examples:
  corral dev                          # master on :5050, one agent on :5051
  corral dev --agents 3 --port 6050   # master on :6050, agents on :6051-6053
  corral dev --port 0 --json          # free ports; prints {"event":"ready",…} when usable
  corral dev --ha                     # etcd on :2379-2384, masters on :5050-5052, orchestrators on :8080-8081, agents from :5060`,
    )
    .action(async (opts: Omit<DevOptions, 'dataDir'> & { dataDir?: string }) => {
      if (opts.ha) {
        const { runDevHa } = await import('./dev-ha.ts');
        await runDevHa({ ...opts, dataDir: opts.dataDir ?? './.corral-ha' });
        return;
      }
      if (opts.etcdPort !== undefined || opts.electionTtlMs !== undefined) throw new UsageError('--etcd-port and --election-ttl-ms go with --ha');
      await runDev({ ...opts, dataDir: opts.dataDir ?? './.corral' });
    });
}

async function runDev(opts: DevOptions): Promise<void> {
  // Loaded here so that client commands never pay for the server code (or its native modules).
  const [{ startMaster }, { startAgent }, { openEmbeddedStore }, { startOrchestratorStack }] = await Promise.all([
    import('../master/index.ts'),
    import('../agent/index.ts'),
    import('../store/index.ts'),
    import('../orchestrator/api/stack.ts'),
  ]);
  const dataDir = resolve(opts.dataDir);
  const level = opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
  const log = createLogger('dev', level);
  if (opts.port !== 0 && opts.port + opts.agents > 65535)
    throw new UsageError(`--port ${opts.port} leaves no room for ${opts.agents} agent port(s) above it`);

  // Signals that arrive while starting up are honoured once startup has finished.
  let stopSignal: string | undefined;
  let wake: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (wake = r));
  let forced = false;
  const removeSignals = onStopSignals(
    (sig) => {
      stopSignal = sig;
      if (!opts.json) err(`\n${sig} received: stopping the cluster (tasks are killed)… press Ctrl-C again to exit at once`);
      wake?.();
    },
    () => {
      forced = true;
      err('second signal: exiting without waiting for tasks and agents to stop');
      process.exit(1);
    },
  );

  let store: Store | undefined;
  let orchestratorStore: Store | undefined;
  let orchestrator: OrchestratorStack | undefined;
  let master: MasterHandle | undefined;
  const agents: AgentHandle[] = [];
  const shutdown = async (): Promise<boolean> => {
    let ok = true;
    if (orchestrator) {
      await orchestrator.close().catch((e: Error) => {
        ok = false;
        log.error('stopping the orchestrator failed', { error: e.message });
      });
    }
    const results = await withTimeout(
      Promise.allSettled(agents.map((a) => a.close({ killTasks: true }))),
      60_000,
      () => [{ status: 'rejected', reason: new Error('agents did not stop within 60 s') } as PromiseRejectedResult],
    );
    for (const r of results) {
      if (r.status === 'rejected') {
        ok = false;
        log.error('stopping an agent failed', { error: (r.reason as Error)?.message ?? String(r.reason) });
      }
    }
    if (master) {
      await master.close().catch((e: Error) => {
        ok = false;
        log.error('stopping the master failed', { error: e.message });
      });
    }
    if (orchestratorStore) {
      await orchestratorStore.close().catch((e: Error) => {
        ok = false;
        log.error('closing the orchestrator store failed', { error: e.message });
      });
    }
    if (store) {
      await store.close().catch((e: Error) => {
        ok = false;
        log.error('closing the store failed', { error: e.message });
      });
    }
    return ok;
  };

  try {
    try {
      store = await openEmbeddedStore(join(dataDir, 'master'));
    } catch (e) {
      if (isStoreLocked(e))
        throw new CliError(
          `data directory ${dataDir} is in use: ${(e as Error).message}. Is another \`corral dev\` running? Stop it or pass --data-dir.`,
        );
      throw e;
    }
    let started: MasterHandle;
    try {
      started = await startMaster({
        host: opts.host,
        port: opts.port,
        store,
        log: log.child('master'),
        ...(opts.allocationIntervalMs !== undefined ? { allocationIntervalMs: opts.allocationIntervalMs } : {}),
      });
    } catch (e) {
      if (isAddrInUse(e))
        throw new CliError(`port ${opts.port} on ${opts.host} is already in use (master); choose another with --port, or --port 0 for free ports`);
      throw e;
    }
    master = started;
    const masterUrl = started.url;
    for (let i = 1; i <= opts.agents; i++) {
      const port = opts.port === 0 ? 0 : opts.port + i;
      try {
        agents.push(
          await startAgent({
            masterUrl,
            host: opts.host,
            port,
            workDir: join(dataDir, `agent-${i}`),
            resourceShare: 1 / Math.max(1, opts.agents),
            // Agents on one host must not offer the same host ports: split 31000-32000 between them.
            resources: `ports:[${portShare(opts.ports, i, opts.agents)}]`,
            log: log.child(`agent-${i}`),
          }),
        );
      } catch (e) {
        if (isAddrInUse(e))
          throw new CliError(
            `port ${port} on ${opts.host} is already in use (agent ${i} listens on --port + ${i}); choose another base with --port, or --port 0 for free ports`,
          );
        throw e;
      }
    }
    const registered = await withTimeout(
      Promise.all(agents.map((a) => a.registered())).then(() => true),
      opts.registerTimeoutMs,
      () => false,
    );
    if (!registered) log.warn('not every agent registered in time; continuing', { timeoutMs: opts.registerTimeoutMs });
    if (opts.orchestrator) {
      orchestratorStore = await openEmbeddedStore(join(dataDir, 'orchestrator'));
      const port = opts.orchestratorPort ?? (opts.port === 0 ? 0 : 8080);
      try {
        orchestrator = await startOrchestratorStack({ masterUrl, store: orchestratorStore, host: opts.host, port, log: log.child('orchestrator') });
      } catch (e) {
        if (isAddrInUse(e))
          throw new CliError(`port ${port} on ${opts.host} is already in use (orchestrator); choose another with --orchestrator-port, or --no-orchestrator`);
        throw e;
      }
    }
  } catch (e) {
    removeSignals();
    await shutdown().catch(() => {});
    throw e;
  }

  if (!master) throw new CliError('the master did not start');
  const agentInfo = agents.map((a, i) => ({ index: i + 1, url: a.url, id: a.agentId() }));
  if (opts.json) {
    jsonLine({ event: 'ready', master: master.url, orchestrator: orchestrator?.url ?? null, agents: agentInfo.map((a) => a.url), agent_ids: agentInfo.map((a) => a.id ?? null), data_dir: dataDir, pid: process.pid });
  } else if (!stopSignal) {
    const hintMaster = master.url === DEFAULT_MASTER ? '' : `CORRAL_MASTER=${master.url} `;
    const lines = [
      bold(`corral dev: cluster ready`) + ` (data dir ${dataDir})`,
      `  master    ${master.url}`,
      ...(orchestrator ? [`  marathon  ${orchestrator.url}   (Marathon v2 API: corral app …)`] : []),
      ...agentInfo.map((a) => `  agent ${String(a.index).padEnd(3)} ${a.url}${a.id ? `  (${a.id})` : '  (not registered yet)'}`),
      `try:`,
      `  ${hintMaster}corral task run -- echo hello`,
      `  ${hintMaster}corral task list --all     # then: corral task log <task id>`,
      `Ctrl-C stops the cluster and kills its tasks.`,
    ];
    out(lines.join('\n'));
  }

  await stopped;
  if (opts.json) jsonLine({ event: 'stopping', signal: stopSignal ?? null });
  const ok = await shutdown();
  removeSignals();
  if (forced) return;
  if (opts.json) jsonLine({ event: 'stopped', ok });
  else err(ok ? 'cluster stopped' : 'cluster stopped with errors (see above)');
  if (!ok) process.exitCode = 1;
}

/** The i-th (1-based) of n disjoint slices of the port range `first-last`. */
export function portShare(range: string, i: number, n: number): string {
  const [first, last] = range.split('-').map(Number) as [number, number];
  const size = Math.floor((last - first + 1) / n);
  const begin = first + (i - 1) * size;
  const end = i === n ? last : begin + size - 1;
  return `${begin}-${end}`;
}

function parsePortRange(value: string): string {
  const m = /^(\d+)-(\d+)$/.exec(value.trim());
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1 || last > 65535 || last < first)
    throw new UsageError(`--ports expects a range like 31000-32000, got ${JSON.stringify(value)}`);
  return `${first}-${last}`;
}
