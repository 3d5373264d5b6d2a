// Adapter between the orchestrator's records and the pure cores (core/deployment,
// core/placement): maps AppDefinition → AppSpec, InstanceRecord → InstanceView, and calls the
// decisions. No I/O here.
import { createHash } from 'node:crypto';
import { reconcileApp, unreachableTransitions } from '../core/deployment/reconcile.ts';
import { scaleTick } from '../core/deployment/scale.ts';
import type { AppSpec, InstanceCondition, InstanceView, KillDecision, TickResult } from '../core/deployment/types.ts';
import { rollingUpgradeTick } from '../core/deployment/upgrade.ts';
import { appDefaults, configVersionOf } from './app-defaults.ts';
export { configVersionOf };
import { isMarathonCheck } from './health.ts';
import { isActiveCondition } from './instances.ts';
import { isReady } from './readiness.ts';
import type { AppDefinition, DeploymentActionName, InstanceRecord } from './service.ts';
import { parseTime } from './time.ts';

export type KillOrder = KillDecision;


/** A copy with object keys sorted at every level, so equal values serialise identically. */
export function canonicalJson(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(canonicalJson);
  if (x && typeof x === 'object')
    return Object.fromEntries(
      Object.keys(x)
        .sort()
        .map((k) => [k, canonicalJson((x as Record<string, unknown>)[k])]),
    );
  return x;
}

/** Every field except instances/version/versionInfo.lastScalingAt, canonically serialised. */
export function configHash(app: AppDefinition): string {
  const { instances: _i, version: _v, versionInfo, ...rest } = app;
  const json = JSON.stringify(canonicalJson({ ...rest, lastConfigChangeAt: versionInfo?.lastConfigChangeAt ?? null }));
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}

/** Same config (everything except instances and version fields)? */
export function sameConfig(a: AppDefinition, b: AppDefinition): boolean {
  const strip = (x: AppDefinition) => {
    const { instances: _i, version: _v, versionInfo: _vi, ...rest } = x;
    return rest;
  };
  return configHashOf(strip(a)) === configHashOf(strip(b));
}
const configHashOf = (x: Record<string, unknown>) => configHash({ id: '', ...x } as AppDefinition);

export function toAppSpec(app: AppDefinition, dependencies?: string[]): AppSpec {
  const e = appDefaults(app);
  return {
    id: app.id,
    version: configVersionOf(app),
    instances: e.instances,
    dependencies: dependencies ?? app.dependencies ?? [],
    upgradeStrategy: { minimumHealthCapacity: e.minimumHealthCapacity, maximumOverCapacity: e.maximumOverCapacity },
    hasHealthChecks: (app.healthChecks ?? []).length > 0,
    hasReadinessChecks: (app.readinessChecks ?? []).length > 0,
    killSelection: e.killSelection,
    backoff: { seconds: e.backoffSeconds, factor: e.backoffFactor, maxLaunchDelaySeconds: e.maxLaunchDelaySeconds },
    unreachable: e.unreachable ?? 'disabled',
    configHash: configHash(app),
  };
}

/** Health as the cores see it: true (all checks pass), false (some failing), undefined (no result yet / no checks). */
export function healthOf(app: AppDefinition | undefined, inst: InstanceRecord): boolean | undefined {
  const checks = app?.healthChecks ?? [];
  if (!checks.length) return undefined;
  if (checks.some((c) => !isMarathonCheck(c))) return inst.mesosHealthy;
  const res = inst.healthCheckResults;
  if (!res.length) return undefined;
  if (res.every((r) => r.alive)) return true;
  if (res.some((r) => !r.alive && (r.consecutiveFailures > 0 || r.lastSuccess !== null))) return false;
  return undefined;
}

function viewCondition(inst: InstanceRecord): InstanceCondition | undefined {
  if (!isActiveCondition(inst.condition)) return undefined;
  if (inst.goal !== 'Running') return 'Killing';
  switch (inst.condition) {
    case 'Provisioned':
    case 'Staging':
      return 'Staging';
    case 'Starting':
      return 'Starting';
    case 'Running':
      return 'Running';
    case 'Killing':
      return 'Killing';
    case 'Unreachable':
      return 'Unreachable';
    case 'UnreachableInactive':
      return 'UnreachableInactive';
    default:
      return undefined;
  }
}

export function toInstanceView(app: AppDefinition | undefined, inst: InstanceRecord): InstanceView | undefined {
  const condition = viewCondition(inst);
  if (!condition) return undefined;
  return {
    instanceId: inst.instanceId,
    version: inst.configVersion ?? inst.version,
    condition,
    healthy: healthOf(app, inst),
    ready: app && (app.readinessChecks ?? []).length ? (isReady(app, inst) ? true : undefined) : undefined,
    stagedAt: parseTime(inst.stagedAt) ?? 0,
    ...(inst.startedAt ? { startedAt: parseTime(inst.startedAt) } : {}),
    ...(inst.unreachableSince ? { unreachableSince: parseTime(inst.unreachableSince) } : {}),
    ...(inst.wasUnreachable ? { wasUnreachable: true } : {}),
    ...(inst.agentId ? { agentId: inst.agentId } : {}),
  };
}

const views = (app: AppDefinition, instances: InstanceRecord[]): InstanceView[] =>
  instances.map((i) => toInstanceView(app, i)).filter((v): v is InstanceView => v !== undefined);

export interface AppTick {
  launch: number;
  kill: KillOrder[];
  done: boolean;
}

export function deploymentTick(action: DeploymentActionName, app: AppDefinition, instances: InstanceRecord[], sentenced: string[]): AppTick {
  const spec = toAppSpec(app);
  const r: TickResult = action === 'RestartApplication' ? rollingUpgradeTick(spec, views(app, instances)) : scaleTick(spec, views(app, instances), sentenced);
  return { launch: r.launch, kill: r.kill, done: r.done };
}

export interface ReconcileTick {
  launch: number;
  kill: KillOrder[];
  inactivate: string[];
  expunge: string[];
}

export function reconcileTick(app: AppDefinition, instances: InstanceRecord[], now: number): ReconcileTick {
  const r = reconcileApp(toAppSpec(app), views(app, instances), now);
  return { launch: r.launch, kill: r.kill, inactivate: r.markInactive, expunge: r.expunge };
}

/** Unreachable bookkeeping for an app held by a deployment (applies always). */
export function unreachableTick(app: AppDefinition, instances: InstanceRecord[], now: number): { inactivate: string[]; expunge: string[] } {
  const r = unreachableTransitions(toAppSpec(app), views(app, instances), now);
  return { inactivate: r.markInactive, expunge: r.expunge };
}
