// The alert engine (pure): rules over metric histories, Prometheus alert semantics, export.
export { formatDuration, parseDuration } from './duration.ts';
export { AlertEngine, type Alert, type AlertEvent, type AlertState } from './engine.ts';
export { FUNCTIONS, STALE_MS, compare, formatExpr, measure, parseExpr, type AlertExpr, type AlertFunction, type Comparison } from './expr.ts';
export { seriesHistory, type MetricHistory, type Sample } from './history.ts';
export { defaultPromName, prometheusRulesFile, rulePromQL, toPromQL, type PromNamer } from './prometheus.ts';
export {
  AlertRuleSpec,
  DEFAULT_ALERT_RULES,
  SEVERITIES,
  compileRule,
  parseRules,
  ruleSpec,
  withFor,
  type AlertRule,
  type Severity,
} from './rules.ts';
