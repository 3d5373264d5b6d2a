// `corral orchestrator`: the Marathon-compatible orchestrator in the
// foreground — a framework subscribed to a master through the v1 scheduler
// API, its state in an embedded store, and the Marathon v2 REST API.
// SIGINT/SIGTERM closes the API (event streams included), stops the runtime
// (the framework is NOT torn down: its tasks keep running and a restart with
// the same --data-dir takes them over), then closes the store and exits 0.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { OrchestratorStack } from '../orchestrator/api/stack.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';
import type { Store } from '../store/index.ts';
import {
  CliError,
  isAddrInUse,
  isStoreLocked,
  jsonLine,
  masterOption,
  untilStopSignal,
  out,
  parseLogLevel,
  parsePort,
} from './common.ts';

interface OrchestratorCliOptions {
  master: string;
  port: number;
  host: string;
  dataDir: string;
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
    .requiredOption('--data-dir <dir>', 'directory of the orchestrator store (apps, deployments, tasks); one orchestrator per directory')
    .option('--hostname <name>', 'hostname advertised to the master (default: --host)')
    .option('--framework-name <name>', 'framework name (default marathon)')
    .option('--role <role>', 'Mesos role (default *)')
    .option('--log-level <level>', 'debug | info | warn | error (default: $CORRAL_LOG_LEVEL or info)', parseLogLevel)
    .option('--json', 'print {"event":"ready","orchestrator":URL,…} and {"event":"stopped"} as JSON lines on stdout')
    .addHelpText(
      'after',
      `
The API is Marathon's v2 REST API: existing Marathon clients (the python marathon library, curl
recipes) work unchanged, and so do \`corral app\` and \`corral deployment\` (set CORRAL_ORCHESTRATOR).
Ctrl-C stops the orchestrator without stopping its tasks; start it again with the same --data-dir and
it takes them over (same framework id), reconciles with the master and resumes unfinished deployments.

Examples:
  corral orchestrator --master http://127.0.0.1:5050 --data-dir ./.corral/orchestrator
  corral orchestrator --master http://m1:5050 --port 8080 --host 0.0.0.0 --data-dir /var/lib/corral/orch`,
    )
    .action(async (opts: OrchestratorCliOptions) => {
      await runOrchestrator(opts);
    });
}

async function runOrchestrator(opts: OrchestratorCliOptions): Promise<void> {
  const [{ startOrchestratorStack }, { openEmbeddedStore }] = await Promise.all([import('../orchestrator/api/stack.ts'), import('../store/index.ts')]);
  const level = opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
  const log = createLogger('orchestrator', level);
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
    stack = await startOrchestratorStack({
      masterUrl: opts.master,
      store,
      host: opts.host,
      port: opts.port,
      log,
      ...(opts.hostname || opts.host !== '127.0.0.1' ? { hostname: opts.hostname ?? opts.host } : {}),
      ...(opts.frameworkName ? { frameworkName: opts.frameworkName } : {}),
      ...(opts.role ? { role: opts.role } : {}),
    });
  } catch (e) {
    await store.close().catch(() => {});
    if (isAddrInUse(e)) throw new CliError(`port ${opts.port} on ${opts.host} is already in use; choose another with --port`);
    throw e;
  }

  const stopped = untilStopSignal();
  if (opts.json) jsonLine({ event: 'ready', orchestrator: stack.url, master: opts.master, data_dir: dataDir, pid: process.pid });
  else out(`corral orchestrator: Marathon API on ${stack.url}, framework of ${opts.master} (store ${dataDir}); Ctrl-C to stop`);

  const stopSignal = await stopped;
  log.info('stopping', { signal: stopSignal });
  let ok = true;
  await stack.close().catch((e: Error) => {
    ok = false;
    log.error('stopping the orchestrator failed', { error: e.message });
  });
  await store.close().catch((e: Error) => {
    ok = false;
    log.error('closing the store failed', { error: e.message });
  });
  if (opts.json) jsonLine({ event: 'stopped', ok });
  if (!ok) process.exitCode = 1;
}
