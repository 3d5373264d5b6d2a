// The task manager: runs command tasks, kills them, turns process exits into terminal updates, and
// re-attaches to tasks after an agent restart. Status updates go through the status update manager; the
// per-task journal (`updates`) also records the pid and kill requests, so one fdatasync covers a launch.
import fs from 'node:fs';
import path from 'node:path';
import { addResources, emptyResources, fromMesosResources, type MesosResource, type Resources } from '../core/resources.ts';
import {
  isTerminalState,
  type FrameworkInfo,
  type KillPolicy,
  type TaskInfo,
  type TaskReason,
  type TaskSource,
  type TaskState,
  type TaskStatus,
} from '../protocol/mesos.ts';
import type { Clock } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import { Journal, makeDirs, writeJsonAtomic } from './checkpoint.ts';
import { terminalOutcome, type RawExit, type TerminalOutcome } from './exit-status.ts';
import { findOnPath } from './gpus.ts';
import type { Fetcher } from './fetcher/index.ts';
import { ContainerLaunchAborted, ContainerLaunchError, taskImage, type Containerizer, type TaskImage } from './containerizer/index.ts';
import { ExitWatcher } from './exit-watcher.ts';
import { GpuPool } from './gpu-pool.ts';
import { Isolation, type ResourceStatistics } from './isolation/index.ts';
import { parseHealthCheck } from './health-check.ts';
import { HealthChecker } from './health-checker.ts';
import { probeFor } from './health-probes.ts';
import { launchProcess, readExitStatus } from './launcher.ts';
import { killOrphans, knownExitPaths } from './orphans.ts';
import { EXIT_STATUS_FILE, executorSandboxDir, frameworkInfoPath, frameworkRunsMetaDir, runMetaDir, sandboxDir, TASK_FILE, UPDATES_FILE } from './paths.ts';
import { findPidsByArgument, isSameLiveProcess, processStartTime, signalGroup } from './proc.ts';
import { replayJournal, type RecoveredFramework } from './recovery.ts';
import { readRecoveryTimeoutMarker, recoveryTimeoutOutcome, writeRecoveryTimeoutMarker } from './recovery-timeout.ts';
import { linkLatest, removeRunMeta } from './sandbox-fs.ts';
import { StatusUpdateManager } from './status-updates.ts';
import { buildTaskEnv, taskArgv, taskGpuCount } from './task-env.ts';
import type { FrameworkEntry, KillReason, TaskCheckpoint, TaskRun } from './task-types.ts';
import type { AppMetricsHooks } from './statsd.ts';
import { validateTaskForLaunch } from './task-validation.ts';

export const DEFAULT_GRACE_MS = 3000;
const MAX_STATUSES_KEPT = 50;
const MAX_COMPLETED_PER_FRAMEWORK = 200;

export interface TaskManagerDeps {
  workDir: string;
  clock: Clock;
  ids: IdSource;
  log: Logger;
  agentId(): string | undefined;
  hostname: string;
  /** host:port of this agent (MESOS_AGENT_ENDPOINT). */
  endpoint(): string;
  switchUser: boolean;
  gpuIndices: number[];
  pollMs: number;
  retryMs: number;
  maxRetryMs: number;
  /** Sends one update to the master; resolves true once the master accepted it (2xx), false if it did not. */
  send(frameworkId: string, status: TaskStatus, latestState: TaskState | undefined): Promise<boolean | void>;
  /** close({killTasks}) waits up to this long for the master to accept the terminal updates. Default 2000 ms. */
  closeFlushMs?: number;
  /** Fetches CommandInfo.uris into the sandbox before the command starts (tasks with uris fail without one). */
  fetcher?: Pick<Fetcher, 'fetchAll'>;
  /** Links the task's persistent volumes into its sandbox (agent/volumes.ts); returns an error message when it cannot. */
  prepareVolumes?(task: TaskInfo, sandbox: string): string | undefined;
  /** The isolators (cgroups, pid namespace, disk/du), the task-user policy and the ports check. Default: none. */
  isolation?: Isolation;
  /** Runs tasks with a container image (runc); tasks with one fail without it. */
  containerizer?: Containerizer;
  /** App metrics: a StatsD socket per task, named in its environment (statsd.ts). */
  appMetrics?: AppMetricsHooks;
}

export type RunTaskResult = 'launching' | 'duplicate';
export type KillTaskResult = 'killing' | 'already-terminal' | 'unknown';

const hasCapability = (info: FrameworkInfo, type: string): boolean => (info.capabilities ?? []).some((c) => c.type === type);
const nsToMs = (ns: number | undefined): number | undefined => (ns === undefined ? undefined : Math.max(0, ns / 1e6));

/** Mesos v1 JSON renders the 16 uuid bytes as base64. */
export function newUpdateUuid(ids: IdSource): string {
  return Buffer.from(ids.uuid().replace(/-/g, '').padEnd(32, '0').slice(0, 32), 'hex').toString('base64');
}

export class TaskManager {
  readonly frameworks = new Map<string, FrameworkEntry>();
  readonly sum: StatusUpdateManager;
  readonly counters = {
    finished: 0,
    failed: 0,
    killed: 0,
    lost: 0,
    error: 0,
    dropped: 0,
    gone: 0,
    launchErrors: 0,
    executorsTerminated: 0,
  };
  private gpus: GpuPool;
  private exits: ExitWatcher<TaskRun & { pid: number }>;
  private closed = false;
  /** Launches fetching their URIs: a kill, a reset or close() cancels the fetch. */
  private fetching = new Map<TaskRun, AbortController>();

  private isolation: Isolation;

