// Pure deployment decisions (marathon.md §5, §6.1–6.2, §9.2–9.4): no I/O, no timers, `now` passed in.
// The orchestrator maps its records onto AppSpec / InstanceView, calls these, and applies the result.
//
// Plans
//   planDeployment(original, target)      → {steps, affectedApps}; throws DependencyCycleError (→ 422)
//   revertPlan({original, target, affectedApps?}, current) → {steps, affectedApps, target}
//   isOnlyScaleChange / needsRestart      the per-app action rule of planDeployment
//   dependencyGraph / findCycle / resolvePathId   the dependency graph helpers behind it
// Ticks (stateless: call on every change and on a timer; `launch` is a level, not an increment)
//   rollingUpgradeTick(app, instances)            RestartApplication (TaskReplaceActor)
//   scaleTick(app, instances, sentenced?)         StartApplication / ScaleApplication
//   stopTick(instances, reason?)                  StopApplication
//   actionTick(action, app, instances, sentenced?) dispatches one plan action to the above
//   reconcileApp(app, instances, now)             outside deployments: replace, unreachable, surplus
//   unreachableTransitions(app, instances, now)   markInactive / expunge only (apply during deployments too)
// Instances
//   isConsideredHealthy(app, inst, requireReady?) Running + health (+ readiness)
//   minHealthyAndMaxCapacity(app)                 {minHealthy, maxCapacity, effectiveMaxCapacity, special}
//   killOrder(app, instances, requireReady?) / killWeight   who goes first
// Backoff (§9.3)
//   launchDelayMs(backoff, failures), recordLaunchFailure, backoffActive, nextLaunchAllowedAt,
//   queueDelay (the /v2/queue `delay` object), countsForBackoff(taskState)
//
// Contract for the caller:
//  - Pass only non-terminal instances of the app. Map an instance whose goal is no longer Running
//    (kill ordered) to condition 'Killing'; launch-accepted-but-unconfirmed to 'Staging'.
//  - A kill of an Unreachable/UnreachableInactive/Scheduled instance cannot be delivered: expunge
//    it (and kill it if it ever reports again).
//  - AppSpec.version must be the config version instances are stamped with (lastConfigChangeAt).
//  - Readiness: during a deployment step run readiness checks on the app's Running instances;
//    `ready` undefined counts as not ready.
export type {
  AppSpec,
  ActionName,
  DeploymentAction,
  DeploymentStep,
  DeploymentPlanSteps,
  InstanceCondition,
  InstanceView,
  KillDecision,
  TickProgress,
  TickResult,
} from './types.ts';
export {
  planDeployment,
  revertPlan,
  isOnlyScaleChange,
  needsRestart,
  dependencyGraph,
  findCycle,
  resolvePathId,
  DependencyCycleError,
  type RevertResult,
} from './plan.ts';
export { rollingUpgradeTick } from './upgrade.ts';
export { scaleTick, stopTick } from './scale.ts';
export { actionTick } from './tick.ts';
export { reconcileApp, unreachableTransitions, type ReconcileResult, type UnreachableTransitions } from './reconcile.ts';
export { isConsideredHealthy, minHealthyAndMaxCapacity, killOrder, killWeight, type CapacityBounds } from './instances.ts';
export {
  launchDelayMs,
  recordLaunchFailure,
  backoffActive,
  nextLaunchAllowedAt,
  queueDelay,
  countsForBackoff,
  type BackoffState,
} from './backoff.ts';
