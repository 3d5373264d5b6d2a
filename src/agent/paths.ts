// Work-dir layout, as Mesos lays it out:
//   <work>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<container>   sandboxes (+ runs/latest)
//   <work>/meta/agent.json                                                          agent id
//   <work>/meta/slaves/<agent>/frameworks/<fw>/framework.json                       FrameworkInfo
//   <work>/meta/slaves/<agent>/frameworks/<fw>/runs/<container>/                    per-task checkpoint
//        task.json (TaskInfo, executor and container ids, sandbox), updates (append-only journal),
//        exit_status (written by the task's wrapper), recovery_timeout (written when the task was killed
//        because its agent did not come back within --recovery-timeout)
//   <work>/watchdog/   agent.json (the agent process watched), heartbeat (touched while it runs),
//        watchdog.json (the watchdog's pid), watchdog.log: see recovery-timeout-watchdog.ts. Outside meta/
//        because meta/ is wiped on a new agent id while the same agent process keeps running.
// (Mesos nests meta runs under executors/<ex>/ too; with one task per command executor that level only
// costs two more directory creations per launch.)
import { join } from 'node:path';

export const metaRoot = (work: string): string => join(work, 'meta');
export const agentInfoPath = (work: string): string => join(work, 'meta', 'agent.json');
export const agentMetaDir = (work: string, agentId: string): string => join(work, 'meta', 'slaves', agentId);
export const frameworkMetaDir = (work: string, agentId: string, fwId: string): string =>
  join(agentMetaDir(work, agentId), 'frameworks', fwId);
export const frameworkInfoPath = (work: string, agentId: string, fwId: string): string =>
  join(frameworkMetaDir(work, agentId, fwId), 'framework.json');

export const frameworkRunsMetaDir = (work: string, agentId: string, fwId: string): string => join(frameworkMetaDir(work, agentId, fwId), 'runs');

export function runMetaDir(work: string, agentId: string, fwId: string, containerId: string): string {
  return join(frameworkRunsMetaDir(work, agentId, fwId), containerId);
}

export function executorSandboxDir(work: string, agentId: string, fwId: string, executorId: string): string {
  return join(work, 'slaves', agentId, 'frameworks', fwId, 'executors', executorId);
}

export function sandboxDir(work: string, agentId: string, fwId: string, executorId: string, containerId: string): string {
  return join(executorSandboxDir(work, agentId, fwId, executorId), 'runs', containerId);
}

/** Files inside a task's meta run dir. */
export const TASK_FILE = 'task.json';
export const UPDATES_FILE = 'updates';
export const EXIT_STATUS_FILE = 'exit_status';
export const RECOVERY_TIMEOUT_FILE = 'recovery_timeout';

/** The recovery-timeout watchdog's files (the names are repeated in watchdog.mjs, which cannot import this). */
export const watchdogDir = (work: string): string => join(work, 'watchdog');
export const WATCHDOG_AGENT_FILE = 'agent.json';
export const WATCHDOG_HEARTBEAT_FILE = 'heartbeat';
export const WATCHDOG_PID_FILE = 'watchdog.json';
export const WATCHDOG_LOG_FILE = 'watchdog.log';
