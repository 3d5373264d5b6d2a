// Marathon v2 response JSON (marathon.md §3–§5, §1.5): AppInfo, Task, Deployment, Group,
// QueueItem, DeploymentResult. Renderers emit exactly the keys Marathon clients know
// (marathon-python raises on unknown keys); inputs are loose so the orchestrator's records
// (AppStatus, InstanceRecord, DeploymentRecord, GroupNode, QueueEntry) can be passed as-is.
import { AppDefaults, HealthCheckDefaults, type AppLike, type HealthCheck } from './app.ts';
import { parseTaskId, toMarathonTimestamp } from './ids.ts';
import { canonicalPath, isDescendantOf, parentOf } from './pathid.ts';

type Obj = Record<string, unknown>;

// ─── Known fields (marathon.md §3.1, §10) ────────────────────────────────────

/** Top-level AppInfo keys the newest marathon-python accepts; renderApp never emits anything else by default. */
export const KNOWN_APP_FIELDS = [
  'acceptedResourceRoles', 'args', 'backoffFactor', 'backoffSeconds', 'cmd', 'constraints', 'container', 'cpus',
  'dependencies', 'deployments', 'disk', 'env', 'executor', 'healthChecks', 'id', 'instances', 'killSelection', 'labels',
  'lastTaskFailure', 'maxLaunchDelaySeconds', 'mem', 'ports', 'requirePorts', 'storeUrls', 'taskRateLimit', 'tasks',
  'tasksRunning', 'tasksStaged', 'tasksHealthy', 'taskKillGracePeriodSeconds', 'tasksUnhealthy', 'upgradeStrategy',
  'unreachableStrategy', 'uris', 'user', 'version', 'versionInfo', 'ipAddress', 'fetch', 'taskStats', 'readinessChecks',
  'readinessCheckResults', 'secrets', 'portDefinitions', 'residency', 'gpus', 'networks',
] as const;
/** Marathon 1.9+ app fields unknown to marathon-python: emitted only with `newerFields: true`. */
export const NEWER_APP_FIELDS = ['role', 'tty', 'check', 'resourceLimits', 'executorResources'] as const;
export const KNOWN_TASK_FIELDS = [
  'appId', 'healthCheckResults', 'host', 'id', 'ports', 'servicePorts', 'slaveId', 'stagedAt', 'startedAt', 'version',
  'ipAddresses', 'state', 'localVolumes', 'region', 'zone', 'role',
] as const;
export const KNOWN_HEALTH_RESULT_FIELDS = [
  'alive', 'consecutiveFailures', 'firstSuccess', 'lastFailure', 'lastSuccess', 'taskId', 'lastFailureCause', 'instanceId',
] as const;
export const KNOWN_HEALTH_CHECK_FIELDS = [
  'command', 'gracePeriodSeconds', 'intervalSeconds', 'maxConsecutiveFailures', 'path', 'portIndex', 'protocol',
  'timeoutSeconds', 'ignoreHttp1xx', 'port', 'delaySeconds', 'ipProtocol',
] as const;
export const KNOWN_DEPLOYMENT_FIELDS = [
  'affectedApps', 'affectedPods', 'currentActions', 'currentStep', 'id', 'steps', 'totalSteps', 'version',
] as const;
export const KNOWN_DEPLOYMENT_ACTION_FIELDS = ['action', 'app', 'apps', 'type', 'readinessCheckResults', 'pod'] as const;
export const KNOWN_QUEUE_ITEM_FIELDS = ['app', 'overdue', 'count', 'delay', 'since', 'processedOffersSummary', 'lastUnusedOffers'] as const;
export const KNOWN_GROUP_FIELDS = ['id', 'apps', 'pods', 'groups', 'dependencies', 'version', 'enforceRole'] as const;

export const DEPLOYMENT_ID_HEADER = 'Marathon-Deployment-Id';

/** Body of every deployable operation: `{"version": <ts>, "deploymentId": <uuid>}` (send DEPLOYMENT_ID_HEADER too). */
export function deploymentResult(deploymentId: string, version: string | number): { version: string; deploymentId: string } {
  return { version: toMarathonTimestamp(version), deploymentId };
}

// ─── Embeds (InfoEmbedResolver) ──────────────────────────────────────────────

export interface AppEmbed {
  counts: boolean;
  deployments: boolean;
  tasks: boolean;
  readiness: boolean;
  lastTaskFailure: boolean;
  taskStats: boolean;
}

