// Task reconciliation (RECONCILE call), as Mesos's `Master::_reconcileTasks`
// (mesos.md §5.6). Pure: state in, statuses to send out.
import type { TaskStatus } from '../protocol/mesos.ts';
import { masterStatus, stateFor } from './events.ts';
import type { FrameworkEntry, MasterState, TaskEntry } from './state.ts';

export interface ReconcileQuery {
  task_id: { value: string };
  agent_id?: { value: string };
}

function latestOf(fw: FrameworkEntry, task: TaskEntry, now: number): TaskStatus {
  const agentUnreachableTime = task.unreachable ? task.statuses.at(-1)?.unreachable_time : undefined;
  const s = masterStatus({
    taskId: task.taskId,
    state: stateFor(fw, task.statusUpdateState ?? task.state),
    reason: 'REASON_RECONCILIATION',
    message: 'Reconciliation: Latest task state',
    agentId: task.agentId,
    executorId: task.executorId,
    now,
  });
  if (agentUnreachableTime) s.unreachable_time = agentUnreachableTime;
  const last = task.statuses.at(-1);
  if (last?.healthy !== undefined) s.healthy = last.healthy;
  return s;
}

/**
 * Implicit (empty `queries`): the latest state of every task the master knows for the framework.
 * Explicit: one answer per query, or none while the answer is not yet known (agent recovering).
 */
export function reconcileStatuses(state: MasterState, fw: FrameworkEntry, queries: readonly ReconcileQuery[], now: number): TaskStatus[] {
  const out: TaskStatus[] = [];
  if (queries.length === 0) {
    for (const t of fw.tasks.values()) out.push(latestOf(fw, t, now));
    for (const t of fw.unreachableTasks.values()) out.push(latestOf(fw, t, now));
    return out;
  }
  for (const q of queries) {
    const taskId = q.task_id.value;
    const agentId = q.agent_id?.value;
    const task = fw.tasks.get(taskId) ?? fw.unreachableTasks.get(taskId);
    if (task && (agentId === undefined || task.agentId === agentId)) {
      out.push(latestOf(fw, task, now));
      continue;
    }
    const base = { taskId, reason: 'REASON_RECONCILIATION' as const, now };
    if (agentId !== undefined) {
      const agent = state.agents.get(agentId);
      if (agent?.status === 'recovered') continue; // not known yet: the scheduler retries
      if (agent?.status === 'registered') {
        out.push(masterStatus({ ...base, agentId, state: stateFor(fw, 'TASK_GONE'), message: 'Reconciliation: Task is unknown to the agent' }));
      } else if (agent?.status === 'unreachable') {
        out.push(
          masterStatus({
            ...base,
            agentId,
            state: stateFor(fw, 'TASK_UNREACHABLE'),
            message: 'Reconciliation: Task is unreachable',
            unreachableTime: agent.unreachableTime,
          }),
        );
      } else {
        out.push(masterStatus({ ...base, agentId, state: stateFor(fw, 'TASK_UNKNOWN'), message: 'Reconciliation: Task is unknown' }));
      }
      continue;
    }
    if (state.hasRecoveringAgents()) continue;
    out.push(masterStatus({ ...base, state: stateFor(fw, 'TASK_UNKNOWN'), message: 'Reconciliation: Task is unknown' }));
  }
  return out;
}
