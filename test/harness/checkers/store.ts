// Invariant 4: nothing in the Store is left inconsistent.
// - Live: the orchestrator's instances (its API, served from its store-backed tracker) and the master's
//   tasks of the orchestrator's framework agree one to one (id, agent, state) after convergence.
// - Offline: once the orchestrator has stopped, its embedded store is opened directly and its
//   instance records are compared with what its API said, record by record, and every record is checked
//   for well-formedness (parses, belongs to an existing app, key matches contents).
import { openEmbeddedStore } from '../../../src/store/index.ts';
import { getJson } from '../http.ts';
import { isTerminal } from './updates.ts';

export interface ApiTask {
  id: string;
  appId: string;
  agentId: string;
  state: string;
}

/** Every task the orchestrator's API lists (GET /v2/tasks). */
export async function apiTasks(orchestratorLocal: string): Promise<ApiTask[]> {
  const body = await getJson(`${orchestratorLocal}/v2/tasks`, 3000);
  return (body.tasks ?? []).map((t: any) => ({ id: t.id, appId: t.appId, agentId: t.slaveId, state: t.state }));
}

/** The orchestrator's API and the master agree on the orchestrator's tasks. Returns violations. */
export async function checkStoreAgreement(orchestratorLocal: string, masterLocal: string, frameworkId: string): Promise<string[]> {
  const [tasks, state] = await Promise.all([apiTasks(orchestratorLocal), getJson(`${masterLocal}/master/state`, 3000)]);
  const problems: string[] = [];
  const fw = (state.frameworks ?? []).find((f: any) => f.id === frameworkId);
  if (!fw) return [`the master does not list the orchestrator's framework ${frameworkId}`];
  const master = new Map<string, { state: string; agentId: string }>();
  for (const t of [...(fw.tasks ?? []), ...(fw.unreachable_tasks ?? [])]) if (!isTerminal(t.state)) master.set(t.id, { state: t.state, agentId: t.slave_id });
  const api = new Map(tasks.map((t) => [t.id, t]));
  for (const t of tasks) {
    const m = master.get(t.id);
    if (!m) problems.push(`${t.id} (${t.state}): in the orchestrator, unknown to the master`);
    else {
      if (m.agentId !== t.agentId) problems.push(`${t.id}: orchestrator says agent ${t.agentId}, master ${m.agentId}`);
      if (m.state !== t.state) problems.push(`${t.id}: orchestrator says ${t.state}, master ${m.state}`);
    }
  }
  // An unreachable task the orchestrator already expunged (unreachableStrategy) is legitimately unknown to
  // it: if its agent ever comes back, the orchestrator kills it as unknown. Anything else is a leak.
  for (const [id, m] of master)
    if (!api.has(id) && m.state !== 'TASK_UNREACHABLE') problems.push(`${id} (${m.state} on ${m.agentId}): on the master, unknown to the orchestrator`);
  return problems;
}

export interface StoreExpectation {
  frameworkId: string;
  /** App ids that must exist. */
  apps: string[];
  /** The orchestrator's API tasks read just before it stopped. */
  tasks: ApiTask[];
}

const ROOT = '/corral/orchestrator';

/**
 * Opens a stopped orchestrator's store and checks it against what its API said. The store layout is
 * the orchestrator's (src/orchestrator/keys.ts): apps/<enc id>, instances/<enc app id>/<instance id>,
 * deployments/<id>, framework-id.
 */
export async function checkOrchestratorStore(dataDir: string, expect: StoreExpectation): Promise<string[]> {
  const store = await openEmbeddedStore(dataDir);
  const problems: string[] = [];
  try {
    const fwId = await store.get(`${ROOT}/framework-id`);
    const storedFw = fwId ? tryParse(fwId.value) ?? fwId.value : undefined;
    const storedId = typeof storedFw === 'string' ? storedFw : (storedFw as { value?: string } | undefined)?.value;
    if (storedId !== expect.frameworkId) problems.push(`store framework-id is ${JSON.stringify(fwId?.value)}, the master knows ${expect.frameworkId}`);

    const apps = new Set((await store.range(`${ROOT}/apps/`)).map((kv) => decodeURIComponent(kv.key.slice(`${ROOT}/apps/`.length))));
    for (const a of expect.apps) if (!apps.has(a)) problems.push(`app ${a} missing from the store`);

    const stored = new Map<string, { appId: string; state: string; agentId: string }>();
    for (const kv of await store.range(`${ROOT}/instances/`)) {
      const rest = kv.key.slice(`${ROOT}/instances/`.length);
      const slash = rest.indexOf('/');
      const appId = decodeURIComponent(rest.slice(0, slash));
      const instanceId = rest.slice(slash + 1);
      const rec = tryParse(kv.value) as { instanceId?: string; taskId?: string; appId?: string; state?: string; agentId?: string } | undefined;
      if (!rec) {
        problems.push(`${kv.key}: not JSON`);
        continue;
      }
      if (rec.instanceId !== instanceId) problems.push(`${kv.key}: record says instance ${rec.instanceId}`);
      if (rec.appId !== appId) problems.push(`${kv.key}: record says app ${rec.appId}`);
      if (!apps.has(appId)) problems.push(`${kv.key}: instance of an app that is not in the store`);
      if (!rec.taskId?.startsWith(instanceId)) problems.push(`${kv.key}: task id ${rec.taskId} is not of this instance`);
      if (rec.taskId) stored.set(rec.taskId, { appId, state: rec.state ?? '?', agentId: rec.agentId ?? '?' });
    }
    const api = new Map(expect.tasks.map((t) => [t.id, t]));
    for (const t of expect.tasks) {
      const s = stored.get(t.id);
      if (!s) problems.push(`${t.id}: the API listed it, the store has no instance record`);
      else if (s.state !== t.state || s.agentId !== t.agentId) problems.push(`${t.id}: API said ${t.state} on ${t.agentId}, store has ${s.state} on ${s.agentId}`);
    }
    for (const [id, s] of stored) if (!api.has(id)) problems.push(`${id} (${s.state}): an instance record the API did not list`);

    const deployments = await store.range(`${ROOT}/deployments/`);
    if (deployments.length) problems.push(`${deployments.length} deployment record(s) left: ${deployments.map((d) => d.key).join(', ')}`);
  } finally {
    await store.close();
  }
  return problems;
}

function tryParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
