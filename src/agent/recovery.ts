// Reads the work dir's checkpoints back after a restart. Pure reading (plus removing stray temp files and
// truncating torn journal tails); the task manager decides what each recovered task means.
import fs from 'node:fs';
import path from 'node:path';
import { FrameworkInfo, type TaskStatus } from '../protocol/mesos.ts';
import { readJournal, readJsonFile, removeTempFiles } from './checkpoint.ts';
import type { RawExit } from './exit-status.ts';
import { readExitStatus } from './launcher.ts';
import { agentInfoPath, agentMetaDir, EXIT_STATUS_FILE, metaRoot, TASK_FILE, UPDATES_FILE } from './paths.ts';
import type { JournalRecord, TaskCheckpoint } from './task-types.ts';

export interface AgentCheckpoint {
  agent_id: string;
  /** /proc/sys/kernel/random/boot_id when written: a different one means the host rebooted. */
  boot_id?: string;
}

export interface RecoveredRun {
  metaDir: string;
  checkpoint: TaskCheckpoint;
  records: JournalRecord[];
  exitStatus?: RawExit;
}

export interface RecoveredFramework {
  id: string;
  info: FrameworkInfo;
  runs: RecoveredRun[];
}

export interface RecoveredState {
  agent?: AgentCheckpoint;
  frameworks: RecoveredFramework[];
  /** Problems found (counted in slave/recovery_errors); recovery goes on past each. */
  errors: string[];
}

const list = (dir: string): string[] => {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
};

export function readBootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function readAgentCheckpoint(workDir: string): { agent?: AgentCheckpoint; error?: string } {
  removeTempFiles(metaRoot(workDir));
  try {
    const agent = readJsonFile<AgentCheckpoint>(agentInfoPath(workDir));
    if (agent && typeof agent.agent_id !== 'string') return { error: 'meta/agent.json has no agent_id; starting as a new agent' };
    return { agent };
  } catch (e) {
    return { error: `meta/agent.json is unreadable (${(e as Error).message}); starting as a new agent` };
  }
}

export function readCheckpoints(workDir: string, agentId: string): Omit<RecoveredState, 'agent'> {
  const errors: string[] = [];
  const frameworks: RecoveredFramework[] = [];
  const fwRoot = path.join(agentMetaDir(workDir, agentId), 'frameworks');
  for (const fwId of list(fwRoot)) {
    const fwDir = path.join(fwRoot, fwId);
    removeTempFiles(fwDir);
    let info: FrameworkInfo | undefined;
    try {
      const raw = readJsonFile(path.join(fwDir, 'framework.json'));
      const parsed = raw === undefined ? undefined : FrameworkInfo.safeParse(raw);
      if (parsed?.success) info = parsed.data;
      else if (parsed) errors.push(`framework ${fwId}: framework.json is invalid`);
    } catch (e) {
      errors.push(`framework ${fwId}: framework.json is unreadable: ${(e as Error).message}`);
    }
    const runs: RecoveredRun[] = [];
    const runsDir = path.join(fwDir, 'runs');
    for (const containerId of list(runsDir)) {
      const metaDir = path.join(runsDir, containerId);
      removeTempFiles(metaDir);
      let checkpoint: TaskCheckpoint | undefined;
      try {
        checkpoint = readJsonFile<TaskCheckpoint>(path.join(metaDir, TASK_FILE));
      } catch (e) {
        errors.push(`run ${containerId}: task.json is unreadable: ${(e as Error).message}`);
        continue;
      }
      if (!checkpoint) {
        // The launch crashed before task.json was renamed into place; an orphaned process, if any, is
        // killed by the task manager.
        fs.rmSync(metaDir, { recursive: true, force: true });
        continue;
      }
      let records: JournalRecord[] = [];
      try {
        const j = readJournal(path.join(metaDir, UPDATES_FILE));
        records = j.records as JournalRecord[];
        if (j.truncatedBytes) errors.push(`run ${containerId}: dropped a torn journal tail of ${j.truncatedBytes} bytes`);
      } catch (e) {
        errors.push(`run ${containerId}: updates journal is unreadable: ${(e as Error).message}`);
      }
      runs.push({ metaDir, checkpoint, records, exitStatus: readExitStatus(path.join(metaDir, EXIT_STATUS_FILE)) });
    }
    if (!info && runs.length) {
      // Fall back to a minimal FrameworkInfo so its tasks are still reported.
      info = { id: { value: fwId }, name: fwId, user: '' } as FrameworkInfo;
      errors.push(`framework ${fwId}: missing framework.json; using a placeholder`);
    }
    if (info) frameworks.push({ id: fwId, info, runs });
  }
  return { frameworks, errors };
}

/** Replays a journal: statuses in order, the unacknowledged suffix, the pid and any kill request. */
export function replayJournal(records: JournalRecord[]): {
  statuses: TaskStatus[];
  unacked: TaskStatus[];
  pid?: { pid: number; startTime?: string };
  kill?: Extract<JournalRecord, { type: 'KILL' }>;
} {
  const statuses: TaskStatus[] = [];
  const acked = new Set<string>();
  let pid: { pid: number; startTime?: string } | undefined;
  let kill: Extract<JournalRecord, { type: 'KILL' }> | undefined;
  for (const r of records) {
    if (!r || typeof r !== 'object') continue;
    if (r.type === 'UPDATE' && r.status) statuses.push(r.status);
    else if (r.type === 'ACK' && typeof r.uuid === 'string') acked.add(r.uuid);
    else if (r.type === 'PID' && typeof r.pid === 'number') pid = { pid: r.pid, startTime: r.start_time };
    else if (r.type === 'KILL') kill ??= r;
  }
  const unacked = statuses.filter((s) => !s.uuid || !acked.has(s.uuid));
  return { statuses, unacked, pid, kill };
}
