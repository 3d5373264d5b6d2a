// Semantic checks on a schema-valid TaskInfo before launch (Mesos's task validation, for what this agent
// runs). A failure becomes TASK_ERROR / REASON_TASK_INVALID.
import type { TaskInfo } from '../protocol/mesos.ts';
import { parseHealthCheck } from './health-check.ts';
import { taskImage } from './containerizer/task-image.ts';
import { parseImageReference } from './images/reference.ts';

export function validateTaskForLaunch(task: TaskInfo): string | undefined {
  if (!task.command && !task.executor)
    return 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present';
  if (task.command && task.executor)
    return 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present';
  if (task.executor) return 'Custom executors are not supported by this agent; use a command task';
  const cmd = task.command!;
  const shell = cmd.shell ?? true;
  const image = taskImage(task);
  if (image && 'error' in image) return image.error;
  if (shell && (cmd.value === undefined || cmd.value === '')) return 'Shell command of task is not specified';
  // With an image and no executable, the image's entrypoint/cmd runs (containerizer/command.ts).
  if (!shell && !image && (cmd.value === undefined || cmd.value === '')) return 'Executable of task is not specified (command.value with shell=false)';
  for (const [i, v] of (cmd.environment?.variables ?? []).entries()) {
    if (v.type === 'SECRET') return `command.environment.variables[${i}] (${v.name}): secret environment variables are not supported`;
    if (v.value === undefined) return `command.environment.variables[${i}] (${v.name}): value is not set`;
    if (v.name.includes('=') || v.name.includes('\0')) return `command.environment.variables[${i}]: invalid variable name ${JSON.stringify(v.name)}`;
  }
  if (image) {
    try {
      // Any registry host will do: only the name's syntax is checked here.
      parseImageReference(image.name, 'registry.invalid');
    } catch (e) {
      return `Task uses an ${(e as Error).message.replace(/^image: /, '')}`;
    }
  }
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
