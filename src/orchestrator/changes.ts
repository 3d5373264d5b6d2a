// Turning a desired app set into a deployment: versions (versionInfo rules of §3.1), locks
// (409 unless force, which cancels the conflicting deployments), the plan (core/deployment),
// then persistence — deployment record first, then the app definitions — and only then the
// in-memory switch. A crash between the two writes is repaired on load from the record.
import { DependencyCycleError, planDeployment, type AppSpec } from '../core/deployment/index.ts';
import { ConflictError, CorralError } from '../protocol/errors.ts';
import { configVersionOf, lockedApps, type Ctx } from './context.ts';
import { sameConfig, toAppSpec } from './decide.ts';
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

/** Stops (no rollback) a running deployment: record removed, deployment_failed published. */
export async function stopDeployment(ctx: Ctx, d: DeploymentRecord, reason: string): Promise<void> {
  d.state = 'cancelled';
  d.reason = reason;
  ctx.deployments.delete(d.id);
  await ctx.persist.deleteDeployment(d.id);
  ctx.events.publish({ eventType: 'deployment_failed', id: d.id, plan: planJson(d), reason });
  ctx.log.info('deployment cancelled', { id: d.id, reason });
}

export type ChangeOutcome = { dryRun: true; steps: DeploymentStepRecord[] } | ({ dryRun: false } & DeploymentResult);

export async function applyChange(ctx: Ctx, req: ChangeRequest): Promise<ChangeOutcome> {
  const version = nextVersion(ctx);
  const groups = req.groups ?? ctx.groups;
  const next = new Map<string, AppDefinition>();
  const changed = new Set<string>();
  for (const [id, incoming] of req.target) {
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
    if (err instanceof DependencyCycleError) throw new CorralError('UNPROCESSABLE', err.message, { cycle: err.cycle });
    throw err;
  }
  if (req.dryRun) return { dryRun: true, steps: plan.steps };

  const affected = [...new Set([...plan.affectedApps, ...changed])].sort();
  const locks = lockedApps(ctx);
  const conflicting = [...new Set(affected.flatMap((a) => locks.get(a) ?? []))];
  if (conflicting.length && !req.force) throw new LockedError(conflicting);
  for (const id of conflicting) {
    const d = ctx.deployments.get(id);
    if (d) await stopDeployment(ctx, d, `superseded by a forced deployment`);
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
    id: ctx.ids.uuid(),
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
    if (after && after !== ctx.apps.get(id)) await ctx.persist.saveApp(after);
    else if (!after) await ctx.persist.removeAppDefinition(id);
  }
  if (req.groups) {
    for (const g of ctx.groups.keys()) if (!req.groups.has(g)) await ctx.persist.deleteGroup(g);
    for (const g of req.groups.values()) if (ctx.groups.get(g.id) !== g) await ctx.persist.saveGroup(g);
  }

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
