// `corral master`: a standalone master in the foreground. SIGINT/SIGTERM
// closes scheduler streams and the HTTP server, then the store, and exits 0.
// Frameworks and agents survive a restart: the registry lives in the store.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { MasterHandle } from '../master/index.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';
import type { Store } from '../store/index.ts';
import {
  CliError,
  isAddrInUse,
  isStoreLocked,
  jsonLine,
  untilStopSignal,
  out,
  parseLogLevel,
  parsePort,
  parsePositiveInt,
} from './common.ts';

interface MasterCliOptions {
  port: number;
  dataDir: string;
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
    .requiredOption('--data-dir <dir>', 'directory of the master store (the registry); one master per directory')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--hostname <name>', 'hostname advertised to frameworks (default: --host)')
    .option('--allocation-interval-ms <ms>', 'batch allocation period (default 1000)', parsePositiveInt)
    .option('--offer-timeout-ms <ms>', 'rescind offers outstanding this long (default: never)', parsePositiveInt)
    .option('--agent-ping-timeout-ms <ms>', 'master → agent ping period/timeout (default 3000)', parsePositiveInt)
    .option('--max-agent-ping-timeouts <n>', 'missed pings before an agent is unreachable (default 3)', parsePositiveInt)
    .option('--agent-reregister-timeout-ms <ms>', 'after a restart, how long known agents have to re-register (default 60000)', parsePositiveInt)
    .option('--min-allocatable-resources <text>', "minimum offerable quantities, Mesos syntax (default 'cpus:0.01|mem:32')")
    .option('--log-level <level>', 'debug | info | warn | error (default: $CORRAL_LOG_LEVEL or info)', parseLogLevel)
    .option('--json', 'print {"event":"ready","master":URL} and {"event":"stopped"} as JSON lines on stdout')
    .addHelpText(
      'after',
      `
Examples:
  corral master --data-dir /var/lib/corral/master
  corral master --data-dir ./m --port 5050 --host 0.0.0.0 --hostname $(hostname -f)`,
    )
    .action(async (opts: MasterCliOptions) => {
      await runMaster(opts);
    });
}

async function runMaster(opts: MasterCliOptions): Promise<void> {
  const [{ startMaster }, { openEmbeddedStore }] = await Promise.all([import('../master/index.ts'), import('../store/index.ts')]);
  const level = opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
  const log = createLogger('master', level);
  const dataDir = resolve(opts.dataDir);
  let store: Store;
  try {
    store = await openEmbeddedStore(dataDir);
  } catch (e) {
    if (isStoreLocked(e)) throw new CliError(`${(e as Error).message}. Is another corral master (or \`corral dev\`) using --data-dir ${dataDir}?`);
    throw e;
  }
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
    });
  } catch (e) {
    await store.close().catch(() => {});
    if (isAddrInUse(e)) throw new CliError(`port ${opts.port} on ${opts.host} is already in use; choose another with --port`);
    throw e;
  }

  const stopped = untilStopSignal();
  if (opts.json) jsonLine({ event: 'ready', master: master.url, data_dir: dataDir, pid: process.pid });
  else out(`corral master listening on ${master.url} (store ${dataDir}); Ctrl-C to stop`);

  const stopSignal = await stopped;
  log.info('stopping', { signal: stopSignal });
  let ok = true;
  await master.close().catch((e: Error) => {
    ok = false;
    log.error('stopping the master failed', { error: e.message });
  });
  await store.close().catch((e: Error) => {
    ok = false;
    log.error('closing the store failed', { error: e.message });
  });
  if (opts.json) jsonLine({ event: 'stopped', ok });
  if (!ok) process.exitCode = 1;
}
