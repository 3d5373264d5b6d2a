// The alert rules as a Prometheus rules file (`corral alerts export --prometheus`), for users who run
// Prometheus and Alertmanager against the masters' GET /metrics. Each expression maps to one PromQL
// expression on the metric's Prometheus name (or selector), given by the caller:
//   value(k) > n → k > n · increase(k, w) → increase(k[w]) · delta(k, w) → delta(k[w])
//   drop(k, w) → max_over_time(k[w]) - k · rise(k, w) → k - min_over_time(k[w])
//   avg|min|max(k, w) → avg|min|max_over_time(k[w])
// A rule's own `prometheus` text wins (with {{key}} placeholders), for rules whose meaning differs
// across several scraped masters (NoLeader). The output is YAML built by hand: every string is a JSON
// string, which YAML reads as a double-quoted scalar.
import { formatDuration } from './duration.ts';
import type { AlertExpr } from './expr.ts';
import type { AlertRule } from './rules.ts';

/** Mesos key → Prometheus metric name or selector, e.g. `master/tasks_lost` → `corral_master_tasks_lost`. */
export type PromNamer = (key: string) => string;

/** The fallback naming when the caller has none: `corral_` + the key with every other character as `_`. */
export const defaultPromName: PromNamer = (key) => `corral_${key.replace(/[^A-Za-z0-9_]/g, '_')}`;

const RANGE_FN = { increase: 'increase', delta: 'delta', avg: 'avg_over_time', min: 'min_over_time', max: 'max_over_time' } as const;

export function toPromQL(e: AlertExpr, name: PromNamer): string {
  const threshold = String(e.threshold);
  const k = name(e.key);
  if (e.fn === 'value') return `${k} ${e.op} ${threshold}`;
  const w = formatDuration(e.windowMs!);
  if (e.fn === 'drop') return `max_over_time(${k}[${w}]) - ${k} ${e.op} ${threshold}`;
  if (e.fn === 'rise') return `${k} - min_over_time(${k}[${w}]) ${e.op} ${threshold}`;
  return `${RANGE_FN[e.fn]}(${k}[${w}]) ${e.op} ${threshold}`;
}

export function rulePromQL(r: AlertRule, name: PromNamer): string {
  if (r.prometheus) return r.prometheus.replace(/\{\{\s*([^}\s]+)\s*\}\}/g, (_, key: string) => name(key));
  return toPromQL(r.parsed, name);
}

const q = (s: string) => JSON.stringify(s);

export function prometheusRulesFile(rules: readonly AlertRule[], name: PromNamer = defaultPromName, group = 'corral'): string {
  const lines = ['# Corral alert rules for Prometheus (written by `corral alerts export --prometheus`).', 'groups:', `  - name: ${q(group)}`, '    rules:'];
  for (const r of rules) {
    lines.push(`      - alert: ${r.name}`, `        expr: ${q(rulePromQL(r, name))}`);
    if (r.forMs > 0) lines.push(`        for: ${formatDuration(r.forMs)}`);
    lines.push('        labels:', `          severity: ${q(r.severity)}`);
    lines.push('        annotations:', `          summary: ${q(r.summary)}`, `          corral_expr: ${q(r.expr)}`);
  }
  return lines.join('\n') + '\n';
}
