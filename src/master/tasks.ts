// Task lifecycle in the master: launches (RUN_TASK), agent status updates,
// scheduler acknowledgements, kills, reconciliation, and master-generated
// transitions (agent lost, framework removed…). Every path is O(1) in the
// number of tasks: tasks are found through the framework/agent indexes.
import { ValidationError } from '../protocol/errors.ts';
import { isTerminalState, type TaskReason, type TaskSource, type TaskState, type TaskStatus } from '../protocol/mesos.ts';
import type { AgentTask, StatusUpdate } from '../protocol/internal.ts';
import type { LaunchPlan, TaskRejection } from './accept.ts';
import type { MasterContext } from './context.ts';
import { lostOr, masterStatus, stateFor, statusFor } from './events.ts';
import { reconcileStatuses, type ReconcileQuery } from './reconcile.ts';
import { MAX_STATUSES_PER_TASK, type AgentEntry, type FrameworkEntry, type TaskEntry } from './state.ts';

/** Mesos requires acknowledgement uuids to be 16 raw bytes (base64 in JSON). */
export function isValidUuidBytes(uuid: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(uuid) || uuid.length % 4 !== 0) return false;
  return Buffer.from(uuid, 'base64').length === 16;
}

export class TaskService {
  constructor(private readonly ctx: MasterContext) {}

  /** Sends an UPDATE to the framework (dropped if it is not connected). */
  forward(fw: FrameworkEntry, status: TaskStatus): void {
    this.ctx.frameworks.send(fw, { type: 'UPDATE', update: { status: statusFor(fw, status) } });
  }

  private record(task: TaskEntry, status: TaskStatus): void {
    const last = task.statuses.at(-1);
    if (last && status.uuid !== undefined && last.uuid === status.uuid && last.state === status.state) return;
    const { data: _data, ...kept } = status;
    task.statuses.push(kept);
    if (task.statuses.length > MAX_STATUSES_PER_TASK) task.statuses.splice(0, task.statuses.length - MAX_STATUSES_PER_TASK);
  }

  /** Sets the latest state, counting the transition and re-running allocation when resources were freed. */
  private transition(task: TaskEntry, state: TaskState, source: TaskSource | undefined, reason: TaskReason | undefined): void {
    const wasHolding = task.holdsResources;
    const prev = this.ctx.state.setTaskState(task, state);
    if (prev !== state) this.ctx.metrics.taskTransition(state, source, reason, task.frameworkId);
    if (wasHolding && !task.holdsResources) this.ctx.offers.schedule();
  }

  /**
   * A transition the master decides (agent lost, framework removed, delivery failed): records a
   * SOURCE_MASTER status without uuid and tells the framework. `complete` files the task as completed.
   */
  masterTransition(
    task: TaskEntry,
    paState: TaskState,
    reason: TaskReason,
    message: string,
    opts: { complete?: boolean; unreachableTime?: number; notify?: boolean } = {},
  ): void {
    const fw = this.ctx.state.frameworks.get(task.frameworkId);
    const state = fw ? stateFor(fw, paState) : paState;
    const status = masterStatus({
      taskId: task.taskId,
      state,
      reason,
      message,
      agentId: task.agentId,
      executorId: task.executorId,
      now: this.ctx.clock.now(),
      unreachableTime: opts.unreachableTime,
    });
    this.record(task, status);
    task.statusUpdateState = state;
    task.statusUpdateUuid = undefined;
    this.transition(task, state, 'SOURCE_MASTER', reason);
    if (opts.complete) this.ctx.state.completeTask(task);
    if (fw && opts.notify !== false) this.forward(fw, status);
  }

  /** Answers tasks that are not launched (invalid offers / invalid task). */
  reject(fw: FrameworkEntry, rejections: readonly TaskRejection[]): void {
    const now = this.ctx.clock.now();
    for (const r of rejections) {
      const state = stateFor(fw, r.state);
      this.ctx.metrics.taskTransition(state, 'SOURCE_MASTER', r.reason, fw.id);
      this.forward(fw, masterStatus({ taskId: r.taskId, state, reason: r.reason, message: r.message, agentId: r.agentId, now }));
    }
  }

