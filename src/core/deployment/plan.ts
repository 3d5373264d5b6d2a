// Deployment plan construction (marathon.md §5.2, DeploymentPlan.apply) and the revert plan used
// by DELETE /v2/deployments/{id} without force (§5.4, DeploymentPlanReverter) — apps only.
import { CorralError } from '../../protocol/errors.ts';
import type { ActionName, AppSpec, DeploymentAction, DeploymentPlanSteps, DeploymentStep } from './types.ts';

/** The target's dependency graph has a cycle (→ 422). `cycle` lists it, first id repeated at the end. */
export class DependencyCycleError extends CorralError {
  constructor(readonly cycle: string[]) {
    super('UNPROCESSABLE', `Dependency graph has cyclic dependencies: ${cycle.join(' -> ')}`, { cycle });
  }
}

/** Absolute, normalized path id; relative ids resolve against `base` (a group path). */
export function resolvePathId(id: string, base = '/'): string {
  const raw = id.startsWith('/') ? id : `${base.replace(/\/+$/, '')}/${id}`;
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

const parentOf = (id: string): string => {
  const p = resolvePathId(id);
  const k = p.lastIndexOf('/');
  return k <= 0 ? '/' : p.slice(0, k);
};

/**
 * Edges app → the apps it depends on. A dependency naming an app is that app; one naming a group
 * is every app under it; unknown ids are ignored (validation reports them). Self-edges are dropped.
 */
export function dependencyGraph(apps: readonly AppSpec[]): Map<string, string[]> {
  const ids = apps.map((a) => resolvePathId(a.id));
  const known = new Set(ids);
  const g = new Map<string, string[]>();
  apps.forEach((a, k) => {
    const self = ids[k]!;
    const deps = new Set<string>();
    for (const d of a.dependencies) {
      const dep = resolvePathId(d, parentOf(self));
      if (known.has(dep)) deps.add(dep);
      else {
        const prefix = dep === '/' ? '/' : `${dep}/`;
        for (const other of ids) if (other.startsWith(prefix)) deps.add(other);
      }
    }
    deps.delete(self);
    g.set(self, [...deps].sort());
  });
  return g;
}

/** A cycle in `g`, as [a, b, …, a], or undefined. Deterministic (ids visited in sorted order). */
export function findCycle(g: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 1 | 2>(); // 1 = on stack, 2 = done
  const stack: string[] = [];
  const visit = (v: string): string[] | undefined => {
    state.set(v, 1);
    stack.push(v);
    for (const w of g.get(v) ?? []) {
      const s = state.get(w);
      if (s === 1) return [...stack.slice(stack.indexOf(w)), w];
      if (s === undefined) {
        const c = visit(w);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(v, 2);
    return undefined;
  };
  for (const v of [...g.keys()].sort()) {
    if (state.has(v)) continue;
    const c = visit(v);
    if (c) return c;
  }
  return undefined;
}

/** Length of the longest dependency chain starting at each app (no dependencies → 1). Cycle-safe. */
function longestPaths(g: Map<string, string[]>): Map<string, number> {
  const memo = new Map<string, number>();
  const onStack = new Set<string>();
  const len = (v: string): number => {
    const m = memo.get(v);
    if (m !== undefined) return m;
    onStack.add(v);
    let best = 1;
    for (const w of g.get(v) ?? []) if (!onStack.has(w)) best = Math.max(best, 1 + len(w));
    onStack.delete(v);
    memo.set(v, best);
    return best;
  };
  for (const v of g.keys()) len(v);
  return memo;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, k) => v === y[k]);
};

/** Everything but `instances` is the same (and the config version did not move). */
function sameConfig(a: AppSpec, b: AppSpec): boolean {
  return (
    a.configHash === b.configHash &&
    a.upgradeStrategy.minimumHealthCapacity === b.upgradeStrategy.minimumHealthCapacity &&
    a.upgradeStrategy.maximumOverCapacity === b.upgradeStrategy.maximumOverCapacity &&
    a.hasHealthChecks === b.hasHealthChecks &&
    a.hasReadinessChecks === b.hasReadinessChecks &&
    a.killSelection === b.killSelection &&
    a.backoff.seconds === b.backoff.seconds &&
    a.backoff.factor === b.backoff.factor &&
    a.backoff.maxLaunchDelaySeconds === b.backoff.maxLaunchDelaySeconds &&
    JSON.stringify(a.unreachable) === JSON.stringify(b.unreachable) &&
    (a.resident ?? false) === (b.resident ?? false) &&
    sameSet(a.dependencies, b.dependencies)
  );
}

/** Only `instances` differs: ScaleApplication. */
export function isOnlyScaleChange(from: AppSpec, to: AppSpec): boolean {
  return sameConfig(from, to) && from.instances !== to.instances;
}

/**
 * The config changed (configHash or any other non-`instances` field), or — instances unchanged —
 * the version moved (a `/restart`): RestartApplication.
 */
export function needsRestart(from: AppSpec, to: AppSpec): boolean {
  if (!sameConfig(from, to)) return true;
  return from.instances === to.instances && from.version !== to.version;
}

const byApp = (a: DeploymentAction, b: DeploymentAction): number => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0);
const step = (action: ActionName, ids: Iterable<string>): DeploymentStep => ({
  actions: [...ids].map((app) => ({ action, app })).sort(byApp),
});

