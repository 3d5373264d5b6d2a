// Per-task cgroups: the shape both hierarchies share, detection, and the clean-up loop.
//
// A task's cgroups are created (limits written) before its process exists; the task's wrapper shell
// writes its own pid into each cgroup.procs before it runs anything else, so no task code ever runs
// unconfined, and everything it forks is born inside. When the task ends, stragglers are killed through
// the cgroup (a process that left the task's process group or session is still in it) and the cgroups
// are removed.
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../runtime/clock.ts';
import { parseKeyedFile, type ContainerLimits } from './limits.ts';
import { detectCgroupLayout, parseMountinfo, type CgroupLayout, type Controller } from './mountinfo.ts';

/** What task.json records about a task's cgroups, so that a restarted agent finds them whatever its flags. */
export interface CgroupsCheckpoint {
  version: 1 | 2;
  /** v1: one directory per controller; v2: `unified`. */
  dirs: Partial<Record<Controller | 'unified', string>>;
}

/** Mesos ResourceStatistics fields a cgroup can tell. */
export interface CgroupStatistics {
  processes?: number;
  cpus_user_time_secs?: number;
  cpus_system_time_secs?: number;
  cpus_nr_periods?: number;
  cpus_nr_throttled?: number;
  cpus_throttled_time_secs?: number;
  mem_total_bytes?: number;
  mem_max_bytes?: number;
  mem_rss_bytes?: number;
}

export interface CgroupsDriver {
  readonly version: 1 | 2;
  /** Controllers this agent limits (the enabled cgroups/* isolators). */
  readonly controllers: ReadonlySet<'cpu' | 'memory' | 'pids'>;
  /** Creates the root cgroup(s) (and, on v2, delegates the controllers to it); throws with the reason. */
  init(): void;
  /** The task's cgroup directories (pure). */
  plan(containerId: string): CgroupsCheckpoint;
  /** mkdir + limits; on failure removes what it created and throws. */
  create(cg: CgroupsCheckpoint, limits: ContainerLimits): void;
  /** The cgroup.procs files the task's wrapper joins. */
  procsFiles(cg: CgroupsCheckpoint): string[];
  /** How many processes the kernel OOM-killed in the task's memory cgroup (undefined: not known). */
  oomKills(cg: CgroupsCheckpoint): number | undefined;
  statistics(cg: CgroupsCheckpoint): CgroupStatistics;
  /** Pids in any of the task's cgroups. */
  pids(cg: CgroupsCheckpoint): number[];
  /** SIGKILLs every process in the task's cgroups (v2: cgroup.kill where the kernel has it). */
  killAll(cg: CgroupsCheckpoint): void;
  /** Removes the cgroup directories; false while one still has processes (EBUSY). */
  remove(cg: CgroupsCheckpoint): boolean;
  exists(cg: CgroupsCheckpoint): boolean;
  /** The <hierarchy>/<root> directories task cgroups are made in. */
  rootDirs(): string[];
}

export const readText = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

export const readNumber = (file: string): number | undefined => {
  const t = readText(file)?.trim();
  return t !== undefined && /^\d+$/.test(t) ? Number(t) : undefined;
};

export const readKeyed = (file: string): Record<string, number> | undefined => {
  const t = readText(file);
  return t === undefined ? undefined : parseKeyedFile(t);
};

export function readPids(procsFile: string): number[] {
  const t = readText(procsFile);
  if (!t) return [];
  return t
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Removes a task's CPU cap before it is killed (best effort: the cgroup may be gone already). */
export function liftCpuCap(dir: string, file: string, unlimited: string): void {
  try {
    fs.writeFileSync(path.join(dir, file), unlimited);
  } catch {
    // gone, or no such file on this kernel
  }
}

/** rmdir, treating "already gone" as done; false on EBUSY (processes left). Other errors throw. */
export function removeDir(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY') return false;
    throw e;
  }
}

/** Writes a control file, saying which file and value failed (the kernel's EINVAL alone says nothing). */
export function writeControl(dir: string, file: string, value: string): void {
  try {
    fs.writeFileSync(path.join(dir, file), value);
  } catch (e) {
    throw new Error(`cannot write ${value} to ${path.join(dir, file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The layout of this machine (undefined when no cgroup hierarchy offers cpu, memory or pids). */
export function detectLayout(mountinfo = readText('/proc/self/mountinfo') ?? ''): CgroupLayout | undefined {
  return detectCgroupLayout(parseMountinfo(mountinfo), (mp) => readText(path.join(mp, 'cgroup.controllers')));
}

/** Valid --cgroups-root: relative path segments of safe characters, no "." or "..". */
export function validCgroupsRoot(root: string): boolean {
  return root.length > 0 && root.length <= 200 && root.split('/').every((s) => /^[A-Za-z0-9_.-]+$/.test(s) && s !== '.' && s !== '..');
}

/**
 * Kills what is left in a task's cgroups and removes them, retrying while processes die (a fork bomb bounded
 * by pids.max converges in a few rounds). Bounded by `deadlineMs`; resolves false if the cgroups stayed.
 */
export async function destroyCgroups(driver: CgroupsDriver, cg: CgroupsCheckpoint, clock: Clock, deadlineMs = 5000): Promise<boolean> {
  const start = clock.now();
  for (let round = 0; round < 1000; round++) {
    const left = driver.pids(cg);
    if (left.length) driver.killAll(cg);
    else if (driver.remove(cg)) return true;
    if (clock.now() - start > deadlineMs) return false;
    // Killed processes leave their cgroup when they exit, not when the signal is sent.
    await new Promise<void>((r) => clock.setTimeout(r, round < 5 ? 2 : 20));
  }
  return false;
}

/**
 * Removes task cgroups under the root that are empty and older than `minAgeMs`: left behind when tasks ended
 * with no agent around to clean up (an agent that never came back, a work dir wiped meanwhile). The age
 * keeps clear of another agent's launch in progress, whose cgroup is empty for the few ms before its
 * wrapper joins it. Returns how many directories were removed.
 */
export function sweepEmptyCgroups(driver: CgroupsDriver, nowMs: number, minAgeMs: number): number {
  let removed = 0;
  for (const root of driver.rootDirs()) {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(root, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const dir = path.join(root, e.name);
      try {
        if (nowMs - fs.statSync(dir).mtimeMs < minAgeMs || readPids(path.join(dir, 'cgroup.procs')).length) continue;
        if (removeDir(dir)) removed++;
      } catch {
        // raced with its owner, or not ours to remove
      }
    }
  }
  return removed;
}
