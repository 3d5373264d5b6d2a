// When `corral dev --ha` restarts a child that died on its own: systemd's Restart=on-failure with
// RestartSec growing exponentially and a start limit (StartLimitBurst within StartLimitIntervalSec),
// so that a child that cannot start does not spin forever. Pure: the supervisor brings the times.

export interface RestartPolicy {
  /** Delay before the first restart; doubles with each further exit inside the window. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** More exits than this inside `windowMs` and the child is left down. */
  maxRestarts: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 8000, maxRestarts: 5, windowMs: 60_000 };

export type RestartDecision = { action: 'restart'; delayMs: number; attempt: number } | { action: 'give-up'; exitsInWindow: number };

/** `exits`: the times of this child's unexpected exits so far, the one being decided on included. */
export function decideRestart(exits: readonly number[], now: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  const recent = exits.filter((t) => now - t <= policy.windowMs).length;
  if (recent > policy.maxRestarts) return { action: 'give-up', exitsInWindow: recent };
  const attempt = Math.max(1, recent);
  return { action: 'restart', delayMs: Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1)), attempt };
}
