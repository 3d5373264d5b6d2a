// `corral cluster status`: one screen about the cluster — master, agents with
// resources used/total, frameworks, and task counts by state.
import type { Command } from 'commander';
import { OperatorClient, type LegacyFramework, type LegacyMasterState, type MetricsSnapshot } from '../client/operator-client.ts';
import { TASK_STATES } from '../protocol/mesos.ts';
import { agentRow, type AgentRow } from './agent.ts';
import { bold, fmtCpus, fmtDuration, fmtMb, masterOption, out, printJson, scalars, table, usedTotal } from './common.ts';

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('cluster-wide information');
  cluster
    .command('status')
    .description('master, agents (resources used/total), frameworks and task counts by state')
    .addOption(masterOption())
    .option('--json', 'print JSON')
    .action(async (opts: { master: string; json?: boolean }) => {
      await clusterStatus(opts);
    });
}

export interface ClusterStatus {
  master: { url: string; id?: string; version?: string; hostname?: string; leader?: string; start_time?: number; uptime_s?: number };
  agents: AgentRow[];
  resources: { total: ReturnType<typeof scalars>; used: ReturnType<typeof scalars> };
  frameworks: { id: string; name: string; active: boolean; connected: boolean; tasks: number; used: ReturnType<typeof scalars> }[];
  tasks: Record<string, number>;
}

/** `master/tasks_running` → `TASK_RUNNING` counts; falls back to counting /master/state. */
export function taskCounts(metrics: MetricsSnapshot | undefined, state: LegacyMasterState): Record<string, number> {
  const counts: Record<string, number> = {};
  if (metrics) {
    for (const s of TASK_STATES) {
      const key = `master/tasks_${s.slice('TASK_'.length).toLowerCase()}`;
      const v = metrics[key];
      if (typeof v === 'number') counts[s] = v;
    }
  }
  if (Object.keys(counts).length === 0) {
    const all: LegacyFramework[] = [...(state.frameworks ?? []), ...(state.completed_frameworks ?? [])];
    for (const fw of all)
      for (const t of [...(fw.tasks ?? []), ...(fw.unreachable_tasks ?? []), ...(fw.completed_tasks ?? [])])
        counts[t.state] = (counts[t.state] ?? 0) + 1;
  }
  return counts;
}

async function clusterStatus(opts: { master: string; json?: boolean }): Promise<void> {
  const op = new OperatorClient(opts.master);
  try {
    const [state, metrics] = await Promise.all([op.state(), op.metrics().catch(() => undefined)]);
    const slaves = state.slaves ?? [];
    const agents = slaves.map(agentRow);
    const sum = (pick: (a: AgentRow) => ReturnType<typeof scalars>) =>
      agents.reduce(
        (acc, a) => {
          const s = pick(a);
          return { cpus: acc.cpus + s.cpus, mem: acc.mem + s.mem, disk: acc.disk + s.disk, gpus: acc.gpus + s.gpus };
        },
        { cpus: 0, mem: 0, disk: 0, gpus: 0 },
      );
    const status: ClusterStatus = {
      master: {
        url: op.masterUrl,
        ...(state.id ? { id: state.id } : {}),
        ...(state.version ? { version: state.version } : {}),
        ...(state.hostname ? { hostname: state.hostname } : {}),
        ...(state.leader ? { leader: state.leader } : {}),
        ...(state.start_time !== undefined ? { start_time: state.start_time, uptime_s: Math.max(0, Date.now() / 1000 - state.start_time) } : {}),
      },
      agents,
      resources: { total: sum((a) => a.resources.total), used: sum((a) => a.resources.used) },
      frameworks: (state.frameworks ?? []).map((f) => ({
        id: f.id,
        name: f.name,
        active: f.active !== false,
        connected: f.connected !== false,
        tasks: (f.tasks ?? []).length,
        used: scalars(f.used_resources),
      })),
      tasks: taskCounts(metrics, state),
    };
    if (opts.json) return printJson(status);

    const m = status.master;
    const lines: string[] = [];
    lines.push(
      `${bold('master')}      ${m.url}${m.version ? `  version ${m.version}` : ''}${m.uptime_s !== undefined ? `  up ${fmtDuration(m.uptime_s)}` : ''}`,
    );
    const active = agents.filter((a) => a.active).length;
    const r = status.resources;
    lines.push(
      `${bold('resources')}   cpus ${fmtCpus(r.used.cpus)}/${fmtCpus(r.total.cpus)}  mem ${fmtMb(r.used.mem)}/${fmtMb(r.total.mem)}  disk ${fmtMb(r.used.disk)}/${fmtMb(r.total.disk)}`,
    );
    const counts = Object.entries(status.tasks).filter(([, n]) => n > 0);
    lines.push(`${bold('tasks')}       ${counts.length ? counts.map(([s, n]) => `${s.slice(5).toLowerCase()} ${n}`).join(', ') : 'none'}`);
    lines.push('');
    lines.push(`${bold('agents')}      ${agents.length} registered, ${active} active`);
    if (agents.length) {
      const tasksPerAgent = new Map<string, number>();
      for (const fw of state.frameworks ?? []) for (const t of fw.tasks ?? []) tasksPerAgent.set(t.slave_id, (tasksPerAgent.get(t.slave_id) ?? 0) + 1);
      lines.push(
        table(
          ['  ID', 'HOST', 'ENDPOINT', 'ACTIVE', 'CPUS', 'MEM', 'DISK', 'TASKS'],
          slaves.map((s, i) => [
            `  ${agents[i]!.id}`,
            s.hostname,
            agents[i]!.endpoint,
            agents[i]!.active ? 'yes' : 'no',
            usedTotal(s.used_resources, s.resources, 'cpus'),
            usedTotal(s.used_resources, s.resources, 'mem'),
            usedTotal(s.used_resources, s.resources, 'disk'),
            tasksPerAgent.get(s.id) ?? 0,
          ]),
        ).trimEnd(),
      );
    }
    lines.push('');
    lines.push(`${bold('frameworks')}  ${status.frameworks.length} registered`);
    if (status.frameworks.length) {
      lines.push(
        table(
          ['  ID', 'NAME', 'ACTIVE', 'CONNECTED', 'TASKS', 'CPUS', 'MEM'],
          status.frameworks.map((f) => [
            `  ${f.id}`,
            f.name,
            f.active ? 'yes' : 'no',
            f.connected ? 'yes' : 'no',
            f.tasks,
            fmtCpus(f.used.cpus),
            fmtMb(f.used.mem),
          ]),
        ).trimEnd(),
      );
    }
    out(lines.join('\n'));
  } finally {
    op.close();
  }
}
