// Marathon's event stream (marathon.md §8): one builder per event type, each adding
// `eventType` and `timestamp` (ISO ms Z), and the SSE frame `event: <type>\ndata: <json>\n\n`.
import { toMarathonTimestamp } from './ids.ts';
import type { AppLike } from './app.ts';
import { renderAppDefinition, renderHealthCheck } from './render.ts';

export const EVENT_TYPES = [
  'event_stream_attached',
  'event_stream_detached',
  'api_post_event',
  'pod_created_event',
  'pod_updated_event',
  'pod_deleted_event',
  'status_update_event',
  'instance_changed_event',
  'unknown_instance_terminated_event',
  'instance_health_changed_event',
  'app_terminated_event',
  'framework_message_event',
  'scheduler_registered_event',
  'scheduler_reregistered_event',
  'scheduler_disconnected_event',
  'subscribe_event',
  'unsubscribe_event',
  'add_health_check_event',
  'remove_health_check_event',
  'failed_health_check_event',
  'health_status_changed_event',
  'unhealthy_instance_kill_event',
  'group_change_success',
  'group_change_failed',
  'deployment_info',
  'deployment_step_success',
  'deployment_step_failure',
  'deployment_success',
  'deployment_failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type MarathonEventJson<T extends EventType = EventType, F = Record<string, unknown>> = { eventType: T; timestamp: string } & F;

/** When an event happened: epoch ms, a Date, an ISO string; default now. */
export type At = number | string | Date | undefined;

const stamp = (at: At): string => toMarathonTimestamp(at ?? Date.now());

/** Generic builder: `{eventType, timestamp, ...fields}`. */
export function marathonEvent<T extends EventType, F extends object>(eventType: T, fields: F, at?: At): MarathonEventJson<T, F> {
  return { eventType, timestamp: stamp(at), ...fields };
}

/** `event: <type>\ndata: <single-line json>\n\n` */
export function sseFrame(event: { eventType: string }): string {
  return `event: ${event.eventType}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Whether an `?event_type=` filter (empty = all) lets the event through. */
export const eventPasses = (event: { eventType: string }, filter: readonly string[] | undefined): boolean =>
  !filter || filter.length === 0 || filter.includes(event.eventType);

type IpAddress = { ipAddress: string; protocol: string };
type Plan = Record<string, unknown>;
type Step = { actions: readonly Record<string, unknown>[] };

export const eventStreamAttached = (f: { remoteAddress: string }, at?: At) => marathonEvent('event_stream_attached', { remoteAddress: f.remoteAddress }, at);
export const eventStreamDetached = (f: { remoteAddress: string }, at?: At) => marathonEvent('event_stream_detached', { remoteAddress: f.remoteAddress }, at);

/** On app create/update via the API; `appDefinition` is rendered as Marathon's App JSON. */
export const apiPostEvent = (f: { clientIp: string; uri: string; appDefinition: AppLike }, at?: At) =>
  marathonEvent('api_post_event', { clientIp: f.clientIp, uri: f.uri, appDefinition: renderAppDefinition(f.appDefinition) }, at);

export const podCreatedEvent = (f: { clientIp: string; uri: string }, at?: At) => marathonEvent('pod_created_event', { clientIp: f.clientIp, uri: f.uri }, at);
export const podUpdatedEvent = (f: { clientIp: string; uri: string }, at?: At) => marathonEvent('pod_updated_event', { clientIp: f.clientIp, uri: f.uri }, at);
export const podDeletedEvent = (f: { clientIp: string; uri: string }, at?: At) => marathonEvent('pod_deleted_event', { clientIp: f.clientIp, uri: f.uri }, at);

export const statusUpdateEvent = (
  f: { slaveId: string; taskId: string; taskStatus: string; message: string; appId: string; host: string; ipAddresses?: readonly IpAddress[]; ports?: readonly number[]; version: string },
  at?: At,
) =>
  marathonEvent(
    'status_update_event',
    {
      slaveId: f.slaveId,
      taskId: f.taskId,
      taskStatus: f.taskStatus,
      message: f.message,
      appId: f.appId,
      host: f.host,
      ipAddresses: (f.ipAddresses ?? []).map((a) => ({ ipAddress: a.ipAddress, protocol: a.protocol })),
      ports: [...(f.ports ?? [])],
      version: toMarathonTimestamp(f.version),
    },
    at,
  );

export const instanceChangedEvent = (
  f: { instanceId: string; condition: string; runSpecId: string; agentId: string; host: string; runSpecVersion: string; goal?: string },
  at?: At,
) => {
  const fields: Record<string, unknown> = {
    instanceId: f.instanceId,
    condition: f.condition,
    runSpecId: f.runSpecId,
    agentId: f.agentId,
    host: f.host,
    runSpecVersion: toMarathonTimestamp(f.runSpecVersion),
  };
  if (f.goal !== undefined) fields.goal = f.goal;
  return marathonEvent('instance_changed_event', fields, at);
};

export const unknownInstanceTerminatedEvent = (f: { instanceId: string; runSpecId: string; condition: string }, at?: At) =>
  marathonEvent('unknown_instance_terminated_event', { instanceId: f.instanceId, runSpecId: f.runSpecId, condition: f.condition }, at);

export const instanceHealthChangedEvent = (f: { instanceId: string; runSpecId: string; runSpecVersion: string; healthy: boolean | null }, at?: At) =>
  marathonEvent(
    'instance_health_changed_event',
    { instanceId: f.instanceId, runSpecId: f.runSpecId, runSpecVersion: toMarathonTimestamp(f.runSpecVersion), healthy: f.healthy },
    at,
  );

export const appTerminatedEvent = (f: { appId: string }, at?: At) => marathonEvent('app_terminated_event', { appId: f.appId }, at);

/** `message` is the framework message's bytes (rendered base64, as Marathon's byte arrays are). */
export const frameworkMessageEvent = (f: { executorId: string; slaveId: string; message: Uint8Array | string }, at?: At) =>
  marathonEvent(
    'framework_message_event',
    {
      executorId: f.executorId,
      slaveId: f.slaveId,
      message: typeof f.message === 'string' ? f.message : Buffer.from(f.message).toString('base64'),
    },
    at,
  );

export const schedulerRegisteredEvent = (f: { frameworkId: string; master: string }, at?: At) =>
  marathonEvent('scheduler_registered_event', { frameworkId: f.frameworkId, master: f.master }, at);
export const schedulerReregisteredEvent = (f: { master: string }, at?: At) => marathonEvent('scheduler_reregistered_event', { master: f.master }, at);
export const schedulerDisconnectedEvent = (at?: At) => marathonEvent('scheduler_disconnected_event', {}, at);

export const subscribeEvent = (f: { clientIp: string; callbackUrl: string }, at?: At) =>
  marathonEvent('subscribe_event', { clientIp: f.clientIp, callbackUrl: f.callbackUrl }, at);
export const unsubscribeEvent = (f: { clientIp: string; callbackUrl: string }, at?: At) =>
  marathonEvent('unsubscribe_event', { clientIp: f.clientIp, callbackUrl: f.callbackUrl }, at);

type HealthCheckLike = Record<string, unknown>;

export const addHealthCheckEvent = (f: { appId: string; version: string; healthCheck: HealthCheckLike }, at?: At) =>
  marathonEvent('add_health_check_event', { appId: f.appId, version: toMarathonTimestamp(f.version), healthCheck: renderHealthCheck(f.healthCheck) }, at);
export const removeHealthCheckEvent = (f: { appId: string }, at?: At) => marathonEvent('remove_health_check_event', { appId: f.appId }, at);

/** `taskId` carries the instance id (Marathon 1.5+ semantics). */
export const failedHealthCheckEvent = (f: { appId: string; taskId: string; healthCheck: HealthCheckLike; instanceId?: string }, at?: At) => {
  const fields: Record<string, unknown> = { appId: f.appId, taskId: f.taskId, healthCheck: renderHealthCheck(f.healthCheck) };
  if (f.instanceId !== undefined) fields.instanceId = f.instanceId;
  return marathonEvent('failed_health_check_event', fields, at);
};

export const healthStatusChangedEvent = (f: { appId: string; instanceId: string; version: string; alive: boolean }, at?: At) =>
  marathonEvent('health_status_changed_event', { appId: f.appId, instanceId: f.instanceId, version: toMarathonTimestamp(f.version), alive: f.alive }, at);

export const unhealthyInstanceKillEvent = (
  f: { appId: string; taskId: string; instanceId: string; version: string; reason: string; host: string; slaveId: string },
  at?: At,
) =>
  marathonEvent(
    'unhealthy_instance_kill_event',
    { appId: f.appId, taskId: f.taskId, instanceId: f.instanceId, version: toMarathonTimestamp(f.version), reason: f.reason, host: f.host, slaveId: f.slaveId },
    at,
  );

export const groupChangeSuccess = (f: { groupId: string; version: string }, at?: At) =>
  marathonEvent('group_change_success', { groupId: f.groupId, version: toMarathonTimestamp(f.version) }, at);
export const groupChangeFailed = (f: { groupId: string; version: string; reason: string }, at?: At) =>
  marathonEvent('group_change_failed', { groupId: f.groupId, version: toMarathonTimestamp(f.version), reason: f.reason }, at);

/** `plan` from renderDeploymentPlan; `currentStep` = `{actions:[{action, app}]}`. */
export const deploymentInfo = (f: { plan: Plan; currentStep: Step }, at?: At) => marathonEvent('deployment_info', { plan: f.plan, currentStep: f.currentStep }, at);
export const deploymentStepSuccess = (f: { plan: Plan; currentStep: Step }, at?: At) =>
  marathonEvent('deployment_step_success', { plan: f.plan, currentStep: f.currentStep }, at);
export const deploymentStepFailure = (f: { plan: Plan; currentStep: Step }, at?: At) =>
  marathonEvent('deployment_step_failure', { plan: f.plan, currentStep: f.currentStep }, at);
export const deploymentSuccess = (f: { id: string; plan: Plan }, at?: At) => marathonEvent('deployment_success', { id: f.id, plan: f.plan }, at);
export const deploymentFailed = (f: { id: string; plan: Plan; reason?: string }, at?: At) => {
  const fields: Record<string, unknown> = { id: f.id, plan: f.plan };
  if (f.reason !== undefined) fields.reason = f.reason;
  return marathonEvent('deployment_failed', fields, at);
};
