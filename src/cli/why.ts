// `corral why APP`: why an app is not at its target, in plain sentences (why-explain.ts), from the
// orchestrator's Marathon API: the app with its tasks and last failure, its launch-queue item (offer
// rejections, per constraint with Corral's embed=constraintRejections) and its running deployments.
import type { Command } from 'commander';
import { MarathonApiError, type MarathonClient } from '../orchestrator/api/client.ts';
import { absId } from './app.ts';
import { CliError, out, printJson } from './common.ts';
import { clientFrom, orchestratorOption } from './deployment.ts';
import { explain, type WhyApp, type WhyDeployment, type WhyQueueItem } from './why-explain.ts';

export async function fetchWhyInput(client: MarathonClient, id: string) {
  const path = '/v2/apps' + id.split('/').map(encodeURIComponent).join('/');
  let app: WhyApp;
  try {
    app = (await client.get<{ app: WhyApp }>(path)).app;
  } catch (e) {
    if (e instanceof MarathonApiError && e.httpStatus === 404) throw new CliError(`no app ${id} (see \`corral app list\`)`);
    throw e;
  }
  const [queue, deployments] = await Promise.all([
    client.get<{ queue: (WhyQueueItem & { app: { id: string } })[] }>('/v2/queue', { embed: ['lastUnusedOffers', 'constraintRejections'] }),
    (app.deployments ?? []).length ? client.get<WhyDeployment[]>('/v2/deployments') : Promise.resolve([]),
  ]);
  return { app, queue: queue.queue.find((q) => q.app?.id === app.id), deployments, now: Date.now() };
}

export function registerWhy(program: Command): void {
  program
    .command('why')
    .description('explain in plain sentences why an app is not at its target')
    .argument('<app>', 'app id, e.g. /demo/web')
    .addOption(orchestratorOption())
    .option('--json', 'print {app, atTarget, summary, reasons:[{kind, text}]}')
    .addHelpText(
      'after',
      `
Looks at the orchestrator's launch queue (which offers were declined, and why), the app's last task
failure (exit code, backoff) and its health check results. Exits 0 either way.

Example:
  corral why /demo/web`,
    )
    .action(async (appId: string, opts: { orchestrator: string; json?: boolean }) => {
      const client = clientFrom(opts);
      try {
        const why = explain(await fetchWhyInput(client, absId(appId)));
        if (opts.json) return printJson(why);
        out([why.summary, ...why.reasons.map((r) => `- ${r.text}`)].join('\n'));
      } finally {
        client.close();
      }
    });
}
