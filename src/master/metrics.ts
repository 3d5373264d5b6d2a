// Master metrics (Mesos /metrics/snapshot keys, mesos.md §4.1). Counters and timers live in
// MasterMetrics, one per master process: they are incremented where things happen and keep counting
// across leadership terms (a Prometheus counter must only reset when its process restarts). Gauges are
// computed from the live state when a snapshot is taken, so every value reflects real state.
import os from 'node:os';
import { roundScalar, type Resources } from '../core/resources.ts';
import { keyName } from '../core/resource-keys.ts';
import { TASK_STATES, isTerminalState, type TaskReason, type TaskSource, type TaskState } from '../protocol/mesos.ts';
import { CALL_TYPES, type Call, type Event } from '../protocol/scheduler.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { MetricSet, type MetricKind } from '../metrics/metric-set.ts';
import { WindowTimer } from '../metrics/timer.ts';
import type { FrameworkEntry, MasterState } from './state.ts';

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
  'master/invalid_operation_status_updates',
  'master/valid_operation_status_updates',
  'master/messages_authenticate',
  'master/messages_deactivate_framework',
  'master/messages_decline_offers',
  'master/messages_executor_to_framework',
  'master/messages_exited_executor',
  'master/messages_framework_to_executor',
  'master/messages_kill_task',
  'master/messages_launch_tasks',
  'master/messages_operation_status_update',
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
  'master/task_lost/source_slave/reason_executor_terminated',
  'master/operations/finished',
  'master/operations/error',
  'master/operations/dropped',
  'master/operations/gone_by_operator',
  'allocator/mesos/allocation_runs',
] as const;
export type CounterName = (typeof COUNTERS)[number];

/** Offer operation types (Mesos's Offer.Operation.Type, lower-cased in keys). */
export const OPERATION_TYPES = ['reserve', 'unreserve', 'create', 'destroy', 'grow_volume', 'shrink_volume', 'create_disk', 'destroy_disk'] as const;
const OPERATION_TERMINAL = ['finished', 'error', 'dropped', 'gone_by_operator'] as const;
const OPERATION_PENDING = ['pending', 'recovering', 'unreachable'] as const;
const FRAMEWORK_OPERATIONS = ['launch', 'launch_group', ...OPERATION_TYPES] as const;
const EVENT_TYPES = ['subscribed', 'offers', 'inverse_offers', 'rescind', 'rescind_inverse_offer', 'update', 'update_operation_status', 'message', 'failure', 'error', 'heartbeat'] as const;
const ACTIVE_STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE'] as const;
const TERMINAL_STATES = TASK_STATES.filter(isTerminalState);
const RESOURCE_KEYS = ['cpus', 'mem', 'disk', 'gpus'] as const;
/** Per-framework counters are kept for at most this many frameworks (the oldest are forgotten first). */
const MAX_FRAMEWORK_METRICS = 1024;

/** `master/tasks_<state>` for a TaskState. */
export const tasksKey = (s: TaskState): string => `master/tasks_${s.slice('TASK_'.length).toLowerCase()}`;

/** v0 names the master uses in per-reason task counters (mesos.md §4). */
const v0 = (name: string): string => name.replace(/AGENT/g, 'SLAVE').toLowerCase();

const COUNTER_SET: ReadonlySet<string> = new Set(COUNTERS);
const COUNTER_PATTERNS = [
  /^master\/tasks_(finished|failed|killed|lost|error|dropped|gone|gone_by_operator)$/,
  /^master\/task_[a-z_]+\/source_[a-z_]+\/reason_[a-z_]+$/,
  /^master\/operations\/([a-z_]+\/)?(finished|error|dropped|gone_by_operator)$/,
  /^master\/frameworks\/[^/]+\/[^/]+\/(calls|events|operations)(\/[a-z_]+)?$/,
  /^master\/frameworks\/[^/]+\/[^/]+\/tasks\/terminal\/[a-z_]+$/,
  /^master\/frameworks\/[^/]+\/[^/]+\/offers\/[a-z_]+$/,
];

