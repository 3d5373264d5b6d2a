// GET /monitor/statistics: Mesos's per-container ResourceStatistics. Limits, cgroup usage and disk come
// from the isolators (isolation/index.ts); /proc adds the process and thread counts, and CPU times and
// RSS where no cgroup measures them (an agent running without cgroups isolation).
import { namedFamily, type PromFamily, type PromSample } from '../metrics/prometheus.ts';
import type { ResourceStatistics } from './isolation/index.ts';
import { containerUsage, procConstants, readProcCgroup, scanProcesses } from './isolation/proc-stats.ts';
import type { TaskManager } from './tasks.ts';

export interface MonitorEntry {
  executor_id: string;
  executor_name: string;
  framework_id: string;
  source: string;
  statistics: ResourceStatistics & { threads?: number };
}

export interface MonitorOptions {
  /** Tasks are in cgroups: processes that left the task's process group are found through them. */
  cgroups: boolean;
}

export function monitorStatistics(tasks: TaskManager, o: MonitorOptions): MonitorEntry[] {
  const entries = tasks.containerStatistics() as MonitorEntry[];
  if (!entries.length) return entries;
  const runs = new Map<string, { containerId: string; pid: number }>();
  for (const run of tasks.activeRuns()) if (!run.terminal && run.pid !== undefined) runs.set(`${run.frameworkId}\0${run.taskId}`, { containerId: run.containerId, pid: run.pid });
  const usage = containerUsage([...runs.values()], scanProcesses(), {
    ...procConstants(),
    ...(o.cgroups ? { cgroupOf: (pid: number) => readProcCgroup(pid) } : {}),
  });
  for (const e of entries) {
    const run = runs.get(`${e.framework_id}\0${e.source}`);
    const u = run && usage.get(run.containerId);
    if (!u) continue;
    const s = e.statistics;
    // The pids controller counts threads; /proc tells processes and threads apart.
    s.processes = u.processes;
    s.threads = u.threads;
    s.cpus_user_time_secs ??= u.cpus_user_time_secs;
    s.cpus_system_time_secs ??= u.cpus_system_time_secs;
    s.mem_rss_bytes ??= u.mem_rss_bytes;
  }
  return entries;
}

const COUNTER_FIELDS = new Set(['cpus_user_time_secs', 'cpus_system_time_secs', 'cpus_nr_periods', 'cpus_nr_throttled', 'cpus_throttled_time_secs']);

/** /monitor/statistics as Prometheus families: `mesos_container_<field>` labelled by framework, executor and task. */
export function containerFamilies(entries: readonly MonitorEntry[]): PromFamily[] {
  const byField = new Map<string, PromSample[]>();
  for (const e of entries) {
    const labels = { framework_id: e.framework_id, executor_id: e.executor_id, task_id: e.source };
    for (const [field, value] of Object.entries(e.statistics)) {
      if (field === 'timestamp' || typeof value !== 'number') continue;
      let samples = byField.get(field);
      if (!samples) byField.set(field, (samples = []));
      samples.push({ labels, value });
    }
  }
  return [...byField].map(([field, samples]) =>
    namedFamily('mesos', `container_${field}`, COUNTER_FIELDS.has(field) ? 'counter' : 'gauge', `Per container (GET /monitor/statistics): ${field}`, samples),
  );
}