  /** Starts tracking validated tasks as STAGING and sends RUN_TASK to the agent. */
  launch(fw: FrameworkEntry, agent: AgentEntry, launches: readonly LaunchPlan[]): void {
    const { state } = this.ctx;
    for (const l of launches) {
      const old = fw.tasks.get(l.info.task_id.value);
      if (old) state.completeTask(old); // a terminal task whose last update is not yet acknowledged
      const task: TaskEntry = {
        seq: state.nextTaskSeq(),
        taskId: l.info.task_id.value,
        frameworkId: fw.id,
        agentId: agent.id,
        name: l.info.name,
        role: l.role,
        info: l.info,
        resources: l.resources,
        wireResources: l.info.resources ?? [],
        executorId: l.info.executor?.executor_id.value,
        state: 'TASK_STAGING',
        statuses: [],
        holdsResources: false,
        unreachable: false,
        deliveryPending: true,
        user: l.info.command?.user ?? fw.info.user,
      };
      state.addTask(task);
      // After any pending CHECKPOINT_RESOURCES: the task may use a volume or reservation made in the same ACCEPT.
      const delivery = this.ctx.agentLink.send(agent, { type: 'RUN_TASK', framework_info: fw.info, task: l.info }, { after: agent.checkpointing });
      task.delivery = delivery.then(
        () => undefined,
        () => undefined,
      );
      delivery.then(
        () => {
          task.deliveryPending = false;
        },
        (e: Error) =>
          this.ctx.safely('launch failure', () => {
            task.deliveryPending = false;
            this.ctx.metrics.inc('master/dropped_messages');
            this.ctx.log.warn('RUN_TASK not delivered', { agent: agent.id, task: task.taskId, error: e.message });
            const current = this.ctx.state.frameworks.get(task.frameworkId)?.tasks.get(task.taskId);
            if (current !== task || task.state !== 'TASK_STAGING') return;
            this.masterTransition(task, 'TASK_DROPPED', 'REASON_AGENT_DISCONNECTED', `Failed to deliver the task to agent ${agent.id}: ${e.message}`, {
              complete: true,
            });
          }),
      );
    }
  }

  /** STATUS_UPDATE from a registered agent. */
  statusUpdate(agent: AgentEntry, update: StatusUpdate): void {
    const { state, metrics } = this.ctx;
    const fw = state.frameworks.get(update.framework_id.value);
    if (!fw) {
      metrics.inc('master/invalid_status_updates');
      this.ctx.log.warn('ignoring status update for unknown framework', { framework: update.framework_id.value, task: update.status.task_id.value });
      // A removed framework's task still running there: tell the agent (again) to shut the framework down.
      if (state.removedFrameworkIds.has(update.framework_id.value))
        this.ctx.agentLink.fire(agent, { type: 'SHUTDOWN_FRAMEWORK', framework_id: update.framework_id });
      return;
    }
    const status: TaskStatus = update.status.agent_id ? update.status : { ...update.status, agent_id: { value: agent.id } };
    const visible = statusFor(fw, status);
    this.ctx.frameworks.send(fw, { type: 'UPDATE', update: { status: visible } });

    const task = fw.tasks.get(status.task_id.value);
    if (!task || task.agentId !== agent.id) {
      metrics.inc('master/invalid_status_updates');
      return;
    }
    task.deliveryPending = false;
    this.record(task, visible);
    task.statusUpdateState = visible.state;
    task.statusUpdateUuid = status.uuid;
    if (visible.executor_id && !task.executorId) task.executorId = visible.executor_id.value;
    this.transition(task, stateFor(fw, update.latest_state ?? status.state), visible.source, visible.reason);
    if (isTerminalState(visible.state) && status.uuid === undefined) state.completeTask(task);
    metrics.inc('master/valid_status_updates');
  }

  /** A re-registering agent reports a task the master already tracks: take the agent's view. */
  applyReport(task: TaskEntry, report: AgentTask): void {
    const fw = this.ctx.state.frameworks.get(task.frameworkId);
    if (!fw) return;
    const last = report.statuses.at(-1);
    if (last) this.record(task, statusFor(fw, last));
    // No unacknowledged update on the agent: the framework's latest is the agent's state, not whatever the master said meanwhile (TASK_UNREACHABLE).
    task.statusUpdateState = stateFor(fw, report.status_update_state ?? report.state);
    if (report.status_update_uuid) task.statusUpdateUuid = report.status_update_uuid;
    task.deliveryPending = false;
    this.transition(task, stateFor(fw, report.state), last?.source ?? 'SOURCE_AGENT', last?.reason);
  }