/** Whether a master key is a counter (monotonic) or a gauge. */
export function masterKindOf(key: string): MetricKind {
  if (COUNTER_SET.has(key)) return 'counter';
  for (const p of COUNTER_PATTERNS) if (p.test(key)) return 'counter';
  return 'gauge';
}

interface FrameworkCounters {
  calls: Map<string, number>;
  events: Map<string, number>;
  operations: Map<string, number>;
  terminal: Map<string, number>;
  offers: { sent: number; accepted: number; declined: number; rescinded: number };
}

const bump = (m: Map<string, number>, k: string, by = 1) => m.set(k, (m.get(k) ?? 0) + by);

export class MasterMetrics {
  private readonly counters = new Map<string, number>();
  private readonly frameworks = new Map<string, FrameworkCounters>();
  /** Time in the allocation algorithm (Mesos allocator/mesos/allocation_run_ms). */
  readonly allocationRun: WindowTimer;
  /** From an allocation being requested to its run (allocator/mesos/allocation_run_latency_ms). */
  readonly allocationLatency: WindowTimer;
  /** Registry reads and writes (registrar/state_fetch_ms, registrar/state_store_ms). */
  readonly stateFetch: WindowTimer;
  readonly stateStore: WindowTimer;
  /** Registry writes in flight. */
  registrarQueued = 0;
  /** Bytes of each registry entry (key + value), as last read or written. */
  readonly registryEntries = new Map<string, number>();

  constructor(clock: Clock = systemClock) {
    for (const c of COUNTERS) this.counters.set(c, 0);
    const now = () => clock.now();
    this.allocationRun = new WindowTimer(now);
    this.allocationLatency = new WindowTimer(now);
    this.stateFetch = new WindowTimer(now);
    this.stateStore = new WindowTimer(now);
  }

