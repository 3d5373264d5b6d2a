// The orchestrator's service interface: everything the Marathon v2 HTTP API
// (src/orchestrator/api/) and the `corral app|deployment` CLI need from the
// runtime. The API layer parses/validates requests (protocol/marathon), merges
// partial updates, renders Marathon JSON; this interface takes normalized app
// definitions and returns records (no HTTP concerns here).
//
// Errors thrown by every method are CorralErrors:
//   NotFoundError (404)  unknown app / group / task / deployment / version
//   ConflictError (409)  create of an existing app ("An app with id [/x] already exists.")
//   LockedError   (409)  an affected app is locked by a running deployment and force is false
//   ValidationError / CorralError('UNPROCESSABLE') (422) semantic problems found only here
//                        (dependency cycle, app id colliding with a group id, a declared
//                        service port another app holds), with `details: [{path, errors}]`
//   UnavailableError (503) the store did not answer within its deadline; not ready yet
import { CorralError } from '../protocol/errors.ts';
import type { Attribute, TaskState } from '../protocol/mesos.ts';

// ─── App definitions ─────────────────────────────────────────────────────────

/**
 * A Marathon app definition as parsed by protocol/marathon (`parseAppDefinition`): Marathon's
 * field names, absolute path id, defaults filled in. Fields the runtime does not interpret are
 * kept and echoed. `version`/`versionInfo` are set by the service on every stored change.
 */
export interface AppDefinition {
  id: string;
  cmd?: string;
  args?: string[];
  user?: string;
  env?: Record<string, string | { secret: string }>;
  instances?: number;
  cpus?: number;
  mem?: number;
  disk?: number;
  gpus?: number;
  constraints?: string[][];
  acceptedResourceRoles?: string[];
  labels?: Record<string, string>;
  fetch?: { uri: string; extract?: boolean; executable?: boolean; cache?: boolean; destPath?: string }[];
  portDefinitions?: { port?: number; protocol?: string; name?: string; labels?: Record<string, string> }[];
  requirePorts?: boolean;
  healthChecks?: HealthCheckDefinition[];
  readinessChecks?: ReadinessCheckDefinition[];
  dependencies?: string[];
  upgradeStrategy?: { minimumHealthCapacity?: number; maximumOverCapacity?: number };
  backoffSeconds?: number;
  backoffFactor?: number;
  maxLaunchDelaySeconds?: number;
  killSelection?: 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
  unreachableStrategy?: { inactiveAfterSeconds?: number; expungeAfterSeconds?: number } | 'disabled';
  taskKillGracePeriodSeconds?: number;
  version?: string;
  versionInfo?: { lastScalingAt: string; lastConfigChangeAt: string };
  [key: string]: unknown;
}

export interface HealthCheckDefinition {
  protocol?: 'HTTP' | 'HTTPS' | 'TCP' | 'COMMAND' | 'MESOS_HTTP' | 'MESOS_HTTPS' | 'MESOS_TCP';
  gracePeriodSeconds?: number;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  maxConsecutiveFailures?: number;
  delaySeconds?: number;
  portIndex?: number;
  port?: number;
  path?: string;
  ignoreHttp1xx?: boolean;
  command?: { value: string };
  ipProtocol?: 'IPv4' | 'IPv6';
  [key: string]: unknown;
}

export interface ReadinessCheckDefinition {
  name?: string;
  protocol?: 'HTTP' | 'HTTPS';
  path?: string;
  portName?: string;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  httpStatusCodesForReady?: number[];
  preserveLastResponse?: boolean;
  [key: string]: unknown;
}

// ─── Instances ──────────────────────────────────────────────────────────────

/** Marathon's instance condition (marathon.md §4). */
export type Condition =
  | 'Error'
  | 'Failed'
  | 'Finished'
  | 'Killed'
  | 'Killing'
  | 'Running'
  | 'Staging'
  | 'Starting'
  | 'Unreachable'
  | 'UnreachableInactive'
  | 'Gone'
  | 'Dropped'
  | 'Unknown'
  /** Accepted locally, ACCEPT not yet confirmed by any status update. */
  | 'Provisioned';

