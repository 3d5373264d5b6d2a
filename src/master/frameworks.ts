// Framework lifecycle: SUBSCRIBE (new, failover, re-attach to a recovered
// entry), the event stream, disconnection and failover timeout, removal
// (TEARDOWN, operator teardown, failover expiry), UPDATE_FRAMEWORK, and
// SUPPRESS/REVIVE bookkeeping.
import type http from 'node:http';
import { UnavailableError, ValidationError } from '../protocol/errors.ts';
import { isTerminalState, type FrameworkInfo } from '../protocol/mesos.ts';
import type { Event } from '../protocol/scheduler.ts';
import type { MasterContext } from './context.ts';
import { SchedulerStream } from './stream.ts';
import { frameworkRoles, type FrameworkEntry } from './state.ts';
import { longTimeout } from './timers.ts';

type FullInfo = FrameworkInfo & { id: { value: string } };

export interface SubscribePayload {
  framework_info: FrameworkInfo;
  suppressed_roles?: string[];
}

/** Master-side FrameworkInfo checks (Mesos's validateFrameworkSubscription / update validation). */
export function validateFrameworkInfo(info: FrameworkInfo, suppressedRoles: readonly string[] | undefined): string | undefined {
  const multi = (info.capabilities ?? []).some((c) => c.type === 'MULTI_ROLE');
  if (info.roles && info.roles.length && !multi) return "'roles' requires the MULTI_ROLE capability";
  if (info.roles && info.roles.length && info.role !== undefined) return "'role' and 'roles' are mutually exclusive";
  if (info.roles && new Set(info.roles).size !== info.roles.length) return "'roles' contains duplicate roles";
  const roles = frameworkRoles(info);
  for (const r of suppressedRoles ?? []) if (!roles.includes(r)) return `Suppressed role '${r}' is not contained in the list of roles`;
  return undefined;
}

export class FrameworkService {
  private readonly streams = new Map<string, SchedulerStream>();
  private seq = 0;
  /** closeAll() ran: the term is over, no new stream may open. */
  private closed = false;

  constructor(private readonly ctx: MasterContext) {}

  /** Sends an event on the framework's stream; false (and counted as dropped) when it has none. */
  send(fw: FrameworkEntry, event: Event): boolean {
    if (!this.ctx.active()) return false;
    const stream = this.streams.get(fw.id);
    if (stream && stream.send(event)) {
      this.ctx.metrics.frameworkEvent(fw.id, event);
      return true;
    }
    if (event.type !== 'HEARTBEAT') this.ctx.metrics.inc('master/dropped_messages');
    return false;
  }

  /** Sends an event to every connected framework. */
  broadcast(event: Event): void {
    for (const fw of this.ctx.state.frameworks.values()) if (fw.connected) this.send(fw, event);
  }

  private newId(): string {
    return `${this.ctx.masterId}-${String(this.seq++).padStart(4, '0')}`;
  }

  private openStream(res: http.ServerResponse, heartbeatMs: number): SchedulerStream {
    return new SchedulerStream(res, this.ctx.ids.uuid(), this.ctx.clock, heartbeatMs);
  }

  /** Answers a SUBSCRIBE that the master refuses as Mesos does: a stream with one ERROR event, then closed. */
  private refuse(res: http.ServerResponse, message: string): void {
    this.openStream(res, 0).close({ type: 'ERROR', error: { message } });
  }