  inc(name: CounterName, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** One allocation run took `ms` (kept as the name it had before timers existed). */
  set allocationRunMs(ms: number) {
    this.allocationRun.record(ms);
  }

  /** A task reached `state` (counted once per transition). */
  taskTransition(state: TaskState, source: TaskSource | undefined, reason: TaskReason | undefined, frameworkId?: string): void {
    if (isTerminalState(state)) {
      const key = tasksKey(state);
      this.counters.set(key, this.get(key) + 1);
      if (frameworkId !== undefined) bump(this.framework(frameworkId).terminal, state.toLowerCase());
    }
    if ((isTerminalState(state) || state === 'TASK_UNREACHABLE') && source && reason) {
      const key = `master/${state.toLowerCase()}/${v0(source)}/${v0(reason)}`;
      this.counters.set(key, this.get(key) + 1);
    }
  }

  /** An offer operation reached a terminal state (Corral applies operations at once: finished or error). */
  operation(type: string, outcome: (typeof OPERATION_TERMINAL)[number]): void {
    const t = type.toLowerCase();
    this.counters.set(`master/operations/${outcome}`, this.get(`master/operations/${outcome}`) + 1);
    const key = `master/operations/${t}/${outcome}`;
    this.counters.set(key, this.get(key) + 1);
  }

  /**
   * The resource operations of an ACCEPT after planning: each failed one is named in `errors`
   * (`<TYPE>: why`, as accept.ts words them), the others were applied.
   */
  acceptOperations(operations: ReadonlyArray<{ type: string }>, errors: readonly string[]): void {
    const failed = new Map<string, number>();
    for (const e of errors) bump(failed, e.slice(0, e.indexOf(':')));
    for (const op of operations) {
      if (!(OPERATION_TYPES as readonly string[]).includes(op.type.toLowerCase())) continue;
      const left = failed.get(op.type) ?? 0;
      if (left > 0) failed.set(op.type, left - 1);
      this.operation(op.type, left > 0 ? 'error' : 'finished');
    }
  }

  /** A scheduler call of a subscribed framework (per-framework calls, offers accepted/declined, operations). */
  frameworkCall(frameworkId: string, call: Pick<Call, 'type'> & Partial<Pick<Call, 'accept' | 'decline'>>): void {
    const f = this.framework(frameworkId);
    bump(f.calls, call.type.toLowerCase());
    if (call.type === 'ACCEPT' && call.accept) {
      f.offers.accepted += call.accept.offer_ids.length;
      for (const op of call.accept.operations ?? []) bump(f.operations, op.type.toLowerCase());
    } else if (call.type === 'DECLINE' && call.decline) f.offers.declined += call.decline.offer_ids.length;
  }

  /** An event sent on a framework's stream (per-framework events, offers sent and rescinded). */
  frameworkEvent(frameworkId: string, event: Event | { type: 'SUBSCRIBED' }): void {
    const f = this.framework(frameworkId);
    bump(f.events, event.type.toLowerCase());
    if (event.type === 'OFFERS') f.offers.sent += event.offers.offers.length;
    else if (event.type === 'RESCIND') f.offers.rescinded++;
  }

  counterEntries(): IterableIterator<[string, number]> {
    return this.counters.entries();
  }

  frameworkCounters(frameworkId: string): FrameworkCounters | undefined {
    return this.frameworks.get(frameworkId);
  }

  registrySizeBytes(): number {
    let sum = 0;
    for (const n of this.registryEntries.values()) sum += n;
    return sum;
  }

  private framework(id: string): FrameworkCounters {
    let f = this.frameworks.get(id);
    if (f) return f;
    if (this.frameworks.size >= MAX_FRAMEWORK_METRICS) this.frameworks.delete(this.frameworks.keys().next().value!);
    f = { calls: new Map(), events: new Map(), operations: new Map(), terminal: new Map(), offers: { sent: 0, accepted: 0, declined: 0, rescinded: 0 } };
    this.frameworks.set(id, f);
    return f;
  }
}

/** What the term adds to a snapshot (a follower has none of it). */
export interface TermGauges {
  /** Offer filters (refusals) in force. */
  offerFilters?: ReadonlyArray<{ role: string; expiresAt: number }>;
  /** Allocation runs requested and not yet run. */
  allocationsQueued?: number;
  /** HTTP requests (other than agent messages) being handled now. */
  httpRequests?: number;
  /** Agent messages being handled now. */
  messages?: number;
  /** Callbacks queued on the term's timers. */
  dispatches?: number;
}

export interface SnapshotInput extends TermGauges {
  state: MasterState;
  metrics: MasterMetrics;
  now: number;
  startTime: number;
  /** Whether this master leads (HA followers report 0); default true. */
  elected?: boolean;
}

/** Constant for the life of the process, and os.cpus() is not free. */
const CPUS = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

/** The system/* gauges (shared with the agent's snapshot). */
export function systemGauges(set: MetricSet): void {
  const [l1, l5, l15] = os.loadavg();
  set
    .gauge('system/cpus_total', CPUS)
    .gauge('system/load_1min', l1!)
    .gauge('system/load_5min', l5!)
    .gauge('system/load_15min', l15!)
    .gauge('system/mem_total_bytes', os.totalmem())
    .gauge('system/mem_free_bytes', os.freemem());
}

/** The typed snapshot: Mesos JSON (flat()) and Prometheus come from it. */
export function masterMetricSet(i: SnapshotInput): MetricSet {
  const { state, metrics, now } = i;
  const elected = i.elected ?? true;
  const set = new MetricSet();
  for (const [k, v] of metrics.counterEntries()) set.counter(k, v);

  // Resources over registered agents: used = allocated to tasks + offered. By resource name: reserved
  // `cpus@ops` counts in master/cpus_total as Mesos counts it. Corral has no revocable resources
  // (no oversubscription), so the revocable totals are 0 by construction.
  const total: Record<string, number> = {};
  const used: Record<string, number> = {};
  const add = (into: Record<string, number>, r: Resources) => {
    for (const [k, v] of Object.entries(r.scalars)) into[keyName(k)] = (into[keyName(k)] ?? 0) + v;
  };
  let active = 0;
  let connected = 0;
  let unreachable = 0;
  let recovered = 0;
  for (const a of state.agents.values()) {
    if (a.status === 'registered') {
      active++;
      // An agent that missed a ping is not known to be connected until it answers again.
      if (a.pingMisses === 0) connected++;
      add(total, a.total);
      add(used, a.used);
      add(used, a.offered);
    } else if (a.status === 'unreachable') unreachable++;
    else recovered++;
  }
  for (const k of RESOURCE_KEYS) {
    const t = roundScalar(total[k] ?? 0);
    const u = roundScalar(used[k] ?? 0);
    set.gauge(`master/${k}_total`, t).gauge(`master/${k}_used`, u).gauge(`master/${k}_percent`, t > 0 ? u / t : 0);
    set.gauge(`master/${k}_revocable_total`, 0).gauge(`master/${k}_revocable_used`, 0).gauge(`master/${k}_revocable_percent`, 0);
    if (k !== 'gpus') set.gauge(`allocator/mesos/resources/${k}/total`, t).gauge(`allocator/mesos/resources/${k}/offered_or_allocated`, u);
  }

  set.gauge('master/uptime_secs', Math.max(0, (now - i.startTime) / 1000)).gauge('master/elected', elected ? 1 : 0);
  set
    .gauge('master/slaves_active', active)
    .gauge('master/slaves_connected', connected)
    .gauge('master/slaves_disconnected', active - connected)
    // Corral cannot deactivate an agent (no maintenance mode): every registered agent is active.
    .gauge('master/slaves_inactive', 0)
    .gauge('master/slaves_unreachable', unreachable)
    .gauge('master/slaves_recovered', recovered);

  let fwConnected = 0;
  let fwDisconnected = 0;
  for (const fw of state.frameworks.values()) {
    if (fw.connected) fwConnected++;
    // Known from the registry but not subscribed to this master yet: Mesos's "recovered" frameworks,
    // which it counts in neither group.
    else if (!fw.recovered) fwDisconnected++;
  }
  // A disconnected framework is deactivated (its offers rescinded) until it subscribes again.
  set
    .gauge('master/frameworks_active', fwConnected)
    .gauge('master/frameworks_connected', fwConnected)
    .gauge('master/frameworks_disconnected', fwDisconnected)
    .gauge('master/frameworks_inactive', fwDisconnected)
    .gauge('master/outstanding_offers', state.offers.size);

  for (const s of ACTIVE_STATES) set.gauge(tasksKey(s), state.stateCounts.get(s) ?? 0);

  systemGauges(set);

  // Corral applies offer operations at once (there is no pending operation to track).
  set.gauge('master/operations/total', 0);
  for (const s of OPERATION_PENDING) set.gauge(`master/operations/${s}`, 0);
  for (const t of OPERATION_TYPES) {
    set.gauge(`master/operations/${t}/total`, 0);
    for (const s of OPERATION_PENDING) set.gauge(`master/operations/${t}/${s}`, 0);
    for (const s of OPERATION_TERMINAL) {
      const key = `master/operations/${t}/${s}`;
      if (!metrics.get(key)) set.counter(key, 0);
    }
  }

  set
    .gauge('master/event_queue_dispatches', i.dispatches ?? 0)
    .gauge('master/event_queue_http_requests', i.httpRequests ?? 0)
    .gauge('master/event_queue_messages', i.messages ?? 0)
    .gauge('master/operator_event_stream_subscribers', 0);

  set
    .gauge('registrar/queued_operations', metrics.registrarQueued)
    .gauge('registrar/registry_size_bytes', metrics.registrySizeBytes())
    .gauge('registrar/log/recovered', elected ? 1 : 0)
    .timer('registrar/state_fetch_ms', metrics.stateFetch.stats())
    .timer('registrar/state_store_ms', metrics.stateStore.stats());

  const queued = i.allocationsQueued ?? 0;
  set
    .gauge('allocator/event_queue_dispatches', queued)
    .gauge('allocator/mesos/event_queue_dispatches', queued)
    .timer('allocator/mesos/allocation_run_ms', metrics.allocationRun.stats())
    .timer('allocator/mesos/allocation_run_latency_ms', metrics.allocationLatency.stats());
  roleGauges(set, state, total, i.offerFilters ?? [], now);
  for (const fw of state.frameworks.values()) frameworkGauges(set, fw, metrics);
  return set;
}

/** allocator/mesos/roles/<role>/shares/dominant and allocator/mesos/offer_filters/roles/<role>/active. */
function roleGauges(set: MetricSet, state: MasterState, total: Record<string, number>, filters: ReadonlyArray<{ role: string; expiresAt: number }>, now: number): void {
  const allocated = new Map<string, Record<string, number>>();
  for (const fw of state.frameworks.values()) {
    for (const role of fw.roles) if (!allocated.has(role)) allocated.set(role, {});
    for (const [role, r] of fw.allocated) {
      let into = allocated.get(role);
      if (!into) allocated.set(role, (into = {}));
      for (const [k, v] of Object.entries(r.scalars)) into[keyName(k)] = (into[keyName(k)] ?? 0) + v;
    }
  }
  const activeFilters = new Map<string, number>();
  for (const f of filters) if (f.expiresAt > now) activeFilters.set(f.role, (activeFilters.get(f.role) ?? 0) + 1);
  for (const role of activeFilters.keys()) if (!allocated.has(role)) allocated.set(role, {});
  for (const [role, alloc] of allocated) {
    let share = 0;
    for (const [name, v] of Object.entries(alloc)) if ((total[name] ?? 0) > 0) share = Math.max(share, v / total[name]!);
    set.gauge(`allocator/mesos/roles/${role}/shares/dominant`, share);
    set.gauge(`allocator/mesos/offer_filters/roles/${role}/active`, activeFilters.get(role) ?? 0);
  }
}

/** `master/frameworks/<encoded name>/<id>/…` (Mesos's per-framework metrics). */
export function frameworkPrefix(fw: Pick<FrameworkEntry, 'id' | 'info'>): string {
  return `master/frameworks/${encodeURIComponent(fw.info.name ?? '')}/${fw.id}`;
}

function frameworkGauges(set: MetricSet, fw: FrameworkEntry, metrics: MasterMetrics): void {
  const p = frameworkPrefix(fw);
  const c = metrics.frameworkCounters(fw.id);
  set.gauge(`${p}/subscribed`, fw.connected ? 1 : 0);
  const family = (name: string, types: readonly string[], counts: Map<string, number> | undefined) => {
    let sum = 0;
    for (const t of types) {
      const n = counts?.get(t) ?? 0;
      sum += n;
      set.counter(`${p}/${name}/${t}`, n);
    }
    set.counter(`${p}/${name}`, sum);
  };
  family('calls', CALL_TYPES.map((t) => t.toLowerCase()), c?.calls);
  family('events', EVENT_TYPES, c?.events);
  family('operations', FRAMEWORK_OPERATIONS, c?.operations);
  const active = new Map<TaskState, number>();
  for (const t of fw.tasks.values()) active.set(t.state, (active.get(t.state) ?? 0) + 1);
  active.set('TASK_UNREACHABLE', (active.get('TASK_UNREACHABLE') ?? 0) + fw.unreachableTasks.size);
  for (const s of ACTIVE_STATES) set.gauge(`${p}/tasks/active/${s.toLowerCase()}`, active.get(s) ?? 0);
  for (const s of TERMINAL_STATES) set.counter(`${p}/tasks/terminal/${s.toLowerCase()}`, c?.terminal.get(s.toLowerCase()) ?? 0);
  const o = c?.offers ?? { sent: 0, accepted: 0, declined: 0, rescinded: 0 };
  set.counter(`${p}/offers/sent`, o.sent).counter(`${p}/offers/accepted`, o.accepted).counter(`${p}/offers/declined`, o.declined).counter(`${p}/offers/rescinded`, o.rescinded);
  for (const role of fw.roles) set.gauge(`${p}/roles/${role}/suppressed`, fw.suppressedRoles.has(role) ? 1 : 0);
}

/** The flat /metrics/snapshot object. */
export function metricsSnapshot(i: SnapshotInput): Record<string, number> {
  return masterMetricSet(i).flat();
}
