// Why is an app not at its target? Pure: from the orchestrator's documents (GET /v2/apps/{id}, its
// /v2/queue item with embed=constraintRejections, its running deployments) to plain sentences.
// Reasons, most actionable first: waiting for offers (which check declined how many offers), tasks
// failing (last failure, exit code, backoff), health checks failing (last cause), deployments.

/** The parts of Marathon's AppInfo read here (all optional: any Marathon server may answer). */
export interface WhyApp {
  id: string;
  instances?: number;
  cpus?: number;
  mem?: number;
  disk?: number;
  gpus?: number;
  constraints?: unknown[][];
  acceptedResourceRoles?: string[];
  requirePorts?: boolean;
  portDefinitions?: { port?: number }[];
  healthChecks?: { protocol?: string; path?: string; portIndex?: number; gracePeriodSeconds?: number; command?: { value?: string } }[];
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  tasksStaged?: number;
  deployments?: { id: string }[];
  versionInfo?: { lastConfigChangeAt?: string; lastScalingAt?: string };
  lastTaskFailure?: { state?: string; message?: string; host?: string; timestamp?: string; taskId?: string; version?: string };
  tasks?: {
    id: string;
    state?: string;
    host?: string;
    startedAt?: string;
    healthCheckResults?: { alive?: boolean; consecutiveFailures?: number; lastFailure?: string | null; lastFailureCause?: string | null }[];
  }[];
}

export interface WhyQueueItem {
  count?: number;
  delay?: { timeLeftSeconds?: number; overdue?: boolean };
  since?: string;
  processedOffersSummary?: {
    processedOffersCount?: number;
    unusedOffersCount?: number;
    lastUnusedOfferAt?: string;
    lastUsedOfferAt?: string;
    rejectSummaryLastOffers?: { reason: string; declined: number; processed: number }[];
  };
  constraintRejections?: Record<string, number>;
}

export interface WhyDeployment {
  id: string;
  currentStep?: number;
  totalSteps?: number;
  currentActions?: { action?: string; app?: string }[];
}

export interface WhyInput {
  app: WhyApp;
  queue?: WhyQueueItem;
  deployments?: WhyDeployment[];
  /** ms since the epoch. */
  now: number;
}

export type ReasonKind = 'offers' | 'backoff' | 'failing' | 'health' | 'deployment' | 'starting' | 'unknown';

export interface Why {
  app: string;
  atTarget: boolean;
  summary: string;
  reasons: { kind: ReasonKind; text: string }[];
}

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

function ago(iso: string | undefined, now: number): string {
  const t = iso ? Date.parse(iso) : Number.NaN;
  if (!Number.isFinite(t)) return '';
  return ` ${fmtSecs((now - t) / 1000)} ago`;
}

function fmtSecs(s: number): string {
  const n = Math.max(0, Math.round(s));
  if (n < 120) return `${n}s`;
  if (n < 7200) return `${Math.round(n / 60)}m`;
  return `${Math.round(n / 3600)}h`;
}

/** `["hostname","LIKE","nope"]` or "hostname:LIKE:nope" → "hostname LIKE nope". */
export const constraintText = (c: unknown[] | string): string => (typeof c === 'string' ? c.split(':') : c.map(String)).join(' ');