  /**
   * SUBSCRIBE. Takes over the response (stream) unless the registry write fails, in which case
   * it throws UnavailableError (503) before anything was sent or changed.
   */
  async subscribe(res: http.ServerResponse, call: { framework_id?: { value: string }; subscribe?: SubscribePayload }): Promise<void> {
    const { state, metrics, clock, registry } = this.ctx;
    const sub = call.subscribe!;
    const requestedId = sub.framework_info.id?.value ?? call.framework_id?.value;
    metrics.inc(requestedId ? 'master/messages_reregister_framework' : 'master/messages_register_framework');

    const invalid = validateFrameworkInfo(sub.framework_info, sub.suppressed_roles);
    if (invalid) return this.refuse(res, invalid);
    if (requestedId && state.removedFrameworkIds.has(requestedId) && !state.frameworks.has(requestedId))
      return this.refuse(res, 'Framework has been removed');

    const id = requestedId ?? this.newId();
    const info: FullInfo = { ...sub.framework_info, id: { value: id } };
    const known = state.frameworks.get(id);
    if (!known || JSON.stringify(known.info) !== JSON.stringify(info)) {
      try {
        await registry.putFramework({ framework_info: info, registered_time: known?.registeredTime ?? clock.now() });
      } catch (e) {
        throw new UnavailableError(`Failed to persist framework ${id}: ${(e as Error).message}`);
      }
    }
    // The master stepped down while the subscription was being persisted.
    if (this.closed) throw new UnavailableError('This master is no longer the leading master; subscribe again');
    if (state.removedFrameworkIds.has(id) && !state.frameworks.has(id)) {
      registry.background('framework cleanup', registry.deleteFramework(id));
      return this.refuse(res, 'Framework has been removed'); // torn down while we persisted
    }

    const now = clock.now();
    let fw = state.frameworks.get(id);
    if (fw) {
      const old = this.streams.get(id);
      if (old) {
        this.streams.delete(id);
        old.close({ type: 'ERROR', error: { message: 'Framework failed over' } });
      }
      fw.failoverTimer?.cancel();
      fw.failoverTimer = undefined;
      // Outstanding offers were made to the previous instance.
      this.ctx.offers.discardFrameworkOffers(fw);
      this.ctx.offers.clearFilters(fw.id);
      state.setFrameworkInfo(fw, info);
      fw.reregisteredTime = now;
      fw.unregisteredTime = undefined;
      fw.recovered = false;
    } else {
      fw = state.newFramework(info, now, { connected: true, recovered: false });
    }
    fw.connected = true;
    fw.suppressedRoles = new Set(sub.suppressed_roles ?? []);

    const stream = this.openStream(res, this.ctx.config.heartbeatIntervalSeconds * 1000);
    this.streams.set(id, stream);
    fw.streamId = stream.streamId;
    const entry = fw;
    stream.onClose(() =>
      this.ctx.safely('stream closed', () => {
        if (this.streams.get(id) === stream && state.frameworks.get(id) === entry) this.disconnect(entry);
      }),
    );
    stream.send({
      type: 'SUBSCRIBED',
      subscribed: {
        framework_id: { value: id },
        heartbeat_interval_seconds: this.ctx.config.heartbeatIntervalSeconds,
        master_info: this.ctx.masterInfo,
      },
    });
    this.ctx.metrics.frameworkCall(id, { type: 'SUBSCRIBE' });
    this.ctx.metrics.frameworkEvent(id, { type: 'SUBSCRIBED' });
    this.ctx.log.info('framework subscribed', { framework: id, name: info.name, failover: !!known });
    this.ctx.offers.schedule();
  }

  /** The subscription stream broke: no offers until it resubscribes; removed after failover_timeout. */
  disconnect(fw: FrameworkEntry): void {
    const { clock } = this.ctx;
    this.streams.delete(fw.id);
    fw.connected = false;
    fw.streamId = undefined;
    fw.unregisteredTime = clock.now();
    this.ctx.offers.discardFrameworkOffers(fw);
    this.ctx.offers.clearFilters(fw.id);
    const timeoutMs = Math.max(0, (fw.info.failover_timeout ?? 0) * 1000);
    this.ctx.log.info('framework disconnected', { framework: fw.id, failoverTimeoutMs: timeoutMs });
    fw.failoverTimer?.cancel();
    fw.failoverTimer = longTimeout(
      clock,
      () =>
        this.ctx.safely('failover timeout', () => {
          if (this.ctx.state.frameworks.get(fw.id) === fw && !fw.connected) this.remove(fw, {});
        }),
      timeoutMs,
    );
    this.ctx.offers.schedule();
  }

