// Semantic checks on a schema-valid TaskInfo before launch (Mesos's task validation, for what this agent
// runs). A failure becomes TASK_ERROR / REASON_TASK_INVALID.
import type { TaskInfo } from '../protocol/mesos.ts';
import { parseHealthCheck } from './health-check.ts';

export function validateTaskForLaunch(task: TaskInfo): string | undefined {
  if (!task.command && !task.executor)
    return 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present';
  if (task.command && task.executor)
    return 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present';
  if (task.executor) return 'Custom executors are not supported by this agent; use a command task';
  const cmd = task.command!;
  const shell = cmd.shell ?? true;
  if (shell && (cmd.value === undefined || cmd.value === '')) return 'Shell command of task is not specified';
  if (!shell && (cmd.value === undefined || cmd.value === '')) return 'Executable of task is not specified (command.value with shell=false)';
  for (const [i, v] of (cmd.environment?.variables ?? []).entries()) {
    if (v.type === 'SECRET') return `command.environment.variables[${i}] (${v.name}): secret environment variables are not supported`;
    if (v.value === undefined) return `command.environment.variables[${i}] (${v.name}): value is not set`;
    if (v.name.includes('=') || v.name.includes('\0')) return `command.environment.variables[${i}]: invalid variable name ${JSON.stringify(v.name)}`;
  }
  const container = task.container as { type?: string; docker?: unknown; mesos?: { image?: unknown } } | undefined;
  if (container && (container.type === 'DOCKER' || container.docker !== undefined || container.mesos?.image !== undefined))
    return 'Container images are not supported by this agent yet; run the command on the host';
  if (task.max_completion_time && !(task.max_completion_time.nanoseconds >= 0))
    return 'max_completion_time must not be negative';
  if (task.kill_policy?.grace_period && !(task.kill_policy.grace_period.nanoseconds >= 0))
    return 'kill_policy.grace_period must not be negative';
  if (task.health_check !== undefined) {
    const hc = parseHealthCheck(task.health_check);
    if ('error' in hc) return `Task uses an invalid health check: ${hc.error}`;
  }
  return undefined;
}
