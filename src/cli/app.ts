// `corral app deploy|list|show|scale|restart|rollback|remove`: the
// orchestrator's apps through its Marathon v2 API. Every command that starts
// a deployment follows it (live progress on stderr; a bar on a terminal, one
// line per change otherwise) and exits 0 when it succeeded, 1 with the reason
// when it failed or was cancelled; `--no-wait` returns once it has started.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { MarathonApiError, MarathonClient } from '../orchestrator/api/client.ts';
import { CliError, UsageError, fmtMb, out, parseNonNegativeInt, parsePositiveNumber, printJson, table } from './common.ts';
import { ProgressView, clientFrom, countHealthy, orchestratorOption, reportOutcome, runAndFollow } from './deployment.ts';

interface CommonOpts {
  orchestrator: string;
  json?: boolean;
}
interface WaitOpts extends CommonOpts {
  wait: boolean;
  force?: boolean;
  timeout?: number;
}

/** `/x`, `x` and `a/b` all name absolute path ids. */
export function absId(id: string): string {
  const t = id.trim();
  if (!t || t === '/') throw new UsageError('an app id is required (e.g. /web or prod/web)');
  return (t.startsWith('/') ? t : `/${t}`).replace(/\/+$/, '');
}

const appPath = (id: string) =>
  '/v2/apps' +
  absId(id)
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');

function addWaitOptions(cmd: Command): Command {
  return cmd
    .option('--no-wait', 'return once the deployment has started instead of following it')
    .option('--force', 'override a running deployment that locks the app (it is cancelled without rollback)')
    .option('--timeout <s>', 'stop following (exit 1) after this many seconds; the deployment keeps running', parsePositiveNumber)
    .addOption(orchestratorOption())
    .option('--json', 'print the deployment result / outcome as JSON');
}

/** Starts a deployable request, then (unless --no-wait) follows the deployment. */
async function deployAndFollow(
  client: MarathonClient,
  what: string,
  opts: WaitOpts,
  sendRaw: () => Promise<{ deploymentId: string; version?: string; appIds: string[]; created?: boolean; removing?: boolean }>,
): Promise<void> {
  const send = async () => {
    try {
      return await sendRaw();
    } catch (e) {
      const locking = e instanceof MarathonApiError && e.httpStatus === 409 ? (e.body as { deployments?: { id: string }[] })?.deployments : undefined;
      if (locking?.length)
        throw new CliError(
          `the app is locked by deployment ${locking.map((d) => d.id).join(', ')}; wait for it (\`corral deployment watch ${locking[0]!.id}\`), cancel it, or use --force`,
        );
      throw e;
    }
  };
  if (!opts.wait) {
    const r = await send();
    if (opts.json) printJson({ deploymentId: r.deploymentId, version: r.version, ...(r.created !== undefined ? { created: r.created } : {}) });
    else out(`deployment ${r.deploymentId} started (${what}); follow it with \`corral deployment watch ${r.deploymentId}\``);
    return;
  }
  let started: { deploymentId: string } | undefined;
  const outcome = await runAndFollow(
    client,
    async () => {
      const r = await send();
      started = r;
      if (!opts.json) process.stderr.write(`deployment ${r.deploymentId} started (${what})\n`);
      return r;
    },
    { timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined, view: new ProgressView(process.stderr, undefined, !opts.json) },
  );
  void started;
  reportOutcome(outcome, what, opts.json);
}

function deploymentIdOf(res: { headers: Record<string, unknown>; body: any }): string {
  const h = res.headers['marathon-deployment-id'];
  const id = typeof h === 'string' ? h : (res.body?.deploymentId ?? res.body?.deployments?.[0]?.id);
  if (!id) throw new CliError('the orchestrator did not say which deployment it started');
  return id;
}

function readDefinition(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file === '-' ? 'stdin' : file}: ${(e as Error).message}`);
  }
  let def: unknown;
  try {
    def = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file === '-' ? 'stdin' : file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!def || typeof def !== 'object' || Array.isArray(def)) throw new CliError(`${file === '-' ? 'stdin' : file}: expected one app definition (a JSON object)`);
  const id = (def as { id?: unknown }).id;
  if (typeof id !== 'string' || !id.trim()) throw new CliError(`${file === '-' ? 'stdin' : file}: the app definition has no "id"`);
  return def as Record<string, unknown>;
}

async function getApp(client: MarathonClient, id: string, embed: string[] = []): Promise<any | undefined> {
  try {
    return (await client.get(appPath(id), { embed })).app;
  } catch (e) {
    if (e instanceof MarathonApiError && e.httpStatus === 404) return undefined;
    throw e;
  }
}

async function requireApp(client: MarathonClient, id: string, embed: string[] = []): Promise<any> {
  const app = await getApp(client, id, embed);
  if (!app) throw new CliError(`no app ${absId(id)} (see \`corral app list\`)`);
  return app;
}

