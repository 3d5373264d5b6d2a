// GET /metrics/snapshot: Mesos's slave/* gauges and counters (mesos.md §4.2), computed from the live state.
import os from 'node:os';
import type { Resources } from '../core/resources.ts';
import { MetricSet, type MetricKind } from '../metrics/metric-set.ts';
import type { TaskManager } from './tasks.ts';

/** The agent's counters (everything else it reports is a gauge). */
const AGENT_COUNTERS: ReadonlySet<string> = new Set([
  'slave/tasks_finished',
  'slave/tasks_failed',
  'slave/tasks_killed',
  'slave/tasks_lost',
  'slave/tasks_error',
  'slave/tasks_dropped',
  'slave/tasks_gone',
  'slave/executors_terminated',
  'slave/executors_preempted',
  'slave/container_launch_errors',
  'slave/valid_status_updates',
  'slave/invalid_status_updates',
  'slave/valid_framework_messages',
  'slave/invalid_framework_messages',
  'containerizer/mesos/container_destroy_errors',
  'containerizer/fetcher/task_fetches_succeeded',
  'containerizer/fetcher/task_fetches_failed',
  'gc/path_removals_succeeded',
  'gc/path_removals_failed',
]);

export function agentKindOf(key: string): MetricKind {
  return AGENT_COUNTERS.has(key) ? 'counter' : 'gauge';
}

export interface MetricsInput {
  uptimeSeconds: number;
  registered: boolean;
  recoveryErrors: number;
  recoveryTimeSeconds?: number;
  total: Resources;
  used: Resources;
  tasks: TaskManager;
}

/** Constant for the life of the process, and os.cpus() is not free. */
const CPUS = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

export function agentMetricSet(i: MetricsInput, extra: Readonly<Record<string, number>> = {}): MetricSet {
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
  const [l1, l5, l15] = os.loadavg();
  const flat: Record<string, number> = {
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
    // Command executors start with their task: none is ever registering, and nothing preempts one.
    'slave/executors_registering': 0,
    'slave/executors_running': executorsRunning,
    'slave/executors_terminating': executorsTerminating,
    'slave/executors_terminated': c.executorsTerminated,
    'slave/executors_preempted': 0,
    'slave/container_launch_errors': c.launchErrors,
    'slave/frameworks_active': frameworksActive.size,
    'slave/valid_status_updates': sum.updates,
    'slave/invalid_status_updates': sum.unexpectedAcks,
    // The agent protocol carries no framework messages.
    'slave/valid_framework_messages': 0,
    'slave/invalid_framework_messages': 0,
    'system/cpus_total': CPUS,
    'system/load_1min': l1!,
    'system/load_5min': l5!,
    'system/load_15min': l15!,
    'system/mem_total_bytes': os.totalmem(),
    'system/mem_free_bytes': os.freemem(),
  };
  if (i.recoveryTimeSeconds !== undefined) flat['slave/recovery_time_secs'] = i.recoveryTimeSeconds;
  for (const name of ['cpus', 'mem', 'disk', 'gpus']) {
    const total = i.total.scalars[name] ?? 0;
    const used = i.used.scalars[name] ?? 0;
    flat[`slave/${name}_total`] = total;
    flat[`slave/${name}_used`] = used;
    flat[`slave/${name}_percent`] = total > 0 ? used / total : 0;
    // No oversubscription: an agent offers no revocable resources.
    flat[`slave/${name}_revocable_total`] = 0;
    flat[`slave/${name}_revocable_used`] = 0;
    flat[`slave/${name}_revocable_percent`] = 0;
  }
  return new MetricSet().addFlat({ ...flat, ...extra }, agentKindOf);
}

export function metricsSnapshot(i: MetricsInput): Record<string, number> {
  return agentMetricSet(i).flat();
}
