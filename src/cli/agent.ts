// `corral agent` (run an agent in the foreground) and `corral agent list`.
//
// Like Mesos's agent, stopping a standalone agent (SIGINT/SIGTERM) leaves its
// tasks running: restarting it with the same --work-dir re-attaches to them
// (--recover reconnect, the default). `--recover cleanup` kills whatever the
// previous run left behind and starts fresh.
import { InvalidArgumentError, type Command } from 'commander';
import { resolve } from 'node:path';
import type { AgentHandle } from '../agent/index.ts';
import { parseDuration } from '../agent/recovery-timeout.ts';
import { checkCgroupsRoot, parseIsolation } from '../agent/isolation/config.ts';
import { parseByteSize } from '../agent/fetcher/options.ts';
import { parseInsecureRegistries, parseRegistryUrl } from '../agent/images/reference.ts';
import { OperatorClient, agentUrlOf, type LegacySlave } from '../client/operator-client.ts';
import { parseAttributeString } from '../protocol/mesos.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';
import {
  CliError,
  UsageError,
  err,
  isAddrInUse,
  jsonLine,
  masterOption,
  onStopSignals,
  out,
  parseLogLevel,
  parseNonNegativeInt,
  parsePort,
  parsePositiveInt,
  parsePositiveNumber,
  printJson,
  scalars,
  table,
  usedTotal,
} from './common.ts';

interface AgentCliOptions {
  master: string;
  port: number;
  workDir?: string;
  host: string;
  hostname?: string;
  resources?: string;
  resourceShare?: number;
  attributes?: string;
  recover: 'reconnect' | 'cleanup';
  recoveryTimeout?: number;
  switchUser?: boolean;
  statusUpdateRetryMs?: number;
  statusUpdateRetryMaxMs?: number;
  killTasksOnStop?: boolean;
  isolation?: string;
  cgroupsRoot?: string;
  cgroupsEnableCfs?: boolean;
  cgroupsPidsMax?: number;
  enforceContainerDiskQuota?: boolean;
  containerDiskWatchInterval?: number;
  defaultUser?: string;
  allowRootTasks?: boolean;
  fetcherCacheDir?: string;
  fetcherCacheSize?: number;
  fetcherMaxSize?: number;
  fetcherStallTimeout?: number;
  dockerRegistry?: string;
  dockerInsecureRegistries?: string[];
  dockerStoreDir?: string;
  imageProvisionerBackend?: 'overlay' | 'copy';
  logLevel?: LogLevel;
  json?: boolean;
}

