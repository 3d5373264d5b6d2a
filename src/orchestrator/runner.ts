// The tick: one pass that turns the desired state (apps, running deployments) and the actual
// state (instances) into actions. Deployments advance step by step (all actions of a step
// concurrently; a step is done when each action's tick says so); apps outside deployments are
// reconciled to `instances` (replacement, unreachable handling, surplus kill). The result is a
// launch count per app (the launch queue; offers fill it) and kill orders, applied here:
// goal and reason persisted first, then KILL sent. Ticks run on every relevant change and on
// a timer.
import { appDefaults } from './app-defaults.ts';
import { lockedApps, type Ctx } from './context.ts';
import { nextLaunchAllowedAt } from '../core/deployment/index.ts';
import { deploymentTick, reconcileTick, toAppSpec, unreachableTick, type KillOrder } from './decide.ts';
import { planJson } from './deployment-json.ts';
import { isActiveCondition } from './instances.ts';
import type { AppDefinition, DeploymentRecord, Goal, InstanceRecord } from './service.ts';
import { marathonTime } from './time.ts';
import { instanceChangedEvent } from './events.ts';
import { isReferenced } from './root-versions.ts';

export interface RunnerHooks {
  /** Send KILL for an instance (goal already persisted). */
  sendKill(inst: InstanceRecord): void;
  /** Keep health/readiness loops in line with the app's instances. */
  syncChecks(app: AppDefinition | undefined, instances: InstanceRecord[], inDeployment: boolean): void;
  stopChecks(inst: InstanceRecord): void;
  /** Ask the master about these tasks (launch not confirmed in time). */
  reconcileTasks(taskIds: string[]): void;
  /** Launch demand changed: revive/suppress, wake the launch queue. */
  demandChanged(wantOffers: boolean, nextWakeAt?: number): void;
}

export interface RunnerOptions {
  /** Re-send KILL for instances still alive this long after the last KILL. */
  killRetryMs: number;
  /** Reconcile instances still Provisioned this long after launch. */
  launchConfirmTimeoutMs: number;
}

export class Runner {
  constructor(
    private readonly ctx: Ctx,
    private readonly hooks: RunnerHooks,
    private readonly opts: RunnerOptions,
  ) {}

  async tick(): Promise<void> {
    const ctx = this.ctx;
    const now = ctx.clock.now();
    const launches = new Map<string, number>();
    const kills: { order: KillOrder; goal: Goal }[] = [];
    const inDeployment = new Set<string>();

    // 1. Deployments, oldest first.
    for (const d of [...ctx.deployments.values()]) {
      if (d.state !== 'running') continue;
      await this.advance(d, launches, kills, inDeployment);
    }

    // 2. Apps outside deployments are reconciled; unreachable bookkeeping applies to all.
    const locked = lockedApps(ctx);
    for (const app of ctx.apps.values()) {
      const instances = ctx.tracker.ofApp(app.id);
      const t = locked.has(app.id) ? { ...unreachableTick(app, instances, now), kill: [], launch: 0 } : reconcileTick(app, instances, now);
      for (const id of t.inactivate) {
        const inst = ctx.tracker.get(id);
        if (!inst) continue;
        inst.condition = 'UnreachableInactive';
        await ctx.tracker.save(inst);
        this.changed(inst);
      }
      for (const id of t.expunge) {
        const inst = ctx.tracker.get(id);
        if (!inst) continue;
        this.hooks.stopChecks(inst);
        await ctx.tracker.expunge(inst);
      }
      for (const k of t.kill) kills.push({ order: k, goal: 'Stopped' });
      if (t.launch > 0) launches.set(app.id, t.launch);
    }

    // 3. Instances of apps that no longer exist and are not being stopped by a deployment.
    for (const appId of ctx.tracker.appIds()) {
      if (ctx.apps.has(appId) || locked.has(appId)) continue;
      for (const inst of ctx.tracker.ofApp(appId)) {
        if (inst.goal === 'Running') kills.push({ order: { instanceId: inst.instanceId, reason: 'app removed' }, goal: 'Decommissioned' });
      }
    }

    // 4. Kills: persist the goal, then send. A kill cannot reach an unreachable instance: it is
    //    expunged instead (and killed as unknown should it ever report again).
    for (const { order, goal } of kills) {
      const inst = ctx.tracker.get(order.instanceId);
      if (!inst || inst.goal !== 'Running') continue;
      inst.goal = goal;
      inst.killReason = order.reason;
      this.hooks.stopChecks(inst);
      ctx.lastKillAt.set(inst.taskId, now);
      // Send only once persisted: under HA a deposed leader's write fails on its fence, and so
      // must the kill that would have followed it.
      if (inst.condition === 'Unreachable' || inst.condition === 'UnreachableInactive') {
        await ctx.tracker.expunge(inst);
        this.hooks.sendKill(inst);
        continue;
      }
      await ctx.tracker.save(inst);
      this.hooks.sendKill(inst);
      this.changed(inst);
    }
    for (const inst of ctx.tracker.all()) {
      if (inst.goal !== 'Running' && (inst.condition === 'Unreachable' || inst.condition === 'UnreachableInactive')) {
        this.hooks.stopChecks(inst);
        await ctx.tracker.expunge(inst);
      }
    }
    for (const [taskId, at] of ctx.killingUnknown) if (now - at > 600_000) ctx.killingUnknown.delete(taskId);
    // Retries for kills that did not take effect; forgotten Provisioned launches.
    const stale: string[] = [];
    for (const inst of ctx.tracker.all()) {
      if (inst.goal !== 'Running' && isActiveCondition(inst.condition)) {
        const last = ctx.lastKillAt.get(inst.taskId) ?? 0;
        if (now - last >= this.opts.killRetryMs) {
          ctx.lastKillAt.set(inst.taskId, now);
          this.hooks.sendKill(inst);
        }
      }
      if (inst.condition === 'Provisioned' && now - Date.parse(inst.stagedAt) >= this.opts.launchConfirmTimeoutMs) stale.push(inst.taskId);
    }
    if (stale.length) this.hooks.reconcileTasks(stale);
    for (const taskId of [...ctx.lastKillAt.keys()]) if (!ctx.tracker.byTaskId(taskId)) ctx.lastKillAt.delete(taskId);

    // 5. The launch queue.
    let want = false;
    let wakeAt: number | undefined;
    for (const [appId, q] of ctx.queue) if (!launches.has(appId)) q.count = 0;
    for (const [appId, count] of launches) {
      const q = ctx.queue.get(appId);
      if (q) {
        if (q.count === 0) q.since = now;
        q.count = count;
      } else {
        ctx.queue.set(appId, { count, since: now, processedOffers: 0, unusedOffers: 0, lastRejects: [], lastUnused: [] });
      }
      const app = ctx.apps.get(appId);
      const at = app ? nextLaunchAllowedAt(toAppSpec(app), ctx.backoff.get(appId), now) : now;
      if (at > now) wakeAt = Math.min(wakeAt ?? Infinity, at);
      else want = true;
    }
    for (const [appId, q] of ctx.queue) if (q.count === 0) ctx.queue.delete(appId);
    this.hooks.demandChanged(want && ctx.reconciled, wakeAt);

    // 6. Health and readiness checks follow the instances.
    for (const app of ctx.apps.values()) this.hooks.syncChecks(app, ctx.tracker.ofApp(app.id), inDeployment.has(app.id));
  }

