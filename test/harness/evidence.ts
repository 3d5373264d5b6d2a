// Evidence the checkers judge, gathered while a fault test runs:
// - JournalTail: the agents' own checkpoints (task.json + the `updates` journal of every task run), read
//   from their work dirs (the file system is shared by all lab namespaces) incrementally, and kept after the
//   agent removes them (it deletes a run's meta dir once its terminal update is acknowledged). This is the
//   ground truth of what each agent generated, what it saw acknowledged, and which pid runs a task.
// - StateSampler: periodic samples of the master's /master/state plus, at the same instant, which task
//   processes are really alive (journal pids checked in /proc).
// Both poll on a timer (observation, never synchronisation) and are read-only towards the cluster.
import fs from 'node:fs';
import path from 'node:path';
import type { Resource, TaskStatus } from '../../src/protocol/mesos.ts';
import { isAlive } from './netns.ts';
import { getJson } from './http.ts';

export type JournalRecord =
  | { type: 'UPDATE'; status: TaskStatus }
  | { type: 'ACK'; uuid: string }
  | { type: 'PID'; pid: number; start_time?: string }
  | { type: 'KILL'; reason: string; grace_ms: number; at: number };

export interface RunEvidence {
  /** Lab host index of the agent. */
  host: number;
  agentId: string;
  frameworkId: string;
  taskId: string;
  containerId: string;
  metaDir: string;
  resources: Resource[];
  /** Journal records in file order (complete lines only). */
  records: JournalRecord[];
  /** Wrapper pid (the task's process group), from the last PID record. */
  pid?: number;
  firstSeen: number;
  /** When the agent removed the run's meta dir (completed), if observed. */
  goneAt?: number;
  /** Bytes of the journal consumed so far, and an incomplete trailing line. */
  offset: number;
  partial: string;
}

export interface WorkDirRef {
  host: number;
  workDir: string;
}

const list = (dir: string): string[] => {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
};

export class JournalTail {
  readonly runs = new Map<string, RunEvidence>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly workDirs: () => WorkDirRef[],
    everyMs = 100,
  ) {
    this.scan();
    this.timer = setInterval(() => this.scan(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over every work dir (also called by checkers before they judge). */
  scan(): void {
    const seen = new Set<string>();
    for (const { host, workDir } of this.workDirs()) {
      const slaves = path.join(workDir, 'meta', 'slaves');
      for (const agentId of list(slaves)) {
        const fws = path.join(slaves, agentId, 'frameworks');
        for (const fwId of list(fws)) {
          const runsDir = path.join(fws, fwId, 'runs');
          for (const containerId of list(runsDir)) {
            const metaDir = path.join(runsDir, containerId);
            seen.add(metaDir);
            let run = this.runs.get(metaDir);
            if (!run) {
              let task: { task?: { task_id?: { value?: string }; resources?: Resource[] } } | undefined;
              try {
                task = JSON.parse(fs.readFileSync(path.join(metaDir, 'task.json'), 'utf8'));
              } catch {
                continue; // not written yet (or torn): next pass
              }
              const taskId = task?.task?.task_id?.value;
              if (!taskId) continue;
              run = {
                host,
                agentId,
                frameworkId: fwId,
                taskId,
                containerId,
                metaDir,
                resources: task?.task?.resources ?? [],
                records: [],
                firstSeen: Date.now(),
                offset: 0,
                partial: '',
              };
              this.runs.set(metaDir, run);
            }
            this.readJournal(run);
          }
        }
      }
    }
    for (const run of this.runs.values()) if (!seen.has(run.metaDir) && run.goneAt === undefined) run.goneAt = Date.now();
  }

  private readJournal(run: RunEvidence): void {
    const file = path.join(run.metaDir, 'updates');
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < run.offset) {
        // Truncated (recovery cut a torn tail): re-read from the start, de-duplicating below.
        run.offset = 0;
        run.partial = '';
        run.records = [];
      }
      if (size === run.offset) return;
      const buf = Buffer.alloc(size - run.offset);
      fs.readSync(fd, buf, 0, buf.length, run.offset);
      run.offset = size;
      const text = run.partial + buf.toString('utf8');
      const lines = text.split('\n');
      run.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const rec = JSON.parse(line) as JournalRecord;
          run.records.push(rec);
          if (rec.type === 'PID') run.pid = rec.pid;
        } catch {
          // a torn line; the agent truncates it on recovery
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Runs of one task (all agents, all incarnations of the run), first seen first. */
  runsOf(taskId: string, frameworkId?: string): RunEvidence[] {
    return [...this.runs.values()].filter((r) => r.taskId === taskId && (frameworkId === undefined || r.frameworkId === frameworkId));
  }

  /** Agent-generated updates of a task, in journal order. */
  updatesOf(run: RunEvidence): TaskStatus[] {
    return run.records.filter((r): r is Extract<JournalRecord, { type: 'UPDATE' }> => r.type === 'UPDATE').map((r) => r.status);
  }

  ackedUuids(run: RunEvidence): Set<string> {
    return new Set(run.records.filter((r): r is Extract<JournalRecord, { type: 'ACK' }> => r.type === 'ACK').map((r) => r.uuid));
  }

  /** Is the task's process (group leader) alive right now? */
  alive(run: RunEvidence): boolean {
    return run.pid !== undefined && isAlive(run.pid);
  }

  /** Runs whose process is alive right now (the truth of what runs, whatever anyone believes). */
  liveRuns(): RunEvidence[] {
    this.scan();
    return [...this.runs.values()].filter((r) => this.alive(r));
  }
}

// ------------------------------------------------------------------ master state samples

export interface SampledTask {
  frameworkId: string;
  id: string;
  state: string;
  agentId: string;
}

export interface StateSample {
  at: number;
  /** Active (and unreachable) tasks of every framework, as the master reports them. */
  tasks: SampledTask[];
  /** Agent ids the master lists as registered and active. */
  activeAgents: string[];
  /** Task ids whose process is alive at this instant (from the journals). */
  liveTaskIds: string[];
}

export class StateSampler {
  readonly samples: StateSample[] = [];
  readonly errors: string[] = [];
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly masterLocalUrl: string,
    private readonly journals: JournalTail,
    everyMs = 200,
  ) {
    this.timer = setInterval(() => void this.sample(), everyMs);
    this.timer.unref();
  }

  async sample(): Promise<StateSample | undefined> {
    if (this.busy) return undefined;
    this.busy = true;
    try {
      const st = await getJson(`${this.masterLocalUrl}/master/state`, 2000);
      const tasks: SampledTask[] = [];
      for (const fw of st.frameworks ?? []) {
        for (const t of [...(fw.tasks ?? []), ...(fw.unreachable_tasks ?? [])])
          tasks.push({ frameworkId: fw.id, id: t.id, state: t.state, agentId: t.slave_id });
      }
      const s: StateSample = {
        at: Date.now(),
        tasks,
        activeAgents: (st.slaves ?? []).filter((a: any) => a.active).map((a: any) => a.id),
        liveTaskIds: this.journals.liveRuns().map((r) => r.taskId),
      };
      this.samples.push(s);
      return s;
    } catch (e) {
      this.errors.push(`${new Date().toISOString()} ${(e as Error).message}`);
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
