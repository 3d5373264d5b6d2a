// The framework connection: subscribe as `marathon` with the stored framework id, re-subscribe
// with backoff whenever the stream drops, and keep the offer flow right (SUPPRESS when nothing
// needs offers, REVIVE when something does). It owns no orchestration state: events go to the
// handlers given at construction.
//
// The master is found through one MasterLocator kept for the connection's life: every
// re-subscription asks it for the leader again, so after a master failover the framework
// re-subscribes to the new leader with its framework id.
import os from 'node:os';
import { locatorFor, type MasterLocator } from '../client/master-locator.ts';
import { SchedulerClient, type Subscribed } from '../client/scheduler-client.ts';
import type { FrameworkInfo, ID, KillPolicy, Offer, TaskInfo, TaskStatus } from '../protocol/mesos.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';

export interface FrameworkHandlers {
  /** Called on every (re)subscription, after the framework id is known. */
  onSubscribed(info: Subscribed, reregistered: boolean): Promise<void> | void;
  onDisconnected(): void;
  onOffers(offers: Offer[]): void;
  onRescind(offerId: string): void;
  onUpdate(status: TaskStatus): void;
  onAgentFailure(agentId: string): void;
  /** The stored framework id was refused (framework removed): forget it and start fresh. */
  onFrameworkRemoved(message: string): Promise<void> | void;
  /**
   * Another scheduler subscribed with this framework id (Mesos's "Framework failed over"): the
   * framework lives on there, so its id is kept. The connection re-subscribes after its backoff
   * unless closed meanwhile (an HA instance that no longer leads closes it).
   */
  onFailedOver?(message: string): void;
}

export interface FrameworkOptions {
  /** A --master string: a URL, a comma-separated list of URLs, or etcd://host:port[,…]. */
  masterUrl: string;
  /** Finds the leading master instead of masterUrl (not closed by close()). */
  masterLocator?: MasterLocator;
  name: string;
  role: string;
  user?: string;
  failoverTimeoutSeconds: number;
  webuiUrl?: string;
  hostname?: string;
  clock: Clock;
  log: Logger;
  /** Reconnect backoff (ms): initial and cap. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Minimum time between two REVIVE calls (Marathon's --min_revive_offers_interval). */
  minReviveIntervalMs?: number;
}

export class FrameworkConnection {
  private readonly locator: MasterLocator;
  private readonly ownsLocator: boolean;
  private client: SchedulerClient;
  private frameworkId?: string;
  private closed = false;
  private retryMs: number;
  private retryTimer?: TimerHandle;
  private subscribing = false;
  private suppressed = false;
  private wantOffers = true;
  private lastReviveAt = 0;
  private reviveTimer?: TimerHandle;
  private everSubscribed = false;
  private readonly declines = new Set<Promise<unknown>>();

  constructor(
    private readonly opts: FrameworkOptions,
    private readonly handlers: FrameworkHandlers,
  ) {
    this.retryMs = opts.reconnectInitialMs ?? 200;
    const { locator, owned } = locatorFor(opts.masterLocator ?? opts.masterUrl, { log: opts.log.child('locator') });
    this.locator = locator;
    this.ownsLocator = owned;
    this.client = this.newClient();
  }

  get id(): string | undefined {
    return this.frameworkId;
  }
  get connected(): boolean {
    return this.client.isConnected;
  }
  get masterUrl(): string {
    return this.client.masterUrl;
  }
  get user(): string {
    return this.opts.user ?? safeUser();
  }

  private newClient(): SchedulerClient {
    const c = new SchedulerClient({ locator: this.locator, log: this.opts.log.child('scheduler-client'), subscribeTimeoutMs: 15_000, callTimeoutMs: 15_000 });
    c.on('offers', (o) => this.handlers.onOffers(o));
    c.on('rescind', (id) => this.handlers.onRescind(id));
    c.on('update', (s) => this.handlers.onUpdate(s));
    c.on('failure', (f) => {
      if (f.agent_id && !f.executor_id) this.handlers.onAgentFailure(f.agent_id.value);
    });
    c.on('disconnected', () => {
      if (this.closed) return;
      this.handlers.onDisconnected();
      this.scheduleReconnect();
    });
    c.on('master-error', (msg) => {
      this.opts.log.warn('master sent ERROR', { message: msg });
      if (this.closed) return;
      // The stream is closed by the master after ERROR; re-subscribe with a fresh client.
      this.client.close();
      this.client = this.newClient();
      this.handlers.onDisconnected();
      // Failed over is not removed: forgetting the id would orphan the framework's tasks.
      if (/failed over/i.test(msg)) this.handlers.onFailedOver?.(msg);
      void Promise.resolve(/removed|unknown framework/i.test(msg) ? this.frameworkRemoved(msg) : undefined).then(() =>
        this.scheduleReconnect(),
      );
    });
    return c;
  }

  private async frameworkRemoved(msg: string): Promise<void> {
    this.frameworkId = undefined;
    await this.handlers.onFrameworkRemoved(msg);
  }

