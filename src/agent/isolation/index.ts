// The agent's isolators (Mesos containerizer's --isolation): cgroups/cpu, cgroups/mem, cgroups/pids,
// namespaces/pid and disk/du, plus the task-user policy and the ports check. The task manager asks it to
// prepare a container before the launch, to explain an exit (a memory or disk limitation), and to destroy
// the container when the task ends. See docs/isolation.md.
import { UnavailableError } from '../../protocol/errors.ts';
import type { TaskInfo } from '../../protocol/mesos.ts';
import type { Resources } from '../../core/resources.ts';
import type { Clock, TimerHandle } from '../../runtime/clock.ts';
import type { Logger } from '../../runtime/log.ts';
import { normalizeExit, type RawExit, type TerminalOutcome } from '../exit-status.ts';
import { findOnPath } from '../gpus.ts';
import { lookupUser, type UserInfo } from '../users.ts';
import { destroyCgroups, detectLayout, sweepEmptyCgroups, type CgroupsCheckpoint, type CgroupsDriver, type CgroupStatistics } from './cgroups.ts';
import { CgroupsV1 } from './cgroups-v1.ts';
import { CgroupsV2 } from './cgroups-v2.ts';
import {
  checkCgroupsRoot,
  DEFAULT_CGROUPS_ROOT,
  DEFAULT_DISK_WATCH_INTERVAL_MS,
  DEFAULT_USER,
  parseIsolation,
  planIsolation,
  type IsolationEnvironment,
  type IsolatorName,
} from './config.ts';
import { containerArgv } from './container-argv.ts';
import { DiskWatcher, measureWithDu } from './disk-usage.ts';
import { diskLimitation, memoryLimitation, readLimitationMarker, writeLimitationMarker } from './limitations.ts';
import { DEFAULT_PIDS_MAX, limitsFor, MIB, type ContainerLimits } from './limits.ts';
import { portsProblem } from './ports.ts';
import { resolveTaskUser, type TaskUser } from './task-user.ts';

export { DEFAULT_ISOLATION, ISOLATORS, parseIsolation, type IsolatorName } from './config.ts';
export { DEFAULT_PIDS_MAX } from './limits.ts';

export interface IsolationOptions {
  /** Mesos --isolation, comma-separated (cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,disk/du). Default: DEFAULT_ISOLATION where possible. */
  isolation?: string;
  /** --cgroups-root: tasks' cgroups are <hierarchy>/<root>/<container id>. Default 'corral'. */
  cgroupsRoot?: string;
  /** --cgroups-enable-cfs: also cap CPU time at cpus × 100 ms per 100 ms (CFS quota). Default false. */
  cgroupsEnableCfs?: boolean;
  /** --cgroups-pids-max: pids.max of each task (processes and threads); 0 = unlimited. Default 4096. */
  cgroupsPidsMax?: number;
  /** --enforce-container-disk-quota: kill a task whose sandbox outgrows its `disk` (adds disk/du). */
  enforceContainerDiskQuota?: boolean;
  /** --container-disk-watch-interval, ms. Default 15 s. */
  containerDiskWatchIntervalMs?: number;
  /** --switch-user: run tasks as their command's/framework's user. */
  switchUser?: boolean;
  /** --default-user: with switchUser, the user of tasks that name none. Default 'nobody'. */
  defaultUser?: string;
  /** --allow-root-tasks: let a root agent run tasks whose user is root. Default false. */
  allowRootTasks?: boolean;
}

/** What task.json records about a task's isolation. */
export interface IsolationCheckpoint {
  cgroups?: CgroupsCheckpoint;
  pid_namespace?: boolean;
}

/** How to start a task's wrapper (see launcher.ts). */
export interface LaunchIsolation {
  /** cgroup.procs files the wrapper writes its own pid into before running anything. */
  cgroupProcs: string[];
  /** argv in front of the command (pid namespace, user switch). */
  prefix: string[];
  /** Spawn the wrapper itself as this user (no isolator needs a root wrapper). */
  spawnAs?: { uid: number; gid: number };
}

/** Mesos ResourceStatistics of one container (GET /monitor/statistics). */
export interface ResourceStatistics extends CgroupStatistics {
  timestamp: number;
  cpus_limit?: number;
  mem_limit_bytes?: number;
  disk_limit_bytes?: number;
  disk_used_bytes?: number;
}