  /**
   * Removes a framework: closes its stream (optionally after an ERROR), shuts it down on every agent,
   * kills its tasks (TASK_KILLED / REASON_FRAMEWORK_REMOVED) and files it under completed frameworks.
   */
  remove(fw: FrameworkEntry, opts: { error?: string }): void {
    const { state, registry } = this.ctx;
    if (state.frameworks.get(fw.id) !== fw) return;
    fw.failoverTimer?.cancel();
    fw.failoverTimer = undefined;
    const stream = this.streams.get(fw.id);
    this.streams.delete(fw.id);
    fw.connected = false;
    fw.streamId = undefined;
    fw.unregisteredTime = this.ctx.clock.now();
    stream?.close(opts.error ? { type: 'ERROR', error: { message: opts.error } } : undefined);
    this.ctx.offers.discardFrameworkOffers(fw);
    this.ctx.offers.clearFilters(fw.id);

    for (const agent of state.agents.values()) {
      if (agent.status !== 'registered') continue;
      this.ctx.agentLink.fire(agent, { type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: fw.id } });
    }
    for (const task of [...fw.tasks.values()]) {
      if (isTerminalState(task.state)) state.completeTask(task);
      else
        this.ctx.tasks.masterTransition(task, 'TASK_KILLED', 'REASON_FRAMEWORK_REMOVED', `Framework ${fw.id} removed`, {
          complete: true,
          notify: false,
        });
    }
    for (const task of [...fw.unreachableTasks.values()]) state.completeTask(task);
    state.retireFramework(fw);
    registry.background('framework removal', registry.deleteFramework(fw.id));
    this.ctx.log.info('framework removed', { framework: fw.id });
    this.ctx.offers.schedule();
  }

  /** A framework the master learns of without a subscription (registry, re-registering agent). */
  ensureRecovered(id: string, info: FrameworkInfo | undefined): FrameworkEntry {
    const existing = this.ctx.state.frameworks.get(id);
    if (existing) return existing;
    const full: FullInfo = { ...(info ?? { user: '', name: '' }), id: { value: id } };
    return this.ctx.state.newFramework(full, this.ctx.clock.now(), { connected: false, recovered: true });
  }

  /** UPDATE_FRAMEWORK: all-or-nothing; persisted before it applies. */
  async update(fw: FrameworkEntry, upd: SubscribePayload): Promise<void> {
    const info = upd.framework_info;
    if (info.id && info.id.value !== fw.id) throw new ValidationError(`'framework_info.id' (${info.id.value}) differs from 'framework_id' (${fw.id})`);
    const invalid = validateFrameworkInfo(info, upd.suppressed_roles);
    if (invalid) throw new ValidationError(invalid);
    if (info.user !== fw.info.user) throw new ValidationError("Updating 'FrameworkInfo.user' is unsupported");
    if ((info.checkpoint ?? false) !== (fw.info.checkpoint ?? false)) throw new ValidationError("Updating 'FrameworkInfo.checkpoint' is unsupported");
    if ((info.principal ?? '') !== (fw.info.principal ?? '')) throw new ValidationError("Updating 'FrameworkInfo.principal' is unsupported");
    const next: FullInfo = { ...info, id: { value: fw.id } };
    try {
      await this.ctx.registry.putFramework({ framework_info: next, registered_time: fw.registeredTime });
    } catch (e) {
      throw new UnavailableError(`Failed to persist framework ${fw.id}: ${(e as Error).message}`);
    }
    if (this.ctx.state.frameworks.get(fw.id) !== fw) return;
    const oldRoles = new Set(fw.roles);
    this.ctx.state.setFrameworkInfo(fw, next);
    const dropped = new Set([...oldRoles].filter((r) => !fw.roles.includes(r)));
    if (dropped.size) {
      for (const id of [...fw.offers]) {
        const o = this.ctx.state.offers.get(id);
        if (o && dropped.has(o.role)) this.ctx.offers.rescind(o);
      }
      this.ctx.offers.clearFilters(fw.id, dropped);
    }
    fw.suppressedRoles = new Set(upd.suppressed_roles ?? []);
    this.ctx.offers.schedule();
  }

  /** Roles a REVIVE/SUPPRESS applies to: the named subscribed roles, or all of them. */
  private targetRoles(fw: FrameworkEntry, payload: { roles?: string[]; role?: string } | undefined): string[] {
    const named = [...(payload?.roles ?? []), ...(payload?.role !== undefined ? [payload.role] : [])];
    return named.length === 0 ? fw.roles : named.filter((r) => fw.roles.includes(r));
  }

  revive(fw: FrameworkEntry, payload: { roles?: string[]; role?: string } | undefined): void {
    const roles = this.targetRoles(fw, payload);
    for (const r of roles) fw.suppressedRoles.delete(r);
    this.ctx.offers.clearFilters(fw.id, new Set(roles));
    this.ctx.offers.schedule();
  }

  suppress(fw: FrameworkEntry, payload: { roles?: string[]; role?: string } | undefined): void {
    for (const r of this.targetRoles(fw, payload)) fw.suppressedRoles.add(r);
  }

  /** Master shutdown: ends every stream without marking frameworks disconnected. */
  closeAll(): void {
    this.closed = true;
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) s.close();
    for (const fw of this.ctx.state.frameworks.values()) fw.failoverTimer?.cancel();
  }
}
