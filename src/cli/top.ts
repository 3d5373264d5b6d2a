// `corral top`: a live view of the cluster (agents, frameworks, apps, deployments in flight, firing
// alerts), redrawn every 2 s — in place on a terminal, as successive frames otherwise; `--once`
// prints one frame, `--once --json` one TopSnapshot for scripts. The orchestrator and the alerts are
// optional: when they cannot be read the view says so and shows the rest.
import type { Command } from 'commander';
import { Option } from 'commander';
import { OperatorClient } from '../client/operator-client.ts';
import { MarathonClient } from '../orchestrator/api/client.ts';
import { fetchAlerts } from './alerts.ts';
import { UsageError, masterOption, onStopSignals, out, parsePositiveNumber, printJson } from './common.ts';
import { orchestratorOption } from './deployment.ts';
import { renderTop, topSnapshot, type MarathonAppDoc, type MarathonDeploymentDoc, type TopSnapshot } from './top-view.ts';

const REQUEST_TIMEOUT_MS = 5000;

interface TopOptions {
  master: string;
  orchestrator: string;
  once?: boolean;
  json?: boolean;
  interval: number;
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function collect(op: OperatorClient, marathon: MarathonClient): Promise<TopSnapshot> {
  const errors: TopSnapshot['errors'] = {};
  const [state, apps, deployments, alerts] = await Promise.all([
    op.state(),
    marathon.get<{ apps: MarathonAppDoc[] }>('/v2/apps').then(
      (r) => r.apps,
      (e) => void (errors.orchestrator = reason(e)),
    ),
    marathon.get<MarathonDeploymentDoc[]>('/v2/deployments').catch((e) => void (errors.orchestrator ??= reason(e))),
    fetchAlerts(op).then(
      (r) => r.alerts,
      (e) => void (errors.alerts = reason(e)),
    ),
  ]);
  return topSnapshot({
    now: Date.now(),
    master: op.masterUrl,
    state,
    apps: apps ?? undefined,
    deployments: errors.orchestrator ? undefined : (deployments ?? undefined),
    alerts: alerts ?? undefined,
    errors,
  });
}

export function registerTop(program: Command): void {
  program
    .command('top')
    .description('live view: agents (cpu/mem used of total), frameworks, apps, deployments in flight, firing alerts')
    .addOption(masterOption())
    .addOption(orchestratorOption())
    .option('--once', 'print one view and exit')
    .option('--json', 'with --once: print the view as JSON')
    .addOption(new Option('--interval <s>', 'seconds between refreshes').argParser(parsePositiveNumber).default(2))
    .action(async (opts: TopOptions) => {
      if (opts.json && !opts.once) throw new UsageError('--json needs --once (the live view is text)');
      const op = new OperatorClient(opts.master, { timeoutMs: REQUEST_TIMEOUT_MS });
      const marathon = new MarathonClient(opts.orchestrator, REQUEST_TIMEOUT_MS);
      try {
        if (opts.once) {
          const snap = await collect(op, marathon);
          if (opts.json) printJson(snap);
          else out(renderTop(snap, { intervalSeconds: opts.interval, now: Date.now() }));
          return;
        }
        await live(op, marathon, opts);
      } finally {
        op.close();
        marathon.close();
      }
    });
}

async function live(op: OperatorClient, marathon: MarathonClient, opts: TopOptions): Promise<void> {
  let stop = false;
  let wake = () => {};
  const removeSignals = onStopSignals(() => {
    stop = true;
    wake();
  });
  const tty = Boolean(process.stdout.isTTY);
  try {
    while (!stop) {
      let frame: string;
      try {
        frame = renderTop(await collect(op, marathon), { intervalSeconds: opts.interval, now: Date.now() });
      } catch (e) {
        frame = `corral top — cannot read the cluster: ${reason(e)} (retrying every ${opts.interval}s)`;
      }
      if (stop) break;
      // Clear and redraw in place only on a terminal; a pipe or a file gets successive frames.
      process.stdout.write(tty ? `\x1b[H\x1b[2J${frame}\n` : `${frame}\n\n`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.interval * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    removeSignals();
  }
}