export function registerAgent(program: Command): void {
  const agent = program
    .command('agent')
    .description('run an agent in the foreground (see also: corral agent list)')
    .addOption(masterOption('master URL to register with'))
    .option('--port <port>', 'listen port (0 = any free port)', parsePort, 5051)
    .option('--work-dir <dir>', 'sandboxes and checkpoints; reuse it to recover tasks after a restart (required)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--hostname <name>', 'hostname advertised to the master (default: --host)')
    .option('--resources <text>', "Mesos syntax, e.g. 'cpus:4;mem:8192;disk:20000;ports:[31000-32000]' (default: detected)")
    .option('--resource-share <fraction>', 'offer this fraction of the detected machine (default 1)', parsePositiveNumber)
    .option('--attributes <text>', "Mesos syntax, e.g. 'rack:r1;zone:a'")
    .option('--recover <mode>', 'reconnect: re-attach to tasks left running by a previous run; cleanup: kill them', parseRecover, 'reconnect')
    .option(
      '--recovery-timeout <duration>',
      'kill the tasks a stopped or crashed agent left running once no agent has taken the work dir over for this long: 15mins, 30secs, 500ms, or ms (default: 15mins, as Mesos)',
      parseRecoveryTimeout,
    )
    .option('--switch-user', 'run tasks as their framework/command user, else --default-user (requires root)')
    .option('--default-user <name>', 'with --switch-user, the user of tasks whose framework and command name none (default nobody)')
    .option('--allow-root-tasks', 'with --switch-user, let tasks whose user is root run as root (refused by default)')
    .option(
      '--isolation <list>',
      'isolators, Mesos names: cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,disk/du (default: the cgroups ones where possible; one asked for that cannot work stops the agent)',
      parseIsolationFlag,
    )
    .option('--cgroups-root <name>', "tasks' cgroups go under <hierarchy>/<name>/<container id> (default corral)", parseCgroupsRootFlag)
    .option('--cgroups-enable-cfs', 'also cap CPU time at the task\'s cpus (CFS quota), not only weight it (cpu shares)')
    .option('--cgroups-pids-max <n>', 'processes + threads per task (pids.max); 0 = unlimited (default 4096)', parseNonNegativeInt)
    .option('--enforce-container-disk-quota', "kill a task whose sandbox outgrows its disk (REASON_CONTAINER_LIMITATION_DISK); implies disk/du")
    .option('--container-disk-watch-interval <duration>', 'how often disk/du measures sandboxes: 15secs, 500ms, or ms (default 15secs)', parseRecoveryTimeout)
    .option('--fetcher-cache-dir <dir>', 'where `cache: true` URIs are kept, emptied on start (default: <work-dir>/fetcher-cache)')
    .option('--fetcher-cache-size <size>', 'bound of the fetcher cache, least recently used files evicted first: 2GB, 512MB, or bytes (default 2GB)', parseSizeFlag)
    .option('--fetcher-max-size <size>', 'largest artifact (download, copy or extracted archive) a task may fetch (default 4GB)', parseSizeFlag)
    .option('--fetcher-stall-timeout <duration>', 'fail a download that receives nothing for this long: 60secs, 2mins, or ms (default 60secs)', parseRecoveryTimeout)
    .option('--docker-registry <url>', 'where image names without a registry host are pulled from (default https://registry-1.docker.io)', parseRegistryFlag)
    .option('--docker-insecure-registries <hosts>', 'registries (host:port, comma-separated) pulled from over plain HTTP / without certificate checks; 127.0.0.0/8 always is', parseInsecureFlag)
    .option('--docker-store-dir <dir>', 'the image store: pulled layers and unpacked images (default: <work-dir>/images)')
    .option('--image-provisioner-backend <name>', "how a container's root filesystem is made from its image: overlay (default) or copy", parseBackendFlag)
    .option('--status-update-retry-ms <ms>', 'first retry of an unacknowledged status update; doubles each time (default 1000)', parsePositiveInt)
    .option('--status-update-retry-max-ms <ms>', 'cap of the status update retry interval (default 60000)', parsePositiveInt)
    .option('--log-level <level>', 'debug | info | warn | error (default: $CORRAL_LOG_LEVEL or info)', parseLogLevel)
    .option('--kill-tasks-on-stop', 'SIGINT/SIGTERM also kill the tasks (SIGTERM, then SIGKILL after their grace period), as `corral dev` does')
    .option('--json', 'print {"event":"ready",…}, {"event":"registered",…} and {"event":"stopped"} as JSON lines')
    .addHelpText(
      'after',
      `
Stopping the agent (Ctrl-C / SIGTERM) leaves its tasks running, as Mesos's agent does: start it again
with the same --work-dir to recover them, or with --recover cleanup to kill them. If no agent takes the
work dir over within --recovery-timeout, a watchdog process kills them and the next agent reports them
TASK_FAILED. (\`corral dev\`, by contrast, kills its tasks on Ctrl-C.)

Examples:
  corral agent --master http://10.0.0.1:5050 --work-dir /var/lib/corral/agent
  corral agent --master etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379 --work-dir /var/lib/corral/agent   # HA masters: follows the leader
  corral agent --work-dir ./a2 --port 5052 --resources 'cpus:2;mem:2048' --attributes 'rack:r1'`,
    )
    .action(async (opts: AgentCliOptions) => {
      await runAgent(opts);
    });

  agent
    .command('list')
    .description('list the agents registered with the master')
    .addOption(masterOption())
    .option('--json', 'print JSON')
    .action(async (opts: { master: string; json?: boolean }) => {
      await listAgents(opts);
    });
}

