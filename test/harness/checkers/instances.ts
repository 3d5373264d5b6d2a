// Invariant 2: an app never has two RUNNING copies of the same instance, and after convergence it has
// exactly `instances` RUNNING and healthy tasks — in the orchestrator's API, in the master's state and
// in reality (task processes alive, from the agents' journals).
import type { JournalTail, StateSample } from '../evidence.ts';
import { getJson } from '../http.ts';

const TASK_RE = /^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)\.(\d+)$/;

/** Marathon instance id of a task id (`web.instance-<uuid>._app.2` → `web.instance-<uuid>`), or the id itself. */
export function instanceOf(taskId: string): string {
  const m = TASK_RE.exec(taskId);
  return m ? `${m[1]}.${m[2]}${m[3]}` : taskId;
}

/** Task ids of app `appId` ('/web' → tasks 'web.…'). */
export function isTaskOfApp(taskId: string, appId: string): boolean {
  const safe = appId.replace(/^\//, '').replace(/\//g, '_');
  return taskId.startsWith(`${safe}.instance-`) || taskId.startsWith(`${safe}.marathon-`);
}

/** Over every sample: at most one RUNNING task per instance id, in the master's view and in reality. */
export function checkNoDuplicateInstances(samples: readonly StateSample[], appId: string): string[] {
  const problems: string[] = [];
  for (const s of samples) {
    const running = s.tasks.filter((t) => t.state === 'TASK_RUNNING' && isTaskOfApp(t.id, appId)).map((t) => t.id);
    for (const [inst, ids] of groupBy(running, instanceOf)) if (ids.length > 1) problems.push(`${new Date(s.at).toISOString()} master lists ${ids.length} RUNNING tasks of instance ${inst}: ${ids.join(', ')}`);
    const live = s.liveTaskIds.filter((id) => isTaskOfApp(id, appId));
    for (const [inst, ids] of groupBy(live, instanceOf)) if (ids.length > 1) problems.push(`${new Date(s.at).toISOString()} ${ids.length} live processes for instance ${inst}: ${ids.join(', ')}`);
  }
  return [...new Set(problems)];
}

/** The peak number of RUNNING tasks of the app, as the master reported them and as processes were alive. */
export function peakRunning(samples: readonly StateSample[], appId: string, since = 0): { master: number; live: number } {
  let master = 0;
  let live = 0;
  for (const s of samples) {
    if (s.at < since) continue;
    master = Math.max(master, s.tasks.filter((t) => t.state === 'TASK_RUNNING' && isTaskOfApp(t.id, appId)).length);
    live = Math.max(live, s.liveTaskIds.filter((id) => isTaskOfApp(id, appId)).length);
  }
  return { master, live };
}

export interface ConvergenceView {
  apiTasks: { id: string; state: string; healthy: boolean; agentId: string }[];
  masterRunning: { id: string; agentId: string }[];
  liveTaskIds: string[];
  deployments: number;
}

/** Reads the three views of one app at once. */
export async function convergenceView(orchestratorLocal: string, masterLocal: string, journals: JournalTail, appId: string): Promise<ConvergenceView> {
  const [app, state, deployments] = await Promise.all([
    getJson(`${orchestratorLocal}/v2/apps${appId}?embed=app.tasks`, 3000).then((b) => b.app),
    getJson(`${masterLocal}/master/state`, 3000),
    getJson<any[]>(`${orchestratorLocal}/v2/deployments`, 3000),
  ]);
  const apiTasks = (app.tasks ?? []).map((t: any) => ({
    id: t.id,
    state: t.state,
    agentId: t.slaveId,
    healthy: (t.healthCheckResults ?? []).length > 0 && t.healthCheckResults.every((h: any) => h.alive === true),
  }));
  const masterRunning: { id: string; agentId: string }[] = [];
  for (const fw of state.frameworks ?? [])
    for (const t of fw.tasks ?? []) if (t.state === 'TASK_RUNNING' && isTaskOfApp(t.id, appId)) masterRunning.push({ id: t.id, agentId: t.slave_id });
  const liveTaskIds = journals
    .liveRuns()
    .map((r) => r.taskId)
    .filter((id) => isTaskOfApp(id, appId));
  return { apiTasks, masterRunning, liveTaskIds, deployments: deployments.filter((d) => (d.affectedApps ?? []).includes(appId)).length };
}

/** Violations of "converged to exactly `instances` RUNNING+healthy tasks" in a view (empty = converged). */
export function convergenceProblems(v: ConvergenceView, instances: number): string[] {
  const p: string[] = [];
  const healthy = v.apiTasks.filter((t) => t.state === 'TASK_RUNNING' && t.healthy);
  if (v.apiTasks.length !== instances) p.push(`orchestrator lists ${v.apiTasks.length} tasks, want ${instances}`);
  if (healthy.length !== instances) p.push(`orchestrator has ${healthy.length} RUNNING+healthy tasks, want ${instances}`);
  if (v.masterRunning.length !== instances) p.push(`master has ${v.masterRunning.length} RUNNING tasks, want ${instances}`);
  if (v.liveTaskIds.length !== instances) p.push(`${v.liveTaskIds.length} task processes alive, want ${instances}`);
  const api = new Set(v.apiTasks.map((t) => t.id));
  const master = new Set(v.masterRunning.map((t) => t.id));
  const live = new Set(v.liveTaskIds);
  for (const id of api) if (!master.has(id)) p.push(`${id}: in the orchestrator, not RUNNING on the master`);
  for (const id of master) if (!api.has(id)) p.push(`${id}: RUNNING on the master, unknown to the orchestrator`);
  for (const id of master) if (!live.has(id)) p.push(`${id}: RUNNING on the master, but no live process`);
  for (const id of live) if (!master.has(id)) p.push(`${id}: a live process the master does not list as RUNNING`);
  for (const [inst, ids] of groupBy([...live], instanceOf)) if (ids.length > 1) p.push(`instance ${inst} has ${ids.length} live copies`);
  if (v.deployments) p.push(`${v.deployments} deployment(s) still running`);
  return p;
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) (m.get(key(x)) ?? m.set(key(x), []).get(key(x))!).push(x);
  return m;
}