/** Running = keep it up; Stopped = being killed, do not replace; Decommissioned = being killed, then forget. */
export type Goal = 'Running' | 'Stopped' | 'Decommissioned';

/** One Marathon health check result (Task.healthCheckResults[]). Timestamps are Marathon ISO strings. */
export interface HealthResult {
  alive: boolean;
  consecutiveFailures: number;
  firstSuccess: string | null;
  lastSuccess: string | null;
  lastFailure: string | null;
  lastFailureCause: string | null;
  instanceId: string;
}

export interface ReadinessResult {
  name: string;
  taskId: string;
  ready: boolean;
  lastResponse?: { status: number; contentType: string; body: string };
}

export interface InstanceRecord {
  instanceId: string;
  /** Current Mesos task id (`<instanceId>._app.<n>`). */
  taskId: string;
  appId: string;
  /** App version the task runs (Task.version). */
  version: string;
  /** The app's versionInfo.lastConfigChangeAt at launch: a scale-only change does not make it old. */
  configVersion?: string;
  agentId: string;
  host: string;
  /** Host ports, in portDefinitions order. */
  ports: number[];
  /** Latest Mesos state ('TASK_STAGING' before any update arrived). */
  state: TaskState;
  condition: Condition;
  goal: Goal;
  stagedAt: string;
  startedAt?: string;
  /** Since when the instance has been unreachable (ISO), while it is. */
  unreachableSince?: string;
  /** Mesos-level health (TaskStatus.healthy), when the app has a MESOS_* / COMMAND check. */
  mesosHealthy?: boolean;
  /** Marathon-level (HTTP/HTTPS/TCP) check results, one per check, in healthChecks order. */
  healthCheckResults: HealthResult[];
  /** Readiness results while a deployment runs readiness checks for this instance. */
  readinessCheckResults?: ReadinessResult[];
  /** Why the orchestrator is killing it (operator-visible): "scale down", "unhealthy", "upgrade", "app removed", "unknown". */
  killReason?: string;
  /** Last status message from Mesos. */
  message?: string;
  /** uuids of the last status updates applied (a re-delivered older update is not applied again). Internal. */
  recentUpdates?: string[];
  /** It came back Running after having been unreachable (killed first on surplus). Internal. */
  wasUnreachable?: boolean;
  /** Agent attributes / fault domain at launch, for constraints. Internal (not part of Task JSON). */
  agentInfo?: { attributes: Attribute[]; region?: string; zone?: string };
}

export interface TaskFailure {
  appId: string;
  host: string;
  message: string;
  state: string;
  taskId: string;
  timestamp: string;
  version: string;
  slaveId?: string;
}

// ─── Apps ───────────────────────────────────────────────────────────────────

export interface TaskCounts {
  staged: number;
  running: number;
  healthy: number;
  unhealthy: number;
}

/** Everything AppInfo needs; taskStats are computed by the renderer from `instances` and `app.versionInfo`. */
export interface AppStatus {
  app: AppDefinition;
  counts: TaskCounts;
  /** Instances with goal Running or still alive (non-terminal), oldest first. */
  instances: InstanceRecord[];
  /** Ids of running deployments affecting the app. */
  deployments: string[];
  lastTaskFailure?: TaskFailure;
  readinessCheckResults: ReadinessResult[];
}

// ─── Deployments ────────────────────────────────────────────────────────────

export type DeploymentActionName = 'StartApplication' | 'StopApplication' | 'ScaleApplication' | 'RestartApplication';

export interface DeploymentAction {
  action: DeploymentActionName;
  app: string;
}

export interface DeploymentStepRecord {
  actions: DeploymentAction[];
}

