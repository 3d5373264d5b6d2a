// cgroup v1: one directory per hierarchy, <mount>/<root>/<container id>. cpuacct goes along with cpu (same
// directory when co-mounted, its own otherwise) for the usage statistics.
import fs from 'node:fs';
import path from 'node:path';
import {
  killPids,
  liftCpuCap,
  readKeyed,
  readNumber,
  readPids,
  removeDir,
  writeControl,
  type CgroupsCheckpoint,
  type CgroupsDriver,
  type CgroupStatistics,
} from './cgroups.ts';
import { v1Writes, type ContainerLimits } from './limits.ts';
import type { Controller } from './mountinfo.ts';

/** USER_HZ: cpuacct.stat counts in these ticks (100 on every Linux ABI). */
const USER_HZ = 100;

export class CgroupsV1 implements CgroupsDriver {
  readonly version = 1 as const;

  constructor(
    private readonly mounts: Partial<Record<Controller, string>>,
    private readonly root: string,
    readonly controllers: ReadonlySet<'cpu' | 'memory' | 'pids'>,
  ) {}

  /** The hierarchies used: each enabled controller, and cpuacct with cpu. */
  private used(): Controller[] {
    const out: Controller[] = [...this.controllers];
    if (this.controllers.has('cpu') && this.mounts.cpuacct) out.push('cpuacct');
    return out;
  }

  init(): void {
    for (const c of this.used()) {
      const dir = path.join(this.mounts[c]!, this.root);
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(path.join(dir, 'cgroup.procs'), fs.constants.W_OK);
    }
  }

  plan(containerId: string): CgroupsCheckpoint {
    const dirs: CgroupsCheckpoint['dirs'] = {};
    for (const c of this.used()) dirs[c] = path.join(this.mounts[c]!, this.root, containerId);
    return { version: 1, dirs };
  }

  create(cg: CgroupsCheckpoint, limits: ContainerLimits): void {
    // Co-mounted controllers (cpu,cpuacct) share a directory: create each once.
    const unique = [...new Set(Object.values(cg.dirs))];
    const made: string[] = [];
    try {
      for (const dir of unique) {
        fs.mkdirSync(dir);
        made.push(dir);
      }
      for (const w of v1Writes(limits, this.controllers)) {
        const dir = cg.dirs[w.controller]!;
        if (w.optional && !fs.existsSync(path.join(dir, w.file))) continue;
        writeControl(dir, w.file, w.value);
      }
    } catch (e) {
      for (const dir of made) removeDir(dir);
      throw e;
    }
  }

  procsFiles(cg: CgroupsCheckpoint): string[] {
    return [...new Set(Object.values(cg.dirs))].map((d) => path.join(d!, 'cgroup.procs'));
  }

  oomKills(cg: CgroupsCheckpoint): number | undefined {
    if (!cg.dirs.memory) return undefined;
    // oom_kill exists since Linux 4.13; without it, a task that hit its limit and died by SIGKILL is the best sign.
    const oom = readKeyed(path.join(cg.dirs.memory, 'memory.oom_control'));
    return oom?.oom_kill;
  }

  statistics(cg: CgroupsCheckpoint): CgroupStatistics {
    const s: CgroupStatistics = {};
    const d = cg.dirs;
    if (d.cpuacct) {
      const st = readKeyed(path.join(d.cpuacct, 'cpuacct.stat'));
      if (st?.user !== undefined) s.cpus_user_time_secs = st.user / USER_HZ;
      if (st?.system !== undefined) s.cpus_system_time_secs = st.system / USER_HZ;
    }
    if (d.cpu) {
      const st = readKeyed(path.join(d.cpu, 'cpu.stat'));
      if (st?.nr_periods !== undefined) s.cpus_nr_periods = st.nr_periods;
      if (st?.nr_throttled !== undefined) s.cpus_nr_throttled = st.nr_throttled;
      if (st?.throttled_time !== undefined) s.cpus_throttled_time_secs = st.throttled_time / 1e9;
    }
    if (d.memory) {
      const total = readNumber(path.join(d.memory, 'memory.usage_in_bytes'));
      const max = readNumber(path.join(d.memory, 'memory.max_usage_in_bytes'));
      const rss = readKeyed(path.join(d.memory, 'memory.stat'))?.total_rss;
      if (total !== undefined) s.mem_total_bytes = total;
      if (max !== undefined) s.mem_max_bytes = max;
      if (rss !== undefined) s.mem_rss_bytes = rss;
    }
    if (d.pids) {
      const n = readNumber(path.join(d.pids, 'pids.current'));
      if (n !== undefined) s.processes = n;
    }
    return s;
  }

  pids(cg: CgroupsCheckpoint): number[] {
    const all = new Set<number>();
    for (const f of this.procsFiles(cg)) for (const p of readPids(f)) all.add(p);
    return [...all];
  }

  killAll(cg: CgroupsCheckpoint): void {
    // A CFS-throttled cgroup can take seconds to let its killed processes exit (an OOM victim under a 0.1 cpu
    // quota was seen stuck): lift the cap first.
    if (cg.dirs.cpu) liftCpuCap(cg.dirs.cpu, 'cpu.cfs_quota_us', '-1');
    killPids(this.pids(cg));
  }

  remove(cg: CgroupsCheckpoint): boolean {
    let ok = true;
    for (const dir of new Set(Object.values(cg.dirs))) if (!removeDir(dir!)) ok = false;
    return ok;
  }

  exists(cg: CgroupsCheckpoint): boolean {
    return Object.values(cg.dirs).some((d) => fs.existsSync(d!));
  }

  rootDirs(): string[] {
    return [...new Set(this.used().map((c) => path.join(this.mounts[c]!, this.root)))];
  }
}
