// (Re-)registration with the master: REGISTER_AGENT for a new agent, REREGISTER_AGENT (same id, with its
// tasks) after a restart or whenever the master asks, retried with exponential backoff (plus jitter) until
// the master accepts. A ping watchdog re-registers when the master has not pinged for 3 intervals.
import { AGENT_MESSAGE_PATH, type AgentToMaster, type MasterReply } from '../protocol/internal.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Transport } from '../runtime/transport.ts';

export const MISSED_PINGS_BEFORE_REREGISTER = 3;

export interface RegistrarDeps {
  clock: Clock;
  ids: IdSource;
  log: Logger;
  transport: Transport;
  masterUrl: string;
  backoffMs: number;
  maxBackoffMs: number;
  /** The registration message for the current id (undefined: a new agent). */
  message(agentId: string | undefined): AgentToMaster;
  /** Registration accepted: checkpoint the id etc. Runs before the agent counts as registered. */
  onRegistered(agentId: string, previousId: string | undefined): Promise<void>;
  /** Connection state changes (the status update manager holds updates while disconnected). */
  onConnected(connected: boolean): void;
  /** The master removed this agent. */
  onShutdown(message: string): void;
}

type State = 'idle' | 'registering' | 'registered' | 'stopped';

export class Registrar {
  private state: State = 'idle';
  agentId?: string;
  masterId?: string;
  pingIntervalMs = 5000;
  private lastPingAt = 0;
  private watchdog?: TimerHandle;
  private retry?: TimerHandle;
  private waiters: ((id: string) => void)[] = [];
  /** Counts attempts, for logs and tests. */
  attempts = 0;

  constructor(private deps: RegistrarDeps) {}

  get registered(): boolean {
    return this.state === 'registered';
  }

  start(agentId: string | undefined): void {
    this.agentId = agentId;
    this.trigger(agentId ? 'recovered checkpoint' : 'new agent');
  }

  /** Starts a (re-)registration unless one is already under way. */
  trigger(reason: string): void {
    if (this.state === 'stopped' || this.state === 'registering') return;
    if (this.state === 'registered') this.deps.log.info('re-registering with the master', { reason });
    this.state = 'registering';
    this.watchdog?.cancel();
    this.watchdog = undefined;
    this.deps.onConnected(false);
    void this.attempt(this.deps.backoffMs);
  }

  private async attempt(backoffMs: number): Promise<void> {
    if (this.state !== 'registering') return;
    this.attempts++;
    const previousId = this.agentId;
    try {
      const res = await this.deps.transport.post(this.deps.masterUrl + AGENT_MESSAGE_PATH, this.deps.message(previousId), { timeoutMs: 5000 });
      if (this.state !== 'registering') return;
      const reply = res.body as MasterReply | undefined;
      if (res.status === 200 && (reply?.type === 'REGISTERED' || reply?.type === 'REREGISTERED')) {
        await this.accepted(reply, previousId);
        return;
      }
      if (reply?.type === 'SHUTDOWN') {
        this.stop();
        this.deps.onShutdown(reply.message);
        return;
      }
      this.deps.log.warn('the master did not accept the registration; retrying', { status: res.status, reply });
    } catch (e) {
      this.deps.log.debug('cannot reach the master; retrying', { error: (e as Error).message });
    }
    if (this.state !== 'registering') return;
    const delay = Math.round(backoffMs * (0.5 + this.deps.ids.random() / 2));
    this.retry = this.deps.clock.setTimeout(() => void this.attempt(Math.min(backoffMs * 2, this.deps.maxBackoffMs)), delay);
  }

  private async accepted(reply: Extract<MasterReply, { type: 'REGISTERED' | 'REREGISTERED' }>, previousId: string | undefined): Promise<void> {
    const id = reply.agent_id.value;
    this.agentId = id;
    this.masterId = reply.master_id;
    if (reply.ping_interval_seconds > 0) this.pingIntervalMs = reply.ping_interval_seconds * 1000;
    try {
      await this.deps.onRegistered(id, previousId);
    } catch (e) {
      this.deps.log.error('cannot checkpoint the agent id', { error: (e as Error).message });
    }
    if (this.state !== 'registering') return;
    this.state = 'registered';
    this.deps.log.info(reply.type === 'REGISTERED' ? 'registered with the master' : 're-registered with the master', {
      agent_id: id,
      master_id: reply.master_id,
    });
    this.lastPingAt = this.deps.clock.now();
    this.watchdog = this.deps.clock.setInterval(() => this.checkPings(), this.pingIntervalMs);
    this.deps.onConnected(true);
    for (const w of this.waiters.splice(0)) w(id);
  }

  /** A PING arrived. A different master id means a new leading master: re-register with it. */
  onPing(masterId: string): void {
    this.lastPingAt = this.deps.clock.now();
    if (this.state === 'registered' && this.masterId !== undefined && masterId !== this.masterId) this.trigger('a new master is pinging');
  }

  private checkPings(): void {
    const silentMs = this.deps.clock.now() - this.lastPingAt;
    if (silentMs > MISSED_PINGS_BEFORE_REREGISTER * this.pingIntervalMs) this.trigger(`no ping from the master for ${silentMs} ms`);
  }

  whenRegistered(): Promise<string> {
    if (this.state === 'registered' && this.agentId) return Promise.resolve(this.agentId);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stop(): void {
    this.state = 'stopped';
    this.watchdog?.cancel();
    this.retry?.cancel();
  }
}
