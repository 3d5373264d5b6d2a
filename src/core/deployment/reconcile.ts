// Outside deployments: keep `instances` instances of an app (marathon.md §9.2, §9.4).
// Unreachable is not terminal: an Unreachable instance keeps counting until inactiveAfterSeconds,
// then it is marked UnreachableInactive and replaced; after expungeAfterSeconds it is forgotten.
// If a replaced instance comes back, the surplus is killed (the one that came back first).
import { killOrder } from './instances.ts';
import type { AppSpec, InstanceView, KillDecision } from './types.ts';

export interface UnreachableTransitions {
  /** Unreachable for ≥ inactiveAfterSeconds: set condition UnreachableInactive (a replacement follows). */
  markInactive: string[];
  /** Unreachable(Inactive) for ≥ expungeAfterSeconds: forget it (kill it if it ever reports again). */
  expunge: string[];
}

/**
 * Time-driven unreachable bookkeeping; apply it always, also while a deployment holds the app.
 * An instance without `unreachableSince` is treated as unreachable since `now`.
 * With `unreachable: 'disabled'` nothing ever happens (resident apps wait forever).
 */
export function unreachableTransitions(app: Pick<AppSpec, 'unreachable'>, instances: readonly InstanceView[], now: number): UnreachableTransitions {
  const out: UnreachableTransitions = { markInactive: [], expunge: [] };
  if (app.unreachable === 'disabled') return out;
  const { inactiveAfterSeconds, expungeAfterSeconds } = app.unreachable;
  for (const i of instances) {
    if (i.condition !== 'Unreachable' && i.condition !== 'UnreachableInactive') continue;
    const since = i.unreachableSince ?? now;
    const elapsed = now - since;
    if (elapsed >= expungeAfterSeconds * 1000) out.expunge.push(i.instanceId);
    else if (i.condition === 'Unreachable' && elapsed >= inactiveAfterSeconds * 1000) out.markInactive.push(i.instanceId);
  }
  return out;
}

export interface ReconcileResult extends UnreachableTransitions {
  /** Instances missing (a level: set the launch queue count to it). */
  launch: number;
  kill: KillDecision[];
}

/**
 * Keep `app.instances` running. Instances listed are the non-terminal ones (terminal/expunged are
 * simply absent, so they get replaced). Being-killed and UnreachableInactive instances do not count;
 * Unreachable ones do (never replaced before inactiveAfterSeconds). Surplus (e.g. a replaced
 * instance came back after a partition) is killed by killOrder: scheduled → unreachable → came back
 * from a partition → unhealthy → staging → killSelection.
 */
export function reconcileApp(app: AppSpec, instances: readonly InstanceView[], now: number): ReconcileResult {
  const n = Math.max(0, app.instances);
  const t = unreachableTransitions(app, instances, now);
  const gone = new Set(t.expunge);
  const inactive = new Set(t.markInactive);
  const view = instances
    .filter((i) => !gone.has(i.instanceId))
    .map((i): InstanceView => (inactive.has(i.instanceId) ? { ...i, condition: 'UnreachableInactive' } : i));
  const active = view.filter((i) => i.condition !== 'Killing' && i.condition !== 'UnreachableInactive');
  const launch = Math.max(0, n - active.length);
  const surplus = Math.max(0, active.length - n);
  const healed = active.some((i) => i.wasUnreachable);
  const kill = killOrder(app, active)
    .slice(0, surplus)
    .map((i) => ({
      instanceId: i.instanceId,
      reason: healed ? 'surplus after partition heal' : `surplus above ${n} instances`,
    }));
  return { ...t, launch, kill };
}
