// What runs inside a container and with which environment: the task's CommandInfo over the image's
// config, with Mesos's rules. Pure.
//
//   shell: true (default)          /bin/sh -c <value>      (the image's entrypoint and cmd are ignored)
//   shell: false, value set        <value> <arguments[1..]> (arguments[0] is argv[0], as on the host)
//   shell: false, no value         the image's Entrypoint + (arguments if any, else the image's Cmd),
//                                  as `docker run image args…` does
// The working directory is the sandbox (/mnt/mesos/sandbox), where fetched URIs are, except when the image's
// own command runs: then the image's WorkingDir, if it sets one.
import type { TaskInfo } from '../../protocol/mesos.ts';
import type { ImageConfig } from '../images/image-config.ts';

export const CONTAINER_SANDBOX = '/mnt/mesos/sandbox';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function containerArgs(task: TaskInfo, image: ImageConfig): { args: string[]; cwd: string } | { error: string } {
  const cmd = task.command ?? {};
  const shell = cmd.shell ?? true;
  if (shell) return { args: ['/bin/sh', '-c', cmd.value ?? ''], cwd: CONTAINER_SANDBOX };
  if (cmd.value) return { args: [cmd.value, ...(cmd.arguments ?? []).slice(1)], cwd: CONTAINER_SANDBOX };
  const args = [...(image.Entrypoint ?? []), ...(cmd.arguments?.length ? cmd.arguments : (image.Cmd ?? []))];
  if (!args.length) return { error: 'the task gives no command and its image has neither an entrypoint nor a cmd' };
  return { args, cwd: image.WorkingDir ?? CONTAINER_SANDBOX };
}

/**
 * The container's environment: the image's Env, then the task's (MESOS_*, PORT*, the command's variables)
 * without what the agent passes on from its own host environment (PATH, HOME, LANG…: the image's files are
 * not the host's), then MESOS_SANDBOX as seen inside. `taskEnv` is the task environment built without the
 * agent's environment; a PATH or HOME in it only counts when the command sets it.
 */
export function containerEnv(imageEnv: readonly string[] | undefined, taskEnv: Record<string, string>, task: TaskInfo): string[] {
  const env = new Map<string, string>();
  for (const kv of imageEnv ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const explicit = new Set((task.command?.environment?.variables ?? []).map((v) => v.name));
  for (const [k, v] of Object.entries(taskEnv)) {
    if ((k === 'PATH' || k === 'HOME') && !explicit.has(k)) continue;
    env.set(k, v);
  }
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  env.set('MESOS_SANDBOX', CONTAINER_SANDBOX);
  return [...env].map(([k, v]) => `${k}=${v}`);
}
