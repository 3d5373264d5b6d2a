// The health checker's decisions, as a pure state machine (Mesos's HealthCheckerProcess::success/failure):
//  - while initializing (no success yet) failures inside the grace period are ignored;
//  - each other failure counts; `consecutive_failures` of them in a row → kill the task (0 counts as 1);
//  - a success resets the count;
//  - health is reported when it changes: the first result and every flip (Mesos also repeats "unhealthy"
//    on each failure; Corral does not).

export interface HealthPolicy {
  gracePeriodMs: number;
  consecutiveFailures: number;
}

export interface HealthState {
  /** No success seen yet: failures within the grace period do not count. */
  initializing: boolean;
  consecutiveFailures: number;
  /** The last health reported; undefined before the first report. */
  healthy?: boolean;
}

export interface HealthDecision {
  state: HealthState;
  /** Report this health (a TASK_RUNNING update with `healthy`). */
  report?: boolean;
  /** The task must be killed. */
  kill: boolean;
  /** The result was a failure ignored because of the grace period. */
  ignored: boolean;
}

/**
 * The state a checker starts from. `lastReported`: the health reported before an agent restart, if any;
 * the task is then past initialising, and only a change from it is reported again.
 */
export function initialHealthState(lastReported?: boolean): HealthState {
  return lastReported === undefined ? { initializing: true, consecutiveFailures: 0 } : { initializing: false, consecutiveFailures: 0, healthy: lastReported };
}

/** Applies one check result; `sinceStartMs` is the time since the task started (the grace period's origin). */
export function applyCheckResult(state: HealthState, policy: HealthPolicy, healthy: boolean, sinceStartMs: number): HealthDecision {
  if (healthy) {
    const next: HealthState = { initializing: false, consecutiveFailures: 0, healthy: true };
    return { state: next, ...(state.healthy !== true ? { report: true } : {}), kill: false, ignored: false };
  }
  if (state.initializing && policy.gracePeriodMs > 0 && sinceStartMs <= policy.gracePeriodMs) {
    return { state, kill: false, ignored: true };
  }
  const failures = state.consecutiveFailures + 1;
  const next: HealthState = { initializing: state.initializing, consecutiveFailures: failures, healthy: false };
  return {
    state: next,
    ...(state.healthy !== false ? { report: false } : {}),
    kill: failures >= Math.max(1, policy.consecutiveFailures),
    ignored: false,
  };
}
