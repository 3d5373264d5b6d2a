// GET /metrics/snapshot: Mesos's slave/* gauges and counters, computed from the live state.
import os from 'node:os';
import type { Resources } from '../core/resources.ts';
import type { TaskManager } from './tasks.ts';

export interface MetricsInput {
  uptimeSeconds: number;
  registered: boolean;
  recoveryErrors: number;
  recoveryTimeSeconds?: number;
  total: Resources;
  used: Resources;
  tasks: TaskManager;
}

export function metricsSnapshot(i: MetricsInput): Record<string, number> {
  const gauges = { staging: 0, starting: 0, running: 0, killing: 0 };
  let executorsRunning = 0;
  let executorsTerminating = 0;
  const frameworksActive = new Set<string>();
  for (const run of i.tasks.activeRuns()) {
    if (run.terminal) continue;
    frameworksActive.add(run.frameworkId);
    if (run.pid !== undefined) executorsRunning++;
    if (run.kill && run.pid !== undefined) executorsTerminating++;
    if (run.state === 'TASK_STAGING') gauges.staging++;
    else if (run.state === 'TASK_STARTING') gauges.starting++;
    else if (run.state === 'TASK_RUNNING') gauges.running++;
    else if (run.state === 'TASK_KILLING') gauges.killing++;
  }
  const c = i.tasks.counters;
  const sum = i.tasks.sum.counters;
  const out: Record<string, number> = {
    'slave/uptime_secs': i.uptimeSeconds,
    'slave/registered': i.registered ? 1 : 0,
    'slave/recovery_errors': i.recoveryErrors,
    'slave/tasks_staging': gauges.staging,
    'slave/tasks_starting': gauges.starting,
    'slave/tasks_running': gauges.running,
    'slave/tasks_killing': gauges.killing,
    'slave/tasks_finished': c.finished,
    'slave/tasks_failed': c.failed,
    'slave/tasks_killed': c.killed,
    'slave/tasks_lost': c.lost,
    'slave/tasks_error': c.error,
    'slave/tasks_dropped': c.dropped,
    'slave/tasks_gone': c.gone,
    'slave/executors_registering': 0,
    'slave/executors_running': executorsRunning,
    'slave/executors_terminating': executorsTerminating,
    'slave/executors_terminated': c.executorsTerminated,
    'slave/executors_preempted': 0,
    'slave/container_launch_errors': c.launchErrors,
    'slave/frameworks_active': frameworksActive.size,
    'slave/valid_status_updates': sum.updates,
    'slave/invalid_status_updates': sum.unexpectedAcks,
    'slave/valid_framework_messages': 0,
    'slave/invalid_framework_messages': 0,
    'system/cpus_total': typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    'system/load_1min': os.loadavg()[0]!,
    'system/load_5min': os.loadavg()[1]!,
    'system/load_15min': os.loadavg()[2]!,
    'system/mem_total_bytes': os.totalmem(),
    'system/mem_free_bytes': os.freemem(),
  };
  if (i.recoveryTimeSeconds !== undefined) out['slave/recovery_time_secs'] = i.recoveryTimeSeconds;
  for (const name of ['cpus', 'mem', 'disk', 'gpus']) {
    const total = i.total.scalars[name] ?? 0;
    const used = i.used.scalars[name] ?? 0;
    out[`slave/${name}_total`] = total;
    out[`slave/${name}_used`] = used;
    out[`slave/${name}_percent`] = total > 0 ? used / total : 0;
    out[`slave/${name}_revocable_total`] = 0;
    out[`slave/${name}_revocable_used`] = 0;
    out[`slave/${name}_revocable_percent`] = 0;
  }
  return out;
}