export interface DeploymentRecord {
  id: string;
  /** Target version (ISO). */
  version: string;
  affectedApps: string[];
  steps: DeploymentStepRecord[];
  /** 1-based index of the step being executed (Marathon's currentStep); 0 before the first step starts. */
  currentStep: number;
  totalSteps: number;
  /** The current step's actions, each with readiness results (always an array). */
  currentActions: (DeploymentAction & { readinessCheckResults: ReadinessResult[] })[];
  /** Affected apps before (absent = did not exist) and after (absent = removed). */
  original: Record<string, AppDefinition>;
  target: Record<string, AppDefinition>;
  /** Explicit instances to kill per app (kill with scale=true). */
  sentenced?: Record<string, string[]>;
  state: 'running' | 'succeeded' | 'failed' | 'cancelled';
  reason?: string;
  createdAt: string;
}

/** Returned by every deployable operation (DeploymentResult + the plan for `deployments:[{id}]`). */
export interface DeploymentResult {
  deploymentId: string;
  version: string;
  deployment: DeploymentRecord;
}

export interface DeployOptions {
  /** Cancel (no rollback) conflicting deployments instead of throwing LockedError. */
  force?: boolean;
}

/** An app is locked by a running deployment and force was not given (HTTP 409). */
export class LockedError extends CorralError {
  constructor(readonly deploymentIds: string[]) {
    super(
      'CONFLICT',
      `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${deploymentIds[0] ?? ''}'.`,
      { deployments: deploymentIds.map((id) => ({ id })) },
    );
  }
}

// ─── Groups ─────────────────────────────────────────────────────────────────

export interface GroupNode {
  id: string;
  apps: AppStatus[];
  groups: GroupNode[];
  dependencies: string[];
  version: string;
}

/**
 * A group-level change in one deployment. The API layer resolves relative ids and `scaleBy`
 * into full app definitions. Every app below a group in `replaceGroups` that is not listed in
 * `apps` is removed (PUT /v2/groups/{id} semantics); `removeGroups` removes groups and all
 * their apps.
 */
export interface GroupChange {
  apps?: AppDefinition[];
  removeApps?: string[];
  replaceGroups?: { id: string; dependencies?: string[] }[];
  removeGroups?: string[];
  /** Only create if absent (POST): ConflictError when it exists. */
  createOnly?: boolean;
}

export interface DryRunResult {
  steps: DeploymentStepRecord[];
}

// ─── Queue ──────────────────────────────────────────────────────────────────

export interface RejectSummary {
  reason: string;
  declined: number;
  processed: number;
}

export interface QueueEntry {
  app: AppDefinition;
  /** Instances still to launch. */
  count: number;
  delay: { timeLeftSeconds: number; overdue: boolean };
  since: string;
  processedOffersSummary: {
    processedOffersCount: number;
    unusedOffersCount: number;
    lastUnusedOfferAt?: string;
    lastUsedOfferAt?: string;
    rejectSummaryLastOffers: RejectSummary[];
    rejectSummaryLaunchAttempt: RejectSummary[];
  };
  lastUnusedOffers: { offer: { id: string; agentId: string; hostname: string }; timestamp: string; reason: string[] }[];
  /** Offers of the last round each constraint declined ("hostname:LIKE:nope": 3); GET /v2/queue?embed=constraintRejections. */
  constraintRejections?: Record<string, number>;
}

// ─── Info ───────────────────────────────────────────────────────────────────

export interface OrchestratorInfo {
  name: 'marathon';
  version: string;
  frameworkId: string | null;
  frameworkName: string;
  /** The master the framework is subscribed to (after redirects). */
  masterUrl: string;
  connected: boolean;
  role: string;
  user: string;
  failoverTimeoutSeconds: number;
  reconciliationIntervalMs: number;
  /** False while the initial reconciliation after (re)subscription is pending. */
  reconciled: boolean;
}

// ─── Events (marathon.md §8) ───────────────────────────────────────────────