function parseRecoveryTimeout(value: string): number {
  try {
    return parseDuration(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function parseSizeFlag(value: string): number {
  try {
    return parseByteSize(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function parseRegistryFlag(value: string): string {
  try {
    parseRegistryUrl(value);
    return value;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^docker_registry: /, ''));
  }
}

function parseInsecureFlag(value: string): string[] {
  try {
    return parseInsecureRegistries(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^docker_insecure_registries: /, ''));
  }
}

function parseBackendFlag(value: string): 'overlay' | 'copy' {
  if (value === 'overlay' || value === 'copy') return value;
  throw new InvalidArgumentError('expected overlay or copy');
}

function parseIsolationFlag(value: string): string {
  try {
    parseIsolation(value);
    return value;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^isolation: /, ''));
  }
}

function parseCgroupsRootFlag(value: string): string {
  try {
    return checkCgroupsRoot(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^cgroups_root: /, ''));
  }
}

function parseRecover(value: string): 'reconnect' | 'cleanup' {
  if (value === 'reconnect' || value === 'cleanup') return value;
  throw new InvalidArgumentError('expected reconnect or cleanup');
}

async function runAgent(opts: AgentCliOptions): Promise<void> {
  if (!opts.workDir) throw new UsageError("required option '--work-dir <dir>' not specified");
  if (opts.attributes) {
    try {
      parseAttributeString(opts.attributes);
    } catch (e) {
      throw new UsageError(`--attributes: ${(e as Error).message}`);
    }
  }
  const { startAgent } = await import('../agent/index.ts');
  const level = opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
  const log = createLogger('agent', level);
  const workDir = resolve(opts.workDir);
  let handle: AgentHandle;
  try {
    handle = await startAgent({
      masterUrl: opts.master,
      host: opts.host,
      port: opts.port,
      workDir,
      recover: opts.recover,
      ...(opts.recoveryTimeout !== undefined ? { recoveryTimeoutMs: opts.recoveryTimeout } : {}),
      switchUser: Boolean(opts.switchUser),
      ...(opts.defaultUser !== undefined ? { defaultUser: opts.defaultUser } : {}),
      allowRootTasks: Boolean(opts.allowRootTasks),
      ...(opts.isolation !== undefined ? { isolation: opts.isolation } : {}),
      ...(opts.cgroupsRoot !== undefined ? { cgroupsRoot: opts.cgroupsRoot } : {}),
      cgroupsEnableCfs: Boolean(opts.cgroupsEnableCfs),
      ...(opts.cgroupsPidsMax !== undefined ? { cgroupsPidsMax: opts.cgroupsPidsMax } : {}),
      enforceContainerDiskQuota: Boolean(opts.enforceContainerDiskQuota),
      ...(opts.containerDiskWatchInterval !== undefined ? { containerDiskWatchIntervalMs: opts.containerDiskWatchInterval } : {}),
      ...(opts.fetcherCacheDir ? { fetcherCacheDir: resolve(opts.fetcherCacheDir) } : {}),
      ...(opts.fetcherCacheSize !== undefined ? { fetcherCacheSizeBytes: opts.fetcherCacheSize } : {}),
      ...(opts.fetcherMaxSize !== undefined ? { fetcherMaxSizeBytes: opts.fetcherMaxSize } : {}),
      ...(opts.fetcherStallTimeout !== undefined ? { fetcherStallTimeoutMs: opts.fetcherStallTimeout } : {}),
      ...(opts.dockerRegistry ? { dockerRegistry: opts.dockerRegistry } : {}),
      ...(opts.dockerInsecureRegistries ? { dockerInsecureRegistries: opts.dockerInsecureRegistries } : {}),
      ...(opts.dockerStoreDir ? { dockerStoreDir: resolve(opts.dockerStoreDir) } : {}),
      ...(opts.imageProvisionerBackend ? { imageProvisionerBackend: opts.imageProvisionerBackend } : {}),
      log,
      ...(opts.hostname ? { hostname: opts.hostname } : {}),
      ...(opts.resources ? { resources: opts.resources } : {}),
      ...(opts.resourceShare !== undefined ? { resourceShare: opts.resourceShare } : {}),
      ...(opts.attributes ? { attributes: opts.attributes } : {}),
      ...(opts.statusUpdateRetryMs !== undefined ? { statusUpdateRetryMs: opts.statusUpdateRetryMs } : {}),
      ...(opts.statusUpdateRetryMaxMs !== undefined ? { statusUpdateRetryMaxMs: opts.statusUpdateRetryMaxMs } : {}),
      // The master removed this agent (it was gone too long, or an operator said so): the agent has
      // killed its tasks and cleared its checkpoint; say why and exit (3) so a supervisor can restart it
      // as a new agent.
      onShutdown: (message) => {
        if (opts.json) jsonLine({ event: 'stopped', ok: false, reason: 'shut down by the master', message });
        else err(`the master shut this agent down: ${message}. Its tasks were killed; start it again to register as a new agent.`);
        process.exit(3);
      },
    });
  } catch (e) {
    if (isAddrInUse(e)) throw new CliError(`port ${opts.port} on ${opts.host} is already in use; choose another with --port`);
    throw e;
  }
  if (opts.json) jsonLine({ event: 'ready', agent: handle.url, master: opts.master, work_dir: workDir, pid: process.pid });
  else out(`corral agent listening on ${handle.url} (work dir ${workDir}); registering with ${opts.master}…`);
  let stopping = false;
  handle.registered().then(
    (id) => {
      if (stopping) return;
      if (opts.json) jsonLine({ event: 'registered', agent_id: id });
      else out(`registered with the master as ${id}`);
    },
    () => {},
  );

  await new Promise<void>((resolveStop) => {
    onStopSignals(
      () => {
        stopping = true;
        resolveStop();
      },
      () => {
        err('second signal: exiting at once');
        process.exit(1);
      },
    );
  });
  let ok = true;
  await handle.close({ killTasks: Boolean(opts.killTasksOnStop) }).catch((e: Error) => {
    ok = false;
    log.error('stopping the agent failed', { error: e.message });
  });
  if (opts.json) jsonLine({ event: 'stopped', ok });
  else if (opts.killTasksOnStop) err('agent stopped; its tasks were killed');
  else err('agent stopped; its tasks keep running (restart with the same --work-dir to recover them, or add --recover cleanup to kill them)');
  if (!ok) process.exitCode = 1;
}

