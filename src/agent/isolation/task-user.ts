// Which user a task runs as. Pure: the caller looks users up.
//
// --switch-user off: the agent's own user (Mesos's --switch_user=false). On: the CommandInfo's user, else the
// FrameworkInfo's, else --default-user (nobody). A root agent never starts a root task unless
// --allow-root-tasks: root inside a task is root on the host (same kernel, same files).
import type { UserInfo } from '../users.ts';

export interface TaskUserPolicy {
  switchUser: boolean;
  /** Used when switching users and neither the task nor its framework names one. */
  defaultUser: string;
  allowRootTasks: boolean;
  /** The agent's effective uid. */
  agentUid: number;
}

export type TaskUser =
  /** Run as the agent's own user (no switch). */
  | { user?: undefined }
  | { user: UserInfo }
  | { error: string };

export function resolveTaskUser(requested: string | undefined, p: TaskUserPolicy, lookup: (name: string) => UserInfo | undefined): TaskUser {
  if (!p.switchUser) return {};
  const name = requested || p.defaultUser;
  if (!name) return {};
  const user = lookup(name);
  if (!user) return { error: `Failed to launch the task: user '${name}' does not exist on this agent` };
  if (user.uid === 0 && p.agentUid === 0 && !p.allowRootTasks)
    return {
      error:
        `Refusing to run the task as '${name}' (uid 0): this agent does not run tasks as root. ` +
        'Give the task or its framework an unprivileged user, or start the agent with --allow-root-tasks',
    };
  if (p.agentUid !== 0 && user.uid !== p.agentUid)
    return { error: `Failed to launch the task as user '${name}': the agent runs as uid ${p.agentUid} and switching users needs root` };
  return { user };
}
