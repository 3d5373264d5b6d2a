// The master's in-memory model: agents, frameworks, tasks and offers, with the
// indexes and resource accounting every operation needs. No I/O, no timers:
// the services around it decide, this module keeps the books consistent.
//
// Accounting invariants (checked by the unit tests):
//   agent.used      = Σ resources of its tasks that hold resources
//   agent.offered   = Σ resources of its outstanding offers
//   fw.allocated[r] = Σ (tasks holding resources + offers) of the framework in role r
// A task holds resources while it is tracked as active (not unreachable) and
// its latest state is non-terminal.
import {
  addResources,
  emptyResources,
  isEmptyResources,
  subtractResources,
  type Resources,
} from '../core/resources.ts';
import { isTerminalState, type FrameworkInfo, type Resource, type TaskInfo, type TaskState, type TaskStatus } from '../protocol/mesos.ts';
import type { WireAgentInfo } from '../protocol/internal.ts';
import type { TimerHandle } from '../runtime/clock.ts';

export const MAX_COMPLETED_TASKS_PER_FRAMEWORK = 1000;
export const MAX_UNREACHABLE_TASKS_PER_FRAMEWORK = 1000;
export const MAX_COMPLETED_FRAMEWORKS = 50;
/** Statuses kept per task (Mesos keeps all; retransmissions make that unbounded). */
export const MAX_STATUSES_PER_TASK = 32;
/** Ids of removed frameworks remembered to refuse their resubscription. */
export const MAX_REMOVED_FRAMEWORK_IDS = 10_000;

/** registered: connected and offerable; recovered: in the registry, not yet re-registered after a master restart; unreachable: failed health checks. */
export type AgentStatus = 'registered' | 'recovered' | 'unreachable';

export interface AgentEntry {
  id: string;
  info: WireAgentInfo & { id: { value: string } };
  /** Base URL of the agent (MasterToAgent messages go to endpoint + /internal/v1/master). */
  endpoint: string;
  version: string;
  status: AgentStatus;
  total: Resources;
  used: Resources;
  offered: Resources;
  /** Every task the master knows on this agent (active and unreachable), by `taskKey`. */
  tasks: Map<string, TaskEntry>;
  offers: Set<string>;
  registeredTime: number;
  reregisteredTime?: number;
  unreachableTime?: number;
  pingOutstanding: boolean;
  pingMisses: number;
  /** sent_at_ms of the newest REREGISTER_AGENT accepted from this agent (stale reports are ignored). */
  lastReportSentAt?: number;
  /**
   * The last CHECKPOINT_RESOURCES delivery to this agent (settled either way): the next one and any
   * RUN_TASK wait on it, so the agent sees reservations and volumes in order and before tasks using them.
   * `total` holds the reservations themselves (its dynamic/volume keys are what the agent checkpoints).
   */
  checkpointing?: Promise<void>;
}

export interface TaskEntry {
  /** Monotonic launch/adoption order (for /master/tasks ordering). */
  seq: number;
  taskId: string;
  frameworkId: string;
  agentId: string;
  name: string;
  /** Allocation role the task's resources are accounted to. */
  role: string;
  /** TaskInfo as launched (absent for tasks adopted from a re-registering agent). */
  info?: TaskInfo;
  resources: Resources;
  wireResources: Resource[];
  executorId?: string;
  state: TaskState;
  statusUpdateState?: TaskState;
  statusUpdateUuid?: string;
  statuses: TaskStatus[];
  holdsResources: boolean;
  unreachable: boolean;
  /** RUN_TASK is on its way to the agent. */
  deliveryPending: boolean;
  /** Settles when RUN_TASK delivery is over; later messages for the task wait on it to keep order. */
  delivery?: Promise<void>;
  user?: string;
  extra?: Record<string, unknown>;
}

export interface FrameworkEntry {
  id: string;
  info: FrameworkInfo & { id: { value: string } };
  roles: string[];
  capabilities: Set<string>;
  partitionAware: boolean;
  connected: boolean;
  /** Known from the registry or a re-registering agent, not (yet) subscribed to this master. */
  recovered: boolean;
  streamId?: string;
  suppressedRoles: Set<string>;
  tasks: Map<string, TaskEntry>;
  unreachableTasks: Map<string, TaskEntry>;
  completedTasks: TaskEntry[];
  offers: Set<string>;
  allocated: Map<string, Resources>;
  registeredTime: number;
  reregisteredTime?: number;
  unregisteredTime?: number;
  failoverTimer?: TimerHandle;
}

export interface OfferEntry {
  id: string;
  frameworkId: string;
  agentId: string;
  role: string;
  resources: Resources;
  createdAt: number;
  timer?: TimerHandle;
}

export const taskKey = (frameworkId: string, taskId: string): string => `${frameworkId}\u0000${taskId}`;