  constructor(private deps: TaskManagerDeps) {
    this.gpus = new GpuPool(deps.gpuIndices, deps.log);
    this.isolation = deps.isolation ?? Isolation.none({ clock: deps.clock, log: deps.log }, { switchUser: deps.switchUser });
    this.isolation.onLimitation = (containerId, outcome) => this.killForLimitation(containerId, outcome);
    this.exits = new ExitWatcher(deps.clock, deps.pollMs, (run) => this.onExit(run, readExitStatus(path.join(run.metaDir, EXIT_STATUS_FILE))));
    this.sum = new StatusUpdateManager({
      clock: deps.clock,
      log: deps.log,
      send: deps.send,
      latestState: (fw, task) => this.frameworks.get(fw)?.tasks.get(task)?.state,
      onDrained: (fw, task) => {
        const run = this.frameworks.get(fw)?.tasks.get(task);
        if (run?.terminal) this.complete(run);
      },
      retryMs: deps.retryMs,
      maxRetryMs: deps.maxRetryMs,
    });
  }

  // ---------------------------------------------------------------- launch

  runTask(frameworkInfo: FrameworkInfo & { id: { value: string } }, task: TaskInfo): RunTaskResult {
    const fw = this.framework(frameworkInfo);
    if (fw.tasks.has(task.task_id.value)) return 'duplicate';
    if (fw.shuttingDown && fw.tasks.size === 0) fw.shuttingDown = false;
    const run = this.newRun(fw, task);
    fw.tasks.set(run.taskId, run);
    void this.launch(fw, run).catch((e: unknown) => {
      this.deps.log.error('task launch failed unexpectedly', { task: run.taskId, error: (e as Error).message });
      this.terminate(run, { state: 'TASK_FAILED', message: `Failed to launch the task: ${(e as Error).message}`, reason: 'REASON_CONTAINER_LAUNCH_FAILED' }, 'SOURCE_AGENT');
    });
    return 'launching';
  }

  private framework(info: FrameworkInfo & { id: { value: string } }): FrameworkEntry {
    const id = info.id.value;
    let fw = this.frameworks.get(id);
    if (!fw) {
      fw = { id, info, tasks: new Map(), completed: [], shuttingDown: false, checkpointed: Promise.resolve() };
      this.frameworks.set(id, fw);
    }
    fw.info = info;
    const json = JSON.stringify(info);
    const agentId = this.deps.agentId();
    if (agentId && fw.checkpointedJson !== json) {
      fw.checkpointedJson = json;
      const file = frameworkInfoPath(this.deps.workDir, agentId, id);
      // Chained so writes land in order; a failed write fails the launches waiting on it, not later ones.
      fw.checkpointed = fw.checkpointed
        .catch(() => undefined)
        .then(async () => {
          makeDirs(path.dirname(file));
          await writeJsonAtomic(file, info);
        });
    }
    return fw;
  }

  private newRun(fw: FrameworkEntry, task: TaskInfo, containerId = this.deps.ids.uuid(), agentId = this.deps.agentId() ?? task.agent_id.value): TaskRun {
    const taskId = task.task_id.value;
    const metaDir = runMetaDir(this.deps.workDir, agentId, fw.id, containerId);
    let resources: Resources;
    try {
      resources = fromMesosResources(task.resources as MesosResource[]);
    } catch {
      resources = emptyResources();
    }
    let markTerminated!: () => void;
    const terminated = new Promise<void>((r) => (markTerminated = r));
    return {
      frameworkId: fw.id,
      taskId,
      executorId: taskId,
      containerId,
      info: task,
      directory: sandboxDir(this.deps.workDir, agentId, fw.id, taskId, containerId),
      metaDir,
      journal: new Journal(path.join(metaDir, UPDATES_FILE)),
      launchedAt: this.deps.clock.now(),
      state: 'TASK_STAGING',
      statuses: [],
      terminal: false,
      gpus: [],
      resources,
      user: task.command?.user ?? fw.info.user,
      watched: false,
      terminated,
      markTerminated,
    };
  }

