// Shared instance predicates: "considered healthy" (§5.3/§6.1/§6.2), capacity bounds of an
// upgrade strategy (§5.3) and the kill order (§5.3 scale-down, ScalingProposition).
import type { AppSpec, InstanceView } from './types.ts';

/** Tolerance for floating-point noise in `instances × fraction` (1.15 × 100 = 114.99999999999999). */
const EPS = 1e-9;

export interface CapacityBounds {
  /** ceil(instances × minimumHealthCapacity) */
  minHealthy: number;
  /** floor(instances × (1 + maximumOverCapacity)) */
  maxCapacity: number;
  /**
   * The bound a restart actually honours: maxCapacity + 1 when minHealthy == maxCapacity for a
   * non-resident app (Marathon's "temporary over-capacity of one instance so that progress is
   * possible"), otherwise maxCapacity.
   */
  effectiveMaxCapacity: number;
  /** minHealthy == maxCapacity (the special case of §5.3). */
  special: boolean;
}

export function minHealthyAndMaxCapacity(app: Pick<AppSpec, 'instances' | 'upgradeStrategy' | 'resident'>): CapacityBounds {
  const n = Math.max(0, Math.floor(app.instances));
  const { minimumHealthCapacity: mhc, maximumOverCapacity: moc } = app.upgradeStrategy;
  const minHealthy = Math.max(0, Math.ceil(n * mhc - EPS));
  const maxCapacity = Math.max(0, Math.floor(n * (1 + moc) + EPS));
  const special = minHealthy === maxCapacity;
  return { minHealthy, maxCapacity, effectiveMaxCapacity: special && !app.resident ? maxCapacity + 1 : maxCapacity, special };
}

/**
 * "Considered healthy": Running, and healthy===true if the app has health checks, and — when
 * `requireReady` (new instances during a deployment) and the app has readiness checks — ready===true.
 * Without health checks a Running instance is considered healthy (§6.1).
 */
export function isConsideredHealthy(
  app: Pick<AppSpec, 'hasHealthChecks' | 'hasReadinessChecks'>,
  inst: InstanceView,
  requireReady = false,
): boolean {
  if (inst.condition !== 'Running') return false;
  if (app.hasHealthChecks && inst.healthy !== true) return false;
  if (requireReady && app.hasReadinessChecks && inst.ready !== true) return false;
  return true;
}

/**
 * Kill priority class; lower goes first:
 * 0 Scheduled (never launched) · 1 UnreachableInactive · 2 Unreachable · 3 came back from a partition ·
 * 4 Running and failing health checks · 5 Staging/Starting · 6 Running without a health (or readiness)
 * result yet · 7 Running and considered healthy. Killing instances are never candidates.
 */
export function killWeight(app: Pick<AppSpec, 'hasHealthChecks' | 'hasReadinessChecks'>, inst: InstanceView, requireReady = false): number {
  switch (inst.condition) {
    case 'Scheduled':
      return 0;
    case 'UnreachableInactive':
      return 1;
    case 'Unreachable':
      return 2;
    case 'Staging':
    case 'Starting':
      return 5;
    case 'Killing':
      return 9;
    case 'Running':
      if (inst.wasUnreachable) return 3;
      if (app.hasHealthChecks && inst.healthy === false) return 4;
      if (!isConsideredHealthy(app, inst, requireReady)) return 6;
      return 7;
  }
}

/** The timestamp killSelection compares: when it started running, else when it was staged. */
const ageKey = (i: InstanceView): number => (i.condition === 'Running' && i.startedAt !== undefined ? i.startedAt : i.stagedAt);

/**
 * Instances ordered for killing (first = killed first): by condition class (see killWeight), then by
 * `killSelection` on the start (or staging) time — YOUNGEST_FIRST kills the most recent first —
 * then by instance id so that the order is total. Killing instances are left out.
 */
export function killOrder(
  app: Pick<AppSpec, 'hasHealthChecks' | 'hasReadinessChecks' | 'killSelection'>,
  instances: readonly InstanceView[],
  requireReady = false,
): InstanceView[] {
  const youngestFirst = app.killSelection !== 'OLDEST_FIRST';
  return instances
    .filter((i) => i.condition !== 'Killing')
    .map((i) => ({ i, w: killWeight(app, i, requireReady), t: ageKey(i) }))
    .sort((a, b) => {
      if (a.w !== b.w) return a.w - b.w;
      if (a.t !== b.t) return youngestFirst ? b.t - a.t : a.t - b.t;
      return a.i.instanceId < b.i.instanceId ? -1 : a.i.instanceId > b.i.instanceId ? 1 : 0;
    })
    .map((x) => x.i);
}
