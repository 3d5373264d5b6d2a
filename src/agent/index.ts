// Public entry of the agent component (contract used by the CLI and tests).
import type { MasterLocator } from '../client/master-locator.ts';
import type { Clock } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Transport } from '../runtime/transport.ts';
import type { FetcherOptions } from './fetcher/options.ts';
import type { IsolationOptions } from './isolation/index.ts';
import type { ContainerImageOptions } from './containerizer/index.ts';
import type { AgentMetricsOptions } from './metrics-service.ts';

/**
 * Fetcher (CommandInfo.uris / Marathon `fetch`), from FetcherOptions: fetcherCacheDir (default <workDir>/fetcher-cache,
 * emptied on start), fetcherCacheSizeBytes (LRU bound, default 2 GiB), fetcherMaxSizeBytes (per artifact, default
 * 4 GiB), fetcherStallTimeoutMs (default 60 s without data).
 *
 * Isolation (docs/isolation.md), from IsolationOptions: isolation, cgroupsRoot, cgroupsEnableCfs, cgroupsPidsMax,
 * enforceContainerDiskQuota, containerDiskWatchIntervalMs, defaultUser, allowRootTasks (and switchUser below).
 *
 * Container images (docs/isolation.md), from ContainerImageOptions: dockerRegistry (default https://registry-1.docker.io),
 * dockerInsecureRegistries, dockerStoreDir (default <workDir>/images), imageProvisionerBackend (overlay | copy).
 */
export interface AgentOptions extends FetcherOptions, Omit<IsolationOptions, 'switchUser'>, ContainerImageOptions {
  /**
   * The --master string: a master base URL (http://127.0.0.1:5050), a comma-separated list of them,
   * or the masters' etcd (etcd://host:port[,host:port]); the agent registers with the leading master
   * and follows it when it changes. Required unless masterLocator is given.
   */
  masterUrl?: string;
  /** Finds the leading master instead of masterUrl (shared; not closed by the agent). */
  masterLocator?: MasterLocator;
  /** Bind address; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 0 picks a free port. Default 5051. */
  port?: number;
  /** Hostname advertised to the master; defaults to `host`. */
  hostname?: string;
  /** Work dir: sandboxes under slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>, checkpoints under meta/. */
  workDir: string;
  /** Mesos --resources text ('cpus:4;mem:8192;disk:20000;ports:[31000-32000]'); detected from the machine when absent. */
  resources?: string;
  /** Fraction of the detected machine to offer (corral dev --agents N uses 1/N). Default 1. */
  resourceShare?: number;
  /** Mesos --attributes text ('rack:r1;zone:a'). */
  attributes?: string;
  /** reconnect (default): re-attach to live tasks after a restart; cleanup: kill them and start fresh. */
  recover?: 'reconnect' | 'cleanup';
  /**
   * Mesos --recovery_timeout, in ms (default 15 min): how long tasks may outlive this agent unsupervised. A
   * watchdog process per work dir kills them (TASK_FAILED, REASON_EXECUTOR_REREGISTRATION_TIMEOUT once an agent
   * is back) when no agent took the work dir over within it.
   */
  recoveryTimeoutMs?: number;
  /**
   * Run tasks as their CommandInfo/FrameworkInfo user, else defaultUser (nobody), never root unless allowRootTasks
   * (requires root). Default false: tasks run as the agent's user.
   */
  switchUser?: boolean;
  clock?: Clock;
  ids?: IdSource;
  transport?: Transport;
  log?: Logger;
  /** First status-update retry interval (default 1000 ms), doubled per retry up to statusUpdateRetryMaxMs (default 60 s). */
  statusUpdateRetryMs?: number;
  statusUpdateRetryMaxMs?: number;
  /** First registration retry interval (default 100 ms), doubled up to registrationBackoffMaxMs (default 5 s). */
  registrationBackoffMs?: number;
  registrationBackoffMaxMs?: number;
  /** close({killTasks: true}) waits up to this long for the master to accept the terminal updates. Default 2000 ms. */
  closeFlushMs?: number;
  /** How often re-attached tasks (not children of this agent process) are checked for exit. Default 250 ms. */
  processPollMs?: number;
  /**
   * Called once the agent has stopped because the master told it to shut down (SHUTDOWN reply or
   * SHUTDOWN_AGENT): its tasks are killed and its checkpoint removed. A CLI exits here.
   */
  onShutdown?: (message: string) => void;
  /** Metrics history (default: 1 h at 5 s) and whether it is sampled. */
  metrics?: AgentMetricsOptions;
}

export interface AgentHandle {
  url: string;
  port: number;
  /** The agent id once registered. */
  agentId(): string | undefined;
  /** Resolves once the agent is (re-)registered with the master. */
  registered(): Promise<string>;
  /**
   * Stops the agent. `killTasks: true` (Ctrl-C in `corral dev`) SIGTERMs every task, then SIGKILL after its grace
   * period, waits for the terminal updates to be checkpointed, then sends them to the master and waits (up to
   * closeFlushMs) until it has accepted them, so frameworks see TASK_KILLED; acknowledgements are not awaited
   * (unacknowledged updates are re-sent after a restart). `killTasks: false` leaves tasks running, as a crashed
   * agent would (used by recovery tests).
   */
  close(opts?: { killTasks?: boolean }): Promise<void>;
}

export { startAgent } from './agent.ts';
