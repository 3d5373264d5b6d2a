// Turning a desired app set into a deployment: versions (versionInfo rules of §3.1), locks
// (409 unless force, which cancels the conflicting deployments), the plan (core/deployment),
// then persistence — deployment record first, then the app definitions — and only then the
// in-memory switch. A crash between the two writes is repaired on load from the record.
import { DependencyCycleError, planDeployment, type AppSpec } from '../core/deployment/index.ts';
import { ConflictError, CorralError } from '../protocol/errors.ts';
import { configVersionOf, lockedApps, type Ctx } from './context.ts';
import { isReferenced, recordRootVersion } from './root-versions.ts';
import { assignServicePorts, portViolationError } from './service-ports.ts';
import { canonicalJson, sameConfig, toAppSpec } from './decide.ts';
import { planJson } from './deployment-json.ts';
import { effectiveDependencies } from './groups.ts';
import type { GroupMeta } from './persist.ts';
import { LockedError, type AppDefinition, type DeploymentRecord, type DeploymentResult, type DeploymentStepRecord } from './service.ts';
import { marathonTime } from './time.ts';

export interface ChangeRequest {
  /** The complete desired app set. */
  target: Map<string, AppDefinition>;
  force?: boolean;
  dryRun?: boolean;
  /** Apps to restart (new config version with the same config). */
  restart?: Set<string>;
  /** Instances to kill first, per app (kill with scale=true). */
  sentenced?: Record<string, string[]>;
  /** Keep the version/versionInfo the target definitions carry (a revert restores the originals as they were). */
  preserveVersions?: boolean;
  /** Explicit group metadata after the change (undefined = unchanged). */
  groups?: Map<string, GroupMeta>;
  /** The change's version (default: a fresh one). */
  version?: string;
  /** The deployment this change reverts (DELETE /v2/deployments/{id}): it is stopped, its reason says so. */
  cancels?: string;
}

let lastVersionMs = 0;
/** A fresh version timestamp: strictly increasing within this process. */
export function nextVersion(ctx: Ctx): string {
  const now = Math.max(ctx.clock.now(), lastVersionMs + 1);
  lastVersionMs = now;
  return marathonTime(now);
}

const stripVersion = (a: AppDefinition): AppDefinition => {
  const { version: _v, versionInfo: _vi, ...rest } = a;
  return rest as AppDefinition;
};

function specs(apps: Iterable<AppDefinition>, groups: Map<string, GroupMeta>): AppSpec[] {
  return [...apps].map((a) => toAppSpec(a, effectiveDependencies(a, groups)));
}

/**
 * Stops (no rollback) a running deployment: record removed, deployment_step_failure (for the
 * step it was in) and deployment_failed published with `reason` (a sentence the CLI shows).
 */
export async function stopDeployment(ctx: Ctx, d: DeploymentRecord, reason: string): Promise<void> {
  d.state = 'cancelled';
  d.reason = reason;
  ctx.deployments.delete(d.id);
  await ctx.persist.deleteDeployment(d.id);
  const step = d.currentStep > 0 ? d.steps[d.currentStep - 1] : undefined;
  if (step) ctx.events.publish({ eventType: 'deployment_step_failure', plan: planJson(d), currentStep: step });
  ctx.events.publish({ eventType: 'deployment_failed', id: d.id, plan: planJson(d), reason });
  ctx.log.info('deployment cancelled', { id: d.id, reason });
}

export type ChangeOutcome = { dryRun: true; steps: DeploymentStepRecord[] } | ({ dryRun: false } & DeploymentResult);