interface Container {
  id: string;
  sandbox: string;
  metaDir: string;
  limits: ContainerLimits;
  cgroups?: CgroupsCheckpoint;
  diskUsedBytes?: number;
  /** Set when the agent kills the task over a limit (also in the run's limitation marker). */
  limitation?: TerminalOutcome;
}

export interface IsolationDeps {
  clock: Clock;
  log: Logger;
  /** Overrides the probe of this machine (tests). */
  environment?: IsolationEnvironment;
}

const SEARCH_PATH = `${process.env.PATH ?? ''}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`;
const ALL_CONTROLLERS = new Set(['cpu', 'memory', 'pids'] as const);
/** An empty task cgroup this old is a leftover (see sweepEmptyCgroups). */
const STALE_CGROUP_MS = 30_000;
/** How often live tasks' OOM counters are read (Mesos is notified by an eventfd; a small file read is enough). */
const OOM_POLL_MS = 500;

export function probeEnvironment(): IsolationEnvironment {
  const root = process.geteuid?.() === 0;
  let cgroups: IsolationEnvironment['cgroups'];
  try {
    cgroups = detectLayout() ?? { error: 'no cgroup hierarchy offers the cpu, memory or pids controller' };
  } catch (e) {
    cgroups = { error: `cannot read /proc/self/mountinfo: ${(e as Error).message}` };
  }
  return { root, cgroups, unshare: findOnPath('unshare', SEARCH_PATH), du: findOnPath('du', SEARCH_PATH) };
}

export class Isolation {
  /** Clean-ups that failed (cgroups that stayed): Mesos's containerizer/mesos/container_destroy_errors. */
  destroyErrors = 0;
  /**
   * Called when a task hit a limit (an OOM kill in its cgroup, disk/du over its quota): the task manager records
   * the reason (limit()) and kills the task, or does nothing if it has no process yet (the next check tries again).
   */
  onLimitation?: (containerId: string, outcome: TerminalOutcome) => void;
  private containers = new Map<string, Container>();
  private destroying = new Set<Promise<unknown>>();
  private disk?: DiskWatcher;
  private oomTimer?: TimerHandle;

  private constructor(
    readonly enabled: ReadonlySet<IsolatorName>,
    private readonly o: IsolationOptions & { cgroupsRoot: string; pidsMax: number; defaultUser: string },
    private readonly deps: IsolationDeps,
    private readonly driver: CgroupsDriver | undefined,
    private readonly tools: { unshare?: string; setpriv?: string; du?: string },
  ) {
    if (enabled.has('disk/du') && tools.du) {
      const du = tools.du;
      this.disk = new DiskWatcher({
        clock: deps.clock,
        log: deps.log,
        intervalMs: o.containerDiskWatchIntervalMs ?? DEFAULT_DISK_WATCH_INTERVAL_MS,
        measure: (dir) => measureWithDu(du, dir),
        onUsage: (id, bytes) => this.diskUsage(id, bytes),
      });
    }
  }

