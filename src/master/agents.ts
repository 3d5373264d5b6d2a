// Agent lifecycle: registration (persisted before the reply), re-registration
// (adopting the agent's tasks, healing unreachable agents, re-admitting
// registry agents after a master restart), health checks (PING/PONG), marking
// unreachable, removal, and the post-restart re-registration deadline.
import { applyCheckpointed, checkpointedOf, fromMesosResources, resourcesEqual, type Resources } from '../core/resources.ts';
import { UnavailableError } from '../protocol/errors.ts';
import { isTerminalState } from '../protocol/mesos.ts';
import type { AgentTask, AgentToMaster, MasterReply } from '../protocol/internal.ts';
import type { TimerHandle } from '../runtime/clock.ts';
import type { MasterContext } from './context.ts';
import { masterStatus, stateFor } from './events.ts';
import { checkpointAgentResources } from './operations.ts';
import type { AgentRecord } from './registry.ts';
import { newAgentEntry, taskKey, type AgentEntry, type TaskEntry } from './state.ts';

type Msg<T extends AgentToMaster['type']> = Extract<AgentToMaster, { type: T }>;

function sameEndpoint(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

export class AgentService {
  private seq = 0;
  private pingTimer?: TimerHandle;
  private recoveryTimer?: TimerHandle;

  constructor(private readonly ctx: MasterContext) {}

  start(): void {
    const { clock, config } = this.ctx;
    this.pingTimer = clock.setInterval(() => this.ctx.safely('ping', () => this.pingAll()), config.agentPingTimeoutMs);
    if (this.ctx.state.hasRecoveringAgents()) {
      this.recoveryTimer = clock.setTimeout(() => this.ctx.safely('agent reregister timeout', () => this.recoveryDeadline()), config.agentReregisterTimeoutMs);
    }
  }

  stop(): void {
    this.pingTimer?.cancel();
    this.recoveryTimer?.cancel();
  }

  private reply(type: 'REGISTERED' | 'REREGISTERED', id: string): MasterReply {
    return { type, agent_id: { value: id }, master_id: this.ctx.masterId, ping_interval_seconds: this.ctx.config.agentPingTimeoutMs / 1000 };
  }

  async handle(msg: AgentToMaster): Promise<MasterReply> {
    switch (msg.type) {
      case 'REGISTER_AGENT':
        return this.register(msg);
      case 'REREGISTER_AGENT':
        return this.reregister(msg);
      case 'STATUS_UPDATE':
        return this.statusUpdate(msg);
      case 'PONG':
        return this.pong(msg.agent_id.value);
      case 'UNREGISTER_AGENT':
        return this.unregister(msg);
    }
  }

  private record(id: string, msg: Msg<'REGISTER_AGENT'> | Msg<'REREGISTER_AGENT'>, registeredTime: number): AgentRecord {
    return { agent_info: { ...msg.agent_info, id: { value: id } }, endpoint: msg.endpoint, version: msg.version, registered_time: registeredTime };
  }

  private async persist(rec: AgentRecord): Promise<void> {
    try {
      await this.ctx.registry.putAgent(rec);
    } catch (e) {
      throw new UnavailableError(`Failed to persist agent ${rec.agent_info.id.value} in the registry: ${(e as Error).message}`);
    }
  }

  async register(msg: Msg<'REGISTER_AGENT'>): Promise<MasterReply> {
    const { state, metrics, clock } = this.ctx;
    metrics.inc('master/messages_register_slave');
    // A new agent id for an old work dir keeps the reservations and volumes checkpointed there (as Mesos).
    const total = applyCheckpointed(
      fromMesosResources(msg.agent_info.resources, 'agent_info.resources'),
      checkpointedOf(fromMesosResources(msg.checkpointed_resources ?? [], 'checkpointed_resources')),
    );
    const id = `${this.ctx.masterId}-S${this.seq++}`;
    const now = clock.now();
    await this.persist(this.record(id, msg, now));
    // A new agent at the address of a registered one: that one restarted without its state.
    for (const a of [...state.agents.values()]) if (a.status === 'registered' && sameEndpoint(a.endpoint, msg.endpoint)) this.remove(a, 'registered');
    state.agents.set(id, newAgentEntry(id, msg.agent_info, msg.endpoint, msg.version, total, 'registered', now));
    metrics.inc('master/slave_registrations');
    this.ctx.log.info('agent registered', { agent: id, hostname: msg.agent_info.hostname, endpoint: msg.endpoint });
    this.ctx.offers.schedule();
    return this.reply('REGISTERED', id);
  }

  async reregister(msg: Msg<'REREGISTER_AGENT'>): Promise<MasterReply> {
    const { state, metrics, clock } = this.ctx;
    metrics.inc('master/messages_reregister_slave');
    const id = msg.agent_info.id.value;
    if (state.removedAgents.has(id)) return { type: 'SHUTDOWN', message: `Agent ${id} was removed from the cluster` };
    const now = clock.now();
    const known = state.agents.get(id);
    if (known && msg.sent_at_ms !== undefined && known.lastReportSentAt !== undefined && msg.sent_at_ms < known.lastReportSentAt) {
      // A stale report (queued during a partition, delivered after a newer one): adopting it would
      // resurrect tasks that were killed and acknowledged since. The agent is registered already.
      this.ctx.log.warn('ignoring a stale re-registration', { agent: id, sent_at_ms: msg.sent_at_ms, newest_ms: known.lastReportSentAt });
      return this.reply('REREGISTERED', id);
    }
    const { total, resend } = this.reregisteredTotal(msg, known);
    const info = { ...msg.agent_info, id: { value: id } };
    if (!known || known.endpoint !== msg.endpoint || known.unreachableTime !== undefined || JSON.stringify(known.info) !== JSON.stringify(info))
      await this.persist(this.record(id, msg, known?.registeredTime ?? now));
    if (state.removedAgents.has(id)) return { type: 'SHUTDOWN', message: `Agent ${id} was removed from the cluster` };

    let agent = state.agents.get(id);
    if (!agent) {
      agent = newAgentEntry(id, msg.agent_info, msg.endpoint, msg.version, total, 'registered', now);
      state.agents.set(id, agent);
    } else {
      if (!resourcesEqual(agent.total, total)) this.ctx.offers.rescindAgentOffers(agent);
      agent.info = info;
      agent.endpoint = msg.endpoint;
      agent.version = msg.version;
      agent.total = total;
      agent.status = 'registered';
      agent.unreachableTime = undefined;
    }
    if (msg.sent_at_ms !== undefined) agent.lastReportSentAt = msg.sent_at_ms;
    agent.reregisteredTime = now;
    agent.pingOutstanding = false;
    agent.pingMisses = 0;
    this.adopt(agent, msg.tasks, msg.frameworks);
    if (resend) checkpointAgentResources(this.ctx, agent);
    metrics.inc('master/slave_reregistrations');
    this.ctx.log.info('agent re-registered', { agent: id, tasks: msg.tasks.length });
    this.ctx.offers.schedule();
    return this.reply('REREGISTERED', id);
  }

  /**
   * The agent's total on re-registration: its static resources with the dynamic reservations and
   * volumes applied. A master that knows the agent (it was registered or unreachable here) keeps its
   * own view, which is newer than the agent's when a CHECKPOINT_RESOURCES was lost, and sends it
   * back; a master that recovered the agent from the registry (restart, failover) adopts the agent's.
   */
  private reregisteredTotal(msg: Msg<'REREGISTER_AGENT'>, known: AgentEntry | undefined): { total: Resources; resend: boolean } {
    const base = fromMesosResources(msg.agent_info.resources, 'agent_info.resources');
    const reported = checkpointedOf(fromMesosResources(msg.checkpointed_resources ?? [], 'checkpointed_resources'));
    if (known && known.status !== 'recovered') {
      const mine = checkpointedOf(known.total);
      if (!resourcesEqual(mine, reported)) {
        try {
          return { total: applyCheckpointed(base, mine), resend: true };
        } catch (e) {
          this.ctx.log.warn("the master's reservations no longer fit the agent's resources; taking the agent's", {
            agent: known.id,
            error: (e as Error).message,
          });
        }
      }
    }
    return { total: applyCheckpointed(base, reported), resend: false };
  }

  /** Brings the master's view of the agent's tasks in line with what the agent reports. */
  private adopt(agent: AgentEntry, tasks: readonly AgentTask[], infos: Msg<'REREGISTER_AGENT'>['frameworks']): void {
    const { state } = this.ctx;
    const reported = new Set<string>();
    const shutdown = new Set<string>();
    const now = this.ctx.clock.now();
    for (const t of tasks) {
      const fwId = t.framework_id.value;
      if (state.removedFrameworkIds.has(fwId) && !state.frameworks.has(fwId)) {
        shutdown.add(fwId);
        continue;
      }
      const fw = this.ctx.frameworks.ensureRecovered(fwId, infos.find((i) => i.id?.value === fwId));
      const key = taskKey(fwId, t.task_id.value);
      const existing = agent.tasks.get(key);
      const other = fw.tasks.get(t.task_id.value);
      if (!existing && other && other.agentId !== agent.id) {
        this.ctx.log.warn('agent reports a task the master knows on another agent; ignoring', { agent: agent.id, task: t.task_id.value });
        continue;
      }
      reported.add(key);
      const latest = stateFor(fw, t.state);
      const last = t.statuses.at(-1);
      if (existing) {
        const wasUnreachable = existing.unreachable;
        if (wasUnreachable) state.restoreTask(existing);
        this.ctx.tasks.applyReport(existing, t);
        // A task that ended while unreachable gets its terminal update from the agent itself
        // (reliably, with a uuid); a master-generated copy would be a second terminal update.
        if (wasUnreachable && !isTerminalState(latest)) {
          this.ctx.tasks.forward(
            fw,
            masterStatus({
              taskId: existing.taskId,
              state: latest,
              reason: 'REASON_AGENT_REREGISTERED',
              message: `Agent ${agent.id} re-registered`,
              agentId: agent.id,
              executorId: existing.executorId,
              now,
            }),
          );
        }
        continue;
      }
      // Already retired by an acknowledgement the agent never received (it was down): the agent
      // re-sends that update and the ack is forwarded again; adopting it would file it twice.
      if (!other && isTerminalState(latest) && fw.completedTasks.some((c) => c.taskId === t.task_id.value && c.agentId === agent.id))
        continue;
      let resources;
      try {
        resources = fromMesosResources(t.resources);
      } catch {
        resources = fromMesosResources([]);
      }
      const task: TaskEntry = {
        seq: state.nextTaskSeq(),
        taskId: t.task_id.value,
        frameworkId: fwId,
        agentId: agent.id,
        name: t.name,
        role: t.resources.find((r) => r.allocation_info)?.allocation_info?.role ?? fw.roles[0] ?? '*',
        resources,
        wireResources: t.resources,
        executorId: t.executor_id?.value,
        state: latest,
        statusUpdateState: t.status_update_state ? stateFor(fw, t.status_update_state) : last ? stateFor(fw, last.state) : undefined,
        statusUpdateUuid: t.status_update_uuid ?? last?.uuid,
        statuses: t.statuses.slice(-8).map((s) => ({ ...s, state: stateFor(fw, s.state) })),
        holdsResources: false,
        unreachable: false,
        deliveryPending: false,
      };
      state.addTask(task);
    }
    for (const fwId of shutdown) this.ctx.agentLink.fire(agent, { type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: fwId } });

    // Tasks the master knows on this agent that the agent does not report.
    for (const [key, task] of [...agent.tasks]) {
      if (reported.has(key) || task.deliveryPending) continue;
      if (isTerminalState(task.state) && !task.unreachable) {
        state.completeTask(task);
        continue;
      }
      this.ctx.tasks.masterTransition(
        task,
        task.state === 'TASK_STAGING' ? 'TASK_DROPPED' : 'TASK_GONE',
        'REASON_RECONCILIATION',
        'Reconciliation: task unknown to the agent',
        { complete: true },
      );
    }
  }

  statusUpdate(msg: Msg<'STATUS_UPDATE'>): MasterReply {
    const { state, metrics } = this.ctx;
    const agent = state.agents.get(msg.agent_id.value);
    if (!agent || agent.status !== 'registered') {
      metrics.inc('master/messages_status_update');
      metrics.inc('master/invalid_status_updates');
      if (state.removedAgents.has(msg.agent_id.value)) return { type: 'SHUTDOWN', message: `Agent ${msg.agent_id.value} was removed from the cluster` };
      return { type: 'REREGISTER_REQUIRED', message: `Agent ${msg.agent_id.value} is not registered with this master` };
    }
    metrics.inc('master/messages_status_update');
    this.ctx.tasks.statusUpdate(agent, msg.update);
    return { type: 'ACCEPTED' };
  }

  pong(id: string): MasterReply {
    const agent = this.ctx.state.agents.get(id);
    if (!agent || agent.status !== 'registered') {
      if (this.ctx.state.removedAgents.has(id)) return { type: 'SHUTDOWN', message: `Agent ${id} was removed from the cluster` };
      return { type: 'REREGISTER_REQUIRED', message: `Agent ${id} is not registered with this master` };
    }
    agent.pingOutstanding = false;
    agent.pingMisses = 0;
    return { type: 'ACCEPTED' };
  }

  unregister(msg: Msg<'UNREGISTER_AGENT'>): MasterReply {
    this.ctx.metrics.inc('master/messages_unregister_slave');
    const agent = this.ctx.state.agents.get(msg.agent_id.value);
    if (agent) this.remove(agent, 'unregistered');
    return { type: 'ACCEPTED' };
  }

  private pingAll(): void {
    const { state, config } = this.ctx;
    for (const agent of [...state.agents.values()]) {
      if (agent.status === 'recovered') {
        // Known from the registry after a master restart: a PING from a new master id makes the agent
        // re-register at once. Unreachable agents are not pinged: their own ping watchdog makes them
        // re-register when the partition heals.
        this.ctx.agentLink.send(agent, { type: 'PING', agent_id: { value: agent.id } }, { timeoutMs: config.agentPingTimeoutMs }).catch(() => undefined);
        continue;
      }
      if (agent.status !== 'registered' || agent.pingOutstanding) continue;
      agent.pingOutstanding = true;
      // A miss is counted when the ping fails (no answer within the ping timeout, or refused), so an
      // agent is unreachable `maxAgentPingTimeouts` failed pings after it stopped answering.
      this.ctx.agentLink.send(agent, { type: 'PING', agent_id: { value: agent.id } }, { timeoutMs: config.agentPingTimeoutMs }).then(
        (reply) => {
          agent.pingOutstanding = false;
          if (reply.type === 'PONG' || reply.type === 'ACCEPTED') this.pong(agent.id);
        },
        () =>
          this.ctx.safely('ping miss', () => {
            agent.pingOutstanding = false;
            if (agent.status !== 'registered' || this.ctx.state.agents.get(agent.id) !== agent) return;
            agent.pingMisses++;
            if (agent.pingMisses >= config.maxAgentPingTimeouts) this.markUnreachable(agent, 'unhealthy');
          }),
      );
    }
  }

  /** Health checks failed (or the agent never came back after a master restart). */
  markUnreachable(agent: AgentEntry, why: 'unhealthy' | 'recovery'): void {
    const { metrics, clock, registry } = this.ctx;
    if (agent.status === 'unreachable') return;
    const now = clock.now();
    agent.status = 'unreachable';
    agent.unreachableTime = now;
    agent.pingOutstanding = false;
    agent.pingMisses = 0;
    this.ctx.offers.rescindAgentOffers(agent);
    this.ctx.tasks.agentLost(agent, 'unreachable', now);
    this.ctx.frameworks.broadcast({ type: 'FAILURE', failure: { agent_id: { value: agent.id } } });
    registry.background(
      'agent unreachable',
      registry.putAgent({
        agent_info: agent.info,
        endpoint: agent.endpoint,
        version: agent.version,
        registered_time: agent.registeredTime,
        unreachable_time: now,
      }),
    );
    if (why === 'unhealthy') {
      metrics.inc('master/slave_unreachable_scheduled');
      metrics.inc('master/slave_removals/reason_unhealthy');
    } else metrics.inc('master/recovery_slave_removals');
    metrics.inc('master/slave_unreachable_completed');
    metrics.inc('master/slave_removals');
    this.ctx.log.warn('agent marked unreachable', { agent: agent.id, why });
  }

  /** Removes an agent for good (it unregistered, or a new agent took its address). */
  remove(agent: AgentEntry, why: 'unregistered' | 'registered'): void {
    const { state, metrics, registry } = this.ctx;
    this.ctx.offers.rescindAgentOffers(agent);
    this.ctx.tasks.agentLost(agent, 'removed', this.ctx.clock.now());
    state.agents.delete(agent.id);
    state.removedAgents.add(agent.id);
    this.ctx.frameworks.broadcast({ type: 'FAILURE', failure: { agent_id: { value: agent.id } } });
    registry.background('agent removal', registry.deleteAgent(agent.id));
    metrics.inc('master/slave_removals');
    metrics.inc(why === 'unregistered' ? 'master/slave_removals/reason_unregistered' : 'master/slave_removals/reason_registered');
    this.ctx.log.info('agent removed', { agent: agent.id, why });
  }

  private recoveryDeadline(): void {
    for (const agent of [...this.ctx.state.agents.values()]) if (agent.status === 'recovered') this.markUnreachable(agent, 'recovery');
  }
}