/**
 * The plan from `original` to `target` (each the full set of apps, or at least every app that
 * changes plus everything they depend on):
 *  1. StopApplication for apps only in `original` — dependents first: one step per layer of the
 *     original dependency graph, longest dependency chain first (one step when they are unrelated).
 *  2. StartApplication for apps only in `target` (registers them with 0 instances).
 *  3. For each class of the target dependency graph (apps with equal longest dependency chain,
 *     shortest first = dependencies first) one step: new → ScaleApplication; only `instances`
 *     changed → ScaleApplication; any other change or a version bump → RestartApplication;
 *     unchanged → nothing.
 * Empty steps are dropped; actions in a step are sorted by app id.
 * Throws DependencyCycleError when the target's dependency graph has a cycle.
 */
export function planDeployment(original: readonly AppSpec[], target: readonly AppSpec[]): DeploymentPlanSteps {
  const orig = new Map(original.map((a) => [resolvePathId(a.id), a] as const));
  const tgt = new Map(target.map((a) => [resolvePathId(a.id), a] as const));

  const targetGraph = dependencyGraph(target);
  const cycle = findCycle(targetGraph);
  if (cycle) throw new DependencyCycleError(cycle);

  const steps: DeploymentStep[] = [];

  // 1. Stops, dependents first.
  const removed = [...orig.keys()].filter((id) => !tgt.has(id));
  if (removed.length > 0) {
    const lp = longestPaths(dependencyGraph(original));
    const layers = new Map<number, string[]>();
    for (const id of removed) {
      const l = lp.get(id) ?? 1;
      layers.set(l, [...(layers.get(l) ?? []), id]);
    }
    for (const l of [...layers.keys()].sort((a, b) => b - a)) steps.push(step('StopApplication', layers.get(l)!));
  }

  // 2. Starts (0 instances).
  const added = [...tgt.keys()].filter((id) => !orig.has(id));
  steps.push(step('StartApplication', added));

  // 3. Dependency-ordered scale/restart.
  const lp = longestPaths(targetGraph);
  const classes = new Map<number, DeploymentAction[]>();
  for (const [id, spec] of tgt) {
    const before = orig.get(id);
    let action: ActionName | undefined;
    if (!before) action = 'ScaleApplication';
    else if (needsRestart(before, spec)) action = 'RestartApplication';
    else if (isOnlyScaleChange(before, spec)) action = 'ScaleApplication';
    if (!action) continue;
    const l = lp.get(id) ?? 1;
    classes.set(l, [...(classes.get(l) ?? []), { action, app: id }]);
  }
  for (const l of [...classes.keys()].sort((a, b) => a - b)) steps.push({ actions: classes.get(l)!.sort(byApp) });

  const nonEmpty = steps.filter((s) => s.actions.length > 0);
  const affectedApps = [...new Set(nonEmpty.flatMap((s) => s.actions.map((a) => a.app)))].sort();
  return { steps: nonEmpty, affectedApps };
}

export interface RevertResult extends DeploymentPlanSteps {
  /** The desired app set after the revert (= `current` with the affected apps put back). */
  target: AppSpec[];
}

/**
 * The revert of a deployment (DELETE /v2/deployments/{id} without force; start it with force):
 * on top of `current` (the apps as they are now), and only for the deployment's affected apps —
 * never a whole snapshot:
 *  - changed by the deployment → back to its `original` spec (left alone if deleted since);
 *  - added by the deployment → removed;
 *  - removed by the deployment → re-added with its `original` spec (unless re-created since).
 * `affectedApps` defaults to those of planDeployment(original, target).
 */
export function revertPlan(
  deployment: { original: readonly AppSpec[]; target: readonly AppSpec[]; affectedApps?: readonly string[] },
  current: readonly AppSpec[],
): RevertResult {
  const affected = new Set(
    (deployment.affectedApps ?? planDeployment(deployment.original, deployment.target).affectedApps).map((id) => resolvePathId(id)),
  );
  const orig = new Map(deployment.original.map((a) => [resolvePathId(a.id), a] as const));
  const next = new Map(current.map((a) => [resolvePathId(a.id), a] as const));
  const inTarget = new Set(deployment.target.map((a) => resolvePathId(a.id)));
  for (const id of [...affected].sort()) {
    const before = orig.get(id);
    if (!before) next.delete(id); // added by the deployment
    else if (inTarget.has(id)) {
      if (next.has(id)) next.set(id, before); // changed by the deployment
    } else if (!next.has(id)) next.set(id, before); // removed by the deployment
  }
  const target = [...next.values()];
  return { ...planDeployment(current, target), target };
}