  /**
   * Probes the machine and sets the isolators up (root cgroups created, v2 controllers delegated). Refuses
   * (UnavailableError / ValidationError) when an isolator asked for explicitly cannot work; the default set
   * degrades, saying once what is left out and why.
   */
  static create(o: IsolationOptions, deps: IsolationDeps): Isolation {
    const cgroupsRoot = checkCgroupsRoot(o.cgroupsRoot ?? DEFAULT_CGROUPS_ROOT);
    const requested = o.isolation !== undefined ? parseIsolation(o.isolation) : undefined;
    const env = deps.environment ?? probeEnvironment();
    const plan = planIsolation(requested, env, { diskQuota: o.enforceContainerDiskQuota });
    const controllers = new Set<'cpu' | 'memory' | 'pids'>();
    if (plan.enabled.has('cgroups/cpu')) controllers.add('cpu');
    if (plan.enabled.has('cgroups/mem')) controllers.add('memory');
    if (plan.enabled.has('cgroups/pids')) controllers.add('pids');
    let driver: CgroupsDriver | undefined;
    if (controllers.size && !('error' in env.cgroups)) {
      const layout = env.cgroups;
      driver = layout.version === 1 ? new CgroupsV1(layout.mounts, cgroupsRoot, controllers) : new CgroupsV2(layout.mount, cgroupsRoot, controllers);
      try {
        driver.init();
        // Wall-clock time on purpose: it is compared with the directories' mtimes.
        const swept = sweepEmptyCgroups(driver, Date.now(), STALE_CGROUP_MS);
        if (swept) deps.log.info('removed empty task cgroups left behind by tasks that ended with no agent around', { count: swept });
      } catch (e) {
        const why = `cannot set up the '${cgroupsRoot}' cgroups: ${(e as Error).message}`;
        if (requested) throw new UnavailableError(`cgroups isolators cannot run on this machine: ${why}`);
        for (const name of [...plan.enabled]) if (name.startsWith('cgroups/')) (plan.enabled.delete(name), plan.skipped.push({ name, why }));
        driver = undefined;
      }
    }
    if (plan.skipped.length)
      deps.log.warn('running tasks without some isolators', { skipped: plan.skipped.map((s) => `${s.name}: ${s.why}`) });
    deps.log.info('isolation', { isolators: [...plan.enabled].join(',') || 'none', ...(driver ? { cgroups: `v${driver.version}`, cgroups_root: cgroupsRoot } : {}) });
    const tools = { unshare: env.unshare, du: env.du, setpriv: findOnPath('setpriv', SEARCH_PATH) };
    const settings = {
      cgroupsRoot,
      pidsMax: o.cgroupsPidsMax ?? DEFAULT_PIDS_MAX,
      defaultUser: o.defaultUser ?? DEFAULT_USER,
      cgroupsEnableCfs: o.cgroupsEnableCfs,
      enforceContainerDiskQuota: o.enforceContainerDiskQuota,
      containerDiskWatchIntervalMs: o.containerDiskWatchIntervalMs,
      switchUser: o.switchUser,
      allowRootTasks: o.allowRootTasks,
    };
    return new Isolation(plan.enabled, settings, deps, driver, tools);
  }

  /** No isolator at all (a task manager built without one). */
  static none(deps: IsolationDeps, o: Pick<IsolationOptions, 'switchUser' | 'defaultUser' | 'allowRootTasks'> = {}): Isolation {
    return new Isolation(new Set(), { ...o, cgroupsRoot: DEFAULT_CGROUPS_ROOT, pidsMax: 0, defaultUser: o.defaultUser ?? DEFAULT_USER }, deps, undefined, {});
  }

  /** The isolation part of the agent's /flags (Mesos's names). */
  flags(): Record<string, string> {
    return {
      isolation: [...this.enabled].join(','),
      cgroups_root: this.o.cgroupsRoot,
      cgroups_enable_cfs: String(this.o.cgroupsEnableCfs ?? false),
      cgroups_pids_max: String(this.o.pidsMax),
      enforce_container_disk_quota: String(this.o.enforceContainerDiskQuota ?? false),
      container_disk_watch_interval: `${this.o.containerDiskWatchIntervalMs ?? DEFAULT_DISK_WATCH_INTERVAL_MS}ms`,
      default_user: this.o.defaultUser,
      allow_root_tasks: String(this.o.allowRootTasks ?? false),
      ...(this.driver ? { cgroups_version: String(this.driver.version) } : {}),
    };
  }

  // ---------------------------------------------------------------- launch

  /** The user a task runs as (see task-user.ts). */
  taskUser(requested: string | undefined): TaskUser {
    return resolveTaskUser(
      requested,
      { switchUser: this.o.switchUser ?? false, defaultUser: this.o.defaultUser, allowRootTasks: this.o.allowRootTasks ?? false, agentUid: process.geteuid?.() ?? 0 },
      (name) => lookupUser(name),
    );
  }

  portsProblem(task: TaskInfo, running: Iterable<{ taskId: string; info: TaskInfo }>): string | undefined {
    return portsProblem(task, running);
  }

  /** What task.json will record (pure: the cgroup paths are derived from the container id). */
  plan(containerId: string): IsolationCheckpoint | undefined {
    const pidNs = this.enabled.has('namespaces/pid');
    if (!this.driver && !pidNs) return undefined;
    return { ...(this.driver ? { cgroups: this.driver.plan(containerId) } : {}), ...(pidNs ? { pid_namespace: true } : {}) };
  }

