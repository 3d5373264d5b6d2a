// `corral deployment list|watch|cancel`, and the deployment follower shared
// with `corral app deploy|scale|restart|rollback|remove`.
//
// Following a deployment: the event stream (/v2/events) is attached *before*
// the change is sent, so no event can be missed; events for other deployments
// are ignored. Progress (step i/n, action, instances healthy/target) is read
// from /v2/deployments and /v2/apps/{id} whenever an event arrives (at most
// every 250 ms) and every second. The outcome is `deployment_success` /
// `deployment_failed`; when the stream is unavailable, or the deployment
// vanishes without an event (e.g. force-cancelled), the app's state decides.
import { Command, Option } from 'commander';
import { DEFAULT_ORCHESTRATOR, MarathonApiError, MarathonClient, type MarathonEventFrame } from '../orchestrator/api/client.ts';
import { CliError, bold, err, out, parsePositiveNumber, printJson, table } from './common.ts';

export const orchestratorOption = (): Option =>
  new Option('--orchestrator <url>', 'orchestrator (Marathon API) URL').env('CORRAL_ORCHESTRATOR').default(DEFAULT_ORCHESTRATOR);

export interface DeploymentJson {
  id: string;
  version: string;
  affectedApps: string[];
  steps: { actions: { action: string; app?: string }[] }[];
  currentActions: { action: string; app?: string; readinessCheckResults?: unknown[] }[];
  currentStep: number;
  totalSteps: number;
}

export interface FollowOutcome {
  ok: boolean;
  deploymentId: string;
  reason?: string;
  /** How the outcome was learnt. */
  via: 'event' | 'state';
  seconds: number;
}

interface Progress {
  step: number;
  total: number;
  actions: string;
  healthy: number;
  target: number;
}

const FOLLOWED_EVENTS = [
  'event_stream_attached',
  'deployment_info',
  'deployment_step_success',
  'deployment_step_failure',
  'deployment_success',
  'deployment_failed',
  'status_update_event',
  'instance_changed_event',
  'health_status_changed_event',
  'instance_health_changed_event',
];

