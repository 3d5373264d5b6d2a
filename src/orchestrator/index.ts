// Public entry of the orchestrator runtime (Marathon-compatible framework). The HTTP API
// (src/orchestrator/api/) is started separately against the returned service.
//
// Layout (pure decisions live in core/deployment and core/placement; this folder is the I/O shell):
//   service.ts        the OrchestratorService interface + records + Marathon event types + LockedError
//   runtime.ts        OrchestratorRuntime: wiring, one async lock for state changes, service methods
//   framework.ts      SUBSCRIBE/re-subscribe with backoff, SUPPRESS/REVIVE, calls to the master
//   task-reconciler.ts explicit (until answered) + implicit reconciliation; gates launching
//   status.ts         status update → instance (persist, then ack), lastTaskFailure, backoff, unknown-task kill
//   instances.ts      the instance tracker (memory + store), Mesos state → Marathon condition
//   launch-queue.ts   offers → place() → instances recorded before ACCEPT; reject summaries
//   runner.ts         the tick: deployments step by step, reconcileApp outside them, kills, queue levels
//   changes.ts        desired app set → versions, locks, plan, persisted DeploymentRecord; revert
//   service-ports.ts  port 0 → service port in [10000, 20000), kept across updates; conflicts → 422
//   root-versions.ts  root group version history (GET /v2/groups/{id}/versions[/{v}], rollback)
//   decide.ts         records ↔ core (AppSpec / InstanceView), tick adapters
//   health.ts, readiness.ts, probe.ts   Marathon-level health checks and readiness checks
//   task-builder.ts   TaskInfo (command, env, resources, ports, labels, kill policy, Mesos health check)
//   persist.ts, keys.ts   store layout (/corral/orchestrator/...), every call with a deadline
//   views.ts, groups.ts   AppStatus/queue views, the group tree
import { systemClock, type Clock } from '../runtime/clock.ts';
import { systemIds, type IdSource } from '../runtime/ids.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import type { Store } from '../store/store.ts';
import { OrchestratorRuntime, type RuntimeConfig } from './runtime.ts';

export interface OrchestratorOptions {
  /** Any master speaking the Mesos v1 scheduler API. */
  masterUrl: string;
  store: Store;
  clock?: Clock;
  ids?: IdSource;
  log?: Logger;
  /** Framework name (default 'marathon'). */
  frameworkName?: string;
  /** Mesos role (default '*'). */
  role?: string;
  /** Framework user (default: the process user). */
  user?: string;
  /** Advertised in FrameworkInfo.hostname / webui_url. */
  hostname?: string;
  webuiUrl?: string;
  /** Default one week. */
  failoverTimeoutSeconds?: number;
  /** Explicit + implicit reconciliation period (default 10 min). */
  reconciliationIntervalMs?: number;
  /** Retry interval of the explicit reconciliation until every task answered (default 500 ms doubling to 10 s). */
  reconciliationRetryInitialMs?: number;
  reconciliationRetryMaxMs?: number;
  /** Periodic re-evaluation of apps and deployments besides event-driven ones (default 2 s). */
  tickIntervalMs?: number;
  /** Deadline for every store call (default 10 s). */
  storeDeadlineMs?: number;
  /** KILL is re-sent for tasks still alive this long after (default 10 s). */
  killRetryMs?: number;
  /** Instances whose launch is unconfirmed this long are reconciled (default 60 s). */
  launchConfirmTimeoutMs?: number;
  /** Instances of one app per offer and round (Marathon's --max_instances_per_offer; default 10). */
  maxInstancesPerOffer?: number;
  /** refuse_seconds for offers declined while apps wait (default 5) and when nothing waits (default 120). */
  declineRefuseSeconds?: number;
  idleRefuseSeconds?: number;
  /** Minimum time between two REVIVE calls (default 1 s). */
  minReviveIntervalMs?: number;
  /** Re-subscription backoff after the stream drops (default 200 ms doubling to 10 s). */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Another scheduler subscribed with this framework id ("Framework failed over"); the id is kept. */
  onFailedOver?: (message: string) => void;
}

/** Loads the stored state, subscribes (in the background, retrying) and returns the runtime. */
export async function startOrchestrator(opts: OrchestratorOptions): Promise<OrchestratorRuntime> {
  const cfg: RuntimeConfig = {
    masterUrl: opts.masterUrl,
    store: opts.store,
    clock: opts.clock ?? systemClock,
    ids: opts.ids ?? systemIds,
    log: opts.log ?? createLogger('orchestrator'),
    frameworkName: opts.frameworkName ?? 'marathon',
    role: opts.role ?? '*',
    user: opts.user,
    hostname: opts.hostname,
    webuiUrl: opts.webuiUrl,
    failoverTimeoutSeconds: opts.failoverTimeoutSeconds ?? 7 * 24 * 3600,
    reconciliationIntervalMs: opts.reconciliationIntervalMs ?? 600_000,
    reconciliationRetryInitialMs: opts.reconciliationRetryInitialMs ?? 500,
    reconciliationRetryMaxMs: opts.reconciliationRetryMaxMs ?? 10_000,
    tickIntervalMs: opts.tickIntervalMs ?? 2000,
    storeDeadlineMs: opts.storeDeadlineMs ?? 10_000,
    killRetryMs: opts.killRetryMs ?? 10_000,
    launchConfirmTimeoutMs: opts.launchConfirmTimeoutMs ?? 60_000,
    maxInstancesPerOffer: opts.maxInstancesPerOffer ?? 10,
    declineRefuseSeconds: opts.declineRefuseSeconds ?? 5,
    idleRefuseSeconds: opts.idleRefuseSeconds ?? 120,
    minReviveIntervalMs: opts.minReviveIntervalMs ?? 1000,
    reconnectInitialMs: opts.reconnectInitialMs ?? 200,
    reconnectMaxMs: opts.reconnectMaxMs ?? 10_000,
    onFailedOver: opts.onFailedOver,
  };
  const rt = new OrchestratorRuntime(cfg);
  await rt.start();
  return rt;
}

export { OrchestratorRuntime, ORCHESTRATOR_VERSION } from './runtime.ts';
export * from './service.ts';
