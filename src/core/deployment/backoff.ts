// Launch backoff (marathon.md §9.3, Marathon's RateLimiter). Kept per app *config* version:
// a new version starts with no delay.
//   first failure → backoffSeconds; each further consecutive failure × backoffFactor;
//   capped at maxLaunchDelaySeconds. I.e. after f ≥ 1 consecutive failures the next launch waits
//   min(backoffSeconds × backoffFactor^(f−1), maxLaunchDelaySeconds); with f = 0 it does not wait.
// Reset: new config version, DELETE /v2/queue/{id}/delay, or a quiet period of delay +
// maxLaunchDelay without a further failure.
import type { AppSpec } from './types.ts';

type Backoff = AppSpec['backoff'];

/** Delay (ms) before the next launch after `consecutiveFailures` failures (0 → 0). */
export function launchDelayMs(backoff: Backoff, consecutiveFailures: number): number {
  if (!(consecutiveFailures >= 1)) return 0;
  const max = Math.max(0, backoff.maxLaunchDelaySeconds);
  const base = Math.max(0, backoff.seconds);
  const factor = Math.max(1, backoff.factor);
  const secs = base * Math.pow(factor, Math.floor(consecutiveFailures) - 1);
  const capped = Number.isFinite(secs) ? Math.min(secs, max) : max;
  return Math.round(capped * 1000);
}

/** Mesos terminal states that increase the delay: failures, not kills or agent loss. */
export function countsForBackoff(taskState: string): boolean {
  return taskState === 'TASK_FAILED' || taskState === 'TASK_FINISHED' || taskState === 'TASK_ERROR' || taskState === 'TASK_DROPPED';
}

/** Backoff bookkeeping for one app (persist it with the app if delays must survive failover). */
export interface BackoffState {
  /** AppSpec.version the failures were counted for. */
  version: string;
  consecutiveFailures: number;
  /** Epoch ms of the last counted failure. */
  lastFailureAt: number;
}

/** Is `state` still in force for this app at `now` (same version, quiet period not over)? */
export function backoffActive(app: Pick<AppSpec, 'version' | 'backoff'>, state: BackoffState | undefined, now: number): state is BackoffState {
  if (!state || state.version !== app.version || state.consecutiveFailures < 1) return false;
  const quiet = launchDelayMs(app.backoff, state.consecutiveFailures) + Math.max(0, app.backoff.maxLaunchDelaySeconds) * 1000;
  return now < state.lastFailureAt + quiet;
}

/** A counted failure at `now`: the new state (starts over for a new version or after a quiet period). */
export function recordLaunchFailure(app: Pick<AppSpec, 'version' | 'backoff'>, state: BackoffState | undefined, now: number): BackoffState {
  const prior = backoffActive(app, state, now) ? state.consecutiveFailures : 0;
  return { version: app.version, consecutiveFailures: prior + 1, lastFailureAt: now };
}

/** Earliest time (epoch ms) the next launch may happen; `now` or earlier means now. */
export function nextLaunchAllowedAt(app: Pick<AppSpec, 'version' | 'backoff'>, state: BackoffState | undefined, now: number): number {
  if (!backoffActive(app, state, now)) return now;
  return state.lastFailureAt + launchDelayMs(app.backoff, state.consecutiveFailures);
}

/** The `/v2/queue` item `delay` object: `{timeLeftSeconds, overdue}`. */
export function queueDelay(app: Pick<AppSpec, 'version' | 'backoff'>, state: BackoffState | undefined, now: number): { timeLeftSeconds: number; overdue: boolean } {
  const at = nextLaunchAllowedAt(app, state, now);
  const left = Math.max(0, at - now);
  return { timeLeftSeconds: Math.ceil(left / 1000), overdue: left === 0 };
}
