// Pure renderers of the master's state: Mesos's legacy JSON (/master/state
// and friends: string ids, flat resources, `slave` naming, seconds) and the v1
// operator API shapes (ID objects, Mesos resources, TimeInfo).
import { addResources, emptyResources, reservationBreakdown, toLegacyResources, toMesosResources, type Resources } from '../core/resources.ts';
import { attributesToLegacy, type MasterInfo, type TaskState } from '../protocol/mesos.ts';
import { BUILD_INFO } from './version.ts';
import { wireOffer } from './events.ts';
import type { AgentEntry, FrameworkEntry, MasterState, OfferEntry, TaskEntry } from './state.ts';

const secs = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);
const timeInfo = (ms: number) => ({ nanoseconds: Math.round(ms * 1e6) });

export interface RenderContext {
  state: MasterState;
  masterInfo: MasterInfo;
  startTime: number;
  /** When this master's leadership term began (default: startTime). */
  electedTime?: number;
  flags: Record<string, string>;
}

function sum(items: Iterable<Resources>): Resources {
  let out = emptyResources();
  for (const r of items) out = addResources(out, r);
  return out;
}

function* usedBy(tasks: Iterable<TaskEntry>): Iterable<Resources> {
  for (const t of tasks) if (t.holdsResources) yield t.resources;
}

function offersOf(state: MasterState, ids: Iterable<string>): OfferEntry[] {
  const out: OfferEntry[] = [];
  for (const id of ids) {
    const o = state.offers.get(id);
    if (o) out.push(o);
  }
  return out;
}

function agentPid(agent: AgentEntry): string {
  try {
    const u = new URL(agent.endpoint);
    return `slave(1)@${u.hostname}:${u.port || agent.info.port}`;
  } catch {
    return `slave(1)@${agent.info.hostname}:${agent.info.port}`;
  }
}

// ---- legacy JSON ---------------------------------------------------------

export function legacyTask(t: TaskEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: t.taskId,
    name: t.name,
    framework_id: t.frameworkId,
    executor_id: t.executorId ?? '',
    slave_id: t.agentId,
    state: t.state,
    resources: toLegacyResources(t.resources),
    role: t.role,
    statuses: t.statuses.map((s) => ({
      state: s.state,
      timestamp: s.timestamp ?? 0,
      ...(s.labels?.labels ? { labels: s.labels.labels } : {}),
      ...(s.container_status ? { container_status: s.container_status } : {}),
      ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
    })),
  };
  const info = t.info;
  if (info?.labels?.labels) out.labels = info.labels.labels;
  if (info?.discovery) out.discovery = info.discovery;
  if (info?.container) out.container = info.container;
  if (info?.health_check) out.health_check = info.health_check;
  if (info?.limits) out.limits = info.limits;
  if (t.user) out.user = t.user;
  return out;
}

function legacyOffer(o: OfferEntry): Record<string, unknown> {
  return { id: o.id, framework_id: o.frameworkId, allocation_info: { role: o.role }, slave_id: o.agentId, resources: toLegacyResources(o.resources) };
}

function frameworkSummary(state: MasterState, fw: FrameworkEntry): Record<string, unknown> {
  const offered = sum(offersOf(state, fw.offers).map((o) => o.resources));
  return {
    id: fw.id,
    name: fw.info.name,
    used_resources: toLegacyResources(sum(usedBy(fw.tasks.values()))),
    offered_resources: toLegacyResources(offered),
    capabilities: [...fw.capabilities],
    hostname: fw.info.hostname ?? '',
    webui_url: fw.info.webui_url ?? '',
    active: fw.connected,
    connected: fw.connected,
    recovered: fw.recovered,
  };
}

export function legacyFramework(state: MasterState, fw: FrameworkEntry): Record<string, unknown> {
  const used = sum(usedBy(fw.tasks.values()));
  const offered = sum(offersOf(state, fw.offers).map((o) => o.resources));
  const out: Record<string, unknown> = {
    ...frameworkSummary(state, fw),
    user: fw.info.user,
    failover_timeout: fw.info.failover_timeout ?? 0,
    checkpoint: fw.info.checkpoint ?? false,
    registered_time: secs(fw.registeredTime),
    unregistered_time: secs(fw.unregisteredTime) ?? 0,
    resources: toLegacyResources(addResources(used, offered)),
    tasks: [...fw.tasks.values()].map(legacyTask),
    unreachable_tasks: [...fw.unreachableTasks.values()].map(legacyTask),
    completed_tasks: fw.completedTasks.map(legacyTask),
    offers: offersOf(state, fw.offers).map(legacyOffer),
    executors: [],
    labels: fw.info.labels?.labels ?? [],
  };
  if (fw.info.principal !== undefined) out.principal = fw.info.principal;
  if (fw.reregisteredTime !== undefined) out.reregistered_time = secs(fw.reregisteredTime);
  if (fw.capabilities.has('MULTI_ROLE')) out.roles = fw.roles;
  else out.role = fw.roles[0] ?? '*';
  return out;
}