/** A live progress display: a redrawn bar on a TTY, one line per change otherwise. */
export class ProgressView {
  private last = '';
  private drawn = false;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb',
    private readonly enabled = true,
  ) {}

  update(id: string, p: Progress): void {
    if (!this.enabled) return;
    const step = p.total ? `step ${p.step}/${p.total}` : 'no steps';
    const text = `${step}${p.actions ? ` ${p.actions}` : ''}  ${p.healthy}/${p.target} healthy`;
    if (this.tty) {
      const width = 24;
      const frac = p.target > 0 ? Math.min(1, p.healthy / p.target) : p.total ? Math.min(1, (p.step - 1) / p.total) : 1;
      const filled = Math.round(frac * width);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
      const line = `${bar} ${text}`;
      const cols = this.stream.columns && this.stream.columns > 20 ? this.stream.columns : 120;
      this.stream.write(`\r\x1b[2K${line.slice(0, Math.max(20, cols - 1))}`);
      this.drawn = true;
    } else if (text !== this.last) {
      this.stream.write(`deployment ${id}: ${text}\n`);
    }
    this.last = text;
  }

  done(): void {
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/**
 * Attaches to the event stream; `start()` then performs the change and returns the deployment id.
 * Resolves with the outcome once the deployment has ended.
 */
export async function runAndFollow(
  client: MarathonClient,
  start: () => Promise<{ deploymentId: string; appIds?: string[]; removing?: boolean }>,
  opts: { view?: ProgressView; timeoutMs?: number; pollMs?: number } = {},
): Promise<FollowOutcome> {
  const t0 = Date.now();
  const view = opts.view ?? new ProgressView();
  const frames: MarathonEventFrame[] = [];
  let wake: (() => void) | undefined;
  const onFrame = (f: MarathonEventFrame) => {
    frames.push(f);
    wake?.();
  };
  let stream: { close(): void; closed: Promise<void> } | undefined;
  let streamError: unknown;
  try {
    stream = await client.events(onFrame, { types: FOLLOWED_EVENTS });
  } catch (e) {
    streamError = e; // fall back to polling
  }
  try {
    const { deploymentId, appIds: given, removing } = await start();
    let appIds = given ?? [];
    let streamOpen = Boolean(stream);
    void stream?.closed.then(() => {
      streamOpen = false;
      wake?.();
    });
    if (streamError && process.env.CORRAL_DEBUG) err(`event stream unavailable (${(streamError as Error).message}); polling`);
    let seenDeployment = false;
    let lastPoll = 0;
    let lastKnown: DeploymentJson | undefined;
    const pollMs = opts.pollMs ?? 1000;
    const deadline = opts.timeoutMs ? t0 + opts.timeoutMs : Infinity;
    for (;;) {
      // 1. Events: a definitive outcome for our deployment?
      while (frames.length) {
        const f = frames.shift()!;
        const d = f.data ?? {};
        const id = d.id ?? d.plan?.id;
        if ((f.event === 'deployment_success' || f.event === 'deployment_failed') && id === deploymentId) {
          await refresh(true, f.event === 'deployment_success');
          view.done();
          if (f.event === 'deployment_success') return { ok: true, deploymentId, via: 'event', seconds: (Date.now() - t0) / 1000 };
          return { ok: false, deploymentId, reason: typeof d.reason === 'string' && d.reason ? d.reason : 'the deployment failed', via: 'event', seconds: (Date.now() - t0) / 1000 };
        }
      }
      // 2. State: progress, and the outcome when no event can tell us.
      const now = Date.now();
      if (now - lastPoll >= (streamOpen ? 100 : 0)) {
        lastPoll = now;
        const present = await refresh(false);
        if (present) seenDeployment = true;
        else {
          // Gone: with an open stream give the final event a moment to arrive.
          if (streamOpen) {
            await waitFor(500);
            if (frames.some((f) => (f.data?.id ?? f.data?.plan?.id) === deploymentId)) continue;
          }
          const verdict = await judgeFromState();
          view.done();
          return { ...verdict, deploymentId, via: 'state', seconds: (Date.now() - t0) / 1000 };
        }
      }
      if (Date.now() > deadline) {
        view.done();
        throw new CliError(`deployment ${deploymentId} is still running after ${Math.round((opts.timeoutMs ?? 0) / 1000)} s (see \`corral deployment watch ${deploymentId}\`; cancel with \`corral deployment cancel ${deploymentId}\`)`);
      }
      await waitFor(streamOpen ? pollMs : Math.min(pollMs, 500));
    }

    async function refresh(final: boolean, succeeded = false): Promise<boolean> {
      let deployments: DeploymentJson[] = [];
      try {
        deployments = await client.get<DeploymentJson[]>('/v2/deployments');
      } catch (e) {
        if (final) return false;
        throw e;
      }
      const d = Array.isArray(deployments) ? deployments.find((x) => x.id === deploymentId) : undefined;
      if (d) {
        lastKnown = d;
        if (!appIds.length) appIds = d.affectedApps ?? [];
      }
      const shown = d ?? lastKnown;
      const counts = await healthCounts(client, appIds);
      view.update(deploymentId, {
        step: shown ? (succeeded ? shown.totalSteps : Math.max(shown.currentStep, 0)) : 0,
        total: shown?.totalSteps ?? 0,
        actions: describeActions(shown),
        ...counts,
      });
      return Boolean(d);
    }

    async function judgeFromState(): Promise<{ ok: boolean; reason?: string }> {
      // The deployment ended without an event we saw. Succeeded iff every affected app is at
      // the deployment's version with all its instances healthy (or is gone when it was removed).
      if (!seenDeployment && !lastKnown && !appIds.length) return { ok: true };
      const version = lastKnown?.version;
      for (const id of appIds) {
        let app: any;
        try {
          app = (await client.get(`/v2/apps${id}`, { embed: 'app.tasks' })).app;
        } catch (e) {
          if (e instanceof MarathonApiError && e.httpStatus === 404) {
            const removed = lastKnown?.steps.some((s) => s.actions.some((a) => a.app === id && a.action === 'StopApplication'));
            if (removed || removing) continue;
            return { ok: false, reason: `app ${id} no longer exists` };
          }
          throw e;
        }
        if (version && typeof app.version === 'string' && app.version > version)
          return { ok: false, reason: `the deployment was superseded: app ${id} is now at version ${app.version}` };
        const c = countHealthy(app);
        if (c.healthy < c.target) return { ok: false, reason: `the deployment was cancelled: app ${id} has ${c.healthy}/${c.target} healthy instances of its version` };
      }
      return { ok: true };
    }
  } finally {
    stream?.close();
    wake = undefined;
  }

  function waitFor(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });
  }
}

function describeActions(d: DeploymentJson | undefined): string {
  if (!d) return '';
  const acts = d.currentActions?.length ? d.currentActions : (d.steps?.[Math.max(0, d.currentStep - 1)]?.actions ?? []);
  return acts.map((a) => `${a.action} ${a.app ?? ''}`.trim()).join(', ');
}

/**
 * Healthy instances running the app's current configuration (a task counts when its version is at
 * or after `versionInfo.lastConfigChangeAt`, so scaling does not disown older tasks), vs `instances`.
 * Without health checks a running task counts as healthy.
 */
export function countHealthy(app: any): { healthy: number; target: number } {
  const tasks: any[] = Array.isArray(app?.tasks) ? app.tasks : [];
  const since: string | undefined = app?.versionInfo?.lastConfigChangeAt ?? app?.version;
  const current = tasks.filter((t) => t?.state === 'TASK_RUNNING' && (!since || typeof t.version !== 'string' || t.version >= since));
  const hasChecks = Array.isArray(app?.healthChecks) && app.healthChecks.length > 0;
  let healthy: number;
  if (!hasChecks) healthy = current.length;
  else if (current.some((t) => Array.isArray(t.healthCheckResults) && t.healthCheckResults.length))
    healthy = current.filter((t) => Array.isArray(t.healthCheckResults) && t.healthCheckResults.length && t.healthCheckResults.every((r: any) => r?.alive === true)).length;
  else healthy = Math.min(current.length, typeof app?.tasksHealthy === 'number' ? app.tasksHealthy : 0);
  return { healthy, target: typeof app?.instances === 'number' ? app.instances : 0 };
}

