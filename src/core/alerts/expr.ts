// The alert expression language: one function of one metric series compared with a number.
//
//   value(KEY)       OP N   the latest sample (no older than 5 minutes, Prometheus's lookback)
//   increase(KEY, W) OP N   growth of a counter over the window W; a drop is a counter reset (the
//                           master restarted) and counts from 0; a series first seen inside the
//                           window counts from 0 too (Mesos creates per-reason counters lazily at 1)
//   drop(KEY, W)     OP N   how far a gauge is below its highest value in the window (≥ 0)
//   rise(KEY, W)     OP N   how far a gauge is above its lowest value in the window (≥ 0)
//   delta(KEY, W)    OP N   last − first sample in the window (Prometheus's delta, not extrapolated)
//   avg|min|max(KEY, W) OP N   over the samples in the window
//
// OP is one of > >= < <= == !=; W a duration such as 30s, 5m, 1h. KEY is a Mesos metric key
// (`master/tasks_lost`). Each form maps to one PromQL expression (prometheus.ts), so a rule means the
// same here and in Prometheus. No data (an unknown key, too few samples) is never true.
import { formatDuration, parseDuration } from './duration.ts';
import type { MetricHistory, Sample } from './history.ts';

export const FUNCTIONS = ['value', 'increase', 'drop', 'rise', 'delta', 'avg', 'min', 'max'] as const;
export type AlertFunction = (typeof FUNCTIONS)[number];
export const OPERATORS = ['>=', '<=', '==', '!=', '>', '<'] as const;
export type Comparison = (typeof OPERATORS)[number];

/** Prometheus's lookback delta: an instant value older than this is no value. */
export const STALE_MS = 5 * 60_000;

export interface AlertExpr {
  fn: AlertFunction;
  key: string;
  /** Window of the range functions (absent for value). */
  windowMs?: number;
  op: Comparison;
  threshold: number;
}

const SYNTAX = /^\s*([a-z]+)\s*\(\s*([A-Za-z0-9_/.:%-]+)\s*(?:,\s*([0-9a-z]+)\s*)?\)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$/;

/** Parses an expression; throws an Error that says what is wrong (callers wrap it into a ValidationError). */
export function parseExpr(text: string): AlertExpr {
  const m = SYNTAX.exec(text);
  if (!m)
    throw new Error(`cannot parse ${JSON.stringify(text)}: expected FUNCTION(KEY[, WINDOW]) OP NUMBER, e.g. "increase(master/tasks_lost, 5m) > 0"`);
  const [, fn, key, window, op, num] = m;
  if (!(FUNCTIONS as readonly string[]).includes(fn!)) throw new Error(`unknown function ${fn} in ${JSON.stringify(text)}: use one of ${FUNCTIONS.join(', ')}`);
  const threshold = Number(num);
  if (fn === 'value') {
    if (window !== undefined) throw new Error(`value() takes no window in ${JSON.stringify(text)}`);
    return { fn, key: key!, op: op as Comparison, threshold };
  }
  if (window === undefined) throw new Error(`${fn}() needs a window, e.g. ${fn}(${key}, 5m)`);
  const windowMs = parseDuration(window);
  if (windowMs === undefined || windowMs <= 0) throw new Error(`bad window ${JSON.stringify(window)} in ${JSON.stringify(text)}: use e.g. 30s, 5m, 1h`);
  return { fn: fn as AlertFunction, key: key!, windowMs, op: op as Comparison, threshold };
}

/** The canonical text of an expression. */
export function formatExpr(e: AlertExpr): string {
  const args = e.windowMs === undefined ? e.key : `${e.key}, ${formatDuration(e.windowMs)}`;
  return `${e.fn}(${args}) ${e.op} ${e.threshold}`;
}

/**
 * The function's value at `now`, or undefined when the history has no data for it. A range function
 * sees the samples inside the window plus the one in force when the window began (the last one before
 * it), so that a history that stores only changes reads the same as one sampled at a fixed rate.
 */
export function measure(e: AlertExpr, history: MetricHistory, now: number): number | undefined {
  if (e.fn === 'value') {
    const s = history.series(e.key, now - STALE_MS).filter((x) => x.t <= now);
    return s.at(-1)?.v;
  }
  const since = now - e.windowMs!;
  const all = history.series(e.key, Number.NEGATIVE_INFINITY).filter((x) => x.t <= now);
  const firstInside = all.findIndex((x) => x.t >= since);
  if (firstInside < 0) return undefined; // nothing recent: no data, as in Prometheus
  const before = firstInside > 0 ? all[firstInside - 1] : undefined;
  const inside = all.slice(firstInside);
  const s = before ? [before, ...inside] : inside;
  switch (e.fn) {
    case 'increase':
      return counterIncrease(inside, before);
    case 'drop':
      return s.reduce((a, x) => Math.max(a, x.v), Number.NEGATIVE_INFINITY) - s.at(-1)!.v;
    case 'rise':
      return s.at(-1)!.v - s.reduce((a, x) => Math.min(a, x.v), Number.POSITIVE_INFINITY);
    case 'delta':
      return s.length < 2 ? undefined : s.at(-1)!.v - s[0]!.v;
    case 'avg':
      return s.reduce((a, x) => a + x.v, 0) / s.length;
    case 'min':
      return s.reduce((a, x) => Math.min(a, x.v), Number.POSITIVE_INFINITY);
    case 'max':
      return s.reduce((a, x) => Math.max(a, x.v), Number.NEGATIVE_INFINITY);
  }
}

/**
 * Growth of a counter: the sum of its rises; a drop is a reset (counters are in-memory and restart at
 * 0 with the master) and counts from 0. A series with no sample before the window was born inside it,
 * from 0: Mesos creates per-reason counters (`master/task_failed/source_slave/…`) at their first
 * occurrence, at 1, and that first occurrence is an increase.
 */
function counterIncrease(inside: readonly Sample[], before: Sample | undefined): number {
  let prev = before?.v ?? 0;
  let total = 0;
  for (const x of inside) {
    total += x.v >= prev ? x.v - prev : x.v;
    prev = x.v;
  }
  return total;
}

export function compare(value: number, op: Comparison, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}
