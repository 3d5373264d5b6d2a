// Master metrics (Mesos /metrics/snapshot keys, mesos.md §4.1). Counters are
// incremented where things happen; gauges are computed from the live state
// when a snapshot is taken, so every value reflects real state.
import os from 'node:os';
import { roundScalar, type Resources } from '../core/resources.ts';
import { keyName } from '../core/resource-keys.ts';
import { TASK_STATES, isTerminalState, type TaskReason, type TaskSource, type TaskState } from '../protocol/mesos.ts';
import type { MasterState } from './state.ts';

export const COUNTERS = [
  'master/slave_registrations',
  'master/slave_reregistrations',
  'master/slave_removals',
  'master/slave_removals/reason_registered',
  'master/slave_removals/reason_unhealthy',
  'master/slave_removals/reason_unregistered',
  'master/slave_unreachable_scheduled',
  'master/slave_unreachable_completed',
  'master/slave_unreachable_canceled',
  'master/slave_shutdowns_scheduled',
  'master/slave_shutdowns_completed',
  'master/slave_shutdowns_canceled',
  'master/recovery_slave_removals',
  'master/tasks_finished',
  'master/tasks_failed',
  'master/tasks_killed',
  'master/tasks_lost',
  'master/tasks_error',
  'master/tasks_dropped',
  'master/tasks_gone',
  'master/tasks_gone_by_operator',
  'master/dropped_messages',
  'master/invalid_status_updates',
  'master/valid_status_updates',
  'master/invalid_status_update_acknowledgements',
  'master/valid_status_update_acknowledgements',
  'master/invalid_framework_to_executor_messages',
  'master/valid_framework_to_executor_messages',
  'master/invalid_executor_to_framework_messages',
  'master/valid_executor_to_framework_messages',
  'master/invalid_operation_status_update_acknowledgements',
  'master/valid_operation_status_update_acknowledgements',
  'master/messages_authenticate',
  'master/messages_deactivate_framework',
  'master/messages_decline_offers',
  'master/messages_executor_to_framework',
  'master/messages_exited_executor',
  'master/messages_framework_to_executor',
  'master/messages_kill_task',
  'master/messages_launch_tasks',
  'master/messages_operation_status_update_acknowledgement',
  'master/messages_reconcile_operations',
  'master/messages_reconcile_tasks',
  'master/messages_register_framework',
  'master/messages_reregister_framework',
  'master/messages_register_slave',
  'master/messages_reregister_slave',
  'master/messages_resource_request',
  'master/messages_revive_offers',
  'master/messages_suppress_offers',
  'master/messages_status_update',
  'master/messages_status_update_acknowledgement',
  'master/messages_unregister_framework',
  'master/messages_unregister_slave',
  'master/messages_update_slave',
  'master/task_lost/source_master/reason_invalid_offers',
  'master/task_lost/source_master/reason_slave_removed',
  'allocator/mesos/allocation_runs',
] as const;
export type CounterName = (typeof COUNTERS)[number];

/** `master/tasks_<state>` for a TaskState. */
export const tasksKey = (s: TaskState): string => `master/tasks_${s.slice('TASK_'.length).toLowerCase()}`;

/** v0 names the master uses in per-reason task counters (mesos.md §4). */
const v0 = (name: string): string => name.replace(/AGENT/g, 'SLAVE').toLowerCase();

export class MasterMetrics {
  private readonly counters = new Map<string, number>();
  allocationRunMs = 0;

  constructor() {
    for (const c of COUNTERS) this.counters.set(c, 0);
  }