  /**
   * Creates the task's cgroups with its limits and starts watching its sandbox. Throws with the reason when
   * the container cannot be set up (the launch fails; nothing was started).
   */
  prepare(i: { containerId: string; checkpoint: IsolationCheckpoint | undefined; resources: Resources; sandbox: string; metaDir: string; user?: UserInfo }): LaunchIsolation {
    const limits = limitsFor(i.resources, { cfs: this.o.cgroupsEnableCfs ?? false, pidsMax: this.o.pidsMax });
    const cg = i.checkpoint?.cgroups;
    if (cg) this.driver!.create(cg, limits);
    const pidNamespace = i.checkpoint?.pid_namespace ?? false;
    // Joining a cgroup and creating a namespace need root: the wrapper stays root and the switch to the
    // task's user happens in front of the command.
    const rootWrapper = cg !== undefined || pidNamespace;
    const user = i.user ? { uid: i.user.uid, gid: i.user.gid } : undefined;
    let prefix: string[];
    try {
      prefix = containerArgv({ pidNamespace, unshare: this.tools.unshare, setpriv: this.tools.setpriv, ...(rootWrapper ? { user } : {}) });
    } catch (e) {
      if (cg) void this.destroyCgroups(cg);
      throw e;
    }
    this.register({ id: i.containerId, sandbox: i.sandbox, metaDir: i.metaDir, limits, ...(cg ? { cgroups: cg } : {}) });
    return { cgroupProcs: cg ? this.driver!.procsFiles(cg) : [], prefix, ...(!rootWrapper && user ? { spawnAs: user } : {}) };
  }

  /** A task re-attached after an agent restart: its cgroups (as checkpointed) and sandbox are watched again. */
  recover(i: { containerId: string; checkpoint: IsolationCheckpoint | undefined; resources: Resources; sandbox: string; metaDir: string }): void {
    const limits = limitsFor(i.resources, { cfs: this.o.cgroupsEnableCfs ?? false, pidsMax: this.o.pidsMax });
    const cg = i.checkpoint?.cgroups;
    if (cg && !this.driverFor(cg).exists(cg)) this.deps.log.debug('a recovered task has no cgroups any more (ended, or the host rebooted)', { container: i.containerId });
    this.register({ id: i.containerId, sandbox: i.sandbox, metaDir: i.metaDir, limits, ...(cg ? { cgroups: cg } : {}) });
  }

  private register(c: Container): void {
    this.containers.set(c.id, c);
    this.disk?.add(c.id, c.sandbox);
    if (c.cgroups && c.limits.memBytes !== undefined) this.oomTimer ??= this.deps.clock.setInterval(() => this.checkOoms(), OOM_POLL_MS);
  }

  /**
   * An OOM kill in a task's cgroup ends the task, as Mesos destroys the container on its memory limitation:
   * what is left of a task that lost a process to the OOM killer is killed too, and killing it also lifts a CPU
   * cap under which the victim could otherwise take very long to exit.
   */
  private checkOoms(): void {
    let watched = 0;
    for (const c of this.containers.values()) {
      if (!c.cgroups || c.limits.memBytes === undefined) continue;
      watched++;
      if (c.limitation) continue;
      const driver = this.driverFor(c.cgroups);
      if (!driver.oomKills(c.cgroups)) continue;
      this.onLimitation?.(c.id, memoryLimitation(c.limits.memMb, c.limits.memBytes, driver.statistics(c.cgroups).mem_max_bytes));
    }
    if (!watched) {
      this.oomTimer?.cancel();
      this.oomTimer = undefined;
    }
  }

  // ---------------------------------------------------------------- limits

  /**
   * Why the task ended, when a container limit ended it: the agent killed it over its disk quota (in memory,
   * or the marker left before a restart), or the kernel OOM-killed a process of it and it did not succeed.
   * Read before destroy(): the OOM counter goes with the cgroup.
   */
  limitationOnExit(containerId: string, metaDir: string, exit: RawExit | undefined): TerminalOutcome | undefined {
    const c = this.containers.get(containerId);
    const marked = c?.limitation ?? readLimitationMarker(metaDir);
    if (marked) return marked;
    if (!c?.cgroups || c.limits.memBytes === undefined) return undefined;
    const n = exit ? normalizeExit(exit) : undefined;
    if (n && 'code' in n && n.code === 0) return undefined;
    const driver = this.driverFor(c.cgroups);
    if (!driver.oomKills(c.cgroups)) return undefined;
    return memoryLimitation(c.limits.memMb, c.limits.memBytes, driver.statistics(c.cgroups).mem_max_bytes);
  }

