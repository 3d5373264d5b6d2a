// `corral master`: a standalone master in the foreground. SIGINT/SIGTERM
// closes scheduler streams and the HTTP server, then the store, and exits 0.
// Frameworks and agents survive a restart: the registry lives in the store.
// With `--store etcd://…` it is one of several HA masters (docs/ha.md): it
// campaigns for leadership and redirects to the leader while it follows.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { LeadershipEvent, MasterHandle } from '../master/index.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';
import type { Store } from '../store/index.ts';
import {
  CliError,
  isAddrInUse,
  isStoreLocked,
  eventsAfterReady,
  stopServerAndStore,
  untilStopSignal,
  out,
  parseLogLevel,
  parsePort,
  parsePositiveInt,
  UsageError,
} from './common.ts';

/** Election lease TTL of HA masters unless --election-ttl-ms says otherwise (= the library default). */
const DEFAULT_ELECTION_TTL_MS = 2000;

interface MasterCliOptions {
  port: number;
  dataDir?: string;
  store?: string;
  electionTtlMs: number;
  host: string;
  hostname?: string;
  allocationIntervalMs?: number;
  offerTimeoutMs?: number;
  agentPingTimeoutMs?: number;
  maxAgentPingTimeouts?: number;
  agentReregisterTimeoutMs?: number;
  minAllocatableResources?: string;
  logLevel?: LogLevel;
  json?: boolean;
}

export function registerMaster(program: Command): void {
  program
    .command('master')
    .description('run a master in the foreground')
    .option('--port <port>', 'listen port (0 = any free port)', parsePort, 5050)
    .option('--data-dir <dir>', 'directory of the embedded master store (the registry); one master per directory; required without --store')
    .option('--store <url>', 'shared store for HA masters, etcd://HOST:PORT[,HOST:PORT…]: masters elect a leader in it and keep the registry there')
    .option('--election-ttl-ms <ms>', `with --store: leadership lease TTL, i.e. how long a dead or paused leader holds up a new election`, parsePositiveInt, DEFAULT_ELECTION_TTL_MS)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--hostname <name>', 'hostname advertised to frameworks (default: --host)')
    .option('--allocation-interval-ms <ms>', 'batch allocation period (default 1000)', parsePositiveInt)
    .option('--offer-timeout-ms <ms>', 'rescind offers outstanding this long (default: never)', parsePositiveInt)
    .option('--agent-ping-timeout-ms <ms>', 'master → agent ping period/timeout (default 3000)', parsePositiveInt)
    .option('--max-agent-ping-timeouts <n>', 'missed pings before an agent is unreachable (default 3)', parsePositiveInt)
    .option('--agent-reregister-timeout-ms <ms>', 'after a restart, how long known agents have to re-register (default 60000)', parsePositiveInt)
    .option('--min-allocatable-resources <text>', "minimum offerable quantities, Mesos syntax (default 'cpus:0.01|mem:32')")
    .option('--log-level <level>', 'debug | info | warn | error (default: $CORRAL_LOG_LEVEL or info)', parseLogLevel)
    .option('--json', 'print {"event":"ready","master":URL}, {"event":"elected"}, {"event":"deposed","reason":…} and {"event":"stopped"} as JSON lines on stdout')
    .addHelpText(
      'after',
      `
Examples:
  corral master --data-dir /var/lib/corral/master
  corral master --data-dir ./m --port 5050 --host 0.0.0.0 --hostname $(hostname -f)
  corral master --store etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379 --host 0.0.0.0 --hostname $(hostname -f)   # one of 3 HA masters`,
    )
    .action(async (opts: MasterCliOptions) => {
      await runMaster(opts);
    });
}

function logLevelOf(opts: MasterCliOptions): LogLevel {
  return opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
}

async function openMasterStore(opts: MasterCliOptions): Promise<{ store: Store; where: string; ha: boolean }> {
  if (opts.store !== undefined) {
    if (!/^etcd:\/\//.test(opts.store)) throw new UsageError(`--store: expected etcd://HOST:PORT[,HOST:PORT…], got '${opts.store}'`);
    const { openStore } = await import('../store/open.ts');
    try {
      return { store: await openStore(opts.store, { logger: createLogger('store', logLevelOf(opts)) }), where: opts.store, ha: true };
    } catch (e) {
      throw new CliError(`cannot open the store ${opts.store}: ${(e as Error).message}`);
    }
  }
  if (!opts.dataDir) throw new UsageError("required option '--data-dir <dir>' not specified (or give --store etcd://… for HA masters)");
  const { openEmbeddedStore } = await import('../store/index.ts');
  const dataDir = resolve(opts.dataDir);
  try {
    return { store: await openEmbeddedStore(dataDir), where: dataDir, ha: false };
  } catch (e) {
    if (isStoreLocked(e)) throw new CliError(`${(e as Error).message}. Is another corral master (or \`corral dev\`) using --data-dir ${dataDir}?`);
    throw e;
  }
}

async function runMaster(opts: MasterCliOptions): Promise<void> {
  const { startMaster } = await import('../master/index.ts');
  const log = createLogger('master', logLevelOf(opts));
  const { store, where, ha } = await openMasterStore(opts);
  const events = eventsAfterReady<LeadershipEvent>(opts.json);
  let master: MasterHandle;
  try {
    master = await startMaster({
      store,
      host: opts.host,
      port: opts.port,
      log,
      ...(opts.hostname ? { hostname: opts.hostname } : {}),
      ...(opts.allocationIntervalMs !== undefined ? { allocationIntervalMs: opts.allocationIntervalMs } : {}),
      ...(opts.offerTimeoutMs !== undefined ? { offerTimeoutMs: opts.offerTimeoutMs } : {}),
      ...(opts.agentPingTimeoutMs !== undefined ? { agentPingTimeoutMs: opts.agentPingTimeoutMs } : {}),
      ...(opts.maxAgentPingTimeouts !== undefined ? { maxAgentPingTimeouts: opts.maxAgentPingTimeouts } : {}),
      ...(opts.agentReregisterTimeoutMs !== undefined ? { agentReregisterTimeoutMs: opts.agentReregisterTimeoutMs } : {}),
      ...(opts.minAllocatableResources ? { minAllocatableResources: opts.minAllocatableResources } : {}),
      ...(ha ? { ha: { electionTtlMs: opts.electionTtlMs, onLeadership: events.report } } : {}),
    });
  } catch (e) {
    await store.close().catch(() => {});
    if (isAddrInUse(e)) throw new CliError(`port ${opts.port} on ${opts.host} is already in use; choose another with --port`);
    throw e;
  }

  const stopped = untilStopSignal();
  events.ready({ event: 'ready', master: master.url, ...(ha ? { store: where, ha: true } : { data_dir: where }), pid: process.pid });
  if (!opts.json) out(`corral master listening on ${master.url} (store ${where}${ha ? ', HA: campaigning for leadership' : ''}); Ctrl-C to stop`);

  const stopSignal = await stopped;
  log.info('stopping', { signal: stopSignal });
  await stopServerAndStore(log, 'master', master, store, opts.json);
}
