// Alert rules: a name, an expression over one metric series (expr.ts), how long it must hold before
// the alert fires (`for`, Prometheus's meaning), a severity and one summary sentence saying what it
// means and what to do. The defaults are the seed talk's "Mesos master basic alerts" table plus a
// task OOM-kill rule; docs/operations.md#alerts documents each.
import { z } from 'zod';
import { parseOrThrow } from '../../protocol/validate.ts';
import { ValidationError } from '../../protocol/errors.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { parseExpr, type AlertExpr } from './expr.ts';

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface AlertRule {
  name: string;
  /** The expression as written (canonical text in the defaults). */
  expr: string;
  parsed: AlertExpr;
  forMs: number;
  severity: Severity;
  summary: string;
  /**
   * PromQL for the export when the translation of `expr` would mean something else on Prometheus:
   * `{{master/elected}}` stands for that key's Prometheus name.
   */
  prometheus?: string;
}

const duration = z.string().refine((s) => parseDuration(s) !== undefined, { message: 'must be a duration such as 30s, 5m or 1h' });

/** A rule as written in JSON (rules files, GET /alerts/rules). */
export const AlertRuleSpec = z
  .object({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an identifier (letters, digits, _), as Prometheus alert names are' }),
    expr: z.string().superRefine((s, ctx) => {
      try {
        parseExpr(s);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    }),
    for: duration.default('0s'),
    severity: z.enum(SEVERITIES),
    summary: z.string().min(1),
    prometheus: z.string().min(1).optional(),
  })
  .strict();
export type AlertRuleSpec = z.input<typeof AlertRuleSpec>;

export function compileRule(spec: AlertRuleSpec): AlertRule {
  const s = parseOrThrow(AlertRuleSpec, spec, 'rule');
  return {
    name: s.name,
    expr: s.expr,
    parsed: parseExpr(s.expr),
    forMs: parseDuration(s.for)!,
    severity: s.severity,
    summary: s.summary,
    ...(s.prometheus ? { prometheus: s.prometheus } : {}),
  };
}

/** A list of rules (`{rules:[…]}` or `[…]`); names must be unique. Throws a ValidationError naming the bad field. */
export function parseRules(input: unknown): AlertRule[] {
  const list = parseOrThrow(z.union([z.array(AlertRuleSpec), z.object({ rules: z.array(AlertRuleSpec) }).strict()]), input, 'rules');
  const specs = Array.isArray(list) ? list : list.rules;
  const seen = new Set<string>();
  return specs.map((s, i) => {
    if (seen.has(s.name)) throw new ValidationError(`duplicate rule name ${s.name}`, `rules[${i}].name`);
    seen.add(s.name);
    return compileRule(s);
  });
}

/** The JSON form of a rule. */
export function ruleSpec(r: AlertRule): Required<Omit<AlertRuleSpec, 'prometheus'>> & { prometheus?: string } {
  return {
    name: r.name,
    expr: r.expr,
    for: formatDuration(r.forMs),
    severity: r.severity,
    summary: r.summary,
    ...(r.prometheus ? { prometheus: r.prometheus } : {}),
  };
}

/** The same rules with other `for` durations (tests, impatient operators): name → duration text. */
export function withFor(rules: readonly AlertRule[], overrides: Record<string, string>): AlertRule[] {
  return rules.map((r) => {
    const o = overrides[r.name];
    if (o === undefined) return r;
    const ms = parseDuration(o);
    if (ms === undefined) throw new Error(`bad duration ${JSON.stringify(o)} for rule ${r.name}`);
    return { ...r, forMs: ms };
  });
}

const DEFAULT_SPECS: AlertRuleSpec[] = [
  {
    name: 'MasterRestarted',
    expr: 'value(master/uptime_secs) < 120',
    for: '0s',
    severity: 'info',
    summary:
      'The master started less than 2 minutes ago (master/uptime_secs is low): it restarted or a new master was elected. ' +
      'If nobody restarted it, read its log for the crash; agents and schedulers re-register by themselves.',
  },
  {
    name: 'MasterFlapping',
    expr: 'value(master/uptime_secs) < 60',
    for: '5m',
    severity: 'critical',
    summary:
      'The master keeps restarting: its uptime stayed below 60 s for 5 minutes, so the cluster has a flapping master. ' +
      'Read its log for the crash and check that its store (etcd or the data dir) is reachable and not full.',
  },
  {
    name: 'TasksLost',
    expr: 'increase(master/tasks_lost, 5m) > 0',
    for: '0s',
    severity: 'warning',
    summary:
      'Tasks were lost in the last 5 minutes (master/tasks_lost is increasing): tasks are disappearing, usually with their agent ' +
      '(host failure, network partition) or through a framework or Corral bug. Check `corral agent list` and the lost tasks\u2019 messages.',
  },
  {
    name: 'TasksUnreachable',
    expr: 'rise(master/tasks_unreachable, 5m) > 0',
    for: '0s',
    severity: 'warning',
    summary:
      'More tasks became unreachable in the last 5 minutes (master/tasks_unreachable is increasing): their agents stopped answering. ' +
      'Check those agents and the network between them and the master; the tasks come back if the agents do.',
  },
  {
    name: 'AgentsDropping',
    expr: 'drop(master/slaves_active, 5m) > 0',
    for: '30s',
    severity: 'warning',
    summary:
      'Fewer agents are active than in the last 5 minutes (master/slaves_active dropped): agents are having trouble connecting to the master. ' +
      'Check that the agent processes run, that they can reach the master, and `corral agent list`.',
  },
  {
    name: 'ClusterCpuHigh',
    expr: 'avg(master/cpus_percent, 5m) > 0.9',
    for: '5m',
    severity: 'warning',
    summary:
      'Cluster CPU allocation has been above 90% for 5 minutes (master/cpus_percent): it is close to capacity and new tasks may wait for offers. ' +
      'Add agents or lower the CPU of apps and tasks.',
  },
  {
    name: 'ClusterMemHigh',
    expr: 'avg(master/mem_percent, 5m) > 0.9',
    for: '5m',
    severity: 'warning',
    summary:
      'Cluster memory allocation has been above 90% for 5 minutes (master/mem_percent): it is close to capacity and new tasks may wait for offers. ' +
      'Add agents or lower the memory of apps and tasks.',
  },
  {
    name: 'ClusterDiskHigh',
    expr: 'value(master/disk_percent) > 0.9',
    for: '5m',
    severity: 'warning',
    summary:
      'More than 90% of the cluster\u2019s disk is allocated or reserved (master/disk_percent, master/disk_used): tasks asking for disk will wait. ' +
      'Remove unused reservations and persistent volumes, or add disk.',
  },
  {
    name: 'NoLeader',
    expr: 'value(master/elected) == 0',
    for: '1m',
    severity: 'critical',
    summary:
      'No master has been elected for a minute (master/elected is 0): nothing is scheduled and the APIs answer 503. ' +
      'Check that a quorum of masters runs and that they reach etcd (`corral dev --ha` logs, etcdctl endpoint health).',
    // Every follower reports 0: the cluster has no leader only when no master reports 1.
    prometheus: 'max({{master/elected}}) < 1 or absent({{master/elected}})',
  },
  {
    name: 'TaskOomKilled',
    expr: 'increase(master/task_failed/source_slave/reason_container_limitation_memory, 10m) > 0',
    for: '0s',
    severity: 'warning',
    summary:
      'A task was killed for exceeding its memory limit in the last 10 minutes (TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY). ' +
      'Raise the memory of its app or task, or find the leak; `corral why APP` shows the last failure.',
  },
];

export const DEFAULT_ALERT_RULES: readonly AlertRule[] = DEFAULT_SPECS.map(compileRule);