const force = (opts: { force?: boolean }) => (opts.force ? 'true' : undefined);

export function registerApp(program: Command): void {
  const app = program
    .command('app')
    .description('deploy and manage long-running apps on the orchestrator (Marathon v2 API)')
    .addHelpText(
      'after',
      `
Environment:
  CORRAL_ORCHESTRATOR  orchestrator URL (default http://127.0.0.1:8080)

Examples:
  corral app deploy web.json                # create or update, follow the deployment
  corral app list
  corral app scale /web 5
  corral app rollback /web                  # back to the previous version`,
    );

  addWaitOptions(
    app
      .command('deploy')
      .description('create or update an app from a Marathon app definition (JSON file, or - for stdin) and follow the deployment')
      .argument('<file>', 'app definition JSON file, or - to read stdin'),
  )
    .addHelpText(
      'after',
      `
The file is the whole desired definition: fields it leaves out get their defaults (it is sent with
partialUpdate=false when the app exists). Progress shows the deployment step, its actions and how many
instances of the new version are healthy. Exits 0 when the deployment succeeded, 1 with the reason
when it failed or was cancelled (e.g. \`corral deployment cancel\`).

Example web.json:
  {"id": "/web", "cmd": "python3 -m http.server $PORT0", "instances": 2, "cpus": 0.1, "mem": 64,
   "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}]}`,
    )
    .action(async (file: string, opts: WaitOpts) => {
      const def = readDefinition(file);
      const id = absId(def.id as string);
      const client = clientFrom(opts);
      try {
        await deployAndFollow(client, `deploy ${id}`, opts, async () => {
          const exists = (await getApp(client, id)) !== undefined;
          if (!exists) {
            const res = await client.request('POST', '/v2/apps', { body: def, query: { force: force(opts) } });
            return { deploymentId: deploymentIdOf(res), version: res.body?.version, appIds: [id], created: true };
          }
          const res = await client.request('PUT', appPath(id), { body: def, query: { force: force(opts), partialUpdate: 'false' } });
          return { deploymentId: deploymentIdOf(res), version: res.body?.version, appIds: [id], created: false };
        });
      } finally {
        client.close();
      }
    });

  app
    .command('list')
    .description('list apps with their instances, health and running deployments')
    .addOption(orchestratorOption())
    .option('--json', 'print Marathon\'s /v2/apps answer as JSON')
    .action(async (opts: CommonOpts) => {
      const client = clientFrom(opts);
      try {
        const { apps } = await client.get<{ apps: any[] }>('/v2/apps', { embed: ['apps.counts', 'apps.deployments'] });
        if (opts.json) return printJson(apps);
        if (!apps.length) return out('no apps');
        out(
          table(
            ['ID', 'INSTANCES', 'RUNNING', 'HEALTHY', 'CPUS', 'MEM', 'DEPLOYMENTS', 'VERSION'],
            apps.map((a) => [
              a.id,
              a.instances,
              a.tasksRunning ?? 0,
              Array.isArray(a.healthChecks) && a.healthChecks.length ? (a.tasksHealthy ?? 0) : '-',
              a.cpus,
              fmtMb(a.mem ?? 0),
              (a.deployments ?? []).map((d: { id: string }) => d.id).join(',') || '-',
              a.version ?? '',
            ]),
          ),
        );
      } finally {
        client.close();
      }
    });

  app
    .command('show')
    .description('show an app: definition summary, tasks, deployments, last failure')
    .argument('<id>', 'app id, e.g. /web')
    .addOption(orchestratorOption())
    .option('--json', 'print Marathon\'s /v2/apps/{id} app as JSON')
    .action(async (id: string, opts: CommonOpts) => {
      const client = clientFrom(opts);
      try {
        const a = await requireApp(client, id, ['app.tasks', 'app.counts', 'app.deployments', 'app.lastTaskFailure']);
        if (opts.json) return printJson(a);
        const c = countHealthy(a);
        const lines = [
          `id:          ${a.id}`,
          `command:     ${a.cmd ?? (a.args ?? []).join(' ')}`,
          `instances:   ${a.instances} (running ${a.tasksRunning ?? 0}, staged ${a.tasksStaged ?? 0}, healthy ${a.tasksHealthy ?? 0}, unhealthy ${a.tasksUnhealthy ?? 0}; ${c.healthy} healthy with the current config)`,
          `resources:   cpus ${a.cpus}, mem ${fmtMb(a.mem ?? 0)}, disk ${fmtMb(a.disk ?? 0)}${a.gpus ? `, gpus ${a.gpus}` : ''}`,
          `version:     ${a.version}${a.versionInfo ? ` (config changed ${a.versionInfo.lastConfigChangeAt}, scaled ${a.versionInfo.lastScalingAt})` : ''}`,
          `health:      ${(a.healthChecks ?? []).map((h: any) => `${h.protocol}${h.path ? ` ${h.path}` : ''}`).join(', ') || '-'}`,
          `constraints: ${(a.constraints ?? []).map((x: string[]) => x.join(':')).join(', ') || '-'}`,
          `deployments: ${(a.deployments ?? []).map((d: { id: string }) => d.id).join(', ') || '-'}`,
        ];
        if (a.lastTaskFailure) lines.push(`last failure: ${a.lastTaskFailure.state} ${a.lastTaskFailure.taskId} at ${a.lastTaskFailure.timestamp}: ${a.lastTaskFailure.message}`);
        out(lines.join('\n'));
        const tasks: any[] = a.tasks ?? [];
        if (tasks.length) {
          out('');
          out(
            table(
              ['TASK', 'STATE', 'HEALTH', 'HOST', 'PORTS', 'VERSION', 'STARTED'],
              tasks.map((t) => [
                t.id,
                t.state,
                Array.isArray(t.healthCheckResults) && t.healthCheckResults.length ? (t.healthCheckResults.every((r: any) => r.alive) ? 'healthy' : 'unhealthy') : '-',
                t.host,
                (t.ports ?? []).join(',') || '-',
                t.version ?? '',
                t.startedAt ?? '-',
              ]),
            ),
          );
        }
      } finally {
        client.close();
      }
    });

  addWaitOptions(
    app
      .command('scale')
      .description('set the number of instances of an app and follow the deployment')
      .argument('<id>', 'app id')
      .argument('<instances>', 'number of instances (0 stops all tasks, keeping the app)', parseNonNegativeInt),
  ).action(async (id: string, instances: number, opts: WaitOpts) => {
    const client = clientFrom(opts);
    try {
      await requireApp(client, id);
      await deployAndFollow(client, `scale ${absId(id)} to ${instances}`, opts, async () => {
        const res = await client.request('PUT', appPath(id), { body: { instances }, query: { force: force(opts) } });
        return { deploymentId: deploymentIdOf(res), version: res.body?.version, appIds: [absId(id)] };
      });
    } finally {
      client.close();
    }
  });

  addWaitOptions(
    app
      .command('restart')
      .description('replace every task of an app by a rolling restart (same config, new version) and follow it')
      .argument('<id>', 'app id'),
  ).action(async (id: string, opts: WaitOpts) => {
    const client = clientFrom(opts);
    try {
      await requireApp(client, id);
      await deployAndFollow(client, `restart ${absId(id)}`, opts, async () => {
        const res = await client.request('POST', `${appPath(id)}/restart`, { query: { force: force(opts) } });
        return { deploymentId: deploymentIdOf(res), version: res.body?.version, appIds: [absId(id)] };
      });
    } finally {
      client.close();
    }
  });

  addWaitOptions(
    app
      .command('rollback')
      .description('deploy an earlier version of an app (default: the one before the current) and follow it')
      .argument('<id>', 'app id')
      .option('--to <version>', 'the version to go back to (see --json output of `corral app show` or /v2/apps/{id}/versions)'),
  ).action(async (id: string, opts: WaitOpts & { to?: string }) => {
    const client = clientFrom(opts);
    try {
      const current = await requireApp(client, id);
      const { versions } = await client.get<{ versions: string[] }>(`${appPath(id)}/versions`);
      const sorted = [...versions].sort().reverse(); // newest first (ISO timestamps sort as text)
      let target = opts.to;
      if (target) {
        if (!sorted.includes(target)) throw new CliError(`app ${absId(id)} has no version ${target}; known: ${sorted.slice(0, 10).join(', ')}`);
      } else {
        target = sorted.find((v) => v < current.version);
        if (!target) throw new CliError(`app ${absId(id)} has no version before ${current.version} to roll back to`);
      }
      await deployAndFollow(client, `rollback ${absId(id)} to ${target}`, opts, async () => {
        const res = await client.request('PUT', appPath(id), { body: { version: target }, query: { force: force(opts) } });
        return { deploymentId: deploymentIdOf(res), version: res.body?.version, appIds: [absId(id)] };
      });
    } finally {
      client.close();
    }
  });

  addWaitOptions(
    app
      .command('remove')
      .description('remove an app: its tasks are killed (cancels a deployment that holds it, as Marathon does)')
      .argument('<id>', 'app id'),
  ).action(async (id: string, opts: WaitOpts) => {
    const client = clientFrom(opts);
    try {
      await requireApp(client, id);
      await deployAndFollow(client, `remove ${absId(id)}`, opts, async () => {
        // Marathon's DELETE defaults to force=true; --force is implied.
        const res = await client.request('DELETE', appPath(id));
        return { deploymentId: deploymentIdOf(res), version: res.body?.version, appIds: [absId(id)], removing: true };
      });
    } finally {
      client.close();
    }
  });
}
