// The instance tracker: the orchestrator's record of every task it launched, in memory and in
// the store. Mesos status updates become instance conditions (marathon.md §4/§9.2). The
// tracker only records; decisions (replace, kill, expunge) are made by the reconciler and the
// deployment runner from what it holds.
import type { TaskState, TaskStatus } from '../protocol/mesos.ts';
import type { Persistence } from './persist.ts';
import type { Condition, InstanceRecord } from './service.ts';
import { marathonTime } from './time.ts';

const CONDITION_OF: Record<TaskState, Condition> = {
  TASK_STAGING: 'Staging',
  TASK_STARTING: 'Starting',
  TASK_RUNNING: 'Running',
  TASK_KILLING: 'Killing',
  TASK_FINISHED: 'Finished',
  TASK_FAILED: 'Failed',
  TASK_KILLED: 'Killed',
  TASK_ERROR: 'Error',
  TASK_LOST: 'Gone',
  TASK_DROPPED: 'Dropped',
  TASK_UNREACHABLE: 'Unreachable',
  TASK_GONE: 'Gone',
  TASK_GONE_BY_OPERATOR: 'Gone',
  TASK_UNKNOWN: 'Unknown',
};

export const conditionOf = (s: TaskState): Condition => CONDITION_OF[s] ?? 'Unknown';

const TERMINAL = new Set<Condition>(['Error', 'Failed', 'Finished', 'Killed', 'Gone', 'Dropped', 'Unknown']);
export const isTerminalCondition = (c: Condition): boolean => TERMINAL.has(c);
/** Conditions in which a task may be running right now. */
export const isActiveCondition = (c: Condition): boolean => !TERMINAL.has(c);


export interface StatusOutcome {
  instance: InstanceRecord;
  previous: Condition;
  conditionChanged: boolean;
  healthChanged: boolean;
  terminal: boolean;
  /** A re-delivered update that was applied before (nothing changed). */
  duplicate?: boolean;
}

const RECENT_UPDATES = 8;

export class InstanceTracker {
  private readonly byId = new Map<string, InstanceRecord>();
  private readonly byTask = new Map<string, string>();
  private readonly byApp = new Map<string, Map<string, InstanceRecord>>();

  constructor(private readonly persist: Persistence) {}

  /** Loads without writing (startup). */
  restore(list: InstanceRecord[]): void {
    for (const i of list) this.index(i);
  }

  private index(i: InstanceRecord): void {
    const old = this.byId.get(i.instanceId);
    if (old && old.taskId !== i.taskId) this.byTask.delete(old.taskId);
    this.byId.set(i.instanceId, i);
    this.byTask.set(i.taskId, i.instanceId);
    let m = this.byApp.get(i.appId);
    if (!m) this.byApp.set(i.appId, (m = new Map()));
    m.set(i.instanceId, i);
  }

  all(): InstanceRecord[] {
    return [...this.byId.values()];
  }
  ofApp(appId: string): InstanceRecord[] {
    return [...(this.byApp.get(appId)?.values() ?? [])].sort((a, b) => a.stagedAt.localeCompare(b.stagedAt));
  }
  get(instanceId: string): InstanceRecord | undefined {
    return this.byId.get(instanceId);
  }
  byTaskId(taskId: string): InstanceRecord | undefined {
    const id = this.byTask.get(taskId);
    return id ? this.byId.get(id) : undefined;
  }
  /** By task id or instance id. */
  find(id: string): InstanceRecord | undefined {
    return this.byTaskId(id) ?? this.get(id);
  }
  appIds(): string[] {
    return [...this.byApp.keys()].filter((a) => (this.byApp.get(a)?.size ?? 0) > 0);
  }

  /** Records (and persists) a new or changed instance. */
  async save(i: InstanceRecord): Promise<void> {
    this.index(i);
    await this.persist.saveInstance(i);
  }

  /** Drops an instance from memory only (its record was never written). */
  forget(i: InstanceRecord): void {
    this.byId.delete(i.instanceId);
    this.byTask.delete(i.taskId);
    this.byApp.get(i.appId)?.delete(i.instanceId);
    if (this.byApp.get(i.appId)?.size === 0) this.byApp.delete(i.appId);
  }

  /** Forgets an instance (terminal, expunged). */
  async expunge(i: InstanceRecord): Promise<void> {
    this.byId.delete(i.instanceId);
    this.byTask.delete(i.taskId);
    this.byApp.get(i.appId)?.delete(i.instanceId);
    if (this.byApp.get(i.appId)?.size === 0) this.byApp.delete(i.appId);
    await this.persist.deleteInstance(i.appId, i.instanceId);
  }

  /**
   * Applies a status update to the known instance (in memory only; the caller persists via
   * save/expunge before acknowledging). Undefined when the task is unknown.
   */
  applyStatus(status: TaskStatus, now: number): StatusOutcome | undefined {
    const i = this.byTaskId(status.task_id.value);
    if (!i) return undefined;
    const previous = i.condition;
    // The agent re-sends an update until it is acknowledged; a late copy must not roll the state back.
    if (status.uuid) {
      if (i.recentUpdates?.includes(status.uuid)) {
        return { instance: i, previous, conditionChanged: false, healthChanged: false, terminal: false, duplicate: true };
      }
      i.recentUpdates = [...(i.recentUpdates ?? []), status.uuid].slice(-RECENT_UPDATES);
    }
    const prevHealthy = i.mesosHealthy;
    let condition = conditionOf(status.state);
    // A re-reported unreachable task stays inactive once it was declared so.
    if (condition === 'Unreachable' && previous === 'UnreachableInactive') condition = previous;
    i.state = status.state;
    i.condition = condition;
    if (status.agent_id?.value) i.agentId = status.agent_id.value;
    if (status.message) i.message = status.message;
    if (status.healthy !== undefined) i.mesosHealthy = status.healthy;
    if (condition === 'Running' && !i.startedAt) i.startedAt = marathonTime(status.timestamp ? status.timestamp * 1000 : now);
    if (condition === 'Unreachable') {
      if (!i.unreachableSince) {
        const t = status.unreachable_time?.nanoseconds;
        i.unreachableSince = marathonTime(t ? Math.floor(t / 1e6) : now);
      }
    } else if (condition !== 'UnreachableInactive') {
      if (i.unreachableSince && condition === 'Running') i.wasUnreachable = true;
      delete i.unreachableSince;
    }
    return {
      instance: i,
      previous,
      conditionChanged: previous !== condition,
      healthChanged: prevHealthy !== i.mesosHealthy,
      terminal: isTerminalCondition(condition),
    };
  }
}