export function frameworkRoles(info: FrameworkInfo): string[] {
  const multi = (info.capabilities ?? []).some((c) => c.type === 'MULTI_ROLE');
  if (multi && info.roles && info.roles.length) return [...new Set(info.roles)];
  return [info.role ?? '*'];
}

export function frameworkCapabilities(info: FrameworkInfo): Set<string> {
  return new Set((info.capabilities ?? []).map((c) => c.type));
}

export class MasterState {
  readonly agents = new Map<string, AgentEntry>();
  /** Agents that unregistered or were replaced: they are told to shut down if they come back. */
  readonly removedAgents = new Set<string>();
  readonly frameworks = new Map<string, FrameworkEntry>();
  readonly completedFrameworks: FrameworkEntry[] = [];
  readonly removedFrameworkIds = new Set<string>();
  readonly offers = new Map<string, OfferEntry>();
  /** Tracked tasks (active + unreachable) per state: the task gauges. */
  readonly stateCounts = new Map<TaskState, number>();
  private taskSeq = 0;

  nextTaskSeq(): number {
    return ++this.taskSeq;
  }

  // ---- frameworks -------------------------------------------------------

  newFramework(info: FrameworkInfo & { id: { value: string } }, now: number, opts: { connected: boolean; recovered: boolean }): FrameworkEntry {
    const fw: FrameworkEntry = {
      id: info.id.value,
      info,
      roles: frameworkRoles(info),
      capabilities: frameworkCapabilities(info),
      partitionAware: frameworkCapabilities(info).has('PARTITION_AWARE'),
      connected: opts.connected,
      recovered: opts.recovered,
      suppressedRoles: new Set(),
      tasks: new Map(),
      unreachableTasks: new Map(),
      completedTasks: [],
      offers: new Set(),
      allocated: new Map(),
      registeredTime: now,
    };
    this.frameworks.set(fw.id, fw);
    return fw;
  }

  setFrameworkInfo(fw: FrameworkEntry, info: FrameworkInfo & { id: { value: string } }): void {
    fw.info = info;
    fw.roles = frameworkRoles(info);
    fw.capabilities = frameworkCapabilities(info);
    fw.partitionAware = fw.capabilities.has('PARTITION_AWARE');
    for (const r of [...fw.suppressedRoles]) if (!fw.roles.includes(r)) fw.suppressedRoles.delete(r);
  }

  /** Moves a framework (which must hold no offers) to the completed list. */
  retireFramework(fw: FrameworkEntry): void {
    this.frameworks.delete(fw.id);
    this.completedFrameworks.push(fw);
    if (this.completedFrameworks.length > MAX_COMPLETED_FRAMEWORKS) this.completedFrameworks.shift();
    this.removedFrameworkIds.add(fw.id);
    if (this.removedFrameworkIds.size > MAX_REMOVED_FRAMEWORK_IDS) {
      const oldest = this.removedFrameworkIds.values().next().value;
      if (oldest !== undefined) this.removedFrameworkIds.delete(oldest);
    }
  }

  // ---- tasks ------------------------------------------------------------

  private count(state: TaskState, delta: number): void {
    this.stateCounts.set(state, (this.stateCounts.get(state) ?? 0) + delta);
  }

  /** Starts tracking a task as active on its agent; holds its resources unless its state is terminal. */
  addTask(task: TaskEntry): void {
    const fw = this.frameworks.get(task.frameworkId);
    const agent = this.agents.get(task.agentId);
    if (!fw || !agent) throw new Error(`addTask: unknown framework ${task.frameworkId} or agent ${task.agentId}`);
    task.unreachable = false;
    fw.tasks.set(task.taskId, task);
    agent.tasks.set(taskKey(task.frameworkId, task.taskId), task);
    this.count(task.state, 1);
    task.holdsResources = false;
    if (!isTerminalState(task.state)) this.hold(task);
  }

  /** Changes the latest state; frees resources on the first terminal state. Returns the previous state. */
  setTaskState(task: TaskEntry, state: TaskState): TaskState {
    const prev = task.state;
    if (prev === state) return prev;
    this.count(prev, -1);
    this.count(state, 1);
    task.state = state;
    if (isTerminalState(state)) this.release(task);
    else if (!task.holdsResources && !task.unreachable) this.hold(task);
    return prev;
  }

  /** Stops tracking a task as active and files it under the framework's completed tasks. */
  completeTask(task: TaskEntry): void {
    const fw = this.frameworks.get(task.frameworkId);
    this.release(task);
    this.untrack(task);
    if (fw) {
      fw.completedTasks.push(task);
      if (fw.completedTasks.length > MAX_COMPLETED_TASKS_PER_FRAMEWORK) fw.completedTasks.shift();
    }
  }

