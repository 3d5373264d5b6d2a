// Shapes shared by the task manager, its checkpoints and the views (/state, re-registration).
import type { Resources } from '../core/resources.ts';
import type { FrameworkInfo, TaskInfo, TaskState, TaskStatus } from '../protocol/mesos.ts';
import type { TimerHandle } from '../runtime/clock.ts';
import type { Journal } from './checkpoint.ts';
import type { HealthChecker } from './health-checker.ts';
import type { IsolationCheckpoint } from './isolation/index.ts';

/** Why the agent kills a task: a KILL from the master, its max_completion_time, agent/framework shutdown, a failed health check. */
export type KillReason = 'kill' | 'max_completion_time' | 'shutdown' | 'health_check';

/** task.json: written once, before the process starts. */
export interface TaskCheckpoint {
  framework_id: string;
  executor_id: string;
  container_id: string;
  task: TaskInfo;
  /** The sandbox (real path). */
  directory: string;
  /** Epoch ms when the launch began. */
  launched_at: number;
  user?: string;
  gpus?: number[];
  /** The task's cgroups and namespaces (isolation/), so a restarted agent finds them whatever its flags. */
  isolation?: IsolationCheckpoint;
}

/** Lines of a task's `updates` journal. */
export type JournalRecord =
  | { type: 'UPDATE'; status: TaskStatus }
  | { type: 'ACK'; uuid: string }
  | { type: 'PID'; pid: number; start_time?: string }
  | { type: 'KILL'; reason: KillReason; grace_ms: number; at: number };

export interface TaskRun {
  frameworkId: string;
  taskId: string;
  executorId: string;
  containerId: string;
  info: TaskInfo;
  directory: string;
  metaDir: string;
  journal: Journal;
  launchedAt: number;
  /** Latest state (may be ahead of what the master has acknowledged). */
  state: TaskState;
  /** Updates generated for this task, oldest first (bounded). */
  statuses: TaskStatus[];
  pid?: number;
  startTime?: string;
  kill?: { reason: KillReason; graceMs: number; at: number };
  killTimer?: TimerHandle;
  /** The agent escalated to SIGKILL (which also kills the wrapper, so no exit status is written). */
  sigkilled?: boolean;
  deadlineTimer?: TimerHandle;
  terminal: boolean;
  gpus: number[];
  resources: Resources;
  user?: string;
  /** Re-attached after a restart: not our child, so its exit is noticed by polling. */
  watched: boolean;
  /** The task's health checker while it runs (TaskInfo.health_check). */
  health?: HealthChecker;
  /** The task's environment and user ids as launched (health COMMAND checks run with them). */
  launchEnv?: { env: Record<string, string>; uid?: number; gid?: number };
  /** Resolves once the terminal update is checkpointed. */
  terminated: Promise<void>;
  markTerminated(): void;
}

export interface FrameworkEntry {
  id: string;
  info: FrameworkInfo;
  tasks: Map<string, TaskRun>;
  completed: TaskRun[];
  shuttingDown: boolean;
  /** The last framework.json write (launches wait for it). */
  checkpointed: Promise<void>;
  checkpointedJson?: string;
}