interface Base {
  timestamp: string;
}
export interface DeploymentPlanJson {
  id: string;
  version: string;
  original: { id: '/'; apps: AppDefinition[] };
  target: { id: '/'; apps: AppDefinition[] };
  steps: DeploymentStepRecord[];
}
export type MarathonEvent =
  | (Base & { eventType: 'api_post_event'; clientIp: string; uri: string; appDefinition: AppDefinition })
  | (Base & {
      eventType: 'status_update_event';
      slaveId: string;
      taskId: string;
      taskStatus: string;
      message: string;
      appId: string;
      host: string;
      ipAddresses: { ipAddress: string; protocol: 'IPv4' | 'IPv6' }[];
      ports: number[];
      version: string;
    })
  | (Base & {
      eventType: 'instance_changed_event';
      instanceId: string;
      condition: Condition;
      runSpecId: string;
      agentId: string;
      host: string;
      runSpecVersion: string;
      goal: Goal;
    })
  | (Base & { eventType: 'unknown_instance_terminated_event'; instanceId: string; runSpecId: string; condition: Condition })
  | (Base & { eventType: 'instance_health_changed_event'; instanceId: string; runSpecId: string; runSpecVersion: string; healthy: boolean | null })
  | (Base & { eventType: 'app_terminated_event'; appId: string })
  | (Base & { eventType: 'scheduler_registered_event'; frameworkId: string; master: string })
  | (Base & { eventType: 'scheduler_reregistered_event'; master: string })
  | (Base & { eventType: 'scheduler_disconnected_event' })
  | (Base & { eventType: 'add_health_check_event'; appId: string; version: string; healthCheck: HealthCheckDefinition })
  | (Base & { eventType: 'remove_health_check_event'; appId: string })
  | (Base & { eventType: 'failed_health_check_event'; appId: string; taskId: string; instanceId: string; healthCheck: HealthCheckDefinition })
  | (Base & { eventType: 'health_status_changed_event'; appId: string; instanceId: string; version: string; alive: boolean })
  | (Base & {
      eventType: 'unhealthy_instance_kill_event';
      appId: string;
      taskId: string;
      instanceId: string;
      version: string;
      reason: string;
      host: string;
      slaveId: string;
    })
  | (Base & { eventType: 'group_change_success'; groupId: string; version: string })
  | (Base & { eventType: 'group_change_failed'; groupId: string; version: string; reason: string })
  | (Base & { eventType: 'deployment_info'; plan: DeploymentPlanJson; currentStep: DeploymentStepRecord })
  | (Base & { eventType: 'deployment_step_success'; plan: DeploymentPlanJson; currentStep: DeploymentStepRecord })
  | (Base & { eventType: 'deployment_step_failure'; plan: DeploymentPlanJson; currentStep: DeploymentStepRecord })
  | (Base & { eventType: 'deployment_success'; id: string; plan: DeploymentPlanJson })
  | (Base & { eventType: 'deployment_failed'; id: string; plan: DeploymentPlanJson; reason?: string });

export type MarathonEventType = MarathonEvent['eventType'];
export type EventOf<T extends MarathonEventType> = Extract<MarathonEvent, { eventType: T }>;
type WithoutTimestamp<E> = E extends unknown ? Omit<E, 'timestamp'> & { timestamp?: string } : never;
/** An event to publish: the timestamp is filled in when absent. */
export type MarathonEventInput = WithoutTimestamp<MarathonEvent>;

/** Typed Marathon event bus. Listeners never throw into the runtime (exceptions are logged). */
export interface MarathonEventBus {
  /** Subscribe to all events (or only the given types); returns the unsubscribe function. */
  subscribe(listener: (ev: MarathonEvent) => void, types?: readonly MarathonEventType[]): () => void;
  /** Publish an event (the API layer publishes api_post_event; timestamp filled when absent). */
  publish(ev: MarathonEventInput): void;
}

// ─── The service ────────────────────────────────────────────────────────────