function agentSummary(agent: AgentEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: agent.id,
    hostname: agent.info.hostname,
    port: agent.info.port,
    attributes: attributesToLegacy(agent.info.attributes),
    pid: agentPid(agent),
    registered_time: secs(agent.registeredTime),
    resources: toLegacyResources(agent.total),
    used_resources: toLegacyResources(agent.used),
    offered_resources: toLegacyResources(agent.offered),
    ...reservationBreakdown(agent.total),
    used_resources_full: toMesosResources(agent.used),
    offered_resources_full: toMesosResources(agent.offered),
    active: agent.status === 'registered',
    deactivated: false,
    version: agent.version,
    capabilities: [],
  };
  if (agent.reregisteredTime !== undefined) out.reregistered_time = secs(agent.reregisteredTime);
  return out;
}

export const legacyAgent = agentSummary;

function recoveredAgent(agent: AgentEntry): Record<string, unknown> {
  return {
    id: agent.id,
    hostname: agent.info.hostname,
    port: agent.info.port,
    attributes: attributesToLegacy(agent.info.attributes),
    resources: toLegacyResources(agent.total),
  };
}

export function legacySlaves(state: MasterState): { slaves: unknown[]; recovered_slaves: unknown[] } {
  const slaves: unknown[] = [];
  const recovered: unknown[] = [];
  for (const a of state.agents.values()) {
    if (a.status === 'registered') slaves.push(agentSummary(a));
    else if (a.status === 'recovered') recovered.push(recoveredAgent(a));
  }
  return { slaves, recovered_slaves: recovered };
}

export function legacyState(rc: RenderContext): Record<string, unknown> {
  const { state, masterInfo } = rc;
  let activated = 0;
  let unreachable = 0;
  for (const a of state.agents.values()) {
    if (a.status === 'registered') activated++;
    else if (a.status === 'unreachable') unreachable++;
  }
  return {
    ...BUILD_INFO,
    start_time: rc.startTime / 1000,
    elected_time: (rc.electedTime ?? rc.startTime) / 1000,
    id: masterInfo.id,
    pid: masterInfo.pid,
    hostname: masterInfo.hostname,
    capabilities: [],
    activated_slaves: activated,
    deactivated_slaves: 0,
    unreachable_slaves: unreachable,
    leader: masterInfo.pid,
    leader_info: masterInfo,
    flags: rc.flags,
    ...legacySlaves(state),
    frameworks: [...state.frameworks.values()].map((fw) => legacyFramework(state, fw)),
    completed_frameworks: state.completedFrameworks.map((fw) => legacyFramework(state, fw)),
    orphan_tasks: [],
    unregistered_frameworks: [],
  };
}

const SUMMARY_STATES: TaskState[] = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_KILLED',
  'TASK_FAILED',
  'TASK_LOST',
  'TASK_ERROR',
  'TASK_UNREACHABLE',
];

function stateCounts(tasks: Iterable<TaskEntry>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of SUMMARY_STATES) out[s] = 0;
  for (const t of tasks) if (out[t.state] !== undefined) out[t.state]!++;
  return out;
}

export function legacyStateSummary(rc: RenderContext): Record<string, unknown> {
  const { state } = rc;
  const slaves = [];
  for (const a of state.agents.values()) {
    if (a.status !== 'registered') continue;
    const fwIds = new Set<string>();
    for (const t of a.tasks.values()) fwIds.add(t.frameworkId);
    slaves.push({ ...agentSummary(a), ...stateCounts(a.tasks.values()), framework_ids: [...fwIds] });
  }
  const frameworks = [];
  for (const fw of state.frameworks.values()) {
    const agentIds = new Set<string>();
    for (const t of fw.tasks.values()) agentIds.add(t.agentId);
    const all = [...fw.tasks.values(), ...fw.unreachableTasks.values(), ...fw.completedTasks];
    frameworks.push({ ...frameworkSummary(state, fw), ...stateCounts(all), slave_ids: [...agentIds] });
  }
  return { hostname: rc.masterInfo.hostname, cluster: '', slaves, frameworks };
}

/** Every task the master knows (active, unreachable, completed; completed frameworks too), in launch order. */
export function allTasks(state: MasterState): TaskEntry[] {
  const out: TaskEntry[] = [];
  for (const fw of [...state.frameworks.values(), ...state.completedFrameworks]) {
    out.push(...fw.tasks.values(), ...fw.unreachableTasks.values(), ...fw.completedTasks);
  }
  return out.sort((a, b) => a.seq - b.seq);
}

// ---- v1 operator API -------------------------------------------------------

