// The master's alert service: every `intervalMs` it evaluates the rules (core/alerts) over the
// master's metrics history — or, when it is given none, over one of its own into which it samples the
// snapshot first — and publishes the state changes to subscribers (GET /alerts/events) and the log. It
// runs on the leading master's term clock, so it stops with the term; a new leader's alerts start
// inactive (over the history its process kept).
import { AlertEngine, DEFAULT_ALERT_RULES, type Alert, type AlertEvent, type AlertRule, type MetricHistory } from '../core/alerts/index.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import { SnapshotHistory } from './alerts-history.ts';

export const DEFAULT_ALERT_INTERVAL_MS = 5000;
/** Longest window a default rule reads (10 m) with room to spare. */
const RETENTION_MS = 30 * 60_000;
/** The metric key of the number of firing alerts (in /metrics/snapshot). */
export const ALERTS_FIRING_KEY = 'master/alerts_firing';

export interface AlertOptions {
  /** Default: DEFAULT_ALERT_RULES. */
  rules?: readonly AlertRule[];
  /** Evaluation (and sampling) period; default 5 s. */
  intervalMs?: number;
}

export interface AlertServiceDeps {
  clock: Clock;
  log: Logger;
  /** The current metrics snapshot (sampled at each evaluation). */
  snapshot(): Record<string, number>;
  options?: AlertOptions;
  /** A history to read instead of sampling `snapshot` into one of our own. */
  history?: MetricHistory;
}

export class AlertService {
  readonly engine: AlertEngine;
  readonly intervalMs: number;
  private readonly own?: SnapshotHistory;
  private readonly history: MetricHistory;
  private readonly listeners = new Set<(e: AlertEvent) => void>();
  private timer?: TimerHandle;

  constructor(private readonly deps: AlertServiceDeps) {
    this.engine = new AlertEngine(deps.options?.rules ?? DEFAULT_ALERT_RULES);
    this.intervalMs = deps.options?.intervalMs ?? DEFAULT_ALERT_INTERVAL_MS;
    if (!(this.intervalMs > 0)) throw new Error(`alert interval must be positive, got ${this.intervalMs}`);
    if (deps.history) this.history = deps.history;
    else this.history = this.own = new SnapshotHistory(RETENTION_MS);
  }

  start(): void {
    this.timer ??= this.deps.clock.setInterval(() => this.evaluate(), this.intervalMs);
  }

  /** Idempotent: no evaluations and no events after it. */
  stop(): void {
    this.timer?.cancel();
    this.listeners.clear();
  }

  /** Samples (own history) and evaluates now; returns and publishes the state changes. */
  evaluate(): AlertEvent[] {
    const now = this.deps.clock.now();
    let events: AlertEvent[];
    try {
      if (this.own) this.own.record(now, this.deps.snapshot());
      events = this.engine.evaluate(now, this.history);
    } catch (e) {
      this.deps.log.error('alert evaluation failed', { error: (e as Error).message });
      return [];
    }
    for (const e of events) {
      const fields = { alert: e.name, severity: e.severity, value: e.value };
      if (e.to === 'firing') this.deps.log.warn(`alert firing: ${e.name}`, fields);
      else if (e.from === 'firing') this.deps.log.info(`alert resolved: ${e.name}`, fields);
      for (const l of this.listeners) l(e);
    }
    return events;
  }

  alerts(): Alert[] {
    return this.engine.alerts();
  }

  firing(): number {
    return this.engine.firingCount();
  }

  subscribe(listener: (e: AlertEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}
