// --recovery-timeout (Mesos's agent --recovery_timeout): how long the tasks of an agent that went away may run
// unsupervised before they are killed. Mesos's executors self-terminate after it; Corral's tasks have no
// executor, so a per-work-dir watchdog process (watchdog.mjs) kills them, and leaves a marker next to each
// run's exit status from which a later agent reports TASK_FAILED / REASON_EXECUTOR_REREGISTRATION_TIMEOUT
// ("the executor for this task lost connection and didn't reregister within the allowed time limit": a
// terminal reason of TASK_FAILED generated on the agent, per Mesos's task-state-reasons.md).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../protocol/validate.ts';
import type { TerminalOutcome } from './exit-status.ts';
import { RECOVERY_TIMEOUT_FILE } from './paths.ts';
import { recoveryTimeoutMessage } from './recovery-timeout-policy.mjs';

export { formatDuration } from './recovery-timeout-policy.mjs';

/** Mesos's default --recovery_timeout. */
export const DEFAULT_RECOVERY_TIMEOUT_MS = 15 * 60_000;

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  secs: 1e3,
  mins: 60e3,
  hrs: 3600e3,
  days: 24 * 3600e3,
  weeks: 7 * 24 * 3600e3,
};

/** A Mesos duration ("15mins", "30secs", "500ms", "1.5hrs") or plain milliseconds ("60000") → ms (> 0). */
export const DurationText = z.string().transform((text, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/.exec(text);
  const unit = m?.[2] || 'ms';
  const size = UNIT_MS[unit];
  if (!m || size === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as 15mins, 30secs, 500ms or a number of milliseconds (units: ${Object.keys(UNIT_MS).join(', ')}), got ${JSON.stringify(text)}`,
    });
    return z.NEVER;
  }
  const ms = Number(m[1]) * size;
  if (!Number.isFinite(ms) || ms <= 0 || ms > Number.MAX_SAFE_INTEGER) {
    ctx.addIssue({ code: 'custom', message: `must be a positive duration, got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  // Sub-millisecond durations round up: a timeout of 0 would kill tasks the moment the agent blinks.
  return Math.ceil(ms);
});

/** Throws a ValidationError (prefixed with `what`, if given) when `text` is not a duration. */
export const parseDuration = (text: string, what = ''): number => parseOrThrow(DurationText, text, what);

/** recovery_timeout, next to a run's exit_status: written before the kill, so a later agent learns why. */
export interface RecoveryTimeoutMarker {
  reason: 'recovery_timeout';
  timeout_ms: number;
  /** Epoch ms: the agent's last sign of life. */
  agent_gone_since: number;
  killed_at: number;
  by: 'watchdog' | 'agent';
}

const Marker = z.object({ reason: z.literal('recovery_timeout'), timeout_ms: z.number().positive() }).passthrough();

export function readRecoveryTimeoutMarker(runMetaDir: string): { timeout_ms: number } | undefined {
  try {
    const parsed = Marker.safeParse(JSON.parse(fs.readFileSync(path.join(runMetaDir, RECOVERY_TIMEOUT_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

let tempCounter = 0;

/** temp + rename (no fsync: it matters after an agent crash, which keeps the page cache; a reboot kills tasks anyway). */
export function writeRecoveryTimeoutMarker(runMetaDir: string, marker: RecoveryTimeoutMarker): void {
  const file = path.join(runMetaDir, RECOVERY_TIMEOUT_FILE);
  const tmp = `${file}.tmp.${process.pid}.${++tempCounter}`;
  fs.writeFileSync(tmp, JSON.stringify(marker), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function recoveryTimeoutOutcome(timeoutMs: number): TerminalOutcome {
  return { state: 'TASK_FAILED', message: recoveryTimeoutMessage(timeoutMs), reason: 'REASON_EXECUTOR_REREGISTRATION_TIMEOUT' };
}