  private changed(inst: InstanceRecord): void {
    this.ctx.events.publish(instanceChangedEvent(inst));
  }

  /** Runs the current step of `d`; moves on while steps complete. */
  private async advance(
    d: DeploymentRecord,
    launches: Map<string, number>,
    kills: { order: KillOrder; goal: Goal }[],
    inDeployment: Set<string>,
  ): Promise<void> {
    const ctx = this.ctx;
    for (;;) {
      if (d.currentStep === 0) {
        if (d.steps.length === 0) return this.finish(d);
        d.currentStep = 1;
        this.enterStep(d);
        await ctx.persist.saveDeployment(d);
      }
      const step = d.steps[d.currentStep - 1]!;
      let allDone = true;
      for (const action of step.actions) {
        inDeployment.add(action.app);
        const instances = ctx.tracker.ofApp(action.app);
        if (action.action === 'StopApplication') {
          for (const inst of instances) {
            if (inst.goal === 'Running') kills.push({ order: { instanceId: inst.instanceId, reason: 'app removed' }, goal: 'Decommissioned' });
          }
          if (instances.length > 0) allDone = false;
          else if (!ctx.apps.has(action.app)) await this.terminated(action.app);
          continue;
        }
        const app = ctx.apps.get(action.app) ?? d.target[action.app];
        if (!app) continue;
        if (action.action === 'StartApplication') continue;
        const t = deploymentTick(action.action, app, instances, d.sentenced?.[action.app] ?? []);
        for (const k of t.kill) kills.push({ order: k, goal: 'Stopped' });
        if (t.launch > 0) launches.set(app.id, (launches.get(app.id) ?? 0) + t.launch);
        if (!t.done) allDone = false;
      }
      // Readiness results of the current actions.
      d.currentActions = step.actions.map((a) => ({
        ...a,
        readinessCheckResults: ctx.tracker.ofApp(a.app).flatMap((i) => i.readinessCheckResults ?? []),
      }));
      if (!allDone) return;
      ctx.events.publish({ eventType: 'deployment_step_success', plan: planJson(d), currentStep: step });
      if (d.currentStep >= d.steps.length) return this.finish(d);
      d.currentStep += 1;
      this.enterStep(d);
      await ctx.persist.saveDeployment(d);
    }
  }

  private enterStep(d: DeploymentRecord): void {
    const step = d.steps[d.currentStep - 1]!;
    d.currentActions = step.actions.map((a) => ({ ...a, readinessCheckResults: [] }));
    this.ctx.events.publish({ eventType: 'deployment_info', plan: planJson(d), currentStep: step });
  }

  private async finish(d: DeploymentRecord): Promise<void> {
    d.state = 'succeeded';
    d.currentActions = [];
    this.ctx.deployments.delete(d.id);
    await this.ctx.persist.deleteDeployment(d.id);
    this.ctx.log.info('deployment succeeded', { id: d.id, apps: d.affectedApps });
    this.ctx.events.publish({ eventType: 'deployment_success', id: d.id, plan: planJson(d) });
  }

  private terminatedApps = new Set<string>();
  private async terminated(appId: string): Promise<void> {
    if (this.terminatedApps.has(appId)) return;
    this.terminatedApps.add(appId);
    // Versions a retained root group version refers to stay (GET /v2/groups/versions/{v}).
    await this.ctx.persist.deleteApp(appId, (v) => isReferenced(this.ctx, appId, v)).catch((e) => this.ctx.log.warn('cleanup of removed app failed', { appId, error: (e as Error).message }));
    this.ctx.failures.delete(appId);
    this.ctx.backoff.delete(appId);
    this.ctx.queue.delete(appId);
    this.ctx.events.publish({ eventType: 'app_terminated_event', appId });
  }

  /** Called when an app id is (re)created so that a later removal emits app_terminated_event again. */
  appCreated(appId: string): void {
    this.terminatedApps.delete(appId);
  }
}

