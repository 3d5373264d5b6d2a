// An in-memory OrchestratorService for the API and CLI tests: apps with
// versions, instances, deployments (locks, force, cancel/revert), groups
// derived from app ids, a queue, and a synchronous event bus. Deployments
// either wait for the test (`completeDeployment`, `failDeployment`) or, with
// `autoRun`, play a scripted deployment: events, tasks going running/healthy
// one by one, then deployment_success (or deployment_failed when the app's
// cmd contains "FAIL"). Nothing here talks to a master.
import { randomUUID } from 'node:crypto';
import { ConflictError, CorralError, NotFoundError, ValidationError } from '../../src/protocol/errors.ts';
import {
  LockedError,
  type AppDefinition,
  type AppStatus,
  type DeployOptions,
  type DeploymentAction,
  type DeploymentRecord,
  type DeploymentResult,
  type DryRunResult,
  type MarathonEventInput,
  type GroupChange,
  type GroupNode,
  type InstanceRecord,
  type KillTasksRequest,
  type KillTasksResult,
  type MarathonEvent,
  type MarathonEventBus,
  type MarathonEventType,
  type OrchestratorInfo,
  type OrchestratorService,
  type QueueEntry,
} from '../../src/orchestrator/service.ts';

export class FakeBus implements MarathonEventBus {
  readonly subs = new Set<{ fn: (ev: MarathonEvent) => void; types?: Set<string> }>();
  subscribe(listener: (ev: MarathonEvent) => void, types?: readonly MarathonEventType[]): () => void {
    const s = { fn: listener, types: types?.length ? new Set<string>(types) : undefined };
    this.subs.add(s);
    return () => void this.subs.delete(s);
  }
  publish(ev: MarathonEventInput): void {
    const full = { ...ev, timestamp: ev.timestamp ?? new Date().toISOString() } as MarathonEvent;
    for (const s of [...this.subs]) {
      if (s.types && !s.types.has(full.eventType)) continue;
      try {
        s.fn(full);
      } catch {
        // listeners never break the publisher
      }
    }
  }
}

interface AppEntry {
  app: AppDefinition;
  versions: Map<string, AppDefinition>;
}

let clock = Date.parse('2024-01-01T00:00:00.000Z');
/** Strictly increasing ISO timestamps (versions must differ even within one millisecond). */
const nextVersion = () => {
  clock = Math.max(clock + 1, Date.now());
  return new Date(clock).toISOString();
};