  /** ACKNOWLEDGE: forwarded to the agent; the terminal update's ack retires the task. */
  acknowledge(fw: FrameworkEntry, ack: { agent_id: { value: string }; task_id: { value: string }; uuid: string }): void {
    const { state, metrics } = this.ctx;
    const task = fw.tasks.get(ack.task_id.value);
    if (!isValidUuidBytes(ack.uuid) && !task?.statuses.some((s) => s.uuid === ack.uuid))
      throw new ValidationError(`Failed to validate scheduler::Call: 'acknowledge.uuid' is not a valid UUID (16 bytes, base64)`);
    metrics.inc('master/messages_status_update_acknowledgement');
    const agent = state.agents.get(ack.agent_id.value);
    if (!agent || agent.status !== 'registered') {
      metrics.inc('master/invalid_status_update_acknowledgements');
      this.ctx.log.warn('cannot forward acknowledgement to unknown or unreachable agent', { agent: ack.agent_id.value });
      return;
    }
    if (
      task &&
      task.agentId === agent.id &&
      task.statusUpdateUuid === ack.uuid &&
      task.statusUpdateState !== undefined &&
      isTerminalState(task.statusUpdateState)
    ) {
      state.completeTask(task);
    }
    this.ctx.agentLink.fire(
      agent,
      { type: 'ACKNOWLEDGE', framework_id: { value: fw.id }, task_id: ack.task_id, uuid: ack.uuid },
      { after: task?.delivery },
    );
    metrics.inc('master/valid_status_update_acknowledgements');
  }

  /** KILL: known task → KILL_TASK to its agent; unknown → answered by reconciliation (as Mesos). */
  kill(fw: FrameworkEntry, kill: { task_id: { value: string }; agent_id?: { value: string }; kill_policy?: unknown }): void {
    this.ctx.metrics.inc('master/messages_kill_task');
    const task = fw.tasks.get(kill.task_id.value);
    if (!task) {
      this.reconcile(fw, [{ task_id: kill.task_id, agent_id: kill.agent_id }]);
      return;
    }
    const agent = this.ctx.state.agents.get(task.agentId);
    if (!agent || agent.status !== 'registered') {
      this.ctx.log.warn('cannot kill task: agent not available', { task: task.taskId, agent: task.agentId });
      return;
    }
    this.ctx.agentLink.fire(
      agent,
      {
        type: 'KILL_TASK',
        framework_id: { value: fw.id },
        task_id: kill.task_id,
        ...(kill.kill_policy ? { kill_policy: kill.kill_policy as { grace_period?: { nanoseconds: number } } } : {}),
      },
      { after: task.delivery },
    );
  }

  reconcile(fw: FrameworkEntry, queries: readonly ReconcileQuery[]): void {
    for (const s of reconcileStatuses(this.ctx.state, fw, queries, this.ctx.clock.now())) this.forward(fw, s);
  }

  /** The framework's tasks on an agent that was lost or removed. */
  agentLost(agent: AgentEntry, kind: 'unreachable' | 'removed', now: number): void {
    const { state } = this.ctx;
    for (const task of [...agent.tasks.values()]) {
      const fw = state.frameworks.get(task.frameworkId);
      if (kind === 'unreachable') {
        if (task.unreachable) continue;
        if (isTerminalState(task.state)) {
          state.completeTask(task);
          continue;
        }
        this.masterTransition(task, lostOr(fw ?? { partitionAware: false }, 'TASK_UNREACHABLE'), 'REASON_AGENT_REMOVED', `Agent ${agent.id} is unreachable`, {
          unreachableTime: now,
          notify: false,
        });
        state.markTaskUnreachable(task);
        if (fw) this.forward(fw, task.statuses.at(-1)!);
      } else {
        if (isTerminalState(task.state) && !task.unreachable) {
          state.completeTask(task);
          continue;
        }
        this.masterTransition(task, 'TASK_GONE', 'REASON_AGENT_REMOVED', `Agent ${agent.id} was removed`, { complete: true });
      }
    }
  }
}
