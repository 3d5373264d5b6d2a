// Rule evaluation with Prometheus's alert semantics, pure: the caller passes the time and the history.
// An alert is inactive until its expression holds; then pending (since `activeAt`); once it has held
// for the rule's `for` (at an evaluation), firing; when the expression stops holding (or has no data)
// it goes back to inactive — "resolved" if it was firing. Every state change is returned as an event.
import { compare, measure } from './expr.ts';
import type { MetricHistory } from './history.ts';
import type { AlertRule, Severity } from './rules.ts';

export type AlertState = 'inactive' | 'pending' | 'firing';

/** A pending or firing alert (GET /alerts). */
export interface Alert {
  name: string;
  state: 'pending' | 'firing';
  severity: Severity;
  expr: string;
  forMs: number;
  summary: string;
  /** When the expression started to hold (ms). */
  activeAt: number;
  /** When it started firing (ms), while firing. */
  firedAt?: number;
  /** The expression's function value at the last evaluation. */
  value: number;
}

/** One state change of one rule's alert. `to: 'inactive'` from 'firing' is a resolution. */
export interface AlertEvent {
  name: string;
  severity: Severity;
  from: AlertState;
  to: AlertState;
  /** Evaluation time (ms). */
  at: number;
  /** The function value that caused it (null: no data). */
  value: number | null;
  summary: string;
}

interface Slot {
  rule: AlertRule;
  state: AlertState;
  activeAt?: number;
  firedAt?: number;
  value?: number;
}

export class AlertEngine {
  private readonly slots: Slot[];
  private last?: number;

  constructor(rules: readonly AlertRule[]) {
    this.slots = rules.map((rule) => ({ rule, state: 'inactive' }));
  }

  get rules(): AlertRule[] {
    return this.slots.map((s) => s.rule);
  }

  /** When evaluate() last ran (ms), if ever. */
  get lastEvaluation(): number | undefined {
    return this.last;
  }

  /** Evaluates every rule at `now`; returns the state changes, in rule order. */
  evaluate(now: number, history: MetricHistory): AlertEvent[] {
    this.last = now;
    const events: AlertEvent[] = [];
    for (const slot of this.slots) {
      const { rule } = slot;
      const value = measure(rule.parsed, history, now);
      const holds = value !== undefined && compare(value, rule.parsed.op, rule.parsed.threshold);
      const from = slot.state;
      if (holds) {
        slot.value = value;
        if (from === 'inactive') slot.activeAt = now;
        if (from !== 'firing' && now - slot.activeAt! >= rule.forMs) {
          slot.state = 'firing';
          slot.firedAt = now;
        } else if (from === 'inactive') slot.state = 'pending';
      } else if (from !== 'inactive') {
        slot.state = 'inactive';
        slot.activeAt = undefined;
        slot.firedAt = undefined;
        slot.value = value;
      }
      if (slot.state !== from)
        events.push({ name: rule.name, severity: rule.severity, from, to: slot.state, at: now, value: value ?? null, summary: rule.summary });
    }
    return events;
  }

  /** Pending and firing alerts: firing first, then by severity and name. */
  alerts(): Alert[] {
    const rank = { critical: 0, warning: 1, info: 2 } as const;
    return this.slots
      .filter((s) => s.state !== 'inactive')
      .map(
        (s): Alert => ({
          name: s.rule.name,
          state: s.state as 'pending' | 'firing',
          severity: s.rule.severity,
          expr: s.rule.expr,
          forMs: s.rule.forMs,
          summary: s.rule.summary,
          activeAt: s.activeAt!,
          ...(s.firedAt !== undefined ? { firedAt: s.firedAt } : {}),
          value: s.value!,
        }),
      )
      .sort((a, b) => (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1) || rank[a.severity] - rank[b.severity] || a.name.localeCompare(b.name));
  }

  firingCount(): number {
    return this.slots.filter((s) => s.state === 'firing').length;
  }
}