async function healthCounts(client: MarathonClient, appIds: string[]): Promise<{ healthy: number; target: number }> {
  let healthy = 0;
  let target = 0;
  for (const id of appIds) {
    try {
      const app = (await client.get(`/v2/apps${id}`, { embed: 'app.tasks' })).app;
      const c = countHealthy(app);
      healthy += c.healthy;
      target += c.target;
    } catch (e) {
      if (!(e instanceof MarathonApiError && e.httpStatus === 404)) throw e;
    }
  }
  return { healthy, target };
}

/** Prints the outcome and turns a failure into a CliError (exit 1). */
export function reportOutcome(o: FollowOutcome, what: string, json: boolean | undefined): void {
  if (json) printJson({ deploymentId: o.deploymentId, ok: o.ok, ...(o.reason ? { reason: o.reason } : {}), seconds: Math.round(o.seconds * 10) / 10 });
  if (!o.ok) throw new CliError(`deployment ${o.deploymentId} (${what}) did not succeed: ${o.reason ?? 'unknown reason'}`);
  if (!json) out(`deployment ${o.deploymentId} (${what}) succeeded in ${o.seconds.toFixed(1)}s`);
}

export function clientFrom(opts: { orchestrator: string }): MarathonClient {
  return new MarathonClient(opts.orchestrator);
}

// ─── corral deployment ──────────────────────────────────────────────────────

interface CommonOpts {
  orchestrator: string;
  json?: boolean;
}

export function registerDeployment(program: Command): void {
  const dep = program.command('deployment').description('list, watch and cancel orchestrator deployments');

  dep
    .command('list')
    .description('list running deployments')
    .addOption(orchestratorOption())
    .option('--json', 'print the deployments as JSON (Marathon\'s /v2/deployments)')
    .action(async (opts: CommonOpts) => {
      const client = clientFrom(opts);
      try {
        const list = await client.get<DeploymentJson[]>('/v2/deployments');
        if (opts.json) return printJson(list);
        if (!list.length) return out('no deployments running');
        out(
          table(
            ['ID', 'APPS', 'STEP', 'CURRENT ACTIONS', 'VERSION'],
            list.map((d) => [d.id, d.affectedApps.join(','), `${d.currentStep}/${d.totalSteps}`, describeActions(d) || '-', d.version]),
          ),
        );
      } finally {
        client.close();
      }
    });

  dep
    .command('watch')
    .description('follow a running deployment until it ends; exits non-zero when it fails or is cancelled')
    .argument('<id>', 'deployment id')
    .option('--timeout <s>', 'give up after this many seconds', parsePositiveNumber)
    .addOption(orchestratorOption())
    .option('--json', 'print the outcome as JSON')
    .action(async (id: string, opts: CommonOpts & { timeout?: number }) => {
      const client = clientFrom(opts);
      try {
        const outcome = await runAndFollow(
          client,
          async () => {
            const list = await client.get<DeploymentJson[]>('/v2/deployments');
            const d = list.find((x) => x.id === id);
            if (!d) throw new CliError(`no running deployment ${id} (it may have finished already; see \`corral deployment list\`)`);
            return { deploymentId: id, appIds: d.affectedApps };
          },
          { timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined, view: new ProgressView(process.stderr, undefined, !opts.json) },
        );
        reportOutcome(outcome, 'watch', opts.json);
      } finally {
        client.close();
      }
    });

  dep
    .command('cancel')
    .description('cancel a deployment: rolls its changes back (a new deployment), or with --force just stops it')
    .argument('<id>', 'deployment id')
    .option('--force', 'stop the deployment as it is, without rolling back (tasks may be left of mixed versions)')
    .addOption(orchestratorOption())
    .option('--json', 'print the answer as JSON')
    .action(async (id: string, opts: CommonOpts & { force?: boolean }) => {
      const client = clientFrom(opts);
      try {
        const res = await client.request('DELETE', `/v2/deployments/${encodeURIComponent(id)}`, { query: { force: opts.force ? 'true' : undefined } });
        if (opts.json) return printJson(res.body ?? { cancelled: id, force: true });
        if (opts.force) out(`deployment ${id} stopped (no rollback)`);
        else out(`deployment ${id} cancelled; rolling back in deployment ${bold(res.body?.deploymentId ?? '?')}`);
      } catch (e) {
        if (e instanceof MarathonApiError && e.httpStatus === 404) throw new CliError(`no running deployment ${id}`);
        throw e;
      } finally {
        client.close();
      }
    });
}