export interface AgentRow {
  id: string;
  hostname: string;
  endpoint: string;
  active: boolean;
  resources: {
    total: { cpus: number; mem: number; disk: number; gpus: number };
    used: { cpus: number; mem: number; disk: number; gpus: number };
  };
  attributes: Record<string, string | number>;
  registered_time?: number;
}

export function agentRow(s: LegacySlave): AgentRow {
  return {
    id: s.id,
    hostname: s.hostname,
    endpoint: agentUrlOf(s),
    active: s.active !== false,
    resources: { total: scalars(s.resources), used: scalars(s.used_resources) },
    attributes: s.attributes ?? {},
    ...(s.registered_time !== undefined ? { registered_time: s.registered_time } : {}),
  };
}

async function listAgents(opts: { master: string; json?: boolean }): Promise<void> {
  const op = new OperatorClient(opts.master);
  try {
    const { slaves } = await op.slaves();
    const rows = (slaves ?? []).map(agentRow);
    if (opts.json) return printJson(rows);
    if (rows.length === 0) {
      out(`no agents are registered with ${op.masterUrl}`);
      return;
    }
    out(
      table(
        ['ID', 'HOSTNAME', 'ENDPOINT', 'ACTIVE', 'CPUS', 'MEM', 'DISK', 'ATTRIBUTES'],
        (slaves ?? []).map((s, i) => {
          const r = rows[i]!;
          const attrs = Object.entries(r.attributes)
            .map(([k, v]) => `${k}:${v}`)
            .join(';');
          return [
            r.id,
            r.hostname,
            r.endpoint,
            r.active ? 'yes' : 'no',
            usedTotal(s.used_resources, s.resources, 'cpus'),
            usedTotal(s.used_resources, s.resources, 'mem'),
            usedTotal(s.used_resources, s.resources, 'disk'),
            attrs || '-',
          ];
        }),
      ),
    );
  } finally {
    op.close();
  }
}
