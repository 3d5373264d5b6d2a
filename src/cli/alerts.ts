// `corral alerts [list]` prints the leading master's pending and firing alerts (GET /alerts);
// `corral alerts export --prometheus` writes the alert rules as a Prometheus rules file (the built-in
// rules, or those of a rules file), on the metric names the masters' GET /metrics exposes.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_ALERT_RULES, parseRules, prometheusRulesFile, type AlertRule } from '../core/alerts/index.ts';
import { OperatorClient } from '../client/operator-client.ts';
import { CliError, UsageError, fmtDuration, masterOption, out, printJson, table } from './common.ts';
import { promNameOf } from './alerts-names.ts';

/** One alert as GET /alerts renders it. */
export interface AlertJson {
  name: string;
  state: 'pending' | 'firing';
  severity: string;
  summary: string;
  expr: string;
  for: string;
  value: number;
  active_at: number;
  fired_at?: number;
  since: number;
}

export interface AlertsBody {
  alerts: AlertJson[];
  evaluated_at: number | null;
  interval_seconds: number;
}

export function fetchAlerts(op: OperatorClient): Promise<AlertsBody> {
  return op.master<AlertsBody>('/alerts');
}

const fmtValue = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, ''));

export function alertsTable(alerts: AlertJson[], nowSecs = Date.now() / 1000): string {
  return table(
    ['NAME', 'STATE', 'SEVERITY', 'SINCE', 'VALUE', 'SUMMARY'],
    alerts.map((a) => [a.name, a.state, a.severity, `${fmtDuration(nowSecs - a.since)} ago`, fmtValue(a.value), a.summary]),
  );
}

function loadRules(file: string | undefined): readonly AlertRule[] {
  if (!file) return DEFAULT_ALERT_RULES;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${file} is not JSON: ${(e as Error).message}`);
  }
  try {
    return parseRules(json);
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
}

export function registerAlerts(program: Command): void {
  const alerts = program.command('alerts').description('alerts: what is firing now, and the rules for Prometheus');

  alerts
    .command('list', { isDefault: true })
    .description("print the leading master's firing and pending alerts (the default)")
    .addOption(masterOption())
    .option('--json', 'print the GET /alerts document')
    .addHelpText(
      'after',
      `
The master evaluates its alert rules every few seconds over its recent metrics; an alert is pending
while its condition holds for less than the rule's "for" and firing after. docs/operations.md#alerts
says what each one means and what to do.`,
    )
    .action(async (opts: { master: string; json?: boolean }) => {
      const op = new OperatorClient(opts.master);
      try {
        const body = await fetchAlerts(op);
        if (opts.json) return printJson(body);
        if (body.alerts.length === 0) {
          out(`no alerts firing or pending (rules evaluated every ${fmtDuration(body.interval_seconds)})`);
          return;
        }
        out(alertsTable(body.alerts));
      } finally {
        op.close();
      }
    });

  alerts
    .command('export')
    .description('write the alert rules as a Prometheus rules file (for Prometheus + Alertmanager)')
    .option('--prometheus', 'Prometheus rules file format (the only format, and required)')
    .option('--rules <file>', 'JSON rules file ({"rules":[{name, expr, for, severity, summary}]}) instead of the built-in rules')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      `
Example:
  corral alerts export --prometheus > corral-rules.yml && promtool check rules corral-rules.yml`,
    )
    .action((opts: { prometheus?: boolean; rules?: string; output?: string }) => {
      if (!opts.prometheus) throw new UsageError('say which format: --prometheus');
      const text = prometheusRulesFile(loadRules(opts.rules), promNameOf);
      if (opts.output) {
        try {
          writeFileSync(opts.output, text);
        } catch (e) {
          throw new CliError(`cannot write ${opts.output}: ${(e as Error).message}`);
        }
      } else process.stdout.write(text);
    });
}
