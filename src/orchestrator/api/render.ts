// The API layer's view of protocol/marathon: parsing, validation and rendering
// of Marathon JSON. Everything here delegates to protocol/marathon; the few
// adapters only bridge the service's records to the renderers' inputs.
import type { AppDefinition, AppStatus, DeploymentRecord, DeploymentResult, GroupNode, InstanceRecord, MarathonEvent, OrchestratorInfo, QueueEntry } from '../service.ts';
import {
  apiPostEvent,
  canonicalPath,
  deploymentResult,
  isRollback,
  labelPredicate,
  mergeAppUpdate,
  parseAppDefinition,
  parseAppUpdate,
  parseEmbed,
  parseGroupDefinition,
  parseGroupEmbed,
  parseTaskOrInstanceId,
  renderApp,
  renderAppDefinition,
  renderDeployment,
  renderDeploymentPlan,
  renderGroup,
  renderHealthCheck,
  renderQueueItem,
  renderTask,
  safeId,
  appNotFound as protoAppNotFound,
  deploymentNotFound as protoDeploymentNotFound,
  groupNotFound as protoGroupNotFound,
  invalidTaskId as protoInvalidTaskId,
  queueAppNotFound as protoQueueAppNotFound,
  taskNotFound as protoTaskNotFound,
  scaleAndWipe as protoScaleAndWipe,
  groupAlreadyExists as protoGroupAlreadyExists,
  appPathExists as protoAppPathExists,
  type AppDefinition as ProtoApp,
  type AppEmbed,
  type AppStatusInput,
  type DeploymentInput,
  type GroupInput,
  type GroupUpdate,
  type ParsedInstanceId,
  type QueueItemInput,
  type TaskInput,
} from '../../protocol/marathon/index.ts';

export const isObject = (x: unknown): x is Record<string, any> => typeof x === 'object' && x !== null && !Array.isArray(x);

export const canonicalId = (id: string): string => canonicalPath(id);
export const appNotFound = protoAppNotFound;
export const groupNotFound = protoGroupNotFound;
export const taskNotFound = protoTaskNotFound;
export const deploymentNotFound = protoDeploymentNotFound;
export const queueAppNotFound = protoQueueAppNotFound;
export const invalidTaskId = protoInvalidTaskId;
export const scaleAndWipe = protoScaleAndWipe;
export const groupAlreadyExists = protoGroupAlreadyExists;
export const appPathExists = protoAppPathExists;
export const parseTaskRef = (id: string): ParsedInstanceId | undefined => parseTaskOrInstanceId(id);
export const labelFilter = (text: string | null): ((labels: Readonly<Record<string, string>> | undefined) => boolean) | undefined =>
  text === null ? undefined : labelPredicate(text);


/** A full definition from a POST/PUT body; `id` (from the URL) overrides the body's id. */
export function parseApp(body: unknown, opts: { id?: string }): AppDefinition {
  const json = opts.id !== undefined && isObject(body) ? { ...body, id: opts.id } : body;
  return parseAppDefinition(json) as AppDefinition;
}

/** PUT partialUpdate=true / PATCH: the body's fields over the current definition, re-validated. */
export function mergeApp(current: AppDefinition, body: unknown): AppDefinition {
  return mergeAppUpdate(current as unknown as ProtoApp, body) as AppDefinition;
}

/** A PUT body that asks for a rollback: `{"version": …}` (plus `id`); 422 when combined with more. */
export function rollbackVersion(body: unknown): string | undefined {
  if (!isObject(body) || body.version === undefined || body.version === null) return undefined;
  const u = parseAppUpdate(body);
  return isRollback(u) ? u.version : undefined;
}

// ─── rendering ──────────────────────────────────────────────────────────────

/** `embed=` query values of GET /v2/apps ('list') or GET /v2/apps/{id} ('single'). */
export function appEmbeds(values: string[], kind: 'list' | 'single'): AppEmbed {
  return parseEmbed(values, kind === 'list' ? 'apps' : 'app');
}

/** AppInfo of an app status with exactly the given embeds. */
export function appInfo(s: AppStatus, embed: AppEmbed): Record<string, unknown> {
  return renderApp(s.app, s as unknown as AppStatusInput, { embed });
}

/** A bare app definition (GET …/versions/{v}, queue items). */
export const appJson = (def: AppDefinition): Record<string, unknown> => renderAppDefinition(def);