function offerReasons(app: WhyApp, q: WhyQueueItem): string[] {
  const out: string[] = [];
  const declined = (n: number) => `${plural(n, 'offer')} declined`;
  for (const r of q.processedOffersSummary?.rejectSummaryLastOffers ?? []) {
    if (!(r.declined > 0)) continue;
    const n = r.declined;
    switch (r.reason) {
      case 'UnfulfilledConstraint': {
        const per = Object.entries(q.constraintRejections ?? {}).filter(([, k]) => k > 0);
        if (per.length) for (const [c, k] of per.sort((a, b) => b[1] - a[1])) out.push(`${declined(k)} because of the constraint ${constraintText(c)}`);
        else if (app.constraints?.length === 1) out.push(`${declined(n)} because of the constraint ${constraintText(app.constraints[0]!)}`);
        else out.push(`${declined(n)} because of its constraints (${(app.constraints ?? []).map(constraintText).join('; ')})`);
        break;
      }
      case 'UnfulfilledRole':
        out.push(`${declined(n)} because their resources are not of a role the app accepts (acceptedResourceRoles: ${(app.acceptedResourceRoles ?? ['*']).join(', ')})`);
        break;
      case 'NoCorrespondingReservationFound':
        out.push(`${declined(n)} because they hold no reservation for the app's resident volumes`);
        break;
      case 'AgentMaintenance':
        out.push(`${declined(n)} because their agents are in maintenance`);
        break;
      case 'InsufficientCpus':
        out.push(`${declined(n)} for too few CPUs (each instance needs ${app.cpus ?? '?'})`);
        break;
      case 'InsufficientMemory':
        out.push(`${declined(n)} for too little memory (each instance needs ${app.mem ?? '?'} MB)`);
        break;
      case 'InsufficientDisk':
        out.push(`${declined(n)} for too little disk (each instance needs ${app.disk ?? '?'} MB)`);
        break;
      case 'InsufficientGpus':
        out.push(`${declined(n)} for too few GPUs (each instance needs ${app.gpus ?? '?'})`);
        break;
      case 'InsufficientPorts': {
        const ports = (app.portDefinitions ?? []).map((p) => p.port ?? 0);
        const which = app.requirePorts ? ` (it requires host ports ${ports.join(', ')})` : ` (each instance needs ${plural(ports.length, 'port')})`;
        out.push(`${declined(n)} for want of free ports${which}`);
        break;
      }
      case 'DeclinedScarceResources':
        out.push(`${declined(n)} because their agents have GPUs, kept for apps that need them`);
        break;
      default:
        out.push(`${declined(n)} (${r.reason})`);
    }
  }
  return out;
}

function failureReason(app: WhyApp, q: WhyQueueItem | undefined, now: number): string | undefined {
  const f = app.lastTaskFailure;
  if (!f) return undefined;
  // A failure of an older configuration says nothing about the current one.
  const changed = app.versionInfo?.lastConfigChangeAt ? Date.parse(app.versionInfo.lastConfigChangeAt) : Number.NaN;
  const at = f.timestamp ? Date.parse(f.timestamp) : Number.NaN;
  if (Number.isFinite(changed) && Number.isFinite(at) && at < changed) return undefined;
  const msg = (f.message ?? '').trim();
  const code = /exited with status (\d+)/.exec(msg)?.[1];
  const signal = /(?:terminated with|killed by) signal (\w+)/i.exec(msg)?.[1];
  let text = `tasks keep failing: last failure${ago(f.timestamp, now)}${f.host ? ` on ${f.host}` : ''}: ${f.state ?? 'TASK_FAILED'}`;
  if (msg) text += `, ${msg}`;
  if (code !== undefined) text += ` (exit code ${code})`;
  else if (signal !== undefined) text += ` (signal ${signal})`;
  const left = q?.delay?.timeLeftSeconds ?? 0;
  if (left > 0) text += `, backing off: the next launch is in ${fmtSecs(left)}`;
  else if (q && (q.count ?? 0) > 0) text += ', relaunching now';
  return text;
}

