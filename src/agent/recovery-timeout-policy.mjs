// The recovery-timeout rules, shared by the watchdog (watchdog.mjs, run by plain node: no tsx, no deps) and
// the agent's start-up check (recovery-timeout-watchdog.ts), so that both treat an absent agent alike.
// Pure: no I/O, no clock. Types are in recovery-timeout-policy.d.mts.

/** Mesos duration units, largest first (what `stringify(Duration)` and `--recovery_timeout` use). */
const UNITS = [
  ['weeks', 7 * 24 * 3600e3],
  ['days', 24 * 3600e3],
  ['hrs', 3600e3],
  ['mins', 60e3],
  ['secs', 1e3],
  ['ms', 1],
];

/** 900000 → "15mins", 1500 → "1.5secs", 500 → "500ms": the largest unit that keeps the value ≥ 1. */
export function formatDuration(ms) {
  for (const [unit, size] of UNITS) {
    if (ms >= size || unit === 'ms') return `${Number((ms / size).toFixed(3))}${unit}`;
  }
  return `${ms}ms`;
}

const isCount = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * The agent record (watchdog/agent.json) or undefined when it is not one. Checked by hand rather than with
 * zod because the watchdog loads nothing but node's own modules.
 */
export function parseAgentRecord(value) {
  if (!value || typeof value !== 'object') return undefined;
  const r = value;
  if (!Number.isInteger(r.pid) || r.pid <= 1) return undefined;
  if (!isCount(r.timeout_ms) || r.timeout_ms <= 0 || !isCount(r.started_at)) return undefined;
  if (r.state !== 'running' && r.state !== 'closed' && r.state !== 'stopped') return undefined;
  if (r.start_time !== undefined && typeof r.start_time !== 'string') return undefined;
  if (r.closed_at !== undefined && !isCount(r.closed_at)) return undefined;
  return {
    pid: r.pid,
    ...(r.start_time !== undefined ? { start_time: r.start_time } : {}),
    timeout_ms: r.timeout_ms,
    started_at: r.started_at,
    state: r.state,
    ...(r.closed_at !== undefined ? { closed_at: r.closed_at } : {}),
  };
}

/**
 * When the agent of `record` went away: when it closed (it says so), else its last heartbeat — a crashed agent
 * says nothing, and its heartbeat is at most one interval older than its death. Never before it started.
 */
export function goneSince(record, heartbeatMs) {
  if (record.state === 'closed' && record.closed_at !== undefined) return record.closed_at;
  return Math.max(record.started_at, heartbeatMs ?? record.started_at);
}

/**
 * What the watchdog does now. An agent is gone once it closed or its process (pid + start time) died; a hung
 * but living agent is not gone (Mesos's executors, too, only notice a broken connection).
 */
export function decide({ now, record, heartbeatMs, agentAlive, tasksLeft }) {
  if (!record) return { action: 'exit', why: 'the work dir has no agent record' };
  if (record.state === 'stopped') return { action: 'exit', why: 'the agent stopped cleanly, killing its tasks' };
  if (record.state === 'running' && agentAlive) return { action: 'wait' };
  const since = goneSince(record, heartbeatMs);
  if (tasksLeft === 0) return { action: 'exit', why: 'the agent is gone and no task of its work dir is left' };
  const deadline = since + record.timeout_ms;
  if (now >= deadline) return { action: 'kill', goneSince: since, timeoutMs: record.timeout_ms };
  return { action: 'wait', deadline };
}

/** TaskStatus.message of a task killed because its agent did not come back in time. */
export const recoveryTimeoutMessage = (timeoutMs) =>
  `the agent did not recover within --recovery-timeout ${formatDuration(timeoutMs)}; the task was killed`;
