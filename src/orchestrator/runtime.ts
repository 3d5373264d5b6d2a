// OrchestratorRuntime: wires the framework connection, instance tracker, launch queue, health
// and readiness checks, task reconciliation and the deployment runner around one shared state,
// and implements OrchestratorService. State changes are serialised through one async lock
// (`exclusive`); network calls to the master (ACCEPT, KILL, ACKNOWLEDGE) are sent after the
// change they depend on is persisted, outside the lock.
import type { Subscribed } from '../client/scheduler-client.ts';
import type { Offer, TaskStatus } from '../protocol/mesos.ts';
import { CorralError, NotFoundError, UnavailableError } from '../protocol/errors.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Store } from '../store/store.ts';
import { recordLaunchFailure } from '../core/deployment/index.ts';
import { applyChange, assertCreatable, nextVersion, revertTarget, stopDeployment, type ChangeRequest } from './changes.ts';
import type { Ctx } from './context.ts';
import { toAppSpec } from './decide.ts';
import { EventBus } from './events.ts';
import { FrameworkConnection } from './framework.ts';
import { groupIds, groupTree, isUnder } from './groups.ts';
import { HealthMonitor } from './health.ts';
import { InstanceTracker, isActiveCondition } from './instances.ts';
import { LaunchQueue } from './launch-queue.ts';
import { Persistence, type GroupMeta, type LoadedState } from './persist.ts';
import { ReadinessMonitor } from './readiness.ts';
import { groupAtVersion, groupVersionList } from './root-versions.ts';
import { Runner } from './runner.ts';
import type {
  AppDefinition,
  AppStatus,
  DeployOptions,
  DeploymentRecord,
  DeploymentResult,
  DryRunResult,
  GroupChange,
  GroupNode,
  InstanceRecord,
  KillTasksRequest,
  KillTasksResult,
  OrchestratorInfo,
  OrchestratorService,
  QueueEntry,
} from './service.ts';
import { applyStatusUpdate } from './status.ts';
import { TaskReconciler } from './task-reconciler.ts';
import { appStatus, queueEntries } from './views.ts';

export const ORCHESTRATOR_VERSION = '1.11.0-corral';

export interface RuntimeConfig {
  masterUrl: string;
  store: Store;
  clock: Clock;
  ids: IdSource;
  log: Logger;
  frameworkName: string;
  role: string;
  user?: string;
  hostname?: string;
  webuiUrl?: string;
  failoverTimeoutSeconds: number;
  reconciliationIntervalMs: number;
  reconciliationRetryInitialMs: number;
  reconciliationRetryMaxMs: number;
  /** Periodic tick (besides the event-driven ones). */
  tickIntervalMs: number;
  storeDeadlineMs: number;
  killRetryMs: number;
  launchConfirmTimeoutMs: number;
  maxInstancesPerOffer: number;
  declineRefuseSeconds: number;
  idleRefuseSeconds: number;
  minReviveIntervalMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** Another scheduler took the framework over (an HA stack checks whether it still leads). */
  onFailedOver?: (message: string) => void;
}

export class OrchestratorRuntime implements OrchestratorService {
  readonly events: EventBus;
  private readonly ctx: Ctx;
  private readonly runner: Runner;
  private readonly queueMatcher: LaunchQueue;
  private readonly health: HealthMonitor;
  private readonly readiness: ReadinessMonitor;
  private readonly reconciler: TaskReconciler;
  private readonly fw: FrameworkConnection;
  private lock: Promise<unknown> = Promise.resolve();
  private tickRunning = false;
  private tickAgain = false;
  private tickTimer?: TimerHandle;
  private wakeTimer?: TimerHandle;
  private wakeAt?: number;
  private periodic?: TimerHandle;
  private closed = false;
  private readyResolve!: () => void;
  private readonly readyPromise: Promise<void>;