  private diskUsage(containerId: string, bytes: number): void {
    const c = this.containers.get(containerId);
    if (!c) return;
    c.diskUsedBytes = bytes;
    const limitMb = c.limits.diskMb;
    if (!this.o.enforceContainerDiskQuota || limitMb === undefined || c.limitation || bytes <= limitMb * MIB) return;
    this.onLimitation?.(containerId, diskLimitation(limitMb, bytes));
  }

  /** Records that a limit ends this task (before the task manager kills it), so its exit is reported as such. */
  limit(containerId: string, outcome: TerminalOutcome): void {
    const c = this.containers.get(containerId);
    if (!c || c.limitation) return;
    c.limitation = outcome;
    this.deps.log.warn('a task exceeded a container limit: killing it', { container: containerId, reason: outcome.reason, message: outcome.message });
    try {
      // Not fsynced: it only has to outlive an agent crash, and a host crash ends the task anyway.
      writeLimitationMarker(c.metaDir, outcome);
    } catch (e) {
      this.deps.log.warn('could not record why the task is killed', { container: containerId, error: (e as Error).message });
    }
  }

  // ---------------------------------------------------------------- teardown

  /** SIGKILLs every process in the task's cgroups (processes that left its process group included). */
  killAll(containerId: string): void {
    const cg = this.containers.get(containerId)?.cgroups;
    if (cg) this.driverFor(cg).killAll(cg);
  }

  /** The task ended: forget it, kill what is left in its cgroups and remove them (in the background). */
  destroy(containerId: string): void {
    const c = this.containers.get(containerId);
    if (!c) return;
    this.containers.delete(containerId);
    this.disk?.remove(containerId);
    if (c.cgroups) void this.destroyCgroups(c.cgroups);
  }

  /** Removes the cgroups of a task that was already over when the agent restarted (or killed by --recover cleanup). */
  destroyRecovered(checkpoint: IsolationCheckpoint | undefined): void {
    if (checkpoint?.cgroups) void this.destroyCgroups(checkpoint.cgroups);
  }

  private destroyCgroups(cg: CgroupsCheckpoint): Promise<void> {
    const p = destroyCgroups(this.driverFor(cg), cg, this.deps.clock)
      .catch((e: unknown) => {
        this.deps.log.warn('removing a task cgroup failed', { error: (e as Error).message });
        return false;
      })
      .then((ok) => {
        if (!ok) {
          this.destroyErrors++;
          this.deps.log.warn('a task cgroup could not be removed', { dirs: Object.values(cg.dirs) });
        }
      });
    this.destroying.add(p);
    void p.finally(() => this.destroying.delete(p));
    return p;
  }

  /** Stops watching (disk, OOM) and waits for clean-ups in flight (each bounded). */
  async stop(): Promise<void> {
    this.disk?.stop();
    this.oomTimer?.cancel();
    this.oomTimer = undefined;
    await Promise.all([...this.destroying]);
  }

  // ---------------------------------------------------------------- statistics

  statistics(containerId: string): ResourceStatistics | undefined {
    const c = this.containers.get(containerId);
    if (!c) return undefined;
    const l = c.limits;
    return {
      timestamp: this.deps.clock.now() / 1000,
      ...(l.cpus !== undefined ? { cpus_limit: l.cpus } : {}),
      ...(l.memBytes !== undefined ? { mem_limit_bytes: l.memBytes } : {}),
      ...(l.diskMb !== undefined ? { disk_limit_bytes: l.diskMb * MIB } : {}),
      ...(c.diskUsedBytes !== undefined ? { disk_used_bytes: c.diskUsedBytes } : {}),
      ...(c.cgroups ? this.driverFor(c.cgroups).statistics(c.cgroups) : {}),
    };
  }

  /** The driver that reads a checkpointed cgroup, even one made under other flags (recovery). */
  private driverFor(cg: CgroupsCheckpoint): CgroupsDriver {
    if (this.driver?.version === cg.version) return this.driver;
    return cg.version === 1 ? new CgroupsV1({}, '', ALL_CONTROLLERS) : new CgroupsV2('', '', ALL_CONTROLLERS);
  }
}
