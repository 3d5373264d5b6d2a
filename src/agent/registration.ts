// (Re-)registration with the master: REGISTER_AGENT for a new agent, REREGISTER_AGENT (same id, with its
// tasks) after a restart or whenever the master asks, retried with exponential backoff (plus jitter) until
// the master accepts. A ping watchdog re-registers when the master has not pinged for 3 intervals.
//
// The master is the *leading* master, found through a MasterLocator: every attempt asks it where the
// leader is now, a leader that cannot be reached is reported back to it, and a locator that learns of
// a new leader by itself (etcd) makes a registered agent re-register with the new one at once, with
// its id and its tasks (the new leader's PING with its new master id would too, but only once that
// leader knows where the agent is).
import type { LeaderInfo, MasterLocator } from '../client/master-locator.ts';
import { AGENT_MESSAGE_PATH, type AgentToMaster, type MasterReply } from '../protocol/internal.ts';
import { NO_REDIRECT_HEADER } from '../protocol/leader-header.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Transport, TransportResponse } from '../runtime/transport.ts';

export const MISSED_PINGS_BEFORE_REREGISTER = 3;

export interface RegistrarDeps {
  clock: Clock;
  ids: IdSource;
  log: Logger;
  transport: Transport;
  /** Where the leading master is. */
  locator: MasterLocator;
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
  /** Base URL of the master that accepted the last registration. */
  masterUrl?: string;
  pingIntervalMs = 5000;
  private lastPingAt = 0;
  private watchdog?: TimerHandle;
  /** The pending retry of a failed registration attempt (none while an attempt is in flight). */
  private retry?: TimerHandle;
  /** The backoff the pending retry will use. */
  private retryBackoffMs?: number;
  private waiters: ((id: string) => void)[] = [];
  private unwatchLeader?: () => void;
  /** The leader the locator announced last (a change during a registration is checked after it). */
  private announced?: LeaderInfo;
  /** Bumped by each attempt: the result of a superseded one is ignored. */
  private attemptGen = 0;
  /** Where the attempt in flight went (undefined: none in flight, or not sent yet). */
  private inFlightUrl?: string;
  /** Counts attempts, for logs and tests. */
  attempts = 0;

  constructor(private deps: RegistrarDeps) {}

  get registered(): boolean {
    return this.state === 'registered';
  }

  start(agentId: string | undefined): void {
    this.agentId = agentId;
    this.unwatchLeader = this.deps.locator.onChange((l) => this.leaderChanged(l));
    this.trigger(agentId ? 'recovered checkpoint' : 'new agent');
  }

  private leaderChanged(l: LeaderInfo | undefined): void {
    this.announced = l;
    if (!l) return;
    if (this.state === 'registering') {
      // An attempt in flight to another master (e.g. the old leader, paused: it would hang for the
      // transport's timeout) is superseded by one to the new leader at once.
      if (!this.retry && this.inFlightUrl !== undefined && this.inFlightUrl !== l.url) {
        this.deps.log.info('retrying the registration now', { reason: `the leading master is now ${l.url}`, abandoned: this.inFlightUrl });
        this.inFlightUrl = undefined;
        void this.attempt(this.retryBackoffMs ?? this.deps.backoffMs);
        return;
      }
      this.retryNow(`the leading master is now ${l.url}`);
      return;
    }
    if (this.state !== 'registered') return;
    const sameMaster = l.url === this.masterUrl && (l.id === undefined || l.id === this.masterId);
    if (!sameMaster) this.trigger(`the leading master is now ${l.url}${l.id ? ` (${l.id})` : ''}`);
  }

  /**
   * Backing off because no master would take us (e.g. etcd lost quorum, or the new leader was still
   * recovering): a sign that a master leads now is worth acting on at once rather than at the end of a
   * backoff of up to maxBackoffMs. Only a pending retry is brought forward (none while an attempt is
   * in flight), with the backoff it would have had: each sign costs at most one attempt.
   */
  private retryNow(reason: string): void {
    if (this.state !== 'registering' || !this.retry) return;
    this.retry.cancel();
    this.retry = undefined;
    this.deps.log.info('retrying the registration now', { reason });
    void this.attempt(this.retryBackoffMs ?? this.deps.backoffMs);
  }

