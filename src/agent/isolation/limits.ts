// Pure limit arithmetic: what a task's resources become in cgroup files (Mesos's cgroups isolators'
// constants), for v1 and v2. The I/O lives in cgroups-v1.ts / cgroups-v2.ts.
import { collapseByName, type Resources } from '../../core/resources.ts';

export const CPU_SHARES_PER_CPU = 1024;
/** The kernel's minimum cpu.shares. */
export const MIN_CPU_SHARES = 2;
export const CPU_CFS_PERIOD_US = 100_000;
/** Mesos's MIN_CPU_CFS_QUOTA (1 ms): below it a task could barely run its shell. */
export const MIN_CPU_CFS_QUOTA_US = 1000;
/** Mesos's MIN_MEMORY: a smaller hard limit would OOM-kill the shell that starts the task. */
export const MIN_MEMORY_BYTES = 32 * 1024 * 1024;
/** Default pids.max per task (threads count too: a JVM or a Node process uses tens). */
export const DEFAULT_PIDS_MAX = 4096;
export const MIB = 1024 * 1024;

export interface ContainerLimits {
  /** The task's cpus (cpu.shares / cpu.weight; quota when cfs). */
  cpus?: number;
  /** Hard memory limit in bytes (after the MIN_MEMORY floor). */
  memBytes?: number;
  /** The task's `mem` in MB, as asked (messages). */
  memMb?: number;
  /** pids.max; undefined = unlimited. */
  pidsMax?: number;
  /** Enforce a CFS quota of cpus × period. */
  cfs: boolean;
  /** The task's `disk` in MB (disk/du). */
  diskMb?: number;
}

export function limitsFor(resources: Resources, o: { cfs: boolean; pidsMax: number }): ContainerLimits {
  // Reserved resources and volumes count under their plain names.
  const { scalars } = collapseByName(resources);
  const { cpus, mem, disk } = scalars;
  return {
    ...(cpus !== undefined && cpus > 0 ? { cpus } : {}),
    ...(mem !== undefined && mem > 0 ? { memMb: mem, memBytes: memoryLimitBytes(mem) } : {}),
    ...(o.pidsMax > 0 ? { pidsMax: o.pidsMax } : {}),
    ...(disk !== undefined && disk > 0 ? { diskMb: disk } : {}),
    cfs: o.cfs,
  };
}

export const cpuShares = (cpus: number): number => Math.max(MIN_CPU_SHARES, Math.floor(CPU_SHARES_PER_CPU * cpus));

export const cfsQuotaUs = (cpus: number): number => Math.max(MIN_CPU_CFS_QUOTA_US, Math.floor(CPU_CFS_PERIOD_US * cpus));

/** cgroup v2 cpu.weight (1..10000, default 100) from v1 shares (2..262144, default 1024), as runc/systemd map it. */
export const cpuWeight = (shares: number): number => Math.min(10_000, Math.max(1, Math.floor(1 + ((shares - 2) * 9999) / 262_142)));

/** Page-aligned, at least MIN_MEMORY. */
export function memoryLimitBytes(memMb: number): number {
  const bytes = Math.floor(memMb * MIB);
  return Math.max(MIN_MEMORY_BYTES, Math.ceil(bytes / 4096) * 4096);
}

/** One write into a cgroup control file; `optional` files may be missing (no swap accounting, old kernels). */
export interface CgroupWrite {
  controller: 'cpu' | 'memory' | 'pids';
  file: string;
  value: string;
  optional?: boolean;
}

export type EnabledControllers = ReadonlySet<'cpu' | 'memory' | 'pids'>;

/**
 * v1 writes, in order. The memory hard limit goes before memsw (the kernel requires memsw ≥ limit) and
 * memsw = limit turns swap off; the soft limit equals the hard one, as Mesos sets it.
 */
export function v1Writes(l: ContainerLimits, enabled: EnabledControllers): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  if (enabled.has('cpu') && l.cpus !== undefined) {
    w.push({ controller: 'cpu', file: 'cpu.shares', value: String(cpuShares(l.cpus)) });
    if (l.cfs) {
      w.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_CFS_PERIOD_US) });
      w.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(cfsQuotaUs(l.cpus)) });
    }
  }
  if (enabled.has('memory') && l.memBytes !== undefined) {
    w.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(l.memBytes) });
    w.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(l.memBytes), optional: true });
    w.push({ controller: 'memory', file: 'memory.soft_limit_in_bytes', value: String(l.memBytes) });
  }
  if (enabled.has('pids') && l.pidsMax !== undefined) w.push({ controller: 'pids', file: 'pids.max', value: String(l.pidsMax) });
  return w;
}

/** v2 writes. memory.swap.max=0 turns swap off; v2 has no soft limit that means anything when it equals the hard one. */
export function v2Writes(l: ContainerLimits, enabled: EnabledControllers): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  if (enabled.has('cpu') && l.cpus !== undefined) {
    w.push({ controller: 'cpu', file: 'cpu.weight', value: String(cpuWeight(cpuShares(l.cpus))) });
    if (l.cfs) w.push({ controller: 'cpu', file: 'cpu.max', value: `${cfsQuotaUs(l.cpus)} ${CPU_CFS_PERIOD_US}` });
  }
  if (enabled.has('memory') && l.memBytes !== undefined) {
    w.push({ controller: 'memory', file: 'memory.max', value: String(l.memBytes) });
    w.push({ controller: 'memory', file: 'memory.swap.max', value: '0', optional: true });
  }
  if (enabled.has('pids') && l.pidsMax !== undefined) w.push({ controller: 'pids', file: 'pids.max', value: String(l.pidsMax) });
  return w;
}

/** Parses "key value" lines (memory.oom_control, memory.events, cpu.stat, memory.stat). */
export function parseKeyedFile(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

export const formatMb = (bytes: number): string => {
  const mb = bytes / MIB;
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
};