  /** The agent became unreachable: the task leaves the active set (resources freed) but stays known. */
  markTaskUnreachable(task: TaskEntry): void {
    const fw = this.frameworks.get(task.frameworkId);
    this.release(task);
    task.unreachable = true;
    if (fw) {
      fw.tasks.delete(task.taskId);
      fw.unreachableTasks.set(task.taskId, task);
      if (fw.unreachableTasks.size > MAX_UNREACHABLE_TASKS_PER_FRAMEWORK) {
        const oldest = fw.unreachableTasks.values().next().value;
        if (oldest) {
          fw.unreachableTasks.delete(oldest.taskId);
          this.agents.get(oldest.agentId)?.tasks.delete(taskKey(oldest.frameworkId, oldest.taskId));
          this.count(oldest.state, -1);
        }
      }
    }
  }

  /** The agent came back with the task: active again (holds resources if non-terminal). */
  restoreTask(task: TaskEntry): void {
    const fw = this.frameworks.get(task.frameworkId);
    if (!fw) return;
    fw.unreachableTasks.delete(task.taskId);
    task.unreachable = false;
    fw.tasks.set(task.taskId, task);
    if (!isTerminalState(task.state)) this.hold(task);
  }

  /** Forgets a task entirely (no completed entry). */
  untrack(task: TaskEntry): void {
    const fw = this.frameworks.get(task.frameworkId);
    if (fw) {
      if (fw.tasks.get(task.taskId) === task) fw.tasks.delete(task.taskId);
      if (fw.unreachableTasks.get(task.taskId) === task) fw.unreachableTasks.delete(task.taskId);
    }
    const agent = this.agents.get(task.agentId);
    const key = taskKey(task.frameworkId, task.taskId);
    if (agent && agent.tasks.get(key) === task) agent.tasks.delete(key);
    this.count(task.state, -1);
  }

  private hold(task: TaskEntry): void {
    if (task.holdsResources || task.unreachable) return;
    const agent = this.agents.get(task.agentId);
    const fw = this.frameworks.get(task.frameworkId);
    if (!agent || !fw) return;
    agent.used = addResources(agent.used, task.resources);
    addAllocated(fw, task.role, task.resources);
    task.holdsResources = true;
  }

  private release(task: TaskEntry): void {
    if (!task.holdsResources) return;
    task.holdsResources = false;
    const agent = this.agents.get(task.agentId);
    const fw = this.frameworks.get(task.frameworkId);
    if (agent) agent.used = subtractResources(agent.used, task.resources);
    if (fw) subAllocated(fw, task.role, task.resources);
  }

  // ---- offers -----------------------------------------------------------

  addOffer(offer: OfferEntry): void {
    const agent = this.agents.get(offer.agentId)!;
    const fw = this.frameworks.get(offer.frameworkId)!;
    this.offers.set(offer.id, offer);
    agent.offers.add(offer.id);
    agent.offered = addResources(agent.offered, offer.resources);
    fw.offers.add(offer.id);
    addAllocated(fw, offer.role, offer.resources);
  }

  /** Removes the offer and returns its resources to the pool. */
  removeOffer(offer: OfferEntry): void {
    if (this.offers.get(offer.id) !== offer) return;
    this.offers.delete(offer.id);
    offer.timer?.cancel();
    const agent = this.agents.get(offer.agentId);
    if (agent) {
      agent.offers.delete(offer.id);
      agent.offered = subtractResources(agent.offered, offer.resources);
    }
    const fw = this.frameworks.get(offer.frameworkId);
    if (fw) {
      fw.offers.delete(offer.id);
      subAllocated(fw, offer.role, offer.resources);
    }
  }

  // ---- agents -----------------------------------------------------------

  availableOf(agent: AgentEntry): Resources {
    return subtractResources(subtractResources(agent.total, agent.used), agent.offered);
  }

  registeredAgents(): AgentEntry[] {
    const out: AgentEntry[] = [];
    for (const a of this.agents.values()) if (a.status === 'registered') out.push(a);
    return out;
  }

  hasRecoveringAgents(): boolean {
    for (const a of this.agents.values()) if (a.status === 'recovered') return true;
    return false;
  }
}

export function newAgentEntry(
  id: string,
  info: WireAgentInfo,
  endpoint: string,
  version: string,
  total: Resources,
  status: AgentStatus,
  now: number,
): AgentEntry {
  return {
    id,
    info: { ...info, id: { value: id } },
    endpoint,
    version,
    status,
    total,
    used: emptyResources(),
    offered: emptyResources(),
    tasks: new Map(),
    offers: new Set(),
    registeredTime: now,
    pingOutstanding: false,
    pingMisses: 0,
  };
}

function addAllocated(fw: FrameworkEntry, role: string, r: Resources): void {
  fw.allocated.set(role, addResources(fw.allocated.get(role) ?? emptyResources(), r));
}

function subAllocated(fw: FrameworkEntry, role: string, r: Resources): void {
  const cur = fw.allocated.get(role);
  if (!cur) return;
  const next = subtractResources(cur, r);
  if (isEmptyResources(next)) fw.allocated.delete(role);
  else fw.allocated.set(role, next);
}
