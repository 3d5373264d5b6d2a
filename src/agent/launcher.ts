// Starts a task as a detached process group under a tiny /bin/sh wrapper, and kills groups.
//
// The wrapper is what lets a task outlive the agent: the agent is only the wrapper's parent, so when the
// agent dies the wrapper (and task) are reparented and keep running, and since a restarted agent can no
// longer wait() for them, the wrapper records the command's exit status in a file. It costs one sh
// start-up (~1 ms). It traps TERM so that a kill of the group reaches the command while the wrapper
// survives to record the status; children of the trapped shell get default TERM handling back on exec.
//
// Isolation (isolation/): before anything else the wrapper writes its own pid into the task's cgroup.procs
// files (`--cgroups FILE... --` after the exit-status path), so the command and all it forks are born confined;
// a failed join stops the launch (status 125) rather than running the task unconfined. The isolators' argv
// (pid namespace, user switch) goes in front of the command; the wrapper itself stays in the host's pid
// namespace, where the agent tracks and signals it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { parseExitStatusFile, type RawExit } from './exit-status.ts';
import { processStartTime } from './proc.ts';

export const WRAPPER_SCRIPT =
  'f=$1; shift; if [ "$1" = --cgroups ]; then shift; while [ $# -gt 0 ] && [ "$1" != -- ]; do ' +
  'echo $$ > "$1" || { echo "corral: cannot join cgroup $1; the task was not started" >&2; echo 125 > "$f"; exit 125; }; shift; done; shift; fi; ' +
  'trap : TERM INT; "$@"; s=$?; echo $s > "$f"; exit $s';
/** argv[0] of the wrapper shell: how the agent's processes show up in ps. */
export const WRAPPER_NAME = 'corral-task';

export interface LaunchSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  stdoutPath: string;
  stderrPath: string;
  exitStatusPath: string;
  /** Run the wrapper (and so the task) as this user. Not with cgroups/namespaces: those switch in `prefix`. */
  uid?: number;
  gid?: number;
  /** cgroup.procs files the wrapper joins before it runs anything. */
  cgroupProcs?: string[];
  /** Isolators' argv in front of the command (isolation/container-argv.ts). */
  prefix?: string[];
}

export interface LaunchedProcess {
  pid: number;
  /** /proc start time of the wrapper (pid-reuse guard); undefined off Linux. */
  startTime?: string;
  /** Settles when the wrapper exits (while this agent process is its parent). */
  exited: Promise<RawExit>;
}

export class LaunchError extends Error {}

/** Spawns the wrapper; rejects with a LaunchError (carrying the OS error) when the process cannot start. */
export async function launchProcess(spec: LaunchSpec): Promise<LaunchedProcess> {
  let failure: Promise<never> | undefined;
  const launched = startWrapper(spec, (p) => (failure = p));
  if (launched) return launched;
  return failure ?? Promise.reject(new LaunchError('failed to start the task process'));
}

function startWrapper(spec: LaunchSpec, onFailure: (p: Promise<never>) => void): LaunchedProcess | undefined {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND;
  const out = fs.openSync(spec.stdoutPath, flags, 0o644);
  let err: number | undefined;
  try {
    err = fs.openSync(spec.stderrPath, flags, 0o644);
    if (spec.uid !== undefined) {
      fs.fchownSync(out, spec.uid, spec.gid ?? -1);
      fs.fchownSync(err, spec.uid, spec.gid ?? -1);
      // The wrapper runs as the task's user: give it its (empty, so "no status yet") exit-status file,
      // while the checkpoint directory around it stays the agent's.
      const st = fs.openSync(spec.exitStatusPath, 'w', 0o600);
      try {
        fs.fchownSync(st, spec.uid, spec.gid ?? -1);
      } finally {
        fs.closeSync(st);
      }
    }
    const cgroups = spec.cgroupProcs?.length ? ['--cgroups', ...spec.cgroupProcs, '--'] : [];
    const args = [WRAPPER_NAME, spec.exitStatusPath, ...cgroups, ...(spec.prefix ?? []), ...spec.argv];
    const child = spawn('/bin/sh', ['-c', WRAPPER_SCRIPT, ...args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', out, err],
      detached: true,
      ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
      ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
    });
    const pid = child.pid;
    if (pid === undefined) {
      onFailure(new Promise<never>((_, reject) => child.once('error', (e) => reject(new LaunchError(e.message)))));
      return undefined;
    }
    child.unref();
    const exited = new Promise<RawExit>((resolve) => {
      child.once('exit', (code, signal) => resolve(signal ? { signal } : { code: code ?? 0 }));
    });
    child.on('error', () => undefined);
    return { pid, startTime: processStartTime(pid), exited };
  } finally {
    fs.closeSync(out);
    if (err !== undefined) fs.closeSync(err);
  }
}

/** Reads the wrapper's exit status file, if complete. */
export function readExitStatus(path: string): RawExit | undefined {
  try {
    return parseExitStatusFile(fs.readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}