export interface GroupEmbed {
  groups: boolean;
  apps: boolean;
  pods: boolean;
  /** Embeds of the apps inside the group (`group.apps.*`). */
  app: AppEmbed;
}

const noEmbed = (): AppEmbed => ({ counts: false, deployments: false, tasks: false, readiness: false, lastTaskFailure: false, taskStats: false });
const asList = (q: string | readonly string[] | undefined): string[] =>
  q === undefined ? [] : (typeof q === 'string' ? [q] : [...q]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

function addAppEmbed(e: AppEmbed, value: string): void {
  const name = value.replace(/^(group\.apps\.|apps\.|app\.)/, '');
  switch (name) {
    case 'tasks':
      e.tasks = e.deployments = true;
      break;
    case 'failures': // deprecated shorthand
      e.tasks = e.lastTaskFailure = e.deployments = e.counts = true;
      break;
    case 'deployments':
      e.deployments = true;
      break;
    case 'lastTaskFailure':
      e.lastTaskFailure = true;
      break;
    case 'counts':
      e.counts = true;
      break;
    case 'taskStats':
      e.taskStats = true;
      break;
    case 'readiness':
      e.readiness = true;
      break;
    default: // unknown embeds are ignored (Marathon logs them)
  }
}

/**
 * The `embed` query values of `GET /v2/apps` (`'apps'`) or `GET /v2/apps/{id}` (`'app'`). Prefixes
 * `apps.`/`app.`/none are all accepted. The list always embeds counts + deployments; a single app
 * always embeds counts, tasks, lastTaskFailure and deployments (Marathon's compatibility defaults).
 */
export function parseEmbed(values: string | readonly string[] | undefined, kind: 'apps' | 'app'): AppEmbed {
  const e = noEmbed();
  for (const v of asList(values)) addAppEmbed(e, v);
  e.counts = e.deployments = true;
  if (kind === 'app') e.tasks = e.lastTaskFailure = true;
  return e;
}

/** `GET /v2/groups[/{id}]` embeds; none given = group.groups + group.apps + group.pods with counts + deployments for apps. */
export function parseGroupEmbed(values: string | readonly string[] | undefined): GroupEmbed {
  const list = asList(values);
  const g: GroupEmbed = { groups: false, apps: false, pods: false, app: noEmbed() };
  if (list.length === 0) return { groups: true, apps: true, pods: true, app: { ...noEmbed(), counts: true, deployments: true } };
  for (const v of list) {
    if (v === 'group.groups') g.groups = true;
    else if (v === 'group.apps') g.apps = true;
    else if (v === 'group.pods') g.pods = true;
    else if (v.startsWith('group.apps.')) {
      g.apps = true;
      addAppEmbed(g.app, v);
    }
  }
  return g;
}

// ─── Tasks ───────────────────────────────────────────────────────────────────

export interface HealthResultInput {
  alive: boolean;
  consecutiveFailures: number;
  firstSuccess?: string | number | null;
  lastSuccess?: string | number | null;
  lastFailure?: string | number | null;
  lastFailureCause?: string | null;
  instanceId?: string;
  taskId?: string;
}

export interface TaskInput {
  /** Mesos task id (`<instanceId>._app.<n>`); `id` is accepted too. */
  taskId?: string;
  id?: string;
  instanceId?: string;
  appId: string;
  host: string;
  agentId?: string;
  slaveId?: string;
  ports?: readonly number[];
  servicePorts?: readonly number[];
  ipAddresses?: readonly { ipAddress: string; protocol: string }[];
  stagedAt?: string | number;
  startedAt?: string | number;
  state: string;
  version?: string;
  healthCheckResults?: readonly HealthResultInput[];
  /** Mesos-level (COMMAND/MESOS_*) health from TaskStatus.healthy; rendered as one health result. */
  mesosHealthy?: boolean;
  localVolumes?: readonly { containerPath: string; persistenceId: string }[];
  region?: string;
  zone?: string;
  role?: string;
}

export interface RenderTaskOptions {
  /** The task's app: supplies servicePorts (when the task has none) and role. */
  app?: AppLike;
}

const ts = (t: string | number | null | undefined): string | null => (t === undefined || t === null ? null : toMarathonTimestamp(t));

/** Service ports of an app: portDefinitions' ports (host networking) or portMappings' servicePorts. */
export function appServicePorts(app: AppLike): number[] {
  const defs = app.portDefinitions as { port?: number }[] | undefined;
  const container = app.container as { portMappings?: { servicePort?: number }[] } | undefined;
  if (container?.portMappings?.length) return container.portMappings.map((m) => m.servicePort ?? 0);
  return (defs ?? []).map((d) => d.port ?? 0);
}

const taskIdOfInput = (t: TaskInput): string => t.taskId ?? t.id ?? '';
const instanceIdOfInput = (t: TaskInput): string => t.instanceId ?? parseTaskId(taskIdOfInput(t))?.instanceId ?? taskIdOfInput(t);

export function renderHealthResult(h: HealthResultInput, instanceId: string): Obj {
  return {
    alive: h.alive,
    consecutiveFailures: h.consecutiveFailures,
    firstSuccess: ts(h.firstSuccess),
    lastFailure: ts(h.lastFailure),
    lastSuccess: ts(h.lastSuccess),
    lastFailureCause: h.lastFailureCause ?? null,
    instanceId: h.instanceId ?? instanceId,
  };
}

function healthResults(t: TaskInput): Obj[] {
  const instanceId = instanceIdOfInput(t);
  if (t.healthCheckResults?.length) return t.healthCheckResults.map((h) => renderHealthResult(h, instanceId));
  if (t.mesosHealthy !== undefined)
    return [renderHealthResult({ alive: t.mesosHealthy, consecutiveFailures: t.mesosHealthy ? 0 : 1 }, instanceId)];
  return [];
}

/** Task JSON (§4). `healthCheckResults` only when there are results; `startedAt` only once running. */
export function renderTask(t: TaskInput, opts: RenderTaskOptions = {}): Obj {
  const out: Obj = { id: taskIdOfInput(t) };
  const slaveId = t.slaveId ?? t.agentId;
  if (slaveId !== undefined) out.slaveId = slaveId;
  out.host = t.host;
  out.state = t.state;
  if (t.startedAt !== undefined) out.startedAt = toMarathonTimestamp(t.startedAt);
  if (t.stagedAt !== undefined) out.stagedAt = toMarathonTimestamp(t.stagedAt);
  out.ports = [...(t.ports ?? [])];
  if (t.version !== undefined) out.version = toMarathonTimestamp(t.version);
  if (t.ipAddresses) out.ipAddresses = t.ipAddresses.map((a) => ({ ipAddress: a.ipAddress, protocol: a.protocol }));
  out.appId = t.appId;
  const servicePorts = t.servicePorts ?? (opts.app ? appServicePorts(opts.app) : undefined);
  if (servicePorts) out.servicePorts = [...servicePorts];
  const hr = healthResults(t);
  if (hr.length) out.healthCheckResults = hr;
  if (t.localVolumes?.length) out.localVolumes = t.localVolumes.map((v) => ({ containerPath: v.containerPath, persistenceId: v.persistenceId }));
  if (t.region !== undefined) out.region = t.region;
  if (t.zone !== undefined) out.zone = t.zone;
  out.role = t.role ?? (typeof opts.app?.role === 'string' ? opts.app.role : '*');
  return out;
}

export interface TaskCounts {
  staged: number;
  running: number;
  healthy: number;
  unhealthy: number;
}

/** Health of a task: true (all checks alive), false (some failing), undefined (no checks). */
export function taskHealth(t: TaskInput): boolean | undefined {
  if (t.healthCheckResults?.length) return t.healthCheckResults.every((h) => h.alive);
  return t.mesosHealthy;
}

/** AppInfo counts: staged = STAGING/STARTING, running = RUNNING, healthy/unhealthy among running tasks with checks. */
export function countTasks(tasks: readonly TaskInput[]): TaskCounts {
  const c: TaskCounts = { staged: 0, running: 0, healthy: 0, unhealthy: 0 };
  for (const t of tasks) {
    if (t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING') c.staged++;
    else if (t.state === 'TASK_RUNNING') {
      c.running++;
      const h = taskHealth(t);
      if (h === true) c.healthy++;
      else if (h === false) c.unhealthy++;
    }
  }
  return c;
}

// ─── AppInfo ─────────────────────────────────────────────────────────────────

export interface ReadinessResultInput {
  name: string;
  taskId: string;
  ready: boolean;
  lastResponse?: { status: number; contentType: string; body: string };
}

export interface TaskFailureInput {
  appId: string;
  host: string;
  message: string;
  state: string;
  taskId: string;
  timestamp: string | number;
  version: string;
  slaveId?: string;
}

/** Status side of AppInfo. Accepts Marathon's names (tasksStaged…) or the orchestrator's AppStatus shape (counts, instances). */
export interface AppStatusInput {
  tasksStaged?: number;
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  counts?: TaskCounts;
  deployments?: readonly (string | { id: string })[];
  tasks?: readonly TaskInput[];
  instances?: readonly TaskInput[];
  lastTaskFailure?: TaskFailureInput;
  taskStats?: Obj;
  readinessCheckResults?: readonly ReadinessResultInput[];
}

export interface RenderAppOptions {
  /** What to include; without it every status field the input provides is rendered. */
  embed?: AppEmbed;
  /** Clock for taskStats lifetimes (epoch ms); default Date.now(). */
  now?: number;
  /** Also emit Marathon 1.9+ fields (role, tty, check, resourceLimits, executorResources) — breaks marathon-python. */
  newerFields?: boolean;
}

const pick = (o: Obj | undefined, keys: readonly string[]): Obj => {
  const out: Obj = {};
  if (!o) return out;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
};

export function renderHealthCheck(h: Partial<HealthCheck> & Obj): Obj {
  const out: Obj = {
    gracePeriodSeconds: h.gracePeriodSeconds ?? HealthCheckDefaults.gracePeriodSeconds,
    intervalSeconds: h.intervalSeconds ?? HealthCheckDefaults.intervalSeconds,
    maxConsecutiveFailures: h.maxConsecutiveFailures ?? HealthCheckDefaults.maxConsecutiveFailures,
  };
  if (h.portIndex !== undefined) out.portIndex = h.portIndex;
  if (h.port !== undefined) out.port = h.port;
  out.timeoutSeconds = h.timeoutSeconds ?? HealthCheckDefaults.timeoutSeconds;
  out.delaySeconds = h.delaySeconds ?? HealthCheckDefaults.delaySeconds;
  out.protocol = h.protocol ?? HealthCheckDefaults.protocol;
  if (h.path !== undefined) out.path = h.path;
  if (h.ignoreHttp1xx !== undefined) out.ignoreHttp1xx = h.ignoreHttp1xx;
  if (h.command !== undefined) out.command = { value: h.command.value };
  if (h.ipProtocol !== undefined) out.ipProtocol = h.ipProtocol;
  return out;
}

function renderContainer(c: Obj): Obj {
  const out: Obj = { type: c.type ?? 'DOCKER' };
  const d = c.docker as Obj | undefined;
  if (d) {
    const docker: Obj = { image: d.image ?? '', privileged: d.privileged ?? false, parameters: d.parameters ?? [], forcePullImage: d.forcePullImage ?? false };
    if (d.credential !== undefined) docker.credential = d.credential;
    if (d.pullConfig !== undefined) docker.pullConfig = d.pullConfig;
    out.docker = docker;
  }
  if (c.appc !== undefined) out.appc = c.appc;
  out.volumes = c.volumes ?? [];
  if (c.portMappings !== undefined) out.portMappings = c.portMappings;
  if (c.linuxInfo !== undefined) out.linuxInfo = c.linuxInfo;
  return out;
}

const isHost = (networks: unknown): boolean =>
  !Array.isArray(networks) || !networks.some((n) => (n as { mode?: string }).mode !== 'host');

/** The App part of AppInfo: Marathon's fields in Marathon's order, defaults for anything missing. */
export function renderAppDefinition(def: AppLike, opts: Pick<RenderAppOptions, 'newerFields'> = {}): Obj {
  const d = def as Obj;
  const out: Obj = { id: def.id };
  if (d.cmd !== undefined) out.cmd = d.cmd;
  if (Array.isArray(d.args) && d.args.length) out.args = d.args;
  if (d.user !== undefined) out.user = d.user;
  out.env = d.env ?? {};
  out.instances = d.instances ?? AppDefaults.instances;
  out.cpus = d.cpus ?? AppDefaults.cpus;
  out.mem = d.mem ?? AppDefaults.mem;
  out.disk = d.disk ?? AppDefaults.disk;
  out.gpus = d.gpus ?? AppDefaults.gpus;
  out.executor = d.executor ?? AppDefaults.executor;
  out.constraints = d.constraints ?? [];
  if (d.acceptedResourceRoles !== undefined) out.acceptedResourceRoles = d.acceptedResourceRoles;
  out.labels = d.labels ?? {};
  out.fetch = ((d.fetch as Obj[] | undefined) ?? []).map((f) => pick(f, ['uri', 'extract', 'executable', 'cache', 'destPath']));
  if (Array.isArray(d.storeUrls) && d.storeUrls.length) out.storeUrls = d.storeUrls;
  out.backoffSeconds = d.backoffSeconds ?? AppDefaults.backoffSeconds;
  out.backoffFactor = d.backoffFactor ?? AppDefaults.backoffFactor;
  out.maxLaunchDelaySeconds = d.maxLaunchDelaySeconds ?? AppDefaults.maxLaunchDelaySeconds;
  if (d.container) out.container = renderContainer(d.container as Obj);
  out.healthChecks = ((d.healthChecks as Obj[] | undefined) ?? []).map((h) => renderHealthCheck(h));
  out.readinessChecks = d.readinessChecks ?? [];
  out.dependencies = d.dependencies ?? [];
  out.upgradeStrategy = { ...AppDefaults.upgradeStrategy, ...((d.upgradeStrategy as Obj | undefined) ?? {}) };
  if (d.version !== undefined) out.version = d.version;
  if (d.versionInfo !== undefined) out.versionInfo = pick(d.versionInfo as Obj, ['lastScalingAt', 'lastConfigChangeAt']);
  out.killSelection = d.killSelection ?? AppDefaults.killSelection;
  out.unreachableStrategy = d.unreachableStrategy ?? AppDefaults.unreachableStrategy;
  out.networks = d.networks ?? AppDefaults.networks;
  if (isHost(d.networks)) out.portDefinitions = d.portDefinitions ?? [];
  out.requirePorts = d.requirePorts ?? AppDefaults.requirePorts;
  if (d.taskKillGracePeriodSeconds !== undefined) out.taskKillGracePeriodSeconds = d.taskKillGracePeriodSeconds;
  out.secrets = d.secrets ?? {};
  if (d.residency !== undefined) out.residency = d.residency;
  if (opts.newerFields) for (const k of NEWER_APP_FIELDS) if (d[k] !== undefined) out[k] = d[k];
  return out;
}

export function renderTaskFailure(f: TaskFailureInput): Obj {
  const out: Obj = {
    appId: f.appId,
    host: f.host,
    message: f.message,
    state: f.state,
    taskId: f.taskId,
    timestamp: toMarathonTimestamp(f.timestamp),
    version: toMarathonTimestamp(f.version),
  };
  if (f.slaveId !== undefined) out.slaveId = f.slaveId;
  return out;
}

export function renderReadinessResult(r: ReadinessResultInput): Obj {
  const out: Obj = { name: r.name, taskId: r.taskId, ready: r.ready };
  if (r.lastResponse) out.lastResponse = { status: r.lastResponse.status, contentType: r.lastResponse.contentType, body: r.lastResponse.body };
  return out;
}

const msOf = (t: string | number | undefined): number | undefined =>
  t === undefined ? undefined : typeof t === 'number' ? t : Number.isNaN(Date.parse(t)) ? undefined : Date.parse(t);

function statsOf(tasks: readonly TaskInput[], now: number): Obj | undefined {
  if (!tasks.length) return undefined;
  const c = countTasks(tasks);
  const stats: Obj = { counts: { staged: c.staged, running: c.running, healthy: c.healthy, unhealthy: c.unhealthy } };
  const lives = tasks
    .map((t) => msOf(t.startedAt))
    .filter((s): s is number => s !== undefined)
    .map((s) => Math.max(0, (now - s) / 1000))
    .sort((a, b) => a - b);
  if (lives.length) {
    const mid = lives.length >> 1;
    const median = lives.length % 2 ? lives[mid]! : (lives[mid - 1]! + lives[mid]!) / 2;
    stats.lifeTime = { averageSeconds: lives.reduce((a, b) => a + b, 0) / lives.length, medianSeconds: median };
  }
  return { stats };
}

/**
 * AppInfo.taskStats (Marathon ≤1.8 / marathon-python key): per category `{stats:{counts, lifeTime?}}`,
 * categories without tasks omitted. Versions compare against versionInfo (or `version`).
 */
export function computeTaskStats(app: AppLike, tasks: readonly TaskInput[], now = Date.now()): Obj {
  const vi = app.versionInfo as { lastScalingAt?: string; lastConfigChangeAt?: string } | undefined;
  const version = typeof app.version === 'string' ? app.version : undefined;
  const scaling = msOf(vi?.lastScalingAt ?? version);
  const config = msOf(vi?.lastConfigChangeAt ?? version);
  const out: Obj = {};
  const add = (key: string, list: readonly TaskInput[]) => {
    const s = statsOf(list, now);
    if (s) out[key] = s;
  };
  add('startedAfterLastScaling', scaling === undefined ? [] : tasks.filter((t) => (msOf(t.stagedAt) ?? -Infinity) >= scaling));
  add('withLatestConfig', config === undefined ? tasks : tasks.filter((t) => (msOf(t.version) ?? -Infinity) >= config));
  add('withOutdatedConfig', config === undefined ? [] : tasks.filter((t) => (msOf(t.version) ?? Infinity) < config));
  add('totalSummary', tasks);
  return out;
}

/**
 * AppInfo = App + status (§3.2). With `opts.embed`, exactly the embedded parts are rendered (missing
 * status data renders as zero/empty); without it, whatever `status` provides is rendered.
 */
export function renderApp(def: AppLike, status?: AppStatusInput, opts: RenderAppOptions = {}): Obj {
  const out = renderAppDefinition(def, opts);
  if (!status && !opts.embed) return out;
  const s = status ?? {};
  const tasks = s.tasks ?? s.instances;
  const e = opts.embed;
  const hasCounts = s.counts !== undefined || s.tasksStaged !== undefined || s.tasksRunning !== undefined || tasks !== undefined;
  if (e ? e.counts : hasCounts) {
    const c = s.counts ?? (tasks && s.tasksStaged === undefined ? countTasks(tasks) : undefined);
    out.tasksStaged = c?.staged ?? s.tasksStaged ?? 0;
    out.tasksRunning = c?.running ?? s.tasksRunning ?? 0;
    out.tasksHealthy = c?.healthy ?? s.tasksHealthy ?? 0;
    out.tasksUnhealthy = c?.unhealthy ?? s.tasksUnhealthy ?? 0;
  }
  if (e ? e.deployments : s.deployments !== undefined)
    out.deployments = (s.deployments ?? []).map((d) => ({ id: typeof d === 'string' ? d : d.id }));
  if (e ? e.readiness : s.readinessCheckResults !== undefined) out.readinessCheckResults = (s.readinessCheckResults ?? []).map(renderReadinessResult);
  if (e ? e.tasks : tasks !== undefined) out.tasks = (tasks ?? []).map((t) => renderTask(t, { app: def }));
  if ((e ? e.lastTaskFailure : true) && s.lastTaskFailure) out.lastTaskFailure = renderTaskFailure(s.lastTaskFailure);
  if (e ? e.taskStats : s.taskStats !== undefined) out.taskStats = s.taskStats ?? computeTaskStats(def, tasks ?? [], opts.now ?? Date.now());
  return out;
}

// ─── Deployments (§5.1) ──────────────────────────────────────────────────────

export interface DeploymentActionInput {
  action: string;
  app?: string;
  pod?: string;
  readinessCheckResults?: readonly ReadinessResultInput[];
}

export interface DeploymentInput {
  id: string;
  version: string | number;
  affectedApps: readonly string[];
  affectedPods?: readonly string[];
  steps: readonly { actions: readonly DeploymentActionInput[] }[];
  currentStep: number;
  totalSteps?: number;
  currentActions?: readonly DeploymentActionInput[];
}

function renderAction(a: DeploymentActionInput, withReadiness: boolean): Obj {
  const out: Obj = { action: a.action };
  if (a.app !== undefined) out.app = a.app;
  if (a.pod !== undefined) out.pod = a.pod;
  if (withReadiness) out.readinessCheckResults = (a.readinessCheckResults ?? []).map(renderReadinessResult);
  return out;
}

/** One `GET /v2/deployments` item; currentActions always carry readinessCheckResults (maybe `[]`). */
export function renderDeployment(d: DeploymentInput): Obj {
  return {
    id: d.id,
    version: toMarathonTimestamp(d.version),
    affectedApps: [...d.affectedApps],
    affectedPods: [...(d.affectedPods ?? [])],
    steps: d.steps.map((s) => ({ actions: s.actions.map((a) => renderAction(a, false)) })),
    currentActions: (d.currentActions ?? d.steps[d.currentStep - 1]?.actions ?? []).map((a) => renderAction(a, true)),
    currentStep: d.currentStep,
    totalSteps: d.totalSteps ?? d.steps.length,
  };
}

// ─── Groups ──────────────────────────────────────────────────────────────────

/** A group's app entry: a bare definition, or `{app, ...status}` (the orchestrator's AppStatus). */
export type GroupAppEntry = AppLike | ({ app: AppLike } & AppStatusInput);

export interface GroupInput {
  id: string;
  apps?: readonly GroupAppEntry[];
  groups?: readonly GroupInput[];
  pods?: readonly unknown[];
  dependencies?: readonly string[];
  version?: string | number;
  enforceRole?: boolean;
}

export interface RenderGroupOptions {
  embed?: GroupEmbed;
  now?: number;
  newerFields?: boolean;
}

const isEntry = (a: GroupAppEntry): a is { app: AppLike } & AppStatusInput =>
  typeof (a as { app?: unknown }).app === 'object' && (a as { app?: unknown }).app !== null;

/** GroupInfo `{id, apps, pods, groups, dependencies, version, enforceRole}`; parts not embedded are omitted. */
export function renderGroup(g: GroupInput, opts: RenderGroupOptions = {}): Obj {
  const embed = opts.embed ?? parseGroupEmbed(undefined);
  const out: Obj = { id: canonicalPath(g.id) };
  if (embed.apps)
    out.apps = (g.apps ?? []).map((a) =>
      isEntry(a) ? renderApp(a.app, a, { embed: embed.app, now: opts.now, newerFields: opts.newerFields }) : renderApp(a, undefined, { embed: embed.app, now: opts.now, newerFields: opts.newerFields }),
    );
  if (embed.pods) out.pods = [...(g.pods ?? [])];
  if (embed.groups) out.groups = (g.groups ?? []).map((c) => renderGroup(c, { ...opts, embed }));
  out.dependencies = [...(g.dependencies ?? [])];
  if (g.version !== undefined) out.version = toMarathonTimestamp(g.version);
  out.enforceRole = g.enforceRole ?? false;
  return out;
}

/** A group tree of bare app definitions (what groupTreeFromApps builds). */
export type AppGroupTree = { id: string; apps: AppLike[]; groups: AppGroupTree[]; dependencies?: string[]; version?: string };

/**
 * Builds the nested group tree (rooted at `rootId`) that holds the given apps — for deployment plans
 * (`original`/`target`) and for GroupInfo when only a flat app list is at hand.
 */
export function groupTreeFromApps(apps: readonly AppLike[], rootId = '/', version?: string): AppGroupTree {
  type Node = AppGroupTree;
  const root: Node = { id: canonicalPath(rootId), apps: [], groups: [] };
  if (version !== undefined) root.version = version;
  const byId = new Map<string, Node>([[root.id, root]]);
  const nodeFor = (id: string): Node => {
    const existing = byId.get(id);
    if (existing) return existing;
    const n: Node = { id, apps: [], groups: [] };
    if (version !== undefined) n.version = version;
    byId.set(id, n);
    nodeFor(parentOf(id)).groups.push(n);
    return n;
  };
  for (const app of [...apps].sort((a, b) => a.id.localeCompare(b.id))) {
    if (isDescendantOf(app.id, root.id)) nodeFor(parentOf(app.id)).apps.push(app);
  }
  return root;
}

/** DeploymentPlan JSON used in deployment events: `{id, version, original, target, steps}`. */
export function renderDeploymentPlan(p: {
  id: string;
  version: string | number;
  original: readonly AppLike[] | Readonly<Record<string, AppLike>> | GroupInput;
  target: readonly AppLike[] | Readonly<Record<string, AppLike>> | GroupInput;
  steps: readonly { actions: readonly DeploymentActionInput[] }[];
}): Obj {
  const version = toMarathonTimestamp(p.version);
  const group = (g: typeof p.original): Obj => {
    const tree = Array.isArray(g)
      ? groupTreeFromApps(g as AppLike[], '/', version)
      : typeof (g as GroupInput).id === 'string' // a group (a map of apps is keyed by absolute ids, never "id")
        ? (g as GroupInput)
        : groupTreeFromApps(Object.values(g as Record<string, AppLike>), '/', version);
    return renderGroup(tree, { embed: { groups: true, apps: true, pods: true, app: noEmbed() } });
  };
  return {
    id: p.id,
    version,
    original: group(p.original),
    target: group(p.target),
    steps: p.steps.map((s) => ({ actions: s.actions.map((a) => renderAction(a, false)) })),
  };
}

// ─── Queue (§1.5) ────────────────────────────────────────────────────────────

/** Marathon's NoOfferMatchReason order (the funnel of rejectSummary*). */
export const REJECT_REASONS = [
  'UnfulfilledRole',
  'UnfulfilledConstraint',
  'NoCorrespondingReservationFound',
  'AgentMaintenance',
  'InsufficientCpus',
  'InsufficientMemory',
  'InsufficientDisk',
  'InsufficientGpus',
  'InsufficientPorts',
  'DeclinedScarceResources',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface RejectSummaryEntry {
  reason: string;
  declined: number;
  processed: number;
}

/** The reason an offer is counted under: the first of its reasons in REJECT_REASONS order. */
export function firstRejectReason(reasons: readonly string[]): string | undefined {
  for (const r of REJECT_REASONS) if (reasons.includes(r)) return r;
  return reasons[0];
}

/**
 * Marathon's reject summary funnel: every reason in order with `declined` (offers rejected first for
 * it) and `processed` (offers that reached that check = processed − declined by earlier reasons).
 */
export function rejectSummary(processedOffers: number, declinedByReason: Readonly<Partial<Record<string, number>>>): RejectSummaryEntry[] {
  let processed = processedOffers;
  return REJECT_REASONS.map((reason) => {
    const declined = declinedByReason[reason] ?? 0;
    const entry = { reason, declined, processed };
    processed -= declined;
    return entry;
  });
}

export interface QueueItemInput {
  app: AppLike;
  count: number;
  delay: { timeLeftSeconds: number; overdue: boolean };
  since: string | number;
  processedOffersSummary: {
    processedOffersCount: number;
    unusedOffersCount: number;
    lastUnusedOfferAt?: string | number;
    lastUsedOfferAt?: string | number;
    rejectSummaryLastOffers?: readonly RejectSummaryEntry[];
    rejectSummaryLaunchAttempt?: readonly RejectSummaryEntry[];
  };
  lastUnusedOffers?: readonly { offer: Obj | { id: string; agentId: string; hostname: string }; timestamp: string | number; reason: readonly string[] }[];
  role?: string;
}

export interface RenderQueueOptions {
  /** `embed=lastUnusedOffers`. */
  lastUnusedOffers?: boolean;
  /** Emit `role` (Marathon 1.9+; marathon-python does not know it). */
  includeRole?: boolean;
  newerFields?: boolean;
}

/** One `/v2/queue` item: `{app, count, delay, since, processedOffersSummary, lastUnusedOffers?}`. */
export function renderQueueItem(q: QueueItemInput, opts: RenderQueueOptions = {}): Obj {
  const s = q.processedOffersSummary;
  const summary: Obj = { processedOffersCount: s.processedOffersCount, unusedOffersCount: s.unusedOffersCount };
  if (s.lastUnusedOfferAt !== undefined) summary.lastUnusedOfferAt = toMarathonTimestamp(s.lastUnusedOfferAt);
  if (s.lastUsedOfferAt !== undefined) summary.lastUsedOfferAt = toMarathonTimestamp(s.lastUsedOfferAt);
  const entries = (list: readonly RejectSummaryEntry[] | undefined) =>
    list?.length ? list.map((e) => ({ reason: e.reason, declined: e.declined, processed: e.processed })) : rejectSummary(0, {});
  summary.rejectSummaryLastOffers = s.rejectSummaryLastOffers?.length ? entries(s.rejectSummaryLastOffers) : rejectSummary(s.processedOffersCount, {});
  summary.rejectSummaryLaunchAttempt = entries(s.rejectSummaryLaunchAttempt);
  const out: Obj = {
    app: renderAppDefinition(q.app, { newerFields: opts.newerFields }),
    count: q.count,
    delay: { timeLeftSeconds: q.delay.timeLeftSeconds, overdue: q.delay.overdue },
    since: toMarathonTimestamp(q.since),
    processedOffersSummary: summary,
  };
  if (opts.includeRole) out.role = q.role ?? (typeof q.app.role === 'string' ? q.app.role : '*');
  if (opts.lastUnusedOffers)
    out.lastUnusedOffers = (q.lastUnusedOffers ?? []).map((u) => ({ offer: u.offer, timestamp: toMarathonTimestamp(u.timestamp), reason: [...u.reason] }));
  return out;
}

/** `GET /v2/queue` body. */
export const renderQueue = (items: readonly QueueItemInput[], opts: RenderQueueOptions = {}): { queue: Obj[] } => ({
  queue: items.map((q) => renderQueueItem(q, opts)),
});
