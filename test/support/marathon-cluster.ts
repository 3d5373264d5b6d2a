// An in-process cluster (master + one agent) with the orchestrator and its Marathon API, for tests that
// drive apps through /v2: started in `before`, stopped in `after`.
import { startOrchestratorServer, type OrchestratorServer } from '../../src/orchestrator/api/server.ts';
import { startOrchestrator } from '../../src/orchestrator/index.ts';
import type { OrchestratorService } from '../../src/orchestrator/service.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore, type Store } from '../../src/store/index.ts';
import { startInProcessCluster, testPortRange, type InProcessCluster } from './cluster.ts';

export interface MarathonCluster {
  cluster: InProcessCluster;
  store: Store;
  service: OrchestratorService;
  api: OrchestratorServer;
  /** A Marathon API call: status and parsed JSON body. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** The sandbox of the app's running task (from the agent's /state). */
  sandboxOfApp(appId: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

export async function startMarathonCluster(): Promise<MarathonCluster> {
  const cluster = await startInProcessCluster({ agents: 1, agent: { resources: `cpus:2;mem:2048;disk:1000;ports:[${testPortRange()}]` } });
  const store = createMemoryStore();
  const service = await startOrchestrator({ masterUrl: cluster.masterUrl, store, tickIntervalMs: 200, log: silentLogger });
  const api = await startOrchestratorServer({ service, port: 0 });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(api.url + path, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  return {
    cluster,
    store,
    service,
    api,
    call,
    async sandboxOfApp(appId) {
      const { json } = await call('GET', `/v2/apps${appId}`);
      const taskId = json.app.tasks?.find((t: any) => t.state === 'TASK_RUNNING')?.id;
      if (!taskId) return undefined;
      const state = (await (await fetch(cluster.agentUrls[0] + '/state')).json()) as any;
      for (const fw of state.frameworks) for (const ex of fw.executors) if (ex.id === taskId) return ex.directory as string;
      return undefined;
    },
    async stop() {
      await api.close();
      await service.close();
      await store.close();
      await cluster.stop();
    },
  };
}
