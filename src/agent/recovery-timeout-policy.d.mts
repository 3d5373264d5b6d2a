// Types of recovery-timeout-policy.mjs (plain JS so that the watchdog can load it without tsx).

/** watchdog/agent.json: the agent process a work dir's watchdog watches. */
export interface AgentRecord {
  pid: number;
  /** /proc start time of the agent process (pid-reuse guard); absent off Linux. */
  start_time?: string;
  /** --recovery-timeout of that agent, in ms. */
  timeout_ms: number;
  /** Epoch ms. */
  started_at: number;
  /** running; closed: stopped leaving its tasks running; stopped: stopped after killing its tasks. */
  state: 'running' | 'closed' | 'stopped';
  closed_at?: number;
}

export type WatchdogDecision =
  | { action: 'exit'; why: string }
  | { action: 'wait'; deadline?: number }
  | { action: 'kill'; goneSince: number; timeoutMs: number };

export function formatDuration(ms: number): string;
export function parseAgentRecord(value: unknown): AgentRecord | undefined;
export function goneSince(record: AgentRecord, heartbeatMs: number | undefined): number;
export function decide(o: { now: number; record: AgentRecord | undefined; heartbeatMs: number | undefined; agentAlive: boolean; tasksLeft: number }): WatchdogDecision;
export function recoveryTimeoutMessage(timeoutMs: number): string;