  constructor(private readonly cfg: RuntimeConfig) {
    const log = cfg.log;
    this.events = new EventBus(cfg.clock, log.child('events'));
    const persist = new Persistence(cfg.store, cfg.clock, log.child('store'), cfg.storeDeadlineMs);
    this.readyPromise = new Promise((r) => (this.readyResolve = r));
    this.fw = new FrameworkConnection(
      {
        masterUrl: cfg.masterUrl,
        name: cfg.frameworkName,
        role: cfg.role,
        user: cfg.user,
        hostname: cfg.hostname,
        webuiUrl: cfg.webuiUrl,
        failoverTimeoutSeconds: cfg.failoverTimeoutSeconds,
        clock: cfg.clock,
        log: log.child('framework'),
        minReviveIntervalMs: cfg.minReviveIntervalMs,
        reconnectInitialMs: cfg.reconnectInitialMs,
        reconnectMaxMs: cfg.reconnectMaxMs,
      },
      {
        onSubscribed: (info, re) => this.onSubscribed(info, re),
        onDisconnected: () => this.onDisconnected(),
        onOffers: (offers) => void this.onOffers(offers),
        onRescind: () => {},
        onUpdate: (status) => void this.onUpdate(status),
        onAgentFailure: (agentId) => log.info('agent failed', { agentId }),
        onFrameworkRemoved: (msg) => this.onFrameworkRemoved(msg),
        onFailedOver: (msg) => {
          log.error('another scheduler subscribed with this framework id', { message: msg });
          cfg.onFailedOver?.(msg);
        },
      },
    );
    this.ctx = {
      clock: cfg.clock,
      ids: cfg.ids,
      log,
      persist,
      events: this.events,
      tracker: new InstanceTracker(persist),
      fw: this.fw,
      apps: new Map(),
      groups: new Map(),
      rootVersions: [],
      deployments: new Map(),
      failures: new Map(),
      backoff: new Map(),
      queue: new Map(),
      killingUnknown: new Map(),
      lastKillAt: new Map(),
      reconciled: false,
      requestTick: () => this.requestTick(),
    };
    const lookup = (instanceId: string) => {
      const inst = this.ctx.tracker.get(instanceId);
      const app = inst && this.ctx.apps.get(inst.appId);
      return inst && app ? { inst, app } : undefined;
    };
    this.health = new HealthMonitor(cfg.clock, log.child('health'), this.events, lookup, {
      onHealthChanged: (inst) => void this.exclusive(() => this.ctx.tracker.save(inst)).catch(() => {}).then(() => this.requestTick()),
      onUnhealthy: (inst, reason) => void this.killUnhealthy(inst, reason),
    });
    this.readiness = new ReadinessMonitor(cfg.clock, lookup, () => this.requestTick());
    this.reconciler = new TaskReconciler(
      this.ctx,
      { intervalMs: cfg.reconciliationIntervalMs, initialRetryMs: cfg.reconciliationRetryInitialMs, maxRetryMs: cfg.reconciliationRetryMaxMs }, () => this.requestTick());
    this.runner = new Runner(
      this.ctx,
      {
        sendKill: (inst) => this.sendKill(inst),
        syncChecks: (app, instances, inDeployment) => {
          this.health.sync(app, instances);
          if (inDeployment && app) this.readiness.sync(app, instances);
        },
        stopChecks: (inst) => {
          this.health.stopInstance(inst.instanceId);
          this.readiness.stopInstance(inst.instanceId);
        },
        reconcileTasks: (ids) => this.reconciler.reconcileTasks(ids),
        demandChanged: (want, wakeAt) => this.demandChanged(want, wakeAt),
      },
      { killRetryMs: cfg.killRetryMs, launchConfirmTimeoutMs: cfg.launchConfirmTimeoutMs },
    );
    this.queueMatcher = new LaunchQueue(this.ctx, {
      maxInstancesPerOffer: cfg.maxInstancesPerOffer,
      declineRefuseSeconds: cfg.declineRefuseSeconds,
      idleRefuseSeconds: cfg.idleRefuseSeconds,
    });
  }

  // ─── Lifecycle ───────────────────────────────────────────────────────────

  /** Loads the stored state and starts the framework connection. */
  async start(): Promise<void> {
    const state = await this.ctx.persist.load();
    this.restore(state);
    this.fw.start(state.frameworkId);
    this.periodic = this.cfg.clock.setInterval(() => this.requestTick(), this.cfg.tickIntervalMs);
    this.cfg.log.info('orchestrator state loaded', {
      apps: this.ctx.apps.size,
      instances: this.ctx.tracker.all().length,
      deployments: this.ctx.deployments.size,
      frameworkId: state.frameworkId ?? null,
    });
  }

