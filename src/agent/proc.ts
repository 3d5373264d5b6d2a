// Process facts from /proc (Linux): start times guard against pid reuse when re-attaching to a task after
// an agent restart, and zombie detection (a reparented wrapper may sit unreaped) counts as "exited".
import fs from 'node:fs';

/** Fields of /proc/<pid>/stat after the parenthesised command name (which may itself contain spaces or ')'). */
export function parseProcStat(text: string): { state: string; ppid: number; pgrp: number; startTime: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); starttime is field 22.
  if (fields.length < 20) return undefined;
  return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), startTime: fields[19]! };
}

export function readProcStat(pid: number): ReturnType<typeof parseProcStat> {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The process start time (clock ticks since boot) as a string, or undefined when the pid is gone. */
export const processStartTime = (pid: number): string | undefined => readProcStat(pid)?.startTime;

/**
 * True when `pid` is a live (non-zombie) process with the given start time. Without /proc (non-Linux) falls
 * back to kill(pid, 0).
 */
export function isSameLiveProcess(pid: number, startTime: string | undefined): boolean {
  if (fs.existsSync('/proc/self/stat')) {
    const st = readProcStat(pid);
    if (!st || st.state === 'Z' || st.state === 'X') return false;
    return startTime === undefined || st.startTime === startTime;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every process's argv, from /proc/<pid>/cmdline ([] without /proc). */
export function listProcesses(): { pid: number; args: string[] }[] {
  const out: { pid: number; args: string[] }[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      out.push({ pid: Number(e), args: fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Pids whose command line contains `needle` as a whole argument (recovery of a launch whose pid was not yet checkpointed). */
export function findPidsByArgument(needle: string): number[] {
  return listProcesses()
    .filter((p) => p.args.includes(needle))
    .map((p) => p.pid);
}

/** Sends `signal` to a process group, ignoring "no such process". Returns false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!(pgid > 1)) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}
