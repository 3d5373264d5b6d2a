// cgroup v2: one unified directory per task, <mount>/<root>/<container id>. The controllers must be
// delegated down the tree (cgroup.subtree_control of every ancestor, the root cgroup included), and a
// cgroup with processes cannot delegate (the "no internal processes" rule): <root> only holds task cgroups.
import fs from 'node:fs';
import path from 'node:path';
import {
  killPids,
  liftCpuCap,
  readKeyed,
  readNumber,
  readPids,
  readText,
  removeDir,
  writeControl,
  type CgroupsCheckpoint,
  type CgroupsDriver,
  type CgroupStatistics,
} from './cgroups.ts';
import { v2Writes, type ContainerLimits } from './limits.ts';

export class CgroupsV2 implements CgroupsDriver {
  readonly version = 2 as const;

  constructor(
    private readonly mount: string,
    private readonly root: string,
    readonly controllers: ReadonlySet<'cpu' | 'memory' | 'pids'>,
  ) {}

  init(): void {
    const want = [...this.controllers];
    // Delegate down to <root>: the mount itself, each intermediate segment, then <root> for its children.
    let dir = this.mount;
    const chain = [dir];
    for (const seg of this.root.split('/')) {
      dir = path.join(dir, seg);
      fs.mkdirSync(dir, { recursive: true });
      chain.push(dir);
    }
    for (const d of chain) {
      const enabled = (readText(path.join(d, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/);
      const missing = want.filter((c) => !enabled.includes(c));
      if (missing.length) writeControl(d, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '));
    }
  }

  plan(containerId: string): CgroupsCheckpoint {
    return { version: 2, dirs: { unified: path.join(this.mount, this.root, containerId) } };
  }

  create(cg: CgroupsCheckpoint, limits: ContainerLimits): void {
    const dir = cg.dirs.unified!;
    fs.mkdirSync(dir);
    try {
      for (const w of v2Writes(limits, this.controllers)) {
        if (w.optional && !fs.existsSync(path.join(dir, w.file))) continue;
        writeControl(dir, w.file, w.value);
      }
    } catch (e) {
      removeDir(dir);
      throw e;
    }
  }

  procsFiles(cg: CgroupsCheckpoint): string[] {
    return [path.join(cg.dirs.unified!, 'cgroup.procs')];
  }

  oomKills(cg: CgroupsCheckpoint): number | undefined {
    if (!this.controllers.has('memory')) return undefined;
    return readKeyed(path.join(cg.dirs.unified!, 'memory.events'))?.oom_kill;
  }

  statistics(cg: CgroupsCheckpoint): CgroupStatistics {
    const dir = cg.dirs.unified!;
    const s: CgroupStatistics = {};
    const cpu = readKeyed(path.join(dir, 'cpu.stat'));
    if (cpu) {
      if (cpu.user_usec !== undefined) s.cpus_user_time_secs = cpu.user_usec / 1e6;
      if (cpu.system_usec !== undefined) s.cpus_system_time_secs = cpu.system_usec / 1e6;
      if (cpu.nr_periods !== undefined) s.cpus_nr_periods = cpu.nr_periods;
      if (cpu.nr_throttled !== undefined) s.cpus_nr_throttled = cpu.nr_throttled;
      if (cpu.throttled_usec !== undefined) s.cpus_throttled_time_secs = cpu.throttled_usec / 1e6;
    }
    const current = readNumber(path.join(dir, 'memory.current'));
    const peak = readNumber(path.join(dir, 'memory.peak'));
    const anon = readKeyed(path.join(dir, 'memory.stat'))?.anon;
    if (current !== undefined) s.mem_total_bytes = current;
    if (peak !== undefined) s.mem_max_bytes = peak;
    if (anon !== undefined) s.mem_rss_bytes = anon;
    const procs = readNumber(path.join(dir, 'pids.current'));
    if (procs !== undefined) s.processes = procs;
    return s;
  }

  pids(cg: CgroupsCheckpoint): number[] {
    return readPids(this.procsFiles(cg)[0]!);
  }

  killAll(cg: CgroupsCheckpoint): void {
    // Dying processes must not wait for CPU time (see CgroupsV1.killAll).
    if (this.controllers.has('cpu')) liftCpuCap(cg.dirs.unified!, 'cpu.max', 'max');
    // cgroup.kill (Linux 5.14+) kills atomically, forks in flight included.
    try {
      fs.writeFileSync(path.join(cg.dirs.unified!, 'cgroup.kill'), '1');
      return;
    } catch {
      killPids(this.pids(cg));
    }
  }

  remove(cg: CgroupsCheckpoint): boolean {
    return removeDir(cg.dirs.unified!);
  }

  exists(cg: CgroupsCheckpoint): boolean {
    return fs.existsSync(cg.dirs.unified!);
  }

  rootDirs(): string[] {
    return [path.join(this.mount, this.root)];
  }
}