const safeId = (appId: string) => appId.replace(/^\//, '').replace(/\//g, '_');
const parentOf = (id: string) => (id.lastIndexOf('/') <= 0 ? '/' : id.slice(0, id.lastIndexOf('/')));
const configOf = (a: AppDefinition) => {
  const { version, versionInfo, instances, ...rest } = a;
  void version;
  void versionInfo;
  void instances;
  return JSON.stringify(rest, Object.keys(rest).sort());
};

export interface FakeOptions {
  /** Play deployments automatically (ms per step of the script). */
  autoRun?: number;
}

export class FakeOrchestrator implements OrchestratorService {
  readonly events = new FakeBus();
  readonly apps = new Map<string, AppEntry>();
  readonly instances = new Map<string, InstanceRecord>();
  readonly deployments = new Map<string, DeploymentRecord>();
  readonly queueEntries: QueueEntry[] = [];
  readonly groups = new Map<string, { dependencies: string[]; version: string }>();
  closed = false;
  private timers = new Set<NodeJS.Timeout>();

  constructor(readonly opts: FakeOptions = {}) {}

  async ready(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
  }
  info(): OrchestratorInfo {
    return {
      name: 'marathon',
      version: '1.11.0',
      frameworkId: 'fake-framework-0001',
      frameworkName: 'marathon',
      masterUrl: 'http://127.0.0.1:5050',
      connected: true,
      role: '*',
      user: 'root',
      failoverTimeoutSeconds: 604800,
      reconciliationIntervalMs: 600000,
      reconciled: true,
    };
  }

  // ─── apps ───
  status(e: AppEntry): AppStatus {
    const inst = [...this.instances.values()].filter((i) => i.appId === e.app.id);
    const running = inst.filter((i) => i.state === 'TASK_RUNNING');
    const hasChecks = (e.app.healthChecks ?? []).length > 0;
    const healthy = hasChecks ? running.filter((i) => i.mesosHealthy === true || (i.healthCheckResults.length > 0 && i.healthCheckResults.every((h) => h.alive))).length : 0;
    return {
      app: e.app,
      counts: {
        staged: inst.filter((i) => i.state === 'TASK_STAGING' || i.state === 'TASK_STARTING').length,
        running: running.length,
        healthy,
        unhealthy: hasChecks ? running.length - healthy : 0,
      },
      instances: inst,
      deployments: [...this.deployments.values()].filter((d) => d.state === 'running' && d.affectedApps.includes(e.app.id)).map((d) => d.id),
      readinessCheckResults: [],
      ...(e.app.id === '/failing'
        ? {
            lastTaskFailure: {
              appId: '/failing',
              host: 'agent-1',
              message: 'Command exited with status 1',
              state: 'TASK_FAILED',
              taskId: 'failing.instance-1._app.1',
              timestamp: '2024-01-01T00:00:00.000Z',
              version: e.app.version!,
              slaveId: 'agent-1-id',
            },
          }
        : {}),
    };
  }
  listApps(): AppStatus[] {
    return [...this.apps.values()].map((e) => this.status(e));
  }
  getApp(id: string): AppStatus | undefined {
    const e = this.apps.get(id);
    return e && this.status(e);
  }
  async appVersions(id: string): Promise<string[]> {
    const e = this.apps.get(id);
    if (!e) throw new NotFoundError(`App '${id}' does not exist`);
    return [...e.versions.keys()].sort().reverse();
  }
  async appVersion(id: string, version: string): Promise<AppDefinition> {
    const e = this.apps.get(id);
    const v = e?.versions.get(version);
    if (!v) throw new NotFoundError(`App '${id}' does not exist in version ${version}`);
    return v;
  }

  private checkLocks(ids: string[], opts: DeployOptions | undefined): void {
    const locking = [...this.deployments.values()].filter((d) => d.state === 'running' && d.affectedApps.some((a) => ids.includes(a)));
    if (!locking.length) return;
    if (!opts?.force) throw new LockedError(locking.map((d) => d.id));
    for (const d of locking) this.endDeployment(d, 'cancelled', 'cancelled by a forced deployment');
  }

  private checkCycles(apps: AppDefinition[]): void {
    const all = new Map([...this.apps.values()].map((e) => [e.app.id, e.app] as const));
    for (const a of apps) all.set(a.id, a);
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (id: string) => {
      if (done.has(id)) return;
      if (visiting.has(id)) throw new ValidationError('Dependency graph has cyclic dependencies.', '/dependencies');
      visiting.add(id);
      for (const d of all.get(id)?.dependencies ?? []) visit(d);
      visiting.delete(id);
      done.add(id);
    };
    for (const id of all.keys()) visit(id);
  }

  private stamp(def: AppDefinition, prev: AppDefinition | undefined, scaleOnly: boolean): AppDefinition {
    const v = nextVersion();
    return {
      ...def,
      version: v,
      versionInfo: { lastScalingAt: v, lastConfigChangeAt: scaleOnly && prev?.versionInfo ? prev.versionInfo.lastConfigChangeAt : v },
    };
  }

  private deploy(changes: { before?: AppDefinition; after?: AppDefinition }[], opts?: DeployOptions, sentenced?: Record<string, string[]>): DeploymentResult {
    const version = nextVersion();
    const steps: { actions: DeploymentAction[] }[] = [];
    const stops = changes.filter((c) => c.before && !c.after).map((c) => ({ action: 'StopApplication' as const, app: c.before!.id }));
    const starts = changes.filter((c) => !c.before && c.after).map((c) => ({ action: 'StartApplication' as const, app: c.after!.id }));
    const rest: DeploymentAction[] = [];
    for (const c of changes) {
      if (!c.after) continue;
      if (!c.before) rest.push({ action: 'ScaleApplication', app: c.after.id });
      else if (configOf(c.before) !== configOf(c.after) || c.after.versionInfo?.lastConfigChangeAt !== c.before.versionInfo?.lastConfigChangeAt)
        rest.push({ action: 'RestartApplication', app: c.after.id });
      else if (c.before.instances !== c.after.instances || sentenced?.[c.after.id]) rest.push({ action: 'ScaleApplication', app: c.after.id });
    }
    if (stops.length) steps.push({ actions: stops });
    if (starts.length) steps.push({ actions: starts });
    if (rest.length) steps.push({ actions: rest });
    void opts;
    const d: DeploymentRecord = {
      id: randomUUID(),
      version,
      affectedApps: changes.map((c) => (c.after ?? c.before)!.id),
      steps,
      currentStep: steps.length ? 1 : 0,
      totalSteps: steps.length,
      currentActions: (steps[0]?.actions ?? []).map((a) => ({ ...a, readinessCheckResults: [] })),
      original: Object.fromEntries(changes.filter((c) => c.before).map((c) => [c.before!.id, c.before!])),
      target: Object.fromEntries(changes.filter((c) => c.after).map((c) => [c.after!.id, c.after!])),
      ...(sentenced ? { sentenced } : {}),
      state: 'running',
      createdAt: version,
    };
    this.deployments.set(d.id, d);
    if (this.opts.autoRun !== undefined) this.play(d);
    return { deploymentId: d.id, version, deployment: d };
  }

  async createApp(app: AppDefinition, opts?: DeployOptions): Promise<DeploymentResult> {
    if (this.apps.has(app.id)) throw new ConflictError(`An app with id [${app.id}] already exists.`);
    if (this.groups.has(app.id)) throw new CorralError('UNPROCESSABLE', `App '${app.id}' collides with an existing group`, { details: [{ path: '/id', errors: ['An app with this id collides with a group'] }] });
    this.checkCycles([app]);
    const stored = this.stamp(app, undefined, false);
    this.apps.set(app.id, { app: stored, versions: new Map([[stored.version!, stored]]) });
    return this.deploy([{ after: stored }], opts);
  }

  async putApps(apps: AppDefinition[], opts?: DeployOptions): Promise<DeploymentResult & { created: string[] }> {
    this.checkCycles(apps);
    this.checkLocks(apps.map((a) => a.id).filter((id) => this.apps.has(id)), opts);
    const created: string[] = [];
    const changes: { before?: AppDefinition; after?: AppDefinition }[] = [];
    for (const a of apps) {
      const e = this.apps.get(a.id);
      if (!e) {
        const stored = this.stamp(a, undefined, false);
        this.apps.set(a.id, { app: stored, versions: new Map([[stored.version!, stored]]) });
        created.push(a.id);
        changes.push({ after: stored });
      } else {
        const stored = this.stamp(a, e.app, configOf(e.app) === configOf(a));
        changes.push({ before: e.app, after: stored });
        e.app = stored;
        e.versions.set(stored.version!, stored);
      }
    }
    return { ...this.deploy(changes, opts), created };
  }

  async rollbackApp(id: string, version: string, opts?: DeployOptions): Promise<DeploymentResult> {
    const e = this.apps.get(id);
    if (!e) throw new NotFoundError(`App '${id}' does not exist`);
    const def = e.versions.get(version);
    if (!def) throw new NotFoundError(`App '${id}' does not exist in version ${version}`);
    this.checkLocks([id], opts);
    const before = e.app;
    const stored = this.stamp(def, e.app, false);
    e.app = stored;
    e.versions.set(stored.version!, stored);
    return this.deploy([{ before, after: stored }], opts);
  }

  async deleteApp(id: string, opts?: DeployOptions): Promise<DeploymentResult> {
    const e = this.apps.get(id);
    if (!e) throw new NotFoundError(`App '${id}' does not exist`);
    this.checkLocks([id], opts);
    this.apps.delete(id);
    for (const [k, i] of this.instances) if (i.appId === id) this.instances.delete(k);
    return this.deploy([{ before: e.app }], opts);
  }

  async restartApp(id: string, opts?: DeployOptions): Promise<DeploymentResult> {
    const e = this.apps.get(id);
    if (!e) throw new NotFoundError(`App '${id}' does not exist`);
    this.checkLocks([id], opts);
    const before = e.app;
    const stored = this.stamp(e.app, undefined, false);
    e.app = stored;
    e.versions.set(stored.version!, stored);
    return this.deploy([{ before, after: stored }], opts);
  }

  // ─── tasks ───
  addInstance(appId: string, over: Partial<InstanceRecord> = {}): InstanceRecord {
    const e = this.apps.get(appId);
    const instanceId = `${safeId(appId)}.instance-${randomUUID()}`;
    const rec: InstanceRecord = {
      instanceId,
      taskId: `${instanceId}._app.1`,
      appId,
      version: e?.app.version ?? nextVersion(),
      configVersion: e?.app.versionInfo?.lastConfigChangeAt ?? e?.app.version ?? '2024-01-01T00:00:00.000Z',
      agentId: 'agent-1-id',
      host: 'agent-1',
      ports: [31000 + this.instances.size],
      state: 'TASK_RUNNING',
      condition: 'Running',
      goal: 'Running',
      stagedAt: '2024-01-01T00:00:00.000Z',
      startedAt: '2024-01-01T00:00:01.000Z',
      healthCheckResults: [],
      ...over,
    };
    this.instances.set(instanceId, rec);
    return rec;
  }
  listInstances(): InstanceRecord[] {
    return [...this.instances.values()];
  }
  getInstance(id: string): InstanceRecord | undefined {
    return this.instances.get(id) ?? [...this.instances.values()].find((i) => i.taskId === id);
  }
  async killTasks(req: KillTasksRequest): Promise<KillTasksResult> {
    let victims: InstanceRecord[];
    if (req.ids) {
      victims = req.ids.map((id) => {
        const i = this.getInstance(id);
        if (!i) throw new NotFoundError(`Task '${id}' does not exist`);
        return i;
      });
    } else {
      if (!req.appId || !this.apps.has(req.appId)) throw new NotFoundError(`App '${req.appId}' does not exist`);
      victims = [...this.instances.values()].filter((i) => i.appId === req.appId && (!req.host || i.host === req.host));
    }
    const killed = victims.map((v) => ({ ...v, state: 'TASK_KILLING' as const, condition: 'Killing' as const, goal: 'Decommissioned' as const }));
    if (!req.scale) {
      for (const v of victims) this.instances.set(v.instanceId, { ...v, state: 'TASK_KILLING', condition: 'Killing' });
      return { scaled: false, killed };
    }
    const byApp = new Map<string, string[]>();
    for (const v of victims) byApp.set(v.appId, [...(byApp.get(v.appId) ?? []), v.instanceId]);
    this.checkLocks([...byApp.keys()], req);
    const changes = [...byApp].map(([appId, ids]) => {
      const e = this.apps.get(appId)!;
      const before = e.app;
      const after = this.stamp({ ...e.app, instances: Math.max(0, (e.app.instances ?? 1) - ids.length) }, e.app, true);
      e.app = after;
      e.versions.set(after.version!, after);
      return { before, after };
    });
    for (const v of victims) this.instances.delete(v.instanceId);
    return { scaled: true, killed, result: this.deploy(changes, req, Object.fromEntries(byApp)) };
  }

  // ─── deployments ───
  listDeployments(): DeploymentRecord[] {
    return [...this.deployments.values()].filter((d) => d.state === 'running');
  }
  getDeployment(id: string): DeploymentRecord | undefined {
    const d = this.deployments.get(id);
    return d?.state === 'running' ? d : undefined;
  }
  async cancelDeployment(id: string, opts?: { force?: boolean }): Promise<DeploymentResult | undefined> {
    const d = this.getDeployment(id);
    if (!d) throw new NotFoundError(`DeploymentPlan ${id} does not exist`);
    this.endDeployment(d, 'cancelled', opts?.force ? 'The deployment was cancelled (force, no rollback)' : 'The deployment was cancelled and rolled back');
    if (opts?.force) return undefined;
    const changes: { before?: AppDefinition; after?: AppDefinition }[] = [];
    for (const appId of d.affectedApps) {
      const orig = d.original[appId];
      const e = this.apps.get(appId);
      if (orig) {
        const after = this.stamp(orig, e?.app, false);
        this.apps.set(appId, { app: after, versions: new Map([...(e?.versions ?? []), [after.version!, after]]) });
        changes.push({ before: e?.app, after });
      } else if (e) {
        this.apps.delete(appId);
        changes.push({ before: e.app });
      }
    }
    return this.deploy(changes, { force: true });
  }

  /** Ends a deployment with its event (tests call this to finish or fail deployments). */
  endDeployment(d: DeploymentRecord, state: 'succeeded' | 'failed' | 'cancelled', reason?: string): void {
    if (d.state !== 'running') return;
    d.state = state;
    if (reason) d.reason = reason;
    const plan = { id: d.id, version: d.version, original: { id: '/' as const, apps: Object.values(d.original) }, target: { id: '/' as const, apps: Object.values(d.target) }, steps: d.steps };
    if (state === 'succeeded') this.events.publish({ eventType: 'deployment_success', id: d.id, plan });
    else this.events.publish({ eventType: 'deployment_failed', id: d.id, plan, ...(reason ? { reason } : {}) });
  }
  completeDeployment(id: string): void {
    this.endDeployment(this.deployments.get(id)!, 'succeeded');
  }
  failDeployment(id: string, reason: string): void {
    this.endDeployment(this.deployments.get(id)!, 'failed', reason);
  }

  /** Scripted run: per step, deployment_info, tasks come up one per tick, step success; then success/failure. */
  private play(d: DeploymentRecord): void {
    const tick = this.opts.autoRun ?? 20;
    const plan = () => ({ id: d.id, version: d.version, original: { id: '/' as const, apps: Object.values(d.original) }, target: { id: '/' as const, apps: Object.values(d.target) }, steps: d.steps });
    const later = (fn: () => void) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.closed && d.state === 'running') fn();
      }, tick);
      this.timers.add(t);
    };
    const runStep = (i: number) => {
      if (i >= d.steps.length) return this.endDeployment(d, 'succeeded');
      d.currentStep = i + 1;
      d.currentActions = d.steps[i]!.actions.map((a) => ({ ...a, readinessCheckResults: [] }));
      this.events.publish({ eventType: 'deployment_info', plan: plan(), currentStep: d.steps[i]! });
      const pending = d.steps[i]!.actions.filter((a) => a.action === 'ScaleApplication' || a.action === 'RestartApplication').map((a) => a.app);
      const bringUp = () => {
        for (const appId of pending) {
          const e = this.apps.get(appId);
          if (!e) continue;
          if (/FAIL/.test(e.app.cmd ?? '')) return this.endDeployment(d, 'failed', `Task of ${appId} failed: Command exited with status 1`);
          const current = [...this.instances.values()].filter((x) => x.appId === appId && x.version === e.app.version);
          const old = [...this.instances.values()].filter((x) => x.appId === appId && x.version !== e.app.version);
          if (/STALL/.test(e.app.cmd ?? '')) return later(bringUp);
          if (current.length < (e.app.instances ?? 1)) {
            const inst = this.addInstance(appId, { mesosHealthy: (e.app.healthChecks ?? []).length ? true : undefined });
            this.events.publish({ eventType: 'status_update_event', slaveId: inst.agentId, taskId: inst.taskId, taskStatus: 'TASK_RUNNING', message: '', appId, host: inst.host, ipAddresses: [], ports: inst.ports, version: inst.version });
            return later(bringUp);
          }
          if (old.length) {
            for (const o of old) this.instances.delete(o.instanceId);
            return later(bringUp);
          }
          if (current.length > (e.app.instances ?? 1)) {
            this.instances.delete(current[current.length - 1]!.instanceId);
            return later(bringUp);
          }
        }
        this.events.publish({ eventType: 'deployment_step_success', plan: plan(), currentStep: d.steps[i]! });
        later(() => runStep(i + 1));
      };
      later(bringUp);
    };
    later(() => runStep(0));
  }

  // ─── queue ───
  queue(): QueueEntry[] {
    return this.queueEntries;
  }
  resetDelay(appId: string): void {
    const q = this.queueEntries.find((e) => e.app.id === appId);
    if (!q) throw new NotFoundError(`Application ${appId} not found in tasks queue.`);
    q.delay = { timeLeftSeconds: 0, overdue: true };
  }

  // ─── groups ───
  getGroup(id: string): GroupNode | undefined {
    const apps = [...this.apps.values()];
    const groupIds = new Set<string>(['/', ...this.groups.keys()]);
    for (const e of apps) for (let p = parentOf(e.app.id); ; p = parentOf(p)) {
      groupIds.add(p);
      if (p === '/') break;
    }
    if (!groupIds.has(id)) return undefined;
    const build = (gid: string): GroupNode => ({
      id: gid,
      apps: apps.filter((e) => parentOf(e.app.id) === gid).map((e) => this.status(e)),
      groups: [...groupIds].filter((g) => g !== '/' && g !== gid && parentOf(g) === gid).sort().map(build),
      dependencies: this.groups.get(gid)?.dependencies ?? [],
      version: this.groups.get(gid)?.version ?? '2024-01-01T00:00:00.000Z',
    });
    return build(id);
  }
  /** The fake keeps no group history: the current version only. */
  async groupVersions(id: string): Promise<string[]> {
    const g = this.getGroup(id);
    if (!g) throw new NotFoundError(`Group '${id}' does not exist`);
    return [g.version];
  }
  async groupVersion(id: string, version: string): Promise<GroupNode> {
    const g = this.getGroup(id);
    if (!g || g.version !== version) throw new NotFoundError(`Group '${id}' does not exist in version ${version}`);
    return g;
  }
  updateGroup(change: GroupChange, opts: DeployOptions & { dryRun: true }): Promise<DryRunResult>;
  updateGroup(change: GroupChange, opts?: DeployOptions & { dryRun?: false }): Promise<DeploymentResult>;
  async updateGroup(change: GroupChange, opts: DeployOptions & { dryRun?: boolean } = {}): Promise<DryRunResult | DeploymentResult> {
    const apps = change.apps ?? [];
    this.checkCycles(apps);
    if (change.createOnly) {
      for (const g of change.replaceGroups ?? []) if (this.getGroup(g.id)) throw new ConflictError(`Group ${g.id} is already created. Use PUT to change this group.`);
    }
    const removed = new Set(change.removeApps ?? []);
    for (const g of [...(change.replaceGroups ?? []), ...(change.removeGroups ?? []).map((id) => ({ id }))]) {
      for (const id of this.apps.keys()) if ((g.id === '/' || id.startsWith(`${g.id}/`)) && !apps.some((a) => a.id === id)) removed.add(id);
    }
    if (opts.dryRun) {
      return { steps: [...(removed.size ? [{ actions: [...removed].map((app) => ({ action: 'StopApplication' as const, app })) }] : []), ...(apps.length ? [{ actions: apps.map((a) => ({ action: (this.apps.has(a.id) ? 'RestartApplication' : 'StartApplication') as DeploymentAction['action'], app: a.id })) }] : [])] };
    }
    this.checkLocks([...apps.map((a) => a.id), ...removed].filter((id) => this.apps.has(id)), opts);
    const changes: { before?: AppDefinition; after?: AppDefinition }[] = [];
    for (const id of removed) {
      const e = this.apps.get(id);
      if (!e) continue;
      this.apps.delete(id);
      changes.push({ before: e.app });
    }
    for (const a of apps) {
      const e = this.apps.get(a.id);
      const after = this.stamp(a, e?.app, e ? configOf(e.app) === configOf(a) : false);
      if (e && configOf(e.app) === configOf(a) && e.app.instances === a.instances) continue;
      this.apps.set(a.id, { app: after, versions: new Map([...(e?.versions ?? []), [after.version!, after]]) });
      changes.push({ before: e?.app, after });
    }
    const version = nextVersion();
    for (const g of change.replaceGroups ?? []) this.groups.set(g.id, { dependencies: g.dependencies ?? [], version });
    for (const g of change.removeGroups ?? []) for (const k of [...this.groups.keys()]) if (k === g || k.startsWith(`${g}/`)) this.groups.delete(k);
    return this.deploy(changes, opts);
  }
  async deleteGroup(id: string, opts?: DeployOptions): Promise<DeploymentResult> {
    if (!this.getGroup(id)) throw new NotFoundError(`Group '${id}' does not exist`);
    return this.updateGroup({ removeGroups: [id] }, { ...opts, dryRun: false });
  }
}
