// `corral orchestrator`: the Marathon-compatible orchestrator in the
// foreground — a framework subscribed to a master through the v1 scheduler
// API, its state in an embedded store, and the Marathon v2 REST API.
// SIGINT/SIGTERM closes the API (event streams included), stops the runtime
// (the framework is NOT torn down: its tasks keep running and a restart with
// the same --data-dir takes them over), then closes the store and exits 0.
// With `--store etcd://…` it is one of several HA orchestrators (docs/ha.md,
// "Orchestrator failover"): one leads, the others proxy the API to it and take
// over when it goes; stopping a leader hands over at once.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { HaOrchestratorStack, OrchestratorLeadershipEvent } from '../orchestrator/api/ha-stack.ts';
import type { OrchestratorStack } from '../orchestrator/api/stack.ts';
import { createLogger, type Logger, type LogLevel } from '../runtime/log.ts';
import type { Store } from '../store/index.ts';
import {
  CliError,
  isAddrInUse,
  isStoreLocked,
  eventsAfterReady,
  jsonLine,
  stopServerAndStore,
  masterOption,
  untilStopSignal,
  out,
  parseLogLevel,
  parsePort,
  parsePositiveInt,
  UsageError,
} from './common.ts';

/** Election lease TTL of HA orchestrators unless --election-ttl-ms says otherwise (= the library default). */
const DEFAULT_ELECTION_TTL_MS = 2000;

interface OrchestratorCliOptions {
  master: string;
  port: number;
  host: string;
  dataDir?: string;
  store?: string;
  electionTtlMs: number;
  hostname?: string;
  frameworkName?: string;
  role?: string;
  logLevel?: LogLevel;
  json?: boolean;
}

export function registerOrchestrator(program: Command): void {
  program
    .command('orchestrator')
    .description('run the orchestrator (Marathon v2 API) in the foreground, as a framework of a master')
    .addOption(masterOption('master URL (any master speaking the Mesos v1 scheduler API)'))
    .option('--port <port>', 'Marathon API listen port (0 = any free port)', parsePort, 8080)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--data-dir <dir>', 'directory of the orchestrator store (apps, deployments, tasks); one orchestrator per directory; required without --store')
    .option('--store <url>', 'shared store for HA orchestrators, etcd://HOST:PORT[,HOST:PORT…]: instances elect a leader there and keep the state there')
    .option('--election-ttl-ms <ms>', 'with --store: leadership lease TTL, i.e. how long a dead or paused leader holds up a new election', parsePositiveInt, DEFAULT_ELECTION_TTL_MS)
    .option('--hostname <name>', 'hostname advertised to the master and, with --store, to the other orchestrators (default: --host)')
    .option('--framework-name <name>', 'framework name (default marathon)')
    .option('--role <role>', 'Mesos role (default *)')
    .option('--log-level <level>', 'debug | info | warn | error (default: $CORRAL_LOG_LEVEL or info)', parseLogLevel)
    .option('--json', 'print {"event":"ready","orchestrator":URL,…}, {"event":"elected"}, {"event":"deposed","reason":…} and {"event":"stopped"} as JSON lines on stdout')
    .addHelpText(
      'after',
      `
The API is Marathon's v2 REST API: existing Marathon clients (the python marathon library, curl
recipes) work unchanged, and so do \`corral app\` and \`corral deployment\` (set CORRAL_ORCHESTRATOR).
Ctrl-C stops the orchestrator without stopping its tasks; start it again with the same --data-dir and
it takes them over (same framework id), reconciles with the master and resumes unfinished deployments.

Examples:
  corral orchestrator --master http://127.0.0.1:5050 --data-dir ./.corral/orchestrator
  corral orchestrator --master http://m1:5050 --port 8080 --host 0.0.0.0 --data-dir /var/lib/corral/orch
  corral orchestrator --master etcd://10.0.0.1:2379,10.0.0.2:2379 --data-dir ./orch   # HA masters: follows the leader
  corral orchestrator --master etcd://10.0.0.1:2379 --store etcd://10.0.0.1:2379 --host 0.0.0.0 --hostname $(hostname -f)   # one of 2+ HA orchestrators`,
    )
    .action(async (opts: OrchestratorCliOptions) => {
      if (opts.store !== undefined) await runHaOrchestrator(opts);
      else await runOrchestrator(opts);
    });
}

