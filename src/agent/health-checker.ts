// Runs one task's health check: the first attempt `delay` after the task started, then one `interval` after
// each attempt ends (attempts never overlap), each bounded by `timeout`. Results go through the pure state
// machine (health-state.ts); the owner hears about health changes and about the decision to kill. All timers
// go through the injected Clock; stop() cancels the next attempt and aborts the one under way.
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import type { HealthCheckConfig } from './health-check.ts';
import type { Probe, ProbeResult } from './health-probes.ts';
import { applyCheckResult, initialHealthState, type HealthState } from './health-state.ts';

/** A probe timer firing later than this means the event loop was stalled (see attempt()). */
const LOOP_STALL_TOLERANCE_MS = 25;

export interface HealthCheckerDeps {
  clock: Clock;
  log: Logger;
  taskId: string;
  config: HealthCheckConfig;
  /** Epoch ms the task started: the origin of the delay and of the grace period. */
  startedAt: number;
  /** Health reported before an agent restart, if any. */
  lastReported?: boolean;
  probe: Probe;
  /** Health changed (first result or a flip). */
  onChange(healthy: boolean, message: string): void;
  /** `consecutive_failures` failures in a row: kill the task. Checking has stopped by then. */
  onKill(message: string): void;
}

export class HealthChecker {
  private state: HealthState;
  private timer?: TimerHandle;
  private inFlight?: AbortController;
  private stopped = false;
  /** Attempts made, for logs and tests. */
  attempts = 0;

  constructor(private deps: HealthCheckerDeps) {
    this.state = initialHealthState(deps.lastReported);
  }

  get running(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (this.stopped || this.timer || this.inFlight) return;
    const { clock, config, startedAt } = this.deps;
    this.schedule(Math.max(0, startedAt + config.delayMs - clock.now()));
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.inFlight?.abort();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, ms);
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const { clock, config, log, taskId } = this.deps;
    const ac = new AbortController();
    this.inFlight = ac;
    this.attempts++;
    // Probes share the event loop with everything else in the process (in `corral dev`, the
    // master, other agents and the orchestrator too). A timer that fires late means the loop was
    // stalled, and a reply that already arrived has not been read yet: such a probe gets one more
    // window as long as the stall before it is aborted, so a busy loop never reads as a sick task.
    let timeout: { cancel(): void } | undefined;
    if (config.timeoutMs > 0) {
      let due = clock.now() + config.timeoutMs;
      let extended = false;
      const onTimeout = () => {
        const lag = clock.now() - due;
        if (!extended && lag > LOOP_STALL_TOLERANCE_MS) {
          extended = true;
          const extra = Math.min(lag, config.timeoutMs);
          due = clock.now() + extra;
          timeout = clock.setTimeout(onTimeout, extra);
          return;
        }
        ac.abort();
      };
      timeout = clock.setTimeout(onTimeout, config.timeoutMs);
    }
    let result: ProbeResult;
    try {
      result = await this.deps.probe(ac.signal);
    } catch (e) {
      result = { healthy: false, message: `health check failed: ${(e as Error).message}` };
    } finally {
      timeout?.cancel();
      this.inFlight = undefined;
    }
    if (this.stopped) return;
    const d = applyCheckResult(this.state, config, result.healthy, clock.now() - this.deps.startedAt);
    this.state = d.state;
    if (d.ignored) log.debug('ignoring a failed health check: still in the grace period', { task: taskId, message: result.message });
    else if (!result.healthy) log.info('health check failed', { task: taskId, consecutive_failures: d.state.consecutiveFailures, message: result.message });
    if (d.report !== undefined) this.deps.onChange(d.report, result.message);
    if (this.stopped) return;
    if (d.kill) {
      this.stopped = true;
      log.warn('killing a task whose health check failed', { task: taskId, consecutive_failures: d.state.consecutiveFailures, message: result.message });
      this.deps.onKill(result.message);
      return;
    }
    this.schedule(config.intervalMs);
  }
}