  /**
   * POSTs an agent → master message to the leading master. A leader that cannot be reached, or a
   * follower that knows none (503), is reported to the locator so that the next send looks again.
   *
   * With a URL locator a follower's 307 is followed by the transport (the masters are how it finds
   * the leader). With the election (etcd) the agent asks the master it names not to redirect: around
   * a failover the agent may hear of the new leader a few ms before that master does, and a 307 would
   * take it back to the leader being replaced, to hang there and then suspect the new one. The master
   * answers 503 instead; the agent retries it after its (short) backoff, or at once on its PING.
   */
  async sendToMaster(message: AgentToMaster, timeoutMs = 5000, sending?: (url: string) => void): Promise<TransportResponse & { url: string }> {
    const url = await this.deps.locator.current();
    sending?.(url);
    const headers = this.deps.locator.kind === 'etcd' ? { [NO_REDIRECT_HEADER]: '1' } : undefined;
    let res: TransportResponse;
    try {
      res = await this.deps.transport.post(url + AGENT_MESSAGE_PATH, message, { timeoutMs, ...(headers ? { headers } : {}) });
    } catch (e) {
      this.deps.locator.invalidate(url, 'unreachable');
      throw e;
    }
    // A redirect the transport did not follow says the same as a 503: that master does not lead now.
    if (res.status === 503 || (res.status >= 300 && res.status < 400)) this.deps.locator.invalidate(url, 'refused');
    return { ...res, url };
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
    const gen = ++this.attemptGen;
    const previousId = this.agentId;
    try {
      const res = await this.sendToMaster(this.deps.message(previousId), undefined, (url) => {
        if (gen === this.attemptGen) this.inFlightUrl = url;
      });
      if (gen !== this.attemptGen) return;
      this.inFlightUrl = undefined;
      if (this.state !== 'registering') return;
      const reply = res.body as MasterReply | undefined;
      if (res.status === 200 && (reply?.type === 'REGISTERED' || reply?.type === 'REREGISTERED')) {
        await this.accepted(reply, previousId, res.url);
        return;
      }
      if (reply?.type === 'SHUTDOWN') {
        this.stop();
        this.deps.onShutdown(reply.message);
        return;
      }
      this.deps.log.warn('the master did not accept the registration; retrying', { status: res.status, reply });
    } catch (e) {
      if (gen !== this.attemptGen) return;
      this.inFlightUrl = undefined;
      this.deps.log.debug('cannot reach the master; retrying', { error: (e as Error).message });
    }
    if (this.state !== 'registering') return;
    const delay = Math.round(backoffMs * (0.5 + this.deps.ids.random() / 2));
    const next = Math.min(backoffMs * 2, this.deps.maxBackoffMs);
    this.retryBackoffMs = next;
    this.retry = this.deps.clock.setTimeout(() => {
      this.retry = undefined;
      void this.attempt(next);
    }, delay);
  }

  private async accepted(reply: Extract<MasterReply, { type: 'REGISTERED' | 'REREGISTERED' }>, previousId: string | undefined, url: string): Promise<void> {
    const id = reply.agent_id.value;
    this.agentId = id;
    this.masterId = reply.master_id;
    this.masterUrl = url;
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
      master: url,
    });
    this.lastPingAt = this.deps.clock.now();
    this.watchdog = this.deps.clock.setInterval(() => this.checkPings(), this.pingIntervalMs);
    this.deps.onConnected(true);
    for (const w of this.waiters.splice(0)) w(id);
    // Registered with a master that stopped leading meanwhile: go to the one that leads now.
    this.leaderChanged(this.announced);
  }

  /** A PING arrived. A different master id means a new leading master: re-register with it. */
  onPing(masterId: string): void {
    this.lastPingAt = this.deps.clock.now();
    if (this.state === 'registering') this.retryNow(`master ${masterId} is pinging`);
    else if (this.state === 'registered' && this.masterId !== undefined && masterId !== this.masterId) this.trigger('a new master is pinging');
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
    this.unwatchLeader?.();
    this.unwatchLeader = undefined;
  }
}