  private restore(state: LoadedState): void {
    const ctx = this.ctx;
    for (const a of state.apps) ctx.apps.set(a.id, a);
    for (const g of state.groups) ctx.groups.set(g.id, g);
    for (const f of state.failures) ctx.failures.set(f.appId, f);
    ctx.rootVersions.push(...state.rootVersions);
    ctx.tracker.restore(state.instances);
    const running = state.deployments.filter((d) => d.state === 'running').sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const d of running) {
      ctx.deployments.set(d.id, d);
      // Repair a crash between writing the record and the app definitions: the record wins.
      for (const id of d.affectedApps) {
        const t = d.target[id];
        const cur = ctx.apps.get(id);
        if (t && (!cur || (cur.version ?? '') < (t.version ?? ''))) {
          ctx.apps.set(id, t);
          void ctx.persist.saveApp(t).catch(() => {});
        } else if (!t && cur && (cur.version ?? '') <= d.version) {
          ctx.apps.delete(id);
          void ctx.persist.removeAppDefinition(id).catch(() => {});
        }
      }
    }
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tickTimer?.cancel();
    this.wakeTimer?.cancel();
    this.periodic?.cancel();
    this.health.close();
    this.readiness.close();
    this.reconciler.close();
    this.fw.close();
    // Let the operation in progress finish (bounded).
    await Promise.race([this.lock.catch(() => {}), new Promise((r) => this.cfg.clock.setTimeout(() => r(undefined), 2000))]);
  }

  /** Runs `fn` after every earlier state change (one at a time). */
  private exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.lock.then(
      () => fn(),
      () => fn(),
    );
    this.lock = run.catch(() => {});
    return run;
  }

  private requestTick(): void {
    if (this.closed) return;
    if (this.tickRunning) {
      this.tickAgain = true;
      return;
    }
    if (this.tickTimer) return;
    this.tickTimer = this.cfg.clock.setTimeout(() => {
      this.tickTimer = undefined;
      void this.runTick();
    }, 0);
  }

  private async runTick(): Promise<void> {
    if (this.closed) return;
    this.tickRunning = true;
    this.tickAgain = false;
    try {
      await this.exclusive(() => this.runner.tick());
    } catch (err) {
      this.cfg.log.warn('tick failed; retrying', { error: (err as Error).message });
      this.cfg.clock.setTimeout(() => this.requestTick(), 1000);
    } finally {
      this.tickRunning = false;
    }
    if (this.tickAgain) this.requestTick();
  }

  private demandChanged(want: boolean, wakeAt?: number): void {
    this.fw.setWantOffers(want);
    if (wakeAt !== undefined && wakeAt !== this.wakeAt) {
      this.wakeTimer?.cancel();
      this.wakeAt = wakeAt;
      this.wakeTimer = this.cfg.clock.setTimeout(
        () => {
          this.wakeTimer = undefined;
          this.wakeAt = undefined;
          this.requestTick();
        },
        Math.max(0, wakeAt - this.cfg.clock.now()),
      );
    }
  }

  // ─── Master events ───────────────────────────────────────────────────────

  private async onSubscribed(info: Subscribed, reregistered: boolean): Promise<void> {
    const ctx = this.ctx;
    try {
      await this.exclusive(() => ctx.persist.saveFrameworkId(info.frameworkId));
    } catch (err) {
      this.cfg.log.error('could not persist the framework id', { error: (err as Error).message });
    }
    this.events.publish(
      reregistered
        ? { eventType: 'scheduler_reregistered_event', master: info.masterUrl }
        : { eventType: 'scheduler_registered_event', frameworkId: info.frameworkId, master: info.masterUrl },
    );
    this.reconciler.start();
    this.readyResolve();
    this.requestTick();
  }

  private onDisconnected(): void {
    this.ctx.reconciled = false;
    this.reconciler.pause();
    this.events.publish({ eventType: 'scheduler_disconnected_event' });
  }

  private async onFrameworkRemoved(message: string): Promise<void> {
    this.cfg.log.error('the master removed this framework; subscribing as a new one', { message });
    await this.exclusive(() => this.ctx.persist.clearFrameworkId()).catch(() => {});
  }

  private async onOffers(offers: Offer[]): Promise<void> {
    let round;
    try {
      round = await this.exclusive(async () => {
        const r = await this.queueMatcher.match(offers);
        // Declined as idle (refused for longer than a plain decline: nothing is ready to launch):
        // suppress now, in the lock, so that demand arriving before the next tick (an app created
        // right after these offers came) REVIVEs, which also clears that long filter.
        if (r.decline.length && r.refuseSeconds > this.cfg.declineRefuseSeconds) this.fw.setWantOffers(false);
        return r;
      });
    } catch (err) {
      this.cfg.log.warn('offer round failed; declining', { error: (err as Error).message });
      this.fw.decline(offers.map((o) => o.id.value), 1).catch(() => {});
      return;
    }
    const log = this.cfg.log;
    for (const l of round.launches) {
      this.fw.launch([l.offerId], l.tasks, round.acceptRefuseSeconds).catch((err) => {
        log.warn('ACCEPT failed; reconciling the tasks', { offerId: l.offerId, error: (err as Error).message });
        const ids = l.tasks.map((t) => t.task_id.value);
        this.cfg.clock.setTimeout(() => this.reconciler.reconcileTasks(ids), 1000);
      });
    }
    if (round.decline.length) this.fw.decline(round.decline, round.refuseSeconds).catch(() => {});
    if (round.launches.length) this.requestTick();
  }

  private async onUpdate(status: TaskStatus): Promise<void> {
    try {
      await this.exclusive(() =>
        applyStatusUpdate(this.ctx, status, {
          answered: (taskId) => this.reconciler.answered(taskId),
          stopped: (inst) => {
            this.health.stopInstance(inst.instanceId);
            this.readiness.stopInstance(inst.instanceId);
          },
          killUnknown: (taskId, agentId) => this.killUnknown(taskId, agentId),
        }),
      );
    } catch (err) {
      // Not acknowledged: the agent re-sends it.
      this.cfg.log.warn('could not record a status update; not acknowledging', { taskId: status.task_id.value, error: (err as Error).message });
      return;
    }
    if (status.uuid) this.fw.acknowledge(status).catch((e) => this.cfg.log.debug('ACKNOWLEDGE failed', { error: (e as Error).message }));
  }

  private killUnknown(taskId: string, agentId: string | undefined): void {
    const now = this.cfg.clock.now();
    const last = this.ctx.killingUnknown.get(taskId);
    if (last !== undefined && now - last < this.cfg.killRetryMs) return;
    this.ctx.killingUnknown.set(taskId, now);
    this.cfg.log.warn('killing a task this orchestrator does not know', { taskId, agentId });
    this.fw.kill(taskId, agentId).catch(() => {});
  }

  private sendKill(inst: InstanceRecord): void {
    const app = this.ctx.apps.get(inst.appId);
    const grace = app?.taskKillGracePeriodSeconds;
    const policy = typeof grace === 'number' ? { grace_period: { nanoseconds: Math.round(grace * 1e9) } } : undefined;
    this.fw.kill(inst.taskId, inst.agentId, policy).catch((e) => this.cfg.log.debug('KILL failed (will retry)', { taskId: inst.taskId, error: (e as Error).message }));
  }

  private async killUnhealthy(inst: InstanceRecord, reason: string): Promise<void> {
    await this.exclusive(async () => {
      const cur = this.ctx.tracker.get(inst.instanceId);
      if (!cur || cur.goal !== 'Running') return;
      cur.goal = 'Stopped';
      cur.killReason = `unhealthy: ${reason}`;
      await this.ctx.tracker.save(cur);
      const app = this.ctx.apps.get(cur.appId);
      if (app) this.ctx.backoff.set(app.id, recordLaunchFailure(toAppSpec(app), this.ctx.backoff.get(app.id), this.cfg.clock.now()));
      this.events.publish({
        eventType: 'unhealthy_instance_kill_event',
        appId: cur.appId,
        taskId: cur.taskId,
        instanceId: cur.instanceId,
        version: cur.version,
        reason,
        host: cur.host,
        slaveId: cur.agentId,
      });
      this.ctx.lastKillAt.set(cur.taskId, this.cfg.clock.now());
      this.sendKill(cur);
    }).catch((e) => this.cfg.log.warn('could not kill an unhealthy instance', { error: (e as Error).message }));
    this.requestTick();
  }

  // ─── Service: apps ───────────────────────────────────────────────────────

  info(): OrchestratorInfo {
    return {
      name: 'marathon',
      version: ORCHESTRATOR_VERSION,
      frameworkId: this.fw.id ?? null,
      frameworkName: this.cfg.frameworkName,
      masterUrl: this.fw.masterUrl,
      connected: this.fw.connected,
      role: this.cfg.role,
      user: this.fw.user,
      failoverTimeoutSeconds: this.cfg.failoverTimeoutSeconds,
      reconciliationIntervalMs: this.cfg.reconciliationIntervalMs,
      reconciled: this.ctx.reconciled,
    };
  }

  listApps(): AppStatus[] {
    return [...this.ctx.apps.values()].sort((a, b) => a.id.localeCompare(b.id)).map((a) => appStatus(this.ctx, a));
  }

  getApp(id: string): AppStatus | undefined {
    const app = this.ctx.apps.get(id);
    return app ? appStatus(this.ctx, app) : undefined;
  }

  private requireApp(id: string): AppDefinition {
    const app = this.ctx.apps.get(id);
    if (!app) throw new NotFoundError(`App '${id}' does not exist`, { id });
    return app;
  }

  async appVersions(id: string): Promise<string[]> {
    this.requireApp(id);
    return this.ctx.persist.versions(id);
  }

  async appVersion(id: string, version: string): Promise<AppDefinition> {
    this.requireApp(id);
    const def = await this.ctx.persist.version(id, version);
    if (!def) throw new NotFoundError(`App '${id}' does not exist in version ${version}`, { id, version });
    return def;
  }

  /** Builds the change from the current apps (inside the lock) and applies it. */
  private async deploy(
    req: Omit<ChangeRequest, 'target'> & { target: (apps: Map<string, AppDefinition>) => Map<string, AppDefinition> | { apps: Map<string, AppDefinition>; sentenced?: Record<string, string[]> } },
  ): Promise<DeploymentResult> {
    if (this.closed) throw new UnavailableError('the orchestrator is shutting down');
    return this.exclusive(async () => {
      const built = req.target(new Map(this.ctx.apps));
      const { target: _t, ...rest } = req;
      const change: ChangeRequest = built instanceof Map ? { ...rest, target: built } : { ...rest, target: built.apps, sentenced: built.sentenced };
      const out = await applyChange(this.ctx, change);
      if (out.dryRun) throw new CorralError('INTERNAL', 'unexpected dry run');
      const { dryRun: _d, ...result } = out;
      return result;
    });
  }

  private assertNotGroup(id: string): void {
    if (groupIds(this.ctx.apps.values(), this.ctx.groups.values()).has(id)) {
      throw new CorralError('CONFLICT', `A group with id [${id}] already exists.`, { id });
    }
  }

  createApp(app: AppDefinition, opts: DeployOptions = {}): Promise<DeploymentResult> {
    return this.deploy({
      force: opts.force,
      target: (apps) => {
        assertCreatable(this.ctx, app.id);
        this.assertNotGroup(app.id);
        apps.set(app.id, app);
        return apps;
      },
    });
  }

  async putApps(list: AppDefinition[], opts: DeployOptions = {}): Promise<DeploymentResult & { created: string[] }> {
    let created: string[] = [];
    const r = await this.deploy({
      force: opts.force,
      target: (apps) => {
        created = list.filter((a) => !apps.has(a.id)).map((a) => a.id);
        for (const id of created) this.assertNotGroup(id);
        for (const a of list) apps.set(a.id, a);
        return apps;
      },
    });
    return { ...r, created };
  }

  async rollbackApp(id: string, version: string, opts: DeployOptions = {}): Promise<DeploymentResult> {
    const def = await this.appVersion(id, version);
    return this.deploy({
      force: opts.force,
      target: (apps) => {
        apps.set(id, { ...def, id });
        return apps;
      },
    });
  }

  deleteApp(id: string, opts: DeployOptions = {}): Promise<DeploymentResult> {
    return this.deploy({
      force: opts.force,
      target: (apps) => {
        this.requireApp(id);
        apps.delete(id);
        return apps;
      },
    });
  }

  restartApp(id: string, opts: DeployOptions = {}): Promise<DeploymentResult> {
    return this.deploy({
      force: opts.force,
      restart: new Set([id]),
      target: (apps) => {
        this.requireApp(id);
        return apps;
      },
    });
  }

  // ─── Service: tasks ──────────────────────────────────────────────────────

  listInstances(): InstanceRecord[] {
    return this.ctx.tracker.all();
  }

  getInstance(taskOrInstanceId: string): InstanceRecord | undefined {
    return this.ctx.tracker.find(taskOrInstanceId);
  }

  async killTasks(req: KillTasksRequest): Promise<KillTasksResult> {
    const ctx = this.ctx;
    const pick = (): InstanceRecord[] => {
      const out: InstanceRecord[] = [];
      if (req.appId !== undefined) {
        this.requireApp(req.appId);
        for (const i of ctx.tracker.ofApp(req.appId)) if (!req.host || i.host === req.host) out.push(i);
      }
      for (const id of req.ids ?? []) {
        const i = ctx.tracker.find(id);
        if (!i || (req.appId !== undefined && i.appId !== req.appId)) throw new NotFoundError(`Task '${id}' does not exist`, { id });
        if (!out.includes(i)) out.push(i);
      }
      return out.filter((i) => isActiveCondition(i.condition));
    };
    if (!req.scale) {
      const killed = await this.exclusive(async () => {
        const list = pick();
        const now = this.cfg.clock.now();
        for (const i of list) {
          if (i.goal === 'Running') {
            i.goal = 'Stopped';
            i.killReason = 'killed on request';
            this.health.stopInstance(i.instanceId);
            await ctx.tracker.save(i);
          }
          ctx.lastKillAt.set(i.taskId, now);
          this.sendKill(i);
        }
        return list;
      });
      this.requestTick();
      return { scaled: false, killed };
    }
    let killed: InstanceRecord[] = [];
    const result = await this.deploy({
      force: req.force,
      target: (apps) => {
        killed = pick();
        const sentenced: Record<string, string[]> = {};
        for (const i of killed) (sentenced[i.appId] ??= []).push(i.instanceId);
        for (const [appId, ids] of Object.entries(sentenced)) {
          const app = apps.get(appId);
          if (!app) continue;
          const running = ids.filter((id) => ctx.tracker.get(id)?.goal === 'Running').length;
          apps.set(appId, { ...app, instances: Math.max(0, (app.instances ?? 1) - running) });
        }
        return { apps, sentenced };
      },
    });
    return { scaled: true, killed, result };
  }

  // ─── Service: deployments ────────────────────────────────────────────────

  listDeployments(): DeploymentRecord[] {
    return [...this.ctx.deployments.values()].filter((d) => d.state === 'running');
  }

  getDeployment(id: string): DeploymentRecord | undefined {
    return this.ctx.deployments.get(id);
  }

  async cancelDeployment(id: string, opts: { force?: boolean } = {}): Promise<DeploymentResult | undefined> {
    if (opts.force) {
      await this.exclusive(async () => {
        const d = this.ctx.deployments.get(id);
        if (!d) throw new NotFoundError(`DeploymentPlan ${id} does not exist`, { id });
        await stopDeployment(this.ctx, d, `deployment cancelled by DELETE /v2/deployments/${id}?force=true (no rollback)`);
      });
      this.requestTick();
      return undefined;
    }
    return this.deploy({
      force: true,
      preserveVersions: true,
      cancels: id,
      target: () => {
        const d = this.ctx.deployments.get(id);
        if (!d) throw new NotFoundError(`DeploymentPlan ${id} does not exist`, { id });
        return revertTarget(this.ctx, d);
      },
    });
  }

  // ─── Service: queue ──────────────────────────────────────────────────────

  queue(): QueueEntry[] {
    return queueEntries(this.ctx);
  }

  resetDelay(appId: string): void {
    const q = this.ctx.queue.get(appId);
    if (!q || q.count <= 0 || !this.ctx.apps.has(appId)) throw new NotFoundError(`Application ${appId} not found in tasks queue.`, { appId });
    this.ctx.backoff.delete(appId);
    this.requestTick();
  }

  // ─── Service: groups ─────────────────────────────────────────────────────

  getGroup(id: string): GroupNode | undefined {
    return groupTree(this.ctx, id);
  }

  async groupVersions(id: string): Promise<string[]> {
    const g = groupTree(this.ctx, id);
    if (!g) throw new NotFoundError(`Group '${id}' does not exist`, { id });
    return groupVersionList(this.ctx, id, g.version);
  }

  async groupVersion(id: string, version: string): Promise<GroupNode> {
    const found = await groupAtVersion(this.ctx, id, version);
    if (found) return found;
    const cur = groupTree(this.ctx, id);
    if (cur && cur.version === version) {
      // No recorded root version (state from before they were kept): the current group.
      const bare = (n: GroupNode): GroupNode => ({ ...n, apps: n.apps.map((s) => ({ ...s, counts: { staged: 0, running: 0, healthy: 0, unhealthy: 0 }, instances: [], deployments: [], readinessCheckResults: [] })), groups: n.groups.map(bare) });
      return bare(cur);
    }
    throw new NotFoundError(`Group '${id}' does not exist in version ${version}`, { id, version });
  }

  updateGroup(change: GroupChange, opts: DeployOptions & { dryRun: true }): Promise<DryRunResult>;
  updateGroup(change: GroupChange, opts?: DeployOptions & { dryRun?: false }): Promise<DeploymentResult>;
  async updateGroup(change: GroupChange, opts: DeployOptions & { dryRun?: boolean } = {}): Promise<DeploymentResult | DryRunResult> {
    if (this.closed) throw new UnavailableError('the orchestrator is shutting down');
    return this.exclusive(async () => {
      const ctx = this.ctx;
      const apps = new Map(ctx.apps);
      const groups = new Map(ctx.groups);
      const existing = groupIds(ctx.apps.values(), ctx.groups.values());
      for (const g of change.removeGroups ?? []) {
        if (!existing.has(g)) throw new NotFoundError(`Group '${g}' does not exist`, { id: g });
        for (const id of [...apps.keys()]) if (isUnder(id, g)) apps.delete(id);
        for (const id of [...groups.keys()]) if (isUnder(id, g)) groups.delete(id);
      }
      const listed = new Set((change.apps ?? []).map((a) => a.id));
      const version = opts.dryRun ? undefined : nextVersion(ctx);
      for (const g of change.replaceGroups ?? []) {
        if (change.createOnly && existing.has(g.id)) {
          throw new CorralError('CONFLICT', `Group ${g.id} is already created. Use PUT to change this group.`, { id: g.id });
        }
        if (ctx.apps.has(g.id)) throw new CorralError('CONFLICT', `An app with the path ${g.id} already exists.`, { id: g.id });
        for (const id of [...apps.keys()]) if (isUnder(id, g.id) && !listed.has(id)) apps.delete(id);
        if (g.id !== '/') {
          const prev = groups.get(g.id);
          const deps = g.dependencies ?? prev?.dependencies ?? [];
          groups.set(g.id, prev && sameList(prev.dependencies, deps) ? prev : { id: g.id, dependencies: deps, version: version ?? '' });
        }
      }
      for (const a of change.apps ?? []) apps.set(a.id, a);
      for (const id of change.removeApps ?? []) apps.delete(id);
      const out = await applyChange(ctx, { target: apps, groups: groups as Map<string, GroupMeta>, force: opts.force, dryRun: opts.dryRun === true, version });
      if (out.dryRun) return { steps: out.steps };
      const { dryRun: _d, ...result } = out;
      return result;
    });
  }

  deleteGroup(id: string, opts: DeployOptions = {}): Promise<DeploymentResult> {
    return this.updateGroup({ removeGroups: [id] }, { force: opts.force });
  }
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
