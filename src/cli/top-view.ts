// `corral top`'s model and rendering, pure: the documents fetched from the master and the
// orchestrator → one TopSnapshot (the --json form) → the text frame of the live view.
import type { LegacyMasterState } from '../client/operator-client.ts';
import type { AlertJson } from './alerts.ts';
import { fmtCpus, fmtDuration, fmtMb, scalars, table } from './common.ts';

export interface UsedTotal {
  used: number;
  total: number;
}

export interface TopSnapshot {
  /** ISO time of the snapshot. */
  time: string;
  master: string;
  agents: { id: string; hostname: string; active: boolean; cpus: UsedTotal; mem: UsedTotal; disk: UsedTotal; tasks: number }[];
  frameworks: { id: string; name: string; active: boolean; connected: boolean; tasks: number; cpus: number; mem: number }[];
  /** null when the orchestrator could not be read (see errors.orchestrator). */
  apps: { id: string; instances: number; running: number; healthy: number; unhealthy: number; staged: number }[] | null;
  deployments: { id: string; apps: string[]; step: string; actions: string[] }[] | null;
  /** Firing alerts; null when the master's /alerts could not be read. */
  alerts: { name: string; severity: string; since: number; summary: string }[] | null;
  /** Alerts pending (condition holding, `for` not yet reached). */
  pendingAlerts: number;
  errors: { orchestrator?: string; alerts?: string };
}

export interface MarathonAppDoc {
  id: string;
  instances?: number;
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  tasksStaged?: number;
}

export interface MarathonDeploymentDoc {
  id: string;
  affectedApps?: string[];
  currentStep?: number;
  totalSteps?: number;
  currentActions?: { action?: string; app?: string }[];
}

export interface TopInput {
  now: number;
  master: string;
  state: LegacyMasterState;
  apps?: MarathonAppDoc[];
  deployments?: MarathonDeploymentDoc[];
  alerts?: AlertJson[];
  errors?: TopSnapshot['errors'];
}

const ACTIVE_STATES = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE']);

export function topSnapshot(i: TopInput): TopSnapshot {
  const tasksPerAgent = new Map<string, number>();
  const frameworks = (i.state.frameworks ?? []).map((f) => {
    const live = (f.tasks ?? []).filter((t) => ACTIVE_STATES.has(t.state));
    for (const t of live) tasksPerAgent.set(t.slave_id, (tasksPerAgent.get(t.slave_id) ?? 0) + 1);
    const used = scalars(f.used_resources);
    return { id: f.id, name: f.name, active: f.active !== false, connected: f.connected !== false, tasks: live.length, cpus: used.cpus, mem: used.mem };
  });
  const agents = (i.state.slaves ?? []).map((s) => {
    const total = scalars(s.resources);
    const used = scalars(s.used_resources);
    return {
      id: s.id,
      hostname: s.hostname,
      active: s.active !== false,
      cpus: { used: used.cpus, total: total.cpus },
      mem: { used: used.mem, total: total.mem },
      disk: { used: used.disk, total: total.disk },
      tasks: tasksPerAgent.get(s.id) ?? 0,
    };
  });
  const apps =
    i.apps?.map((a) => ({
      id: a.id,
      instances: a.instances ?? 0,
      running: a.tasksRunning ?? 0,
      healthy: a.tasksHealthy ?? 0,
      unhealthy: a.tasksUnhealthy ?? 0,
      staged: a.tasksStaged ?? 0,
    })) ?? null;
  const deployments =
    i.deployments?.map((d) => ({
      id: d.id,
      apps: d.affectedApps ?? [],
      step: `${d.currentStep ?? 0}/${d.totalSteps ?? 0}`,
      actions: (d.currentActions ?? []).map((a) => `${a.action ?? '?'}${a.app ? ` ${a.app}` : ''}`),
    })) ?? null;
  const alerts = i.alerts?.filter((a) => a.state === 'firing').map((a) => ({ name: a.name, severity: a.severity, since: a.since, summary: a.summary })) ?? null;
  return {
    time: new Date(i.now).toISOString(),
    master: i.master,
    agents,
    frameworks,
    apps,
    deployments,
    alerts,
    pendingAlerts: i.alerts?.filter((a) => a.state === 'pending').length ?? 0,
    errors: i.errors ?? {},
  };
}

const pct = (u: UsedTotal) => (u.total > 0 ? ` ${Math.round((100 * u.used) / u.total)}%` : '');
const cpus = (u: UsedTotal) => `${fmtCpus(u.used)}/${fmtCpus(u.total)}${pct(u)}`;
const mb = (u: UsedTotal) => `${fmtMb(u.used)}/${fmtMb(u.total)}${pct(u)}`;

/** The text frame of the live view. */
export function renderTop(s: TopSnapshot, opts: { intervalSeconds: number; now: number }): string {
  const out: string[] = [];
  const time = s.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  out.push(`corral top — ${s.master} — ${time} (every ${opts.intervalSeconds}s; Ctrl-C quits)`, '');
  const section = (title: string, body: string) => out.push(title, body.replace(/\n$/, ''), '');

  section(
    `AGENTS (${s.agents.length})`,
    s.agents.length
      ? table(['ID', 'HOST', 'CPUS', 'MEM', 'DISK', 'TASKS', 'ACTIVE'], s.agents.map((a) => [a.id, a.hostname, cpus(a.cpus), mb(a.mem), mb(a.disk), a.tasks, a.active ? 'yes' : 'no']))
      : '  no agents registered',
  );
  section(
    `FRAMEWORKS (${s.frameworks.length})`,
    s.frameworks.length
      ? table(['NAME', 'ID', 'TASKS', 'CPUS', 'MEM', 'CONNECTED'], s.frameworks.map((f) => [f.name, f.id, f.tasks, fmtCpus(f.cpus), fmtMb(f.mem), f.connected ? 'yes' : 'no']))
      : '  no frameworks',
  );
  if (s.apps === null) section('APPS', `  orchestrator unavailable: ${s.errors.orchestrator ?? 'unknown error'}`);
  else
    section(
      `APPS (${s.apps.length})`,
      s.apps.length
        ? table(['ID', 'RUNNING', 'HEALTHY', 'STAGED', 'TARGET'], s.apps.map((a) => [a.id, a.running, a.healthy, a.staged, a.instances]))
        : '  no apps',
    );
  if (s.deployments !== null)
    section(
      `DEPLOYMENTS IN FLIGHT (${s.deployments.length})`,
      s.deployments.length ? table(['ID', 'APPS', 'STEP', 'ACTIONS'], s.deployments.map((d) => [d.id, d.apps.join(','), d.step, d.actions.join(', ')])) : '  none',
    );
  if (s.alerts === null) section('ALERTS', `  unavailable: ${s.errors.alerts ?? 'unknown error'}`);
  else {
    const pending = s.pendingAlerts ? ` (+${s.pendingAlerts} pending: corral alerts)` : '';
    section(
      `FIRING ALERTS (${s.alerts.length})${pending}`,
      s.alerts.length
        ? table(['NAME', 'SEVERITY', 'SINCE', 'SUMMARY'], s.alerts.map((a) => [a.name, a.severity, `${fmtDuration(opts.now / 1000 - a.since)} ago`, a.summary]))
        : '  none',
    );
  }
  return out.join('\n');
}
