// Per-container usage from /proc, for what cgroups do not tell (process and thread counts) and for
// agents running without cgroups (CPU times and RSS of the task's processes). A task's processes are
// those of its process group or session (the wrapper leads both), plus, under cgroups, any process
// whose /proc/<pid>/cgroup names the container: one that left the group is still the task's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProcStat {
  pid: number;
  pgrp: number;
  session: number;
  /** Clock ticks, own and of waited-for children (which the wrapper reaps). */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  threads: number;
  /** Resident pages. */
  rss: number;
}

/** Parses /proc/<pid>/stat (the command may hold spaces and parentheses: fields start after the last ')'). */
export function parseProcStat(pid: number, text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Field 3 (state) is the first after ')'; f[i] is field i + 3.
  const f = text.slice(close + 2).trim().split(/\s+/);
  const n = (field: number) => Number(f[field - 3]);
  const stat: ProcStat = { pid, pgrp: n(5), session: n(6), utime: n(14), stime: n(15), cutime: n(16), cstime: n(17), threads: n(20), rss: n(24) };
  return Object.values(stat).every(Number.isFinite) ? stat : undefined;
}

let constants: { clkTck: number; pageSize: number } | undefined;

/** sysconf(_SC_CLK_TCK) and the page size, asked once (100 and 4096 where getconf is missing). */
export function procConstants(): { clkTck: number; pageSize: number } {
  if (!constants) {
    const ask = (name: string, dflt: number) => {
      try {
        const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim());
        return Number.isInteger(v) && v > 0 ? v : dflt;
      } catch {
        return dflt;
      }
    };
    constants = { clkTck: ask('CLK_TCK', 100), pageSize: ask('PAGESIZE', 4096) };
  }
  return constants;
}

/** Every process of this machine, as /proc shows it now (processes that vanish meanwhile are skipped). */
export function scanProcesses(procRoot = '/proc'): ProcStat[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot);
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = parseProcStat(Number(name), fs.readFileSync(`${procRoot}/${name}/stat`, 'utf8'));
      if (s) out.push(s);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export interface ProcessUsage {
  processes: number;
  threads: number;
  cpus_user_time_secs: number;
  cpus_system_time_secs: number;
  mem_rss_bytes: number;
}

export interface ContainerProcesses {
  containerId: string;
  /** The wrapper's pid: leader of the task's process group and session. */
  pid: number;
}

/**
 * Usage of each container's processes, by container id. `cgroupMember(pid, containerId)` says whether a
 * process outside the group is in the container's cgroup (omit it without cgroups).
 */
export function containerUsage(
  containers: readonly ContainerProcesses[],
  procs: readonly ProcStat[],
  o: { clkTck: number; pageSize: number; cgroupOf?: (pid: number) => string | undefined } = procConstants(),
): Map<string, ProcessUsage> {
  const byLeader = new Map<number, string>();
  for (const c of containers) byLeader.set(c.pid, c.containerId);
  const out = new Map<string, ProcessUsage>();
  const add = (containerId: string, p: ProcStat) => {
    let u = out.get(containerId);
    if (!u) out.set(containerId, (u = { processes: 0, threads: 0, cpus_user_time_secs: 0, cpus_system_time_secs: 0, mem_rss_bytes: 0 }));
    u.processes++;
    u.threads += p.threads;
    u.cpus_user_time_secs += (p.utime + p.cutime) / o.clkTck;
    u.cpus_system_time_secs += (p.stime + p.cstime) / o.clkTck;
    u.mem_rss_bytes += p.rss * o.pageSize;
  };
  for (const p of procs) {
    const id = byLeader.get(p.pgrp) ?? byLeader.get(p.session);
    if (id !== undefined) {
      add(id, p);
      continue;
    }
    if (!o.cgroupOf || p.pid <= 2) continue;
    // Only the agent's own containers can match: their ids are uuids, unlikely in any other cgroup path.
    const cg = o.cgroupOf(p.pid);
    if (cg === undefined) continue;
    for (const c of containers) if (cg.includes(`/${c.containerId}`)) add(c.containerId, p);
  }
  return out;
}

/** /proc/<pid>/cgroup (undefined when the process is gone). */
export function readProcCgroup(pid: number, procRoot = '/proc'): string | undefined {
  try {
    return fs.readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
}