export interface KillTasksRequest {
  /** Task ids or instance ids (any app). */
  ids?: string[];
  /** All tasks of this app (optionally only on `host`). */
  appId?: string;
  host?: string;
  /** Scale the app(s) down by the killed count (a deployment) instead of letting them be replaced. */
  scale?: boolean;
  force?: boolean;
}

export type KillTasksResult =
  | { scaled: false; killed: InstanceRecord[] }
  | { scaled: true; killed: InstanceRecord[]; result: DeploymentResult };

export interface OrchestratorService {
  readonly events: MarathonEventBus;

  /** Resolves once subscribed and the initial state is loaded (reconciliation may still be pending). */
  ready(): Promise<void>;
  /** Stops timers, health checks and the scheduler connection; does NOT tear the framework down. */
  close(): Promise<void>;
  info(): OrchestratorInfo;

  // Apps
  listApps(): AppStatus[];
  /** undefined when unknown. */
  getApp(id: string): AppStatus | undefined;
  /** Stored versions of an app, newest first. NotFoundError when the app is unknown. */
  appVersions(id: string): Promise<string[]>;
  /** The app definition at `version`; NotFoundError when unknown. */
  appVersion(id: string, version: string): Promise<AppDefinition>;
  /** POST /v2/apps: ConflictError when it exists. */
  createApp(app: AppDefinition, opts?: DeployOptions): Promise<DeploymentResult>;
  /**
   * PUT /v2/apps/{id} and bulk PUT/PATCH: full (already merged) definitions; creates missing apps.
   * `created` lists the ids that did not exist.
   */
  putApps(apps: AppDefinition[], opts?: DeployOptions): Promise<DeploymentResult & { created: string[] }>;
  /** Rollback: PUT with {version} — deploys the stored definition of that version. */
  rollbackApp(id: string, version: string, opts?: DeployOptions): Promise<DeploymentResult>;
  deleteApp(id: string, opts?: DeployOptions): Promise<DeploymentResult>;
  /** New version with the same config: every task replaced by a rolling upgrade. */
  restartApp(id: string, opts?: DeployOptions): Promise<DeploymentResult>;

  // Tasks
  /** All instances of all apps (goal Running or not yet terminal). */
  listInstances(): InstanceRecord[];
  /** Instance by task id or instance id. */
  getInstance(taskOrInstanceId: string): InstanceRecord | undefined;
  /** NotFoundError for unknown ids (none killed then). */
  killTasks(req: KillTasksRequest): Promise<KillTasksResult>;

  // Deployments
  listDeployments(): DeploymentRecord[];
  getDeployment(id: string): DeploymentRecord | undefined;
  /** force=true: stop it as-is (returns undefined); false: start and return the revert deployment. */
  cancelDeployment(id: string, opts?: { force?: boolean }): Promise<DeploymentResult | undefined>;

  // Queue
  queue(): QueueEntry[];
  /** NotFoundError when the app is not in the queue. */
  resetDelay(appId: string): void;

  // Groups
  /** The group tree at `id` ('/' = root); undefined when unknown. */
  getGroup(id: string): GroupNode | undefined;
  /**
   * Stored versions of a group, newest first (the root versions at which something below it
   * changed; for '/' every root version). NotFoundError when the group is unknown.
   */
  groupVersions(id: string): Promise<string[]>;
  /**
   * The group as it was at `version`: apps as stored then, without instances or counts.
   * NotFoundError when unknown. `PUT /v2/groups/{id}` with `{"version"}` deploys it.
   */
  groupVersion(id: string, version: string): Promise<GroupNode>;
  /** Applies a set of app/group changes as one deployment; with dryRun returns the plan only. */
  updateGroup(change: GroupChange, opts: DeployOptions & { dryRun: true }): Promise<DryRunResult>;
  updateGroup(change: GroupChange, opts?: DeployOptions & { dryRun?: false }): Promise<DeploymentResult>;
  /** Removes a group and all its apps (root: everything). */
  deleteGroup(id: string, opts?: DeployOptions): Promise<DeploymentResult>;
}