export async function applyChange(ctx: Ctx, req: ChangeRequest): Promise<ChangeOutcome> {
  const version = req.version ?? nextVersion(ctx);
  const groups = req.groups ?? ctx.groups;
  // Service ports first: a `port: 0` the app already has a service port for is no change.
  const ported = assignServicePorts(ctx.apps, req.target, { trusted: req.preserveVersions });
  if (ported.violations.size) throw portViolationError(ported.violations);
  const next = new Map<string, AppDefinition>();
  const changed = new Set<string>();
  for (const [id, incoming] of ported.apps) {
    const prev = ctx.apps.get(id);
    const def = stripVersion(incoming);
    if (req.preserveVersions && incoming.version && incoming.versionInfo) {
      next.set(id, incoming);
      if (!prev || prev.version !== incoming.version || !sameConfig(prev, incoming) || prev.instances !== incoming.instances) changed.add(id);
    } else if (!prev) {
      next.set(id, { ...def, version, versionInfo: { lastScalingAt: version, lastConfigChangeAt: version } });
      changed.add(id);
    } else if (req.restart?.has(id) || !sameConfig(prev, def)) {
      next.set(id, { ...def, version, versionInfo: { lastScalingAt: version, lastConfigChangeAt: version } });
      changed.add(id);
    } else if ((def.instances ?? 1) !== (prev.instances ?? 1)) {
      next.set(id, { ...def, version, versionInfo: { lastScalingAt: version, lastConfigChangeAt: configVersionOf(prev) } });
      changed.add(id);
    } else {
      next.set(id, prev);
    }
  }
  const removed = [...ctx.apps.keys()].filter((id) => !next.has(id));
  for (const id of removed) changed.add(id);
  for (const id of Object.keys(req.sentenced ?? {})) changed.add(id);

  let plan: { steps: DeploymentStepRecord[]; affectedApps: string[] };
  try {
    plan = planDeployment(specs(ctx.apps.values(), ctx.groups), specs(next.values(), groups));
  } catch (err) {
    if (err instanceof DependencyCycleError) {
      // Marathon's validation shape: 422 {message, details: [{path, errors}]}.
      throw new CorralError('UNPROCESSABLE', err.message, { cycle: err.cycle, details: [{ path: '/dependencies', errors: [err.message] }] });
    }
    throw err;
  }
  if (req.dryRun) return { dryRun: true, steps: plan.steps };

  const affected = [...new Set([...plan.affectedApps, ...changed])].sort();
  const locks = lockedApps(ctx);
  const conflicting = [...new Set(affected.flatMap((a) => locks.get(a) ?? []))];
  if (conflicting.length && !req.force) throw new LockedError(conflicting);
  const deploymentId = ctx.ids.uuid();
  if (req.cancels && ctx.deployments.has(req.cancels) && !conflicting.includes(req.cancels)) conflicting.push(req.cancels);
  for (const id of conflicting) {
    const d = ctx.deployments.get(id);
    if (!d) continue;
    await stopDeployment(
      ctx,
      d,
      id === req.cancels
        ? `deployment cancelled by DELETE /v2/deployments/${id}; rolled back by deployment ${deploymentId}`
        : `superseded by deployment ${deploymentId} (force=true)`,
    );
  }

  const original: Record<string, AppDefinition> = {};
  const target: Record<string, AppDefinition> = {};
  for (const id of affected) {
    const before = ctx.apps.get(id);
    if (before) original[id] = before;
    const after = next.get(id);
    if (after) target[id] = after;
  }
  const sentenced = req.sentenced && Object.keys(req.sentenced).length ? req.sentenced : undefined;
  const d: DeploymentRecord = {
    id: deploymentId,
    version,
    affectedApps: affected,
    steps: plan.steps,
    currentStep: 0,
    totalSteps: plan.steps.length,
    currentActions: [],
    original,
    target,
    ...(sentenced ? { sentenced } : {}),
    state: 'running',
    createdAt: marathonTime(ctx.clock.now()),
  };

  // Durable: the record (carrying the targets) first, then the definitions.
  await ctx.persist.saveDeployment(d);
  for (const id of affected) {
    const after = next.get(id);
    if (after && after !== ctx.apps.get(id)) await ctx.persist.saveApp(after, (v) => isReferenced(ctx, id, v));
    else if (!after) await ctx.persist.removeAppDefinition(id);
  }
  if (req.groups) {
    for (const g of ctx.groups.keys()) if (!req.groups.has(g)) await ctx.persist.deleteGroup(g);
    for (const g of req.groups.values()) if (ctx.groups.get(g.id) !== g) await ctx.persist.saveGroup(g);
  }

  // History: the root group version, then health check events for changed checks.
  const changedGroups = req.groups ? [...new Set([...ctx.groups.keys(), ...req.groups.keys()])].filter((g) => ctx.groups.get(g) !== req.groups!.get(g)) : [];
  await recordRootVersion(ctx, version, next, groups, [...affected, ...changedGroups]);

  // In memory.
  for (const id of affected) {
    const after = next.get(id);
    if (after) ctx.apps.set(id, after);
    else ctx.apps.delete(id);
  }
  if (req.groups) {
    ctx.groups.clear();
    for (const [k, g] of req.groups) ctx.groups.set(k, g);
  }
  ctx.deployments.set(d.id, d);
  ctx.events.publish({ eventType: 'group_change_success', groupId: '/', version });
  for (const id of affected) publishHealthCheckChanges(ctx, original[id], target[id]);
  ctx.log.info('deployment started', { id: d.id, apps: affected, steps: d.totalSteps });
  ctx.requestTick();
  return { dryRun: false, deploymentId: d.id, version, deployment: d };
}

/** The desired app set after reverting `d` (only its affected apps change). */
export function revertTarget(ctx: Ctx, d: DeploymentRecord): Map<string, AppDefinition> {
  const next = new Map(ctx.apps);
  for (const id of d.affectedApps) {
    const before = d.original[id];
    if (!before) next.delete(id);
    else if (d.target[id]) {
      if (next.has(id)) next.set(id, before);
    } else if (!next.has(id)) next.set(id, before);
  }
  return next;
}

export function assertCreatable(ctx: Ctx, id: string): void {
  if (ctx.apps.has(id)) throw new ConflictError(`An app with id [${id}] already exists.`, { id });
}

/**
 * Marathon's add_health_check_event / remove_health_check_event when an app's health checks
 * change (created with checks, checks added/removed/changed, removed with checks).
 */
export function publishHealthCheckChanges(ctx: Ctx, before: AppDefinition | undefined, after: AppDefinition | undefined): void {
  const key = (hc: unknown) => JSON.stringify(canonicalJson(hc));
  const old = before?.healthChecks ?? [];
  const now = after?.healthChecks ?? [];
  const oldKeys = new Set(old.map(key));
  const nowKeys = new Set(now.map(key));
  const appId = (after ?? before)!.id;
  for (const hc of old) if (!nowKeys.has(key(hc))) ctx.events.publish({ eventType: 'remove_health_check_event', appId });
  for (const hc of now) if (!oldKeys.has(key(hc))) ctx.events.publish({ eventType: 'add_health_check_event', appId, version: after!.version ?? '', healthCheck: hc });
}
