// What REREGISTER_AGENT reports: every task not yet completed (running, or terminal with updates still
// unacknowledged), with status_update_state/uuid = its oldest unacknowledged update, and their frameworks.
import type { AgentTask } from '../protocol/internal.ts';
import type { FrameworkInfo } from '../protocol/mesos.ts';
import type { StatusUpdateManager } from './status-updates.ts';
import type { FrameworkEntry } from './task-types.ts';

export function reregistrationReport(
  frameworks: Iterable<FrameworkEntry>,
  sum: StatusUpdateManager,
  agentId: string,
): { tasks: AgentTask[]; frameworks: FrameworkInfo[] } {
  const tasks: AgentTask[] = [];
  const infos: FrameworkInfo[] = [];
  for (const fw of frameworks) {
    if (fw.shuttingDown || fw.tasks.size === 0) continue;
    infos.push({ ...fw.info, id: { value: fw.id } });
    for (const run of fw.tasks.values()) {
      const head = sum.oldestUnacked(fw.id, run.taskId);
      const info = run.info;
      tasks.push({
        name: info.name,
        task_id: { value: run.taskId },
        framework_id: { value: fw.id },
        agent_id: { value: agentId },
        state: run.state,
        resources: info.resources,
        statuses: run.statuses,
        ...(head ? { status_update_state: head.state, status_update_uuid: head.uuid } : {}),
        ...(info.labels ? { labels: info.labels } : {}),
        ...(info.discovery ? { discovery: info.discovery } : {}),
        ...(info.kill_policy ? { kill_policy: info.kill_policy } : {}),
        ...(info.health_check ? { health_check: info.health_check } : {}),
        ...(info.container ? { container: info.container } : {}),
        ...(run.user ? { user: run.user } : {}),
      });
    }
  }
  return { tasks, frameworks: infos };
}