  private frameworkInfo(): FrameworkInfo {
    return {
      user: this.user,
      name: this.opts.name,
      ...(this.frameworkId ? { id: { value: this.frameworkId } } : {}),
      failover_timeout: this.opts.failoverTimeoutSeconds,
      checkpoint: true,
      role: this.opts.role,
      ...(this.opts.hostname ? { hostname: this.opts.hostname } : {}),
      ...(this.opts.webuiUrl ? { webui_url: this.opts.webuiUrl } : {}),
      capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }, { type: 'GPU_RESOURCES' }],
    };
  }

  /** Subscribes (with `frameworkId` when known); retries with backoff until it works or close(). */
  start(frameworkId: string | undefined): void {
    this.frameworkId = frameworkId;
    void this.trySubscribe();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.opts.reconnectMaxMs ?? 10_000);
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.trySubscribe();
    }, delay);
  }

  private async trySubscribe(): Promise<void> {
    if (this.closed || this.subscribing || this.client.isConnected) return;
    this.subscribing = true;
    try {
      const info = await this.client.subscribe(this.frameworkInfo(), this.wantOffers ? {} : { suppressedRoles: [this.opts.role] });
      this.suppressed = !this.wantOffers;
      if (this.closed) return;
      const reregistered = this.everSubscribed || this.frameworkId === info.frameworkId;
      this.frameworkId = info.frameworkId;
      this.everSubscribed = true;
      this.retryMs = this.opts.reconnectInitialMs ?? 200;
      this.opts.log.info('subscribed', { frameworkId: info.frameworkId, master: info.masterUrl, reregistered });
      await this.handlers.onSubscribed(info, reregistered);
    } catch (err) {
      if (this.closed) return;
      const msg = (err as Error).message;
      this.opts.log.warn('subscribe failed; retrying', { error: msg, retryInMs: this.retryMs });
      if (this.frameworkId && /removed|has been removed|completed/i.test(msg)) {
        this.client.close();
        this.client = this.newClient();
        await this.frameworkRemoved(msg);
      }
      this.scheduleReconnect();
    } finally {
      this.subscribing = false;
    }
  }

  /** Declares whether anything needs offers now: REVIVE (rate-limited) or SUPPRESS on change. */
  setWantOffers(want: boolean): void {
    this.wantOffers = want;
    if (!this.client.isConnected) return;
    if (want && this.suppressed) this.revive();
    else if (!want && !this.suppressed) {
      this.suppressed = true;
      this.reviveTimer?.cancel();
      this.reviveTimer = undefined;
      const p = this.client.suppress([this.opts.role]).catch((e) => this.opts.log.debug('SUPPRESS failed', { error: (e as Error).message }));
      // A REVIVE must reach the master after this SUPPRESS, never before it (separate requests).
      const tracked = p.finally(() => this.declines.delete(tracked));
      this.declines.add(tracked);
    }
  }

  /** REVIVE now or as soon as the minimum interval allows (clears refuse filters too). */
  revive(): void {
    if (!this.client.isConnected || this.reviveTimer) return;
    const min = this.opts.minReviveIntervalMs ?? 1000;
    const wait = this.lastReviveAt + min - this.opts.clock.now();
    const go = () => {
      this.reviveTimer = undefined;
      if (!this.client.isConnected || !this.wantOffers) return;
      this.lastReviveAt = this.opts.clock.now();
      this.suppressed = false;
      // A DECLINE (or SUPPRESS) still in flight would install its filter after the REVIVE cleared the filters.
      void Promise.allSettled([...this.declines]).then(() =>
        this.client.revive([this.opts.role]).catch((e) => this.opts.log.debug('REVIVE failed', { error: (e as Error).message })),
      );
    };
    if (wait <= 0) go();
    else this.reviveTimer = this.opts.clock.setTimeout(go, wait);
  }

  launch(offerIds: string[], tasks: TaskInfo[], refuseSeconds: number): Promise<unknown> {
    return this.client.launch(offerIds, tasks, { refuse_seconds: refuseSeconds });
  }
  decline(offerIds: string[], refuseSeconds: number): Promise<unknown> {
    const p = this.client.decline(offerIds, { refuse_seconds: refuseSeconds });
    const tracked = p.catch(() => {}).finally(() => this.declines.delete(tracked));
    this.declines.add(tracked);
    return p;
  }
  kill(taskId: string, agentId: string | undefined, killPolicy?: KillPolicy): Promise<unknown> {
    return this.client.kill(taskId, agentId || undefined, killPolicy);
  }
  acknowledge(status: { task_id: ID; agent_id?: ID; uuid?: string }): Promise<boolean> {
    return this.client.acknowledge(status);
  }
  reconcile(tasks: { taskId: string; agentId?: string }[]): Promise<unknown> {
    return this.client.reconcile(tasks.map((t) => ({ taskId: t.taskId, ...(t.agentId ? { agentId: t.agentId } : {}) })));
  }

  close(): void {
    this.closed = true;
    this.retryTimer?.cancel();
    this.reviveTimer?.cancel();
    this.client.close();
    if (this.ownsLocator) void this.locator.close();
  }
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}