export function v1Task(t: TaskEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: t.name,
    task_id: { value: t.taskId },
    framework_id: { value: t.frameworkId },
    agent_id: { value: t.agentId },
    state: t.state,
    resources: t.wireResources.length ? t.wireResources : toMesosResources(t.resources, t.role),
    statuses: t.statuses,
  };
  if (t.executorId) out.executor_id = { value: t.executorId };
  if (t.statusUpdateState) out.status_update_state = t.statusUpdateState;
  if (t.statusUpdateUuid) out.status_update_uuid = t.statusUpdateUuid;
  const info = t.info;
  if (info?.labels) out.labels = info.labels;
  if (info?.discovery) out.discovery = info.discovery;
  if (info?.container) out.container = info.container;
  if (info?.health_check) out.health_check = info.health_check;
  if (info?.kill_policy) out.kill_policy = info.kill_policy;
  if (info?.limits) out.limits = info.limits;
  if (t.user) out.user = t.user;
  return out;
}

export function v1Tasks(state: MasterState): Record<string, unknown> {
  const tasks: unknown[] = [];
  const unreachable: unknown[] = [];
  const completed: unknown[] = [];
  for (const fw of state.frameworks.values()) {
    for (const t of fw.tasks.values()) tasks.push(v1Task(t));
    for (const t of fw.unreachableTasks.values()) unreachable.push(v1Task(t));
    for (const t of fw.completedTasks) completed.push(v1Task(t));
  }
  for (const fw of state.completedFrameworks) for (const t of [...fw.tasks.values(), ...fw.completedTasks]) completed.push(v1Task(t));
  return { tasks, unreachable_tasks: unreachable, completed_tasks: completed };
}

function v1Framework(state: MasterState, fw: FrameworkEntry): Record<string, unknown> {
  const offers = offersOf(state, fw.offers);
  const allocated: unknown[] = [];
  const byRole = new Map<string, Resources>();
  for (const t of fw.tasks.values()) if (t.holdsResources) byRole.set(t.role, addResources(byRole.get(t.role) ?? emptyResources(), t.resources));
  for (const [role, r] of byRole) allocated.push(...toMesosResources(r, role));
  const offered: unknown[] = [];
  for (const o of offers) offered.push(...toMesosResources(o.resources, o.role));
  const out: Record<string, unknown> = {
    framework_info: fw.info,
    active: fw.connected,
    connected: fw.connected,
    recovered: fw.recovered,
    registered_time: timeInfo(fw.registeredTime),
    offers: offers.map((o) => {
      const agent = state.agents.get(o.agentId);
      return agent ? wireOffer(o, agent) : { id: { value: o.id } };
    }),
    allocated_resources: allocated,
    offered_resources: offered,
  };
  if (fw.reregisteredTime !== undefined) out.reregistered_time = timeInfo(fw.reregisteredTime);
  if (fw.unregisteredTime !== undefined) out.unregistered_time = timeInfo(fw.unregisteredTime);
  return out;
}

export function v1Frameworks(state: MasterState): Record<string, unknown> {
  return {
    frameworks: [...state.frameworks.values()].map((fw) => v1Framework(state, fw)),
    completed_frameworks: state.completedFrameworks.map((fw) => v1Framework(state, fw)),
  };
}

export function v1Agents(state: MasterState): Record<string, unknown> {
  const agents: unknown[] = [];
  const recovered: unknown[] = [];
  for (const a of state.agents.values()) {
    if (a.status === 'recovered') {
      recovered.push(a.info);
      continue;
    }
    if (a.status !== 'registered') continue;
    const out: Record<string, unknown> = {
      agent_info: a.info,
      active: true,
      deactivated: false,
      version: a.version,
      pid: agentPid(a),
      registered_time: timeInfo(a.registeredTime),
      total_resources: toMesosResources(a.total),
      allocated_resources: toMesosResources(a.used),
      offered_resources: toMesosResources(a.offered),
      capabilities: [],
    };
    if (a.reregisteredTime !== undefined) out.reregistered_time = timeInfo(a.reregisteredTime);
    agents.push(out);
  }
  return { agents, recovered_agents: recovered };
}

/** Roles with frameworks subscribed or resources allocated (no weights/quota: weight 1). */
export function rolesOf(state: MasterState): { name: string; weight: number; frameworks: string[]; resources: Resources }[] {
  const roles = new Map<string, { frameworks: Set<string>; resources: Resources }>();
  const entry = (name: string) => {
    let r = roles.get(name);
    if (!r) roles.set(name, (r = { frameworks: new Set(), resources: emptyResources() }));
    return r;
  };
  for (const fw of state.frameworks.values()) {
    for (const role of fw.roles) entry(role).frameworks.add(fw.id);
    for (const [role, r] of fw.allocated) entry(role).resources = addResources(entry(role).resources, r);
  }
  return [...roles].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, r]) => ({ name, weight: 1, frameworks: [...r.frameworks], resources: r.resources }));
}