function healthReasons(app: WhyApp, now: number): string[] {
  const checks = app.healthChecks ?? [];
  if (!checks.length) return [];
  const running = (app.tasks ?? []).filter((t) => t.state === 'TASK_RUNNING');
  const failing = running.filter((t) => (t.healthCheckResults ?? []).some((h) => h.alive === false));
  const unknown = running.filter((t) => !(t.healthCheckResults ?? []).length);
  const out: string[] = [];
  if (failing.length) {
    const results = failing.flatMap((t) => (t.healthCheckResults ?? []).filter((h) => h.alive === false));
    const latest = results.filter((h) => h.lastFailure).sort((a, b) => Date.parse(b.lastFailure!) - Date.parse(a.lastFailure!))[0];
    const c = checks[0]!;
    const what = `${c.protocol ?? 'HTTP'}${c.path ? ` ${c.path}` : ''}${c.command?.value ? ` \`${c.command.value}\`` : ''}`;
    let text = `health checks failing on ${failing.length} of ${plural(running.length, 'running instance')} (${what})`;
    if (latest?.lastFailureCause) text += `: last failure${ago(latest.lastFailure ?? undefined, now)}: ${latest.lastFailureCause}`;
    else if (/^MESOS_|^COMMAND$/.test(c.protocol ?? '')) text += ': the agents report them unhealthy';
    const most = Math.max(0, ...results.map((h) => h.consecutiveFailures ?? 0));
    if (most > 1) text += ` (${most} consecutive failures)`;
    out.push(text);
  }
  if (unknown.length) out.push(`${plural(unknown.length, 'running instance')} ${unknown.length === 1 ? 'has' : 'have'} no health check result yet`);
  return out;
}

export function explain({ app, queue, deployments = [], now }: WhyInput): Why {
  const target = app.instances ?? 0;
  const running = app.tasksRunning ?? 0;
  const healthy = app.tasksHealthy ?? 0;
  const staged = app.tasksStaged ?? 0;
  const hasChecks = (app.healthChecks ?? []).length > 0;
  const deploying = deployments.filter((d) => (app.deployments ?? []).some((x) => x.id === d.id));
  const waiting = queue && (queue.count ?? 0) > 0;
  const atTarget = running === target && (!hasChecks || healthy === target) && !deploying.length && !waiting && staged === 0;
  const counts = `${running} of ${plural(target, 'instance')} running${hasChecks ? `, ${healthy} healthy` : ''}${staged ? `, ${staged} staging` : ''}`;
  if (atTarget)
    return { app: app.id, atTarget, summary: `${app.id} is at its target: ${counts}.`, reasons: [] };

  const reasons: Why['reasons'] = [];
  if (waiting) {
    const q = queue!;
    const left = q.delay?.timeLeftSeconds ?? 0;
    const toLaunch = `${plural(q.count!, 'instance')} to launch, waiting since${ago(q.since, now) || ' recently'}`;
    const why = offerReasons(app, q);
    const processed = q.processedOffersSummary?.processedOffersCount ?? 0;
    if (why.length) reasons.push({ kind: 'offers', text: `waiting for offers: ${why.join('; ')} — ${toLaunch}` });
    else if (left > 0 && !app.lastTaskFailure) reasons.push({ kind: 'backoff', text: `launches are delayed (backoff): the next one is in ${fmtSecs(left)} (${toLaunch})` });
    else if (processed === 0 && left <= 0)
      reasons.push({
        kind: 'offers',
        text: `waiting for offers: none has arrived yet (${toLaunch}); the cluster may have no free resources (see \`corral top\`) or the orchestrator is not subscribed`,
      });
  }
  const failing = failureReason(app, queue, now);
  if (failing) reasons.push({ kind: 'failing', text: failing });
  for (const h of healthReasons(app, now)) reasons.push({ kind: 'health', text: h });
  if (staged > 0 && !reasons.length) reasons.push({ kind: 'starting', text: `${plural(staged, 'instance')} ${staged === 1 ? 'is' : 'are'} starting` });
  for (const d of deploying) {
    const acts = (d.currentActions ?? []).map((a) => `${a.action ?? '?'}${a.app ? ` ${a.app}` : ''}`).join(', ');
    reasons.push({ kind: 'deployment', text: `deployment ${d.id} is in progress${d.totalSteps ? `: step ${d.currentStep ?? 0}/${d.totalSteps}` : ''}${acts ? ` (${acts})` : ''}` });
  }
  if (!reasons.length) reasons.push({ kind: 'unknown', text: 'no reason found in the orchestrator\u2019s queue, task failures or health checks; it may be catching up — ask again in a few seconds' });
  return { app: app.id, atTarget, summary: `${app.id} is not at its target: ${counts}.`, reasons };
}