  private async launch(fw: FrameworkEntry, run: TaskRun): Promise<void> {
    const invalid = validateTaskForLaunch(run.info) ?? this.isolation.portsProblem(run.info, this.liveRunsBesides(run));
    const wantGpus = taskGpuCount(run.info);
    if (!invalid && wantGpus > 0) run.gpus = this.gpus.take(wantGpus);
    const checkpoint: TaskCheckpoint = {
      framework_id: run.frameworkId,
      executor_id: run.executorId,
      container_id: run.containerId,
      task: run.info,
      directory: run.directory,
      launched_at: run.launchedAt,
      ...(run.user ? { user: run.user } : {}),
      ...(run.gpus.length ? { gpus: run.gpus } : {}),
    };
    const isolation = invalid ? undefined : this.isolation.plan(run.containerId);
    if (isolation) checkpoint.isolation = isolation;
    // The slow parts overlap: task.json's fdatasync and STARTING's journal fdatasync run on the libuv
    // pool while the process is spawned. STARTING ("launching", as Mesos's command executor sends it
    // before it forks) goes out once both are durable; PID and RUNNING are journaled after the spawn, and
    // by the time STARTING is acknowledged they are durable too. A crash before task.json lands leaves
    // a wrapper no checkpoint accounts for, which recovery kills as an orphan.
    let checkpointed: Promise<unknown>;
    try {
      const agentId = this.deps.agentId() ?? run.info.agent_id.value;
      makeDirs(frameworkRunsMetaDir(this.deps.workDir, agentId, fw.id), run.containerId);
      if (!invalid) makeDirs(path.dirname(executorSandboxDir(this.deps.workDir, agentId, fw.id, run.executorId)), run.executorId, 'runs', run.containerId);
      checkpointed = Promise.all([fw.checkpointed, writeJsonAtomic(path.join(run.metaDir, TASK_FILE), checkpoint)]);
    } catch (e) {
      return this.launchFailed(run, `Failed to checkpoint the task: ${(e as Error).message}`);
    }
    const notLaunched = async (fail: () => void): Promise<void> => {
      try {
        await checkpointed;
      } catch (e) {
        return this.launchFailed(run, `Failed to checkpoint the task: ${(e as Error).message}`);
      }
      fail();
    };
    if (invalid) return notLaunched(() => this.terminate(run, { state: 'TASK_ERROR', message: invalid, reason: 'REASON_TASK_INVALID' }, 'SOURCE_AGENT'));
    if (run.kill)
      return notLaunched(() =>
        this.terminate(run, { state: 'TASK_KILLED', message: 'Task killed before it was launched', reason: 'REASON_TASK_KILLED_DURING_LAUNCH' }, 'SOURCE_AGENT'),
      );
    if (this.closed) return; // stopped like a crash: recovery reports the task

    let uid: number | undefined;
    let gid: number | undefined;
    let userEnv: { name: string; home: string } | undefined;
    const who = this.isolation.taskUser(run.user);
    if ('error' in who) return notLaunched(() => this.launchFailed(run, who.error));
    const u = who.user;
    if (u) {
      ({ uid, gid } = u);
      userEnv = { name: u.name, home: u.home };
      try {
        // The task's user owns its sandbox, and only it (and the agent) can read it.
        fs.chownSync(run.directory, u.uid, u.gid);
        fs.chmodSync(run.directory, 0o750);
      } catch (e) {
        return notLaunched(() => this.launchFailed(run, `Failed to launch the task as user '${u.name}': ${(e as Error).message}`));
      }
    }
    const volumeError = this.deps.prepareVolumes?.(run.info, run.directory);
    if (volumeError) return notLaunched(() => this.launchFailed(run, `Failed to launch the task: ${volumeError}`));
    await this.deps.appMetrics?.attach(run);
    const env = this.taskEnv(run, userEnv);
    if (run.info.health_check !== undefined) run.launchEnv = { env, uid, gid };
    // Validated: a task's image is either absent or usable. Its command runs in the image (no host lookups).
    const image = taskImage(run.info) as TaskImage | undefined;
    const argv = image ? [] : taskArgv(run.info);
    const uris = run.info.command?.uris ?? [];
    if (!image && run.info.command?.shell === false && !uris.length && !findOnPath(argv[0]!, env.PATH)) {
      return notLaunched(() => this.launchFailed(run, `Failed to launch the task: executable '${argv[0]}' was not found`));
    }
    linkLatest(run.directory);

    this.emit(run, [this.status(run, 'TASK_STARTING')], checkpointed);
    if (uris.length) {
      const instead = await this.fetchUris(run, uid, gid);
      if (instead) return notLaunched(instead);
      // The executable may be one of the fetched files (relative to the sandbox, like the command's cwd).
      const exe = image ? '' : argv[0]!.includes('/') ? path.resolve(run.directory, argv[0]!) : argv[0]!;
      if (!image && run.info.command?.shell === false && !findOnPath(exe, env.PATH)) {
        return notLaunched(() => this.launchFailed(run, `Failed to launch the task: executable '${argv[0]}' was not found`));
      }
    }
    let containerArgv: string[] | undefined;
    if (image) {
      const prepared = await this.prepareContainer(run, image, u);
      if ('instead' in prepared) return notLaunched(prepared.instead);
      containerArgv = prepared.argv;
    }
    let contained;
    try {
      contained = this.isolation.prepare({ containerId: run.containerId, checkpoint: isolation, resources: run.resources, sandbox: run.directory, metaDir: run.metaDir, user: u });
    } catch (e) {
      return notLaunched(() => this.launchFailed(run, `Failed to launch the task: cannot set up its container: ${(e as Error).message}`));
    }
    let proc;
    try {
      // A container's wrapper runs `runc run` as root outside the task's cgroups and namespaces: runc puts the
      // container into them (same cgroups) and switches to the task's user itself.
      proc = await launchProcess({
        argv: containerArgv ?? argv,
        env: containerArgv ? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } : env,
        cwd: run.directory,
        stdoutPath: path.join(run.directory, 'stdout'),
        stderrPath: path.join(run.directory, 'stderr'),
        exitStatusPath: path.join(run.metaDir, EXIT_STATUS_FILE),
        uid: containerArgv ? undefined : contained.spawnAs?.uid,
        gid: containerArgv ? undefined : contained.spawnAs?.gid,
        cgroupProcs: containerArgv ? [] : contained.cgroupProcs,
        prefix: containerArgv ? [] : contained.prefix,
      });
    } catch (e) {
      return notLaunched(() => this.launchFailed(run, `Failed to launch the task: ${(e as Error).message}`));
    }
    try {
      await checkpointed;
    } catch (e) {
      signalGroup(proc.pid, 'SIGKILL');
      return this.launchFailed(run, `Failed to checkpoint the task: ${(e as Error).message}`);
    }
    // Launched: a kill that came meanwhile is carried out below, and the exit (even of a command that has
    // already ended) is reported after RUNNING.
    run.pid = proc.pid;
    run.startTime = proc.startTime;
    // Same tick as RUNNING's append below: one write and one fdatasync for both records.
    run.journal.append([{ type: 'PID', pid: proc.pid, ...(proc.startTime ? { start_time: proc.startTime } : {}) }]).catch(() => undefined);
    this.emit(run, [this.status(run, 'TASK_RUNNING')]);
    proc.exited.then((raw) => this.onExit(run, raw));
    this.armDeadline(run);
    if (run.kill) this.startKill(run);
    else this.startHealthChecks(run);
  }

  /**
   * Runs the fetcher while the task is STARTING (Mesos's containerizer fetches before it starts the executor).
   * Returns how the launch ends instead of starting the command, if it does: killed meanwhile → TASK_KILLED;
   * a failed fetch → TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED with Mesos's "Failed to launch container: Failed
   * to fetch all URIs for container …" message; the agent stopping → nothing (recovery reports the task).
   */
  private async fetchUris(run: TaskRun, uid: number | undefined, gid: number | undefined): Promise<(() => void) | undefined> {
    const ac = new AbortController();
    this.fetching.set(run, ac);
    let error: Error | undefined;
    try {
      if (!this.deps.fetcher) throw new Error('this agent has no fetcher');
      const owner = uid !== undefined ? { owner: { uid, gid: gid ?? uid } } : {};
      await this.deps.fetcher.fetchAll({ uris: run.info.command!.uris!, sandbox: run.directory, containerId: run.containerId, signal: ac.signal, ...owner });
    } catch (e) {
      error = e as Error;
    } finally {
      this.fetching.delete(run);
    }
    if (this.closed || run.terminal) return () => undefined;
    if (run.kill) {
      return () =>
        this.terminate(run, { state: 'TASK_KILLED', message: 'Task killed before it was launched', reason: 'REASON_TASK_KILLED_DURING_LAUNCH' }, 'SOURCE_AGENT');
    }
    if (error) return () => this.launchFailed(run, `Failed to launch container: ${error.message}`);
    return undefined;
  }

  /**
   * Pulls the task's image (while the task is STARTING) and prepares its container; returns the `runc run`
   * argv, or how the launch ends instead: killed meanwhile → TASK_KILLED; no image, a failed pull →
   * TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED naming the image, the registry and its error; the agent
   * stopping → nothing (recovery reports the task). Pull progress goes to the sandbox's stderr.
   */
  private async prepareContainer(run: TaskRun, image: TaskImage, user: { uid: number; gid: number } | undefined): Promise<{ argv: string[] } | { instead: () => void }> {
    const containerizer = this.deps.containerizer;
    if (!containerizer) return { instead: () => this.launchFailed(run, 'Failed to launch container: this agent does not run container images') };
    const ac = new AbortController();
    this.fetching.set(run, ac);
    const stderr = path.join(run.directory, 'stderr');
    let result: { argv: string[] } | undefined;
    let error: Error | undefined;
    try {
      result = await containerizer.prepare({
        containerId: run.containerId,
        task: run.info,
        image,
        sandbox: run.directory,
        env: this.taskEnv(run, undefined, {}),
        ...(user ? { user: { uid: user.uid, gid: user.gid } } : {}),
        resources: run.resources,
        signal: ac.signal,
        progress: (line) => {
          try {
            fs.appendFileSync(stderr, `${new Date(this.deps.clock.now()).toISOString()} provisioner: ${line}\n`);
          } catch {
            // the sandbox is gone: nobody reads it
          }
        },
      });
    } catch (e) {
      error = e as Error;
    } finally {
      this.fetching.delete(run);
    }
    if (this.closed || run.terminal) return { instead: () => undefined };
    if (run.kill || error instanceof ContainerLaunchAborted) {
      return {
        instead: () =>
          this.terminate(run, { state: 'TASK_KILLED', message: 'Task killed before it was launched', reason: 'REASON_TASK_KILLED_DURING_LAUNCH' }, 'SOURCE_AGENT'),
      };
    }
    if (error) {
      const message = error instanceof ContainerLaunchError ? error.message : `Failed to launch container: ${error.message}`;
      return { instead: () => this.launchFailed(run, message) };
    }
    return result!;
  }

  private taskEnv(run: TaskRun, user: { name: string; home: string } | undefined, base?: NodeJS.ProcessEnv): Record<string, string> {
    return buildTaskEnv({
      task: run.info,
      frameworkId: run.frameworkId,
      agentId: this.deps.agentId() ?? run.info.agent_id.value,
      executorId: run.executorId,
      containerId: run.containerId,
      sandbox: run.directory,
      agentEndpoint: this.deps.endpoint(),
      hostname: this.deps.hostname,
      gpus: run.gpus,
      user,
      ...(base ? { base } : {}),
      extra: this.deps.appMetrics?.env(run.containerId),
    });
  }

  private launchFailed(run: TaskRun, message: string): void {
    this.counters.launchErrors++;
    this.terminate(run, { state: 'TASK_FAILED', message, reason: 'REASON_CONTAINER_LAUNCH_FAILED' }, 'SOURCE_AGENT');
  }

  private releaseGpus(run: TaskRun): void {
    this.gpus.release(run.gpus);
    run.gpus = [];
  }

  // ---------------------------------------------------------------- status

  private status(
    run: TaskRun,
    state: TaskState,
    o: { message?: string; reason?: TaskReason; source?: TaskSource; healthy?: boolean; limitation?: TerminalOutcome['limitation'] } = {},
  ): TaskStatus {
    return {
      task_id: { value: run.taskId },
      state,
      source: o.source ?? 'SOURCE_EXECUTOR',
      ...(o.message !== undefined ? { message: o.message } : {}),
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.healthy !== undefined ? { healthy: o.healthy } : {}),
      ...(o.limitation ? { limitation: o.limitation } : {}),
      agent_id: { value: this.deps.agentId() ?? run.info.agent_id.value },
      executor_id: { value: run.executorId },
      timestamp: this.deps.clock.now() / 1000,
      uuid: newUpdateUuid(this.deps.ids),
      container_status: {
        container_id: { value: run.containerId },
        ...(run.pid !== undefined ? { executor_pid: run.pid } : {}),
      },
    };
  }

  /** Records new states of a task and hands them to the status update manager. */
  private emit(run: TaskRun, statuses: TaskStatus[], after?: Promise<unknown>): Promise<void> {
    run.state = statuses[statuses.length - 1]!.state;
    run.statuses.push(...statuses);
    if (run.statuses.length > MAX_STATUSES_KEPT) run.statuses.splice(0, run.statuses.length - MAX_STATUSES_KEPT);
    const fw = this.frameworks.get(run.frameworkId);
    if (fw?.shuttingDown) {
      // Nobody is listening any more (Mesos drops a removed framework's updates).
      if (run.terminal) this.complete(run);
      return Promise.resolve();
    }
    return this.sum.update(run.frameworkId, run.taskId, statuses, run.journal, after);
  }

  private terminate(run: TaskRun, outcome: TerminalOutcome, source: TaskSource = 'SOURCE_EXECUTOR'): void {
    if (run.terminal) return;
    run.terminal = true;
    run.health?.stop();
    run.launchEnv = undefined;
    run.killTimer?.cancel();
    run.deadlineTimer?.cancel();
    if (run.watched) this.exits.unwatch(run as TaskRun & { pid: number });
    this.releaseGpus(run);
    this.isolation.destroy(run.containerId);
    this.deps.appMetrics?.detach(run.containerId);
    if (run.info.container) this.deps.containerizer?.destroy(run.containerId);
    this.countTerminal(outcome.state);
    if (run.pid !== undefined) this.counters.executorsTerminated++;
    const status = this.status(run, outcome.state, { message: outcome.message, reason: outcome.reason, source, healthy: outcome.healthy, limitation: outcome.limitation });
    const done = this.emit(run, [status]);
    done.then(run.markTerminated, run.markTerminated);
  }

  private countTerminal(state: TaskState): void {
    const c = this.counters;
    if (state === 'TASK_FINISHED') c.finished++;
    else if (state === 'TASK_FAILED') c.failed++;
    else if (state === 'TASK_KILLED') c.killed++;
    else if (state === 'TASK_LOST') c.lost++;
    else if (state === 'TASK_ERROR') c.error++;
    else if (state === 'TASK_DROPPED') c.dropped++;
    else if (state === 'TASK_GONE') c.gone++;
  }

  private onExit(run: TaskRun, raw: RawExit | undefined): void {
    if (this.closed || run.terminal) return;
    // The command executor's container ends with its command: reap whatever it left in its process group.
    // (Only for our own children: a re-attached group's pid may already belong to someone else.)
    if (!run.watched && run.pid !== undefined) signalGroup(run.pid, 'SIGKILL');
    const exit = raw ?? (run.sigkilled ? { signal: 'SIGKILL' } : undefined);
    if (run.watched) return this.terminateRecovered(run, exit);
    this.terminateExited(run, exit);
  }

  /** As the exit says, unless a container limit (memory, disk) ended the task: then TASK_FAILED from the agent. */
  private terminateExited(run: TaskRun, exit: RawExit | undefined): void {
    const limited = this.isolation.limitationOnExit(run.containerId, run.metaDir, exit);
    if (limited) return this.terminate(run, limited, 'SOURCE_AGENT');
    this.terminate(run, terminalOutcome(exit, run.kill?.reason));
  }

  /** A container limit (memory, disk) ends the task: record why, then kill it at once, as Mesos destroys the container. */
  private killForLimitation(containerId: string, outcome: TerminalOutcome): void {
    for (const run of this.activeRuns()) {
      if (run.containerId !== containerId || run.terminal || run.pid === undefined) continue;
      this.isolation.limit(containerId, outcome);
      run.health?.stop();
      if (!run.watched || isSameLiveProcess(run.pid, run.startTime)) {
        if (signalGroup(run.pid, 'SIGKILL')) run.sigkilled = true;
      }
      this.isolation.killAll(containerId);
      if (run.info.container) this.deps.containerizer?.kill(containerId);
    }
  }

  /**
   * How a task that outlived an agent ended: as its exit says, unless it was killed because its agent did not
   * come back within --recovery-timeout (the watchdog, or this agent, left a marker) and not at its framework's
   * request. Only re-attached tasks can carry a marker, so launches never pay for the look-up.
   */
  private terminateRecovered(run: TaskRun, exit: RawExit | undefined): void {
    const marker = run.kill?.reason === 'kill' ? undefined : readRecoveryTimeoutMarker(run.metaDir);
    if (marker) return this.terminate(run, recoveryTimeoutOutcome(marker.timeout_ms), 'SOURCE_AGENT');
    this.terminateExited(run, exit);
  }

  /** All updates of a terminal task are acknowledged: keep it as completed and drop its checkpoint. */
  private complete(run: TaskRun): void {
    const fw = this.frameworks.get(run.frameworkId);
    if (!fw || fw.tasks.get(run.taskId) !== run) return;
    fw.tasks.delete(run.taskId);
    fw.completed.push(run);
    if (fw.completed.length > MAX_COMPLETED_PER_FRAMEWORK) fw.completed.shift();
    void run.journal.drain().then(() => removeRunMeta(run.metaDir));
  }

  // ---------------------------------------------------------------- health checks

  /**
   * Starts the task's Mesos-level health check (TaskInfo.health_check) once it runs. Health changes go out as
   * TASK_RUNNING updates with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; too many consecutive
   * failures kill the task with its kill policy. After a restart the health last reported is the baseline.
   */
  private startHealthChecks(run: TaskRun): void {
    if (run.info.health_check === undefined || run.health || run.terminal || run.kill || this.closed) return;
    const parsed = parseHealthCheck(run.info.health_check);
    if ('error' in parsed) {
      // Validated at launch; a checkpoint from elsewhere could still carry a bad one.
      this.deps.log.warn('not health-checking a task with an invalid health check', { task: run.taskId, error: parsed.error });
      return;
    }
    const { config } = parsed;
    let lastReported: boolean | undefined;
    for (let i = run.statuses.length - 1; i >= 0 && lastReported === undefined; i--) lastReported = run.statuses[i]!.healthy;
    const ctx = config.target.type === 'COMMAND' ? (run.launchEnv ?? this.recoveredEnv(run)) : { env: {} };
    run.health = new HealthChecker({
      clock: this.deps.clock,
      log: this.deps.log,
      taskId: run.taskId,
      config,
      startedAt: run.launchedAt,
      lastReported,
      probe: probeFor(config.target, { cwd: run.directory, ...ctx }),
      onChange: (healthy, message) => this.healthChanged(run, healthy, message),
      onKill: () => this.requestKill(run, 'health_check', this.graceMs(run)),
    });
    run.health.start();
  }

  /** The environment of a re-attached task, rebuilt as it was launched. */
  private recoveredEnv(run: TaskRun): { env: Record<string, string>; uid?: number; gid?: number } {
    const who = this.isolation.taskUser(run.user);
    const u = 'user' in who ? who.user : undefined;
    const env = this.taskEnv(run, u ? { name: u.name, home: u.home } : undefined);
    return { env, ...(u ? { uid: u.uid, gid: u.gid } : {}) };
  }

  private healthChanged(run: TaskRun, healthy: boolean, message: string): void {
    if (run.terminal || run.kill || this.closed) return;
    const status = this.status(run, 'TASK_RUNNING', {
      reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
      healthy,
      ...(healthy ? {} : { message }),
    });
    void this.emit(run, [status]);
  }

  // ---------------------------------------------------------------- kill

  killTask(frameworkId: string, taskId: string, policy?: KillPolicy): KillTaskResult {
    const run = this.frameworks.get(frameworkId)?.tasks.get(taskId);
    if (!run) return 'unknown';
    if (run.terminal) return 'already-terminal';
    this.requestKill(run, 'kill', this.graceMs(run, policy));
    return 'killing';
  }

  /** Mesos answers a kill for a task it never had with a terminal update, so the master can forget it. */
  reportUnknownTask(frameworkId: string, taskId: string): void {
    const info = this.frameworks.get(frameworkId)?.info;
    const partitionAware = info ? hasCapability(info, 'PARTITION_AWARE') : false;
    const agentId = this.deps.agentId() ?? '';
    const status: TaskStatus = {
      task_id: { value: taskId },
      state: partitionAware ? 'TASK_GONE' : 'TASK_LOST',
      source: 'SOURCE_AGENT',
      reason: 'REASON_TASK_UNKNOWN',
      message: 'Cannot kill the task: it is unknown to this agent',
      agent_id: { value: agentId },
      timestamp: this.deps.clock.now() / 1000,
      uuid: newUpdateUuid(this.deps.ids),
    };
    this.countTerminal(status.state);
    void this.sum.update(frameworkId, taskId, [status]);
  }

  private graceMs(run: TaskRun, policy?: KillPolicy): number {
    return nsToMs(policy?.grace_period?.nanoseconds) ?? nsToMs(run.info.kill_policy?.grace_period?.nanoseconds) ?? DEFAULT_GRACE_MS;
  }

  private requestKill(run: TaskRun, reason: KillReason, graceMs: number): void {
    if (run.terminal) return;
    run.health?.stop(); // a task being killed is no longer health-checked
    const now = this.deps.clock.now();
    if (run.kill) {
      // Already killing: a shorter grace period escalates.
      const remaining = run.kill.at + run.kill.graceMs - now;
      if (run.pid !== undefined && graceMs < remaining) {
        run.kill.graceMs = now - run.kill.at + graceMs;
        this.scheduleSigkill(run);
      }
      return;
    }
    run.kill = { reason, graceMs, at: now };
    if (run.pid !== undefined) this.startKill(run);
    else this.fetching.get(run)?.abort();
    // else: the launch is in progress and checks run.kill before and after spawning.
  }

  private startKill(run: TaskRun): void {
    const k = run.kill!;
    const recorded = run.journal.append([{ type: 'KILL', reason: k.reason, grace_ms: k.graceMs, at: k.at }]);
    const fw = this.frameworks.get(run.frameworkId);
    if ((k.reason === 'kill' || k.reason === 'health_check') && fw && hasCapability(fw.info, 'TASK_KILLING_STATE')) this.emit(run, [this.status(run, 'TASK_KILLING')]);
    // Signal once the request is durable, so a restarted agent reports TASK_KILLED, not TASK_FAILED.
    recorded.catch(() => undefined).then(() => this.signal(run, 'SIGTERM'));
  }

  private signal(run: TaskRun, sig: NodeJS.Signals): void {
    if (run.terminal || run.pid === undefined) return;
    if (run.watched && !isSameLiveProcess(run.pid, run.startTime)) return; // the exit watcher will notice
    if (signalGroup(run.pid, sig) && sig === 'SIGKILL') run.sigkilled = true;
    // SIGTERM reaches a container through its `runc run` (in the group); SIGKILL ends that process at once.
    if (sig === 'SIGKILL' && run.info.container) this.deps.containerizer?.kill(run.containerId);
    if (sig === 'SIGTERM') this.scheduleSigkill(run);
  }

  private scheduleSigkill(run: TaskRun): void {
    run.killTimer?.cancel();
    const k = run.kill!;
    const delay = Math.max(0, k.at + k.graceMs - this.deps.clock.now());
    run.killTimer = this.deps.clock.setTimeout(() => this.signal(run, 'SIGKILL'), delay);
  }

  private armDeadline(run: TaskRun): void {
    const ms = nsToMs(run.info.max_completion_time?.nanoseconds);
    if (ms === undefined) return;
    const delay = Math.max(0, run.launchedAt + ms - this.deps.clock.now());
    run.deadlineTimer = this.deps.clock.setTimeout(() => this.requestKill(run, 'max_completion_time', this.graceMs(run)), delay);
  }

  shutdownFramework(frameworkId: string): void {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return;
    fw.shuttingDown = true;
    this.sum.removeFramework(frameworkId);
    for (const run of [...fw.tasks.values()]) {
      if (run.terminal) this.complete(run);
      else this.requestKill(run, 'shutdown', this.graceMs(run));
    }
  }

  acknowledge(frameworkId: string, taskId: string, uuid: string): ReturnType<StatusUpdateManager['acknowledge']> {
    return this.sum.acknowledge(frameworkId, taskId, uuid);
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Re-attaches to checkpointed tasks: live processes (same pid and start time) are watched again; tasks
   * whose process ended while the agent was down get their terminal update from the wrapper's exit status.
   * `recoveryTimedOut`: the previous agent stayed away longer than its --recovery-timeout, and live tasks are
   * killed as its watchdog would have (in case the watchdog died too).
   */
  recover(
    frameworks: RecoveredFramework[],
    opts: { agentId: string; rebooted: boolean; recoveryTimedOut?: { timeoutMs: number; goneSince: number } },
  ): { orphansKilled: number } {
    const orphansKilled = opts.rebooted ? 0 : killOrphans(this.deps.workDir, knownExitPaths(frameworks), this.deps.log);
    for (const rf of frameworks) {
      const info = { ...rf.info, id: { value: rf.id } };
      const fw = this.framework(info);
      for (const rr of rf.runs) {
        const cp = rr.checkpoint;
        const run = this.newRun(fw, cp.task, cp.container_id, opts.agentId);
        run.metaDir = rr.metaDir;
        run.journal = new Journal(path.join(rr.metaDir, UPDATES_FILE));
        run.directory = cp.directory;
        run.launchedAt = cp.launched_at;
        run.user = cp.user;
        run.gpus = this.gpus.reclaim(cp.gpus ?? []);
        const replay = replayJournal(rr.records);
        run.statuses = replay.statuses.slice(-MAX_STATUSES_KEPT);
        run.state = replay.statuses.at(-1)?.state ?? 'TASK_STAGING';
        if (replay.kill) run.kill = { reason: replay.kill.reason, graceMs: replay.kill.grace_ms, at: replay.kill.at };
        fw.tasks.set(run.taskId, run);
        if (replay.unacked.length) this.sum.recover(fw.id, run.taskId, replay.unacked, run.journal);
        if (isTerminalState(run.state)) {
          run.terminal = true;
          run.markTerminated();
          this.releaseGpus(run);
          this.isolation.destroyRecovered(cp.isolation);
          if (cp.task.container) this.deps.containerizer?.destroy(cp.container_id);
          if (!replay.unacked.length) this.complete(run);
          continue;
        }
        this.isolation.recover({ containerId: run.containerId, checkpoint: cp.isolation, resources: run.resources, sandbox: run.directory, metaDir: run.metaDir });
        if (cp.task.container) this.deps.containerizer?.recover(run.containerId);
        this.reattach(fw, run, replay.pid, rr.exitStatus, opts.rebooted, opts.recoveryTimedOut);
        this.deps.appMetrics?.recover(run);
      }
    }
    return { orphansKilled };
  }

  private reattach(
    fw: FrameworkEntry,
    run: TaskRun,
    pid: { pid: number; startTime?: string } | undefined,
    exit: RawExit | undefined,
    rebooted: boolean,
    timedOut?: { timeoutMs: number; goneSince: number },
  ): void {
    const exitPath = path.join(run.metaDir, EXIT_STATUS_FILE);
    if (!pid && !rebooted && exit === undefined) {
      // Crashed between spawn and the PID record? The wrapper carries its exit-status path as an argument.
      const found = findPidsByArgument(exitPath);
      if (found.length === 1) {
        pid = { pid: found[0]!, startTime: processStartTime(found[0]!) };
        void run.journal.append([{ type: 'PID', pid: pid.pid, ...(pid.startTime ? { start_time: pid.startTime } : {}) }]).catch(() => undefined);
      }
    }
    const partitionAware = hasCapability(fw.info, 'PARTITION_AWARE');
    if (pid && !rebooted && isSameLiveProcess(pid.pid, pid.startTime)) {
      run.pid = pid.pid;
      run.startTime = pid.startTime;
      run.watched = true;
      if (run.state === 'TASK_STAGING') this.emit(run, [this.status(run, 'TASK_STARTING'), this.status(run, 'TASK_RUNNING')]);
      else if (run.state === 'TASK_STARTING') this.emit(run, [this.status(run, 'TASK_RUNNING')]);
      this.armDeadline(run);
      if (run.kill) this.signal(run, 'SIGTERM');
      this.exits.watch(run as TaskRun & { pid: number });
      if (timedOut && !run.kill) return this.killForRecoveryTimeout(run, timedOut);
      if (!run.kill) this.startHealthChecks(run);
      return;
    }
    run.pid = pid?.pid;
    exit ??= readExitStatus(exitPath);
    if (!pid && exit === undefined) {
      return this.terminate(
        run,
        {
          state: partitionAware ? 'TASK_DROPPED' : 'TASK_LOST',
          message: 'The agent restarted while launching the task; it never ran',
          reason: 'REASON_AGENT_RESTARTED',
        },
        'SOURCE_AGENT',
      );
    }
    if (exit === undefined && rebooted) {
      return this.terminate(
        run,
        { state: partitionAware ? 'TASK_GONE' : 'TASK_LOST', message: 'The host rebooted while the task ran', reason: 'REASON_AGENT_RESTARTED' },
        'SOURCE_AGENT',
      );
    }
    this.terminateRecovered(run, exit);
  }

  /** The marker first (as the watchdog does), so that the exit is reported as the timeout's even after a crash. */
  private killForRecoveryTimeout(run: TaskRun, t: { timeoutMs: number; goneSince: number }): void {
    this.deps.log.warn('the previous agent did not recover within its --recovery-timeout: killing a task it left running', {
      task: run.taskId,
      pid: run.pid,
    });
    try {
      writeRecoveryTimeoutMarker(run.metaDir, { reason: 'recovery_timeout', timeout_ms: t.timeoutMs, agent_gone_since: t.goneSince, killed_at: this.deps.clock.now(), by: 'agent' });
    } catch (e) {
      this.deps.log.warn('could not record why the task is killed', { task: run.taskId, error: (e as Error).message });
    }
    this.requestKill(run, 'shutdown', this.graceMs(run));
  }

  // ---------------------------------------------------------------- views

  latestState(frameworkId: string, taskId: string): TaskState | undefined {
    return this.frameworks.get(frameworkId)?.tasks.get(taskId)?.state;
  }

  *activeRuns(): Generator<TaskRun> {
    for (const fw of this.frameworks.values()) for (const run of fw.tasks.values()) yield run;
  }

  /** The other tasks of this agent that hold their resources (ports) now. */
  private *liveRunsBesides(self: TaskRun): Generator<TaskRun> {
    for (const run of this.activeRuns()) if (run !== self && !run.terminal) yield run;
  }

  /** Mesos's /monitor/statistics: one entry per live container with its limits and usage. */
  containerStatistics(): { executor_id: string; executor_name: string; framework_id: string; source: string; statistics: ResourceStatistics }[] {
    const out = [];
    for (const run of this.activeRuns()) {
      if (run.terminal) continue;
      const statistics = this.isolation.statistics(run.containerId);
      if (statistics) out.push({ executor_id: run.executorId, executor_name: `Command Executor (Task: ${run.taskId})`, framework_id: run.frameworkId, source: run.taskId, statistics });
    }
    return out;
  }

  /** Isolation's counters for /metrics/snapshot. */
  isolationMetrics(): Record<string, number> {
    return { 'containerizer/mesos/container_destroy_errors': this.isolation.destroyErrors, ...this.deps.containerizer?.metrics() };
  }

  usedResources(): Resources {
    let used = emptyResources();
    for (const run of this.activeRuns()) if (!run.terminal) used = addResources(used, run.resources);
    return used;
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * killTasks: SIGTERM every task (SIGKILL after its grace period), wait until each terminal update is
   * checkpointed, then until the master has accepted them (bounded by closeFlushMs). Otherwise stop like a
   * crash: processes keep running and timers (health checks included) are dropped.
   */
  /** Does any task process still run (a run that has not reached a terminal state)? */
  hasLiveTasks(): boolean {
    for (const run of this.activeRuns()) if (!run.terminal) return true;
    return false;
  }

  async close(killTasks: boolean): Promise<void> {
    for (const run of this.activeRuns()) run.health?.stop();
    if (killTasks) {
      const runs = [...this.activeRuns()];
      for (const run of runs) if (!run.terminal) this.requestKill(run, 'shutdown', this.graceMs(run));
      await Promise.all(runs.map((r) => r.terminated));
      // Hand the terminal updates to the master now (it forwards them to the frameworks), without waiting
      // for acknowledgements; they stay checkpointed, so a restarted agent sends them again.
      await this.sum.flush(this.deps.closeFlushMs ?? 2000);
    }
    this.closed = true;
    for (const ac of this.fetching.values()) ac.abort();
    this.exits.stop();
    this.sum.stop();
    const runs = [...this.activeRuns()];
    for (const run of runs) {
      run.health?.stop();
      run.killTimer?.cancel();
      run.deadlineTimer?.cancel();
    }
    await Promise.all(runs.map((r) => r.journal.drain()));
    await this.isolation.stop();
    await this.deps.containerizer?.stop();
  }

  /**
   * The agent got a new identity: whatever ran under the old one is killed (SIGKILL, now) and forgotten,
   * updates included. The caller removes the old checkpoint.
   */
  reset(): void {
    for (const fw of this.frameworks.values()) {
      this.sum.removeFramework(fw.id);
      for (const run of fw.tasks.values()) {
        run.health?.stop();
        run.killTimer?.cancel();
        run.deadlineTimer?.cancel();
        if (!run.terminal && run.pid !== undefined && (!run.watched || isSameLiveProcess(run.pid, run.startTime))) signalGroup(run.pid, 'SIGKILL');
        this.isolation.destroy(run.containerId);
        if (run.info.container) this.deps.containerizer?.destroy(run.containerId);
        this.fetching.get(run)?.abort();
        run.terminal = true;
        run.markTerminated();
      }
    }
    this.frameworks.clear();
    this.exits.clear();
    this.gpus.reset();
  }

  /** After SHUTDOWN from the master: kill everything, then forget it (the caller removes the checkpoint). */
  async killAllAndForget(): Promise<void> {
    for (const fw of this.frameworks.values()) fw.shuttingDown = true;
    this.sum.stop();
    await this.close(true);
  }
}

