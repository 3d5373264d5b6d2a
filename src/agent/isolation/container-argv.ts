// The argv put in front of a task's command by its isolators. Pure.
//
// The task's wrapper (launcher.ts) stays outside, in the host's pid namespace, as root when the agent is:
// it is the process the agent tracks (pid + start time), signals (its process group) and whose exit status
// file says how the task ended, so none of that changes with the isolators. What it runs:
//   namespaces/pid: unshare --fork --pid --mount-proc → a small init shell as pid 1 of the new namespace
//     (a command that is pid 1 would ignore SIGTERM: the kernel only delivers signals a namespace's init
//     handles), which runs the command as pid 2. When the init exits the kernel kills what is left inside.
//   a user switch under a root wrapper: unshare's --setuid/--setgid, or setpriv when there is no namespace.
export const INIT_NAME = 'corral-init';
/** pid 1 of a task's namespace: traps TERM/INT (so it outlives them and reports the command's status). */
export const INIT_SCRIPT = 'trap : TERM INT; "$@"';

export interface ContainerArgvInput {
  pidNamespace: boolean;
  /** Absolute path of unshare (namespaces/pid). */
  unshare?: string;
  /** Absolute path of setpriv (user switch without a namespace). */
  setpriv?: string;
  /** Switch to this user inside (the wrapper itself stays the agent's user). */
  user?: { uid: number; gid: number };
}

export function containerArgv(i: ContainerArgvInput): string[] {
  const ids = (uidFlag: string, gidFlag: string): string[] => (i.user ? [gidFlag, String(i.user.gid), uidFlag, String(i.user.uid)] : []);
  if (i.pidNamespace) {
    if (!i.unshare) throw new Error('namespaces/pid needs unshare');
    // --kill-child: if unshare itself is killed, its child (the namespace's init) goes too.
    return [i.unshare, '--fork', '--pid', '--mount-proc', '--kill-child', ...ids('--setuid', '--setgid'), '--', '/bin/sh', '-c', INIT_SCRIPT, INIT_NAME];
  }
  if (i.user) {
    if (!i.setpriv) throw new Error('switching users under a root wrapper needs setpriv');
    return [i.setpriv, `--regid=${i.user.gid}`, `--reuid=${i.user.uid}`, '--clear-groups', '--'];
  }
  return [];
}
