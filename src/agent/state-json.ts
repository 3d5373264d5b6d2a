// GET /state: Mesos's agent state JSON (legacy format: plain-string ids, flat resource objects).
import { reservationBreakdown, toLegacyResources, type Resources } from '../core/resources.ts';
import { attributesToLegacy, type Attribute, type TaskStatus } from '../protocol/mesos.ts';
import type { FrameworkEntry, TaskRun } from './task-types.ts';

export const MESOS_VERSION = '1.11.0';

export interface StateInput {
  agentId?: string;
  host: string;
  hostname: string;
  port: number;
  startTimeSeconds: number;
  resources: Resources;
  used: Resources;
  attributes: Attribute[];
  flags: Record<string, string>;
  masterHostname?: string;
  frameworks: Iterable<FrameworkEntry>;
}

const statusJson = (s: TaskStatus) => ({
  state: s.state,
  timestamp: s.timestamp,
  ...(s.container_status ? { container_status: s.container_status } : {}),
  ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
  ...(s.labels ? { labels: s.labels } : {}),
});

function taskJson(run: TaskRun, agentId: string) {
  const info = run.info;
  return {
    id: run.taskId,
    name: info.name,
    framework_id: run.frameworkId,
    executor_id: '',
    slave_id: agentId,
    state: run.state,
    resources: toLegacyResources(run.resources),
    statuses: run.statuses.map(statusJson),
    ...(run.user ? { user: run.user } : {}),
    ...(info.labels ? { labels: info.labels } : {}),
    ...(info.discovery ? { discovery: info.discovery } : {}),
    ...(info.container ? { container: info.container } : {}),
    ...(info.health_check ? { health_check: info.health_check } : {}),
    ...(info.kill_policy ? { kill_policy: info.kill_policy } : {}),
  };
}

function executorJson(run: TaskRun, agentId: string, role: string) {
  const cmd = run.info.command;
  const shown = cmd ? ((cmd.shell ?? true) ? `sh -c '${cmd.value ?? ''}'` : [cmd.value, ...(cmd.arguments ?? []).slice(1)].join(' ')) : '';
  const task = taskJson(run, agentId);
  const pending = !run.terminal;
  return {
    id: run.executorId,
    name: `Command Executor (Task: ${run.taskId}) (Command: ${shown.length > 200 ? shown.slice(0, 197) + '...' : shown})`,
    source: run.taskId,
    container: run.containerId,
    directory: run.directory,
    resources: toLegacyResources(run.resources),
    role,
    type: 'COMMAND',
    framework_id: run.frameworkId,
    tasks: pending ? [task] : [],
    queued_tasks: [],
    // Like Mesos: terminated (not yet acknowledged) tasks are listed with the completed ones.
    completed_tasks: pending ? [] : [task],
  };
}

function frameworkJson(fw: FrameworkEntry, agentId: string) {
  const info = fw.info;
  const role = info.roles?.[0] ?? info.role ?? '*';
  return {
    id: fw.id,
    name: info.name,
    user: info.user,
    failover_timeout: info.failover_timeout ?? 0,
    checkpoint: info.checkpoint ?? false,
    hostname: info.hostname ?? '',
    role,
    ...(info.roles ? { roles: info.roles } : {}),
    ...(info.principal ? { principal: info.principal } : {}),
    capabilities: (info.capabilities ?? []).map((c) => c.type),
    executors: [...fw.tasks.values()].map((r) => executorJson(r, agentId, role)),
    completed_executors: fw.completed.map((r) => executorJson(r, agentId, role)),
  };
}

export function agentState(i: StateInput) {
  const agentId = i.agentId ?? '';
  const frameworks = [];
  const completed = [];
  for (const fw of i.frameworks) {
    if (fw.tasks.size > 0 && !fw.shuttingDown) frameworks.push(frameworkJson(fw, agentId));
    else if (fw.completed.length || fw.tasks.size) completed.push(frameworkJson(fw, agentId));
  }
  return {
    version: MESOS_VERSION,
    build_date: '',
    build_time: 0,
    build_user: '',
    start_time: i.startTimeSeconds,
    id: agentId,
    pid: `slave(1)@${i.host}:${i.port}`,
    hostname: i.hostname,
    capabilities: ['MULTI_ROLE', 'HIERARCHICAL_ROLE', 'TASK_RESOURCE_LIMITS'],
    resources: toLegacyResources(i.resources),
    ...reservationBreakdown(i.resources, i.used),
    attributes: attributesToLegacy(i.attributes),
    ...(i.masterHostname ? { master_hostname: i.masterHostname } : {}),
    flags: i.flags,
    frameworks,
    completed_frameworks: completed,
  };
}
