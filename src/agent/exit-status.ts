// How a task ended, as Mesos's command executor words it. Tasks run under a /bin/sh wrapper that records the
// command's `$?`, so a death by signal N arrives as 128+N (the shell's encoding); a wrapper killed outright
// (SIGKILL to the whole group) arrives as a signal.
import os from 'node:os';
import type { Resource, TaskReason, TaskState } from '../protocol/mesos.ts';
import type { KillReason } from './task-types.ts';

export type RawExit = { code: number } | { signal: string };

const SIGNAL_NAMES = new Map<number, string>(Object.entries(os.constants.signals).map(([name, n]) => [n, name]));

/** Normalises a wrapper status: 128+N for a known signal N means "terminated with signal N". */
export function normalizeExit(raw: RawExit): RawExit {
  if ('code' in raw && raw.code > 128 && raw.code < 128 + 65) {
    const name = SIGNAL_NAMES.get(raw.code - 128);
    if (name) return { signal: name };
  }
  return raw;
}

export function describeExit(raw: RawExit): string {
  const n = normalizeExit(raw);
  return 'code' in n ? `Command exited with status ${n.code}` : `Command terminated with signal ${n.signal}`;
}

export interface TerminalOutcome {
  state: TaskState;
  message: string;
  reason?: TaskReason;
  /** TaskStatus.healthy of the terminal update (false for a task killed by its health check). */
  healthy?: boolean;
  /** TaskStatus.limitation (Mesos's TaskResourceLimitation): the resource a container limit stopped. */
  limitation?: { resources: Resource[] };
}

export const HEALTH_CHECK_KILL_MESSAGE = 'Task was killed since health check failed';

/**
 * The terminal update for a task whose process ended. `killedFor` is why the agent killed it, if it did.
 * `raw` undefined: the process vanished while the agent was down without leaving an exit status.
 */
export function terminalOutcome(raw: RawExit | undefined, killedFor?: KillReason): TerminalOutcome {
  const message = raw ? describeExit(raw) : 'Command exited while the agent was down; its exit status is unknown';
  if (killedFor === 'max_completion_time')
    return { state: 'TASK_FAILED', message: `Task exceeded its max completion time. ${message}`, reason: 'REASON_MAX_COMPLETION_TIME_REACHED' };
  if (killedFor === 'health_check')
    return { state: 'TASK_KILLED', message: HEALTH_CHECK_KILL_MESSAGE, reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED', healthy: false };
  if (killedFor) return { state: 'TASK_KILLED', message };
  if (!raw) return { state: 'TASK_FAILED', message, reason: 'REASON_EXECUTOR_TERMINATED' };
  const n = normalizeExit(raw);
  if ('code' in n && n.code === 0) return { state: 'TASK_FINISHED', message };
  return { state: 'TASK_FAILED', message, reason: 'REASON_COMMAND_EXECUTOR_FAILED' };
}

/** Parses the wrapper's exit_status file: "<code>\n". Incomplete or garbled content → undefined. */
export function parseExitStatusFile(text: string): RawExit | undefined {
  const m = /^(\d{1,3})\n$/.exec(text);
  return m ? { code: Number(m[1]) } : undefined;
}