export const taskJson = (i: InstanceRecord, app: AppDefinition | undefined): Record<string, unknown> =>
  renderTask(i as unknown as TaskInput, app ? { app } : {});

export const deploymentJson = (d: DeploymentRecord): Record<string, unknown> => renderDeployment(d as unknown as DeploymentInput);

export const deploymentResultJson = (r: DeploymentResult): { version: string; deploymentId: string } => deploymentResult(r.deploymentId, r.version);

export const groupJson = (g: GroupNode, embed: string[]): Record<string, unknown> =>
  renderGroup(g as unknown as GroupInput, { embed: parseGroupEmbed(embed) });

export const queueItemJson = (q: QueueEntry, lastUnusedOffers: boolean): Record<string, unknown> =>
  renderQueueItem(q as unknown as QueueItemInput, { lastUnusedOffers });

/** GET /v2/info: Marathon's shape, filled from the orchestrator's info. */
export function infoJson(info: OrchestratorInfo, leader: string): Record<string, unknown> {
  const [host, port] = [leader.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''), Number(leader.slice(leader.lastIndexOf(':') + 1))];
  return {
    name: info.name,
    version: info.version,
    buildref: 'corral',
    elected: true,
    leader,
    frameworkId: info.frameworkId,
    marathon_config: {
      checkpoint: true,
      failover_timeout: info.failoverTimeoutSeconds,
      framework_name: info.frameworkName,
      ha: false,
      hostname: host,
      master: info.masterUrl,
      mesos_role: info.role,
      mesos_user: info.user,
      reconciliation_interval: info.reconciliationIntervalMs,
      local_port_min: 10000,
      local_port_max: 20000,
      features: [],
    },
    zookeeper_config: {},
    http_config: { http_port: port, https_port: null },
  };
}

/** Bus events as Marathon's wire JSON: app definitions, plans and health checks rendered. */
export function renderEvent(ev: MarathonEvent): unknown {
  const e = ev as MarathonEvent & Record<string, any>;
  switch (ev.eventType) {
    case 'api_post_event':
      return apiPostEvent({ clientIp: ev.clientIp, uri: ev.uri, appDefinition: ev.appDefinition }, ev.timestamp);
    case 'deployment_info':
    case 'deployment_step_success':
    case 'deployment_step_failure':
    case 'deployment_success':
    case 'deployment_failed':
      return { ...e, plan: renderDeploymentPlan(ev.plan as unknown as Parameters<typeof renderDeploymentPlan>[0]) };
    case 'add_health_check_event':
    case 'failed_health_check_event':
      return { ...e, healthCheck: renderHealthCheck(ev.healthCheck as Parameters<typeof renderHealthCheck>[0]) };
    default:
      return ev;
  }
}

export type ParsedGroupUpdate = GroupUpdate;

/** A GroupUpdate body; a relative body id (and the apps' ids) resolve against the URL's group. */
export function parseGroupUpdate(body: unknown, pathId: string): ParsedGroupUpdate {
  return parseGroupDefinition(body, pathId);
}

/** `scaleBy`: Marathon rounds the scaled instance count up. */
export const scaledInstances = (instances: number, by: number): number => Math.ceil(instances * by);

/**
 * The text/plain task list of old Marathon (haproxy-marathon-bridge): one line per app and service
 * port: `<safeAppId>\t<servicePort>\t<host:port>\t…`; apps without ports: `<safeAppId>\t \t<host>\t…`.
 */
export function appsTextPlain(apps: AppStatus[]): string {
  let out = '';
  for (const s of apps) {
    const running = s.instances.filter((i) => i.state === 'TASK_RUNNING');
    const servicePorts = (s.app.portDefinitions ?? []).map((p) => p.port ?? 0);
    const name = safeId(s.app.id);
    if (!servicePorts.length) {
      out += `${name}\t \t${running.map((i) => i.host).join('\t')}${running.length ? '\t' : ''}\n`;
      continue;
    }
    servicePorts.forEach((sp, idx) => {
      const hosts = running.filter((i) => i.ports[idx] !== undefined).map((i) => `${i.host}:${i.ports[idx]}`);
      out += `${name}\t${sp}\t${hosts.join('\t')}${hosts.length ? '\t' : ''}\n`;
    });
  }
  return out;
}