async function runOrchestrator(opts: OrchestratorCliOptions): Promise<void> {
  const [{ startOrchestratorStack }, { openEmbeddedStore }] = await Promise.all([import('../orchestrator/api/stack.ts'), import('../store/index.ts')]);
  const level = opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
  const log = createLogger('orchestrator', level);
  if (!opts.dataDir) throw new UsageError("required option '--data-dir <dir>' not specified (or give --store etcd://… for HA orchestrators)");
  const dataDir = resolve(opts.dataDir);
  let store: Store;
  try {
    store = await openEmbeddedStore(dataDir);
  } catch (e) {
    if (isStoreLocked(e)) throw new CliError(`${(e as Error).message}. Is another corral orchestrator using --data-dir ${dataDir}?`);
    throw e;
  }
  let stack: OrchestratorStack;
  try {
    stack = await startOrchestratorStack(stackOptions(opts, store, log));
  } catch (e) {
    throw await startFailed(e, opts, store);
  }

  const stopped = untilStopSignal();
  if (opts.json) jsonLine({ event: 'ready', orchestrator: stack.url, master: opts.master, data_dir: dataDir, pid: process.pid });
  else out(`corral orchestrator: Marathon API on ${stack.url}, framework of ${opts.master} (store ${dataDir}); Ctrl-C to stop`);

  const stopSignal = await stopped;
  log.info('stopping', { signal: stopSignal });
  await stopServerAndStore(log, 'orchestrator', stack, store, opts.json);
}

/** `--store etcd://…`: one HA instance (src/orchestrator/api/ha-stack.ts). */
async function runHaOrchestrator(opts: OrchestratorCliOptions): Promise<void> {
  const spec = opts.store!;
  if (!/^etcd:\/\//.test(spec)) throw new UsageError(`--store: expected etcd://HOST:PORT[,HOST:PORT…], got '${spec}'`);
  const [{ startHaOrchestratorStack }, { openStore }] = await Promise.all([import('../orchestrator/api/ha-stack.ts'), import('../store/open.ts')]);
  const level = opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
  const log = createLogger('orchestrator', level);
  let store: Store;
  try {
    store = await openStore(spec, { logger: createLogger('store', level) });
  } catch (e) {
    throw new CliError(`cannot open the store ${spec}: ${(e as Error).message}`);
  }
  const events = eventsAfterReady<OrchestratorLeadershipEvent>(opts.json);
  let stack: HaOrchestratorStack;
  try {
    stack = await startHaOrchestratorStack({ ...stackOptions(opts, store, log), electionTtlMs: opts.electionTtlMs, onLeadership: events.report });
  } catch (e) {
    throw await startFailed(e, opts, store);
  }

  const stopped = untilStopSignal();
  events.ready({ event: 'ready', orchestrator: stack.url, id: stack.id, advertised: stack.advertisedUrl, master: opts.master, store: spec, ha: true, pid: process.pid });
  if (!opts.json) out(`corral orchestrator: Marathon API on ${stack.url}, framework of ${opts.master} (store ${spec}, HA: campaigning for leadership); Ctrl-C to stop`);

  const stopSignal = await stopped;
  log.info('stopping', { signal: stopSignal });
  // A leader stops its runtime (tasks keep running) and resigns: a standby takes over at once.
  await stopServerAndStore(log, 'orchestrator', stack, store, opts.json);
}

/** What both the single and the HA orchestrator stack take from the command line. */
function stackOptions(opts: OrchestratorCliOptions, store: Store, log: Logger) {
  return {
    masterUrl: opts.master,
    store,
    host: opts.host,
    port: opts.port,
    log,
    ...(opts.hostname || opts.host !== '127.0.0.1' ? { hostname: opts.hostname ?? opts.host } : {}),
    ...(opts.frameworkName ? { frameworkName: opts.frameworkName } : {}),
    ...(opts.role ? { role: opts.role } : {}),
  };
}

/** A stack that failed to start: close the store, and say plainly when the port is taken. */
async function startFailed(e: unknown, opts: OrchestratorCliOptions, store: Store): Promise<unknown> {
  await store.close().catch(() => {});
  if (isAddrInUse(e)) return new CliError(`port ${opts.port} on ${opts.host} is already in use; choose another with --port`);
  return e;
}