  inc(name: CounterName, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** A task reached `state` (counted once per transition). */
  taskTransition(state: TaskState, source: TaskSource | undefined, reason: TaskReason | undefined): void {
    if (isTerminalState(state)) {
      const key = tasksKey(state);
      this.counters.set(key, this.get(key) + 1);
    }
    if ((isTerminalState(state) || state === 'TASK_UNREACHABLE') && source && reason) {
      const key = `master/${state.toLowerCase()}/${v0(source)}/${v0(reason)}`;
      this.counters.set(key, this.get(key) + 1);
    }
  }

  counterEntries(): IterableIterator<[string, number]> {
    return this.counters.entries();
  }
}

const RESOURCE_KEYS = ['cpus', 'mem', 'disk', 'gpus'] as const;

export interface SnapshotInput {
  state: MasterState;
  metrics: MasterMetrics;
  now: number;
  startTime: number;
  /** Whether this master leads (HA followers report 0); default true. */
  elected?: boolean;
}

/** The flat /metrics/snapshot object. */
export function metricsSnapshot({ state, metrics, now, startTime, elected = true }: SnapshotInput): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of metrics.counterEntries()) out[k] = v;

  // Resources over registered agents: used = allocated to tasks + offered.
  const total: Record<string, number> = {};
  const used: Record<string, number> = {};
  let active = 0;
  let unreachable = 0;
  let recovered = 0;
  // By resource name: reserved `cpus@ops` counts in master/cpus_total as Mesos counts it.
  const add = (into: Record<string, number>, r: Resources) => {
    for (const [k, v] of Object.entries(r.scalars)) into[keyName(k)] = (into[keyName(k)] ?? 0) + v;
  };
  for (const a of state.agents.values()) {
    if (a.status === 'registered') {
      active++;
      add(total, a.total);
      add(used, a.used);
      add(used, a.offered);
    } else if (a.status === 'unreachable') unreachable++;
    else recovered++;
  }
  for (const k of RESOURCE_KEYS) {
    const t = roundScalar(total[k] ?? 0);
    const u = roundScalar(used[k] ?? 0);
    out[`master/${k}_total`] = t;
    out[`master/${k}_used`] = u;
    out[`master/${k}_percent`] = t > 0 ? u / t : 0;
    out[`master/${k}_revocable_total`] = 0;
    out[`master/${k}_revocable_used`] = 0;
    out[`master/${k}_revocable_percent`] = 0;
    if (k !== 'gpus') {
      out[`allocator/mesos/resources/${k}/total`] = t;
      out[`allocator/mesos/resources/${k}/offered_or_allocated`] = u;
    }
  }

  out['master/uptime_secs'] = Math.max(0, (now - startTime) / 1000);
  out['master/elected'] = elected ? 1 : 0;
  out['master/slaves_active'] = active;
  out['master/slaves_connected'] = active;
  out['master/slaves_disconnected'] = 0;
  out['master/slaves_inactive'] = 0;
  out['master/slaves_unreachable'] = unreachable;
  out['master/slaves_recovered'] = recovered;

  let fwConnected = 0;
  let fwTotal = 0;
  for (const fw of state.frameworks.values()) {
    fwTotal++;
    if (fw.connected) fwConnected++;
  }
  out['master/frameworks_active'] = fwConnected;
  out['master/frameworks_connected'] = fwConnected;
  out['master/frameworks_disconnected'] = fwTotal - fwConnected;
  out['master/frameworks_inactive'] = fwTotal - fwConnected;
  out['master/outstanding_offers'] = state.offers.size;

  for (const s of ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE'] as const)
    out[tasksKey(s)] = state.stateCounts.get(s) ?? 0;
  for (const s of TASK_STATES) if (out[tasksKey(s)] === undefined && s !== 'TASK_UNKNOWN') out[tasksKey(s)] = 0;

  const [l1, l5, l15] = os.loadavg();
  out['system/cpus_total'] = os.cpus().length;
  out['system/load_1min'] = l1!;
  out['system/load_5min'] = l5!;
  out['system/load_15min'] = l15!;
  out['system/mem_total_bytes'] = os.totalmem();
  out['system/mem_free_bytes'] = os.freemem();

  out['master/event_queue_dispatches'] = 0;
  out['master/event_queue_http_requests'] = 0;
  out['master/event_queue_messages'] = 0;
  out['master/operator_event_stream_subscribers'] = 0;
  out['registrar/log/recovered'] = 1;
  out['allocator/mesos/allocation_run_ms'] = metrics.allocationRunMs;
  out['allocator/mesos/event_queue_dispatches'] = 0;
  return out;
}
