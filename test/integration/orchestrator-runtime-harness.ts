// Test harness for the orchestrator runtime: a real master and agents in this process
// (startInProcessCluster) plus an orchestrator on its own memory store (kept across
// orchestrator restarts). Waits are on events or polled conditions with deadlines.
import { join } from 'node:path';
import { startAgent, type AgentHandle } from '../../src/agent/index.ts';
import type { MasterOptions } from '../../src/master/index.ts';
import { createMemoryStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/store.ts';
import { startOrchestrator, type OrchestratorOptions } from '../../src/orchestrator/index.ts';
import type { OrchestratorRuntime } from '../../src/orchestrator/runtime.ts';
import type { AppDefinition, InstanceRecord, MarathonEvent } from '../../src/orchestrator/service.ts';
import { createLogger, silentLogger } from '../../src/runtime/log.ts';
import { eventually, startInProcessCluster, type InProcessCluster } from '../support/cluster.ts';

export { eventually };

export interface Harness {
  cluster: InProcessCluster;
  store: Store;
  orch: OrchestratorRuntime;
  events: MarathonEvent[];
  /** Agents started from `extraAgents`, in order. */
  extraAgents: AgentHandle[];
  /** Stops extra agent k without killing its tasks (a crash), or starts it again on the same work dir. */
  crashAgent(k: number): Promise<void>;
  restartAgent(k: number): Promise<void>;
  /** Starts a new orchestrator on the same store (after closing the current one). */
  restart(): Promise<OrchestratorRuntime>;
  stop(): Promise<void>;
}

const log = process.env.CORRAL_TEST_LOG ? createLogger('orch-test', process.env.CORRAL_TEST_LOG as 'debug') : silentLogger;

export const FAST: Partial<OrchestratorOptions> = {
  tickIntervalMs: 200,
  minReviveIntervalMs: 50,
  declineRefuseSeconds: 1,
  idleRefuseSeconds: 2,
  killRetryMs: 2000,
  reconnectInitialMs: 50,
  reconnectMaxMs: 500,
  reconciliationRetryInitialMs: 100,
  reconciliationRetryMaxMs: 500,
};

/**
 * Test files run concurrently on one host: each agent offers its own random block of 50 ports
 * below the ephemeral range, so a task of one test never answers another test's health check.
 */
let block = Math.floor(Math.random() * 240);
function agentOptions() {
  block = (block + 1) % 240;
  const lo = 20_000 + block * 50;
  return { resources: `cpus:4;mem:4096;disk:1000;ports:[${lo}-${lo + 49}]`, processPollMs: 100, statusUpdateRetryMs: 200, registrationBackoffMaxMs: 500 };
}

/**
 * `agents` agents share the hostname 127.0.0.1; each entry of `extraAgents` is one more agent
 * with its own hostname (e.g. 'localhost') and attributes.
 */
export async function startHarness(
  opts: {
    agents?: number;
    extraAgents?: { hostname: string; attributes?: string }[];
    orchestrator?: Partial<OrchestratorOptions>;
    master?: Partial<Omit<MasterOptions, 'store'>>;
  } = {},
): Promise<Harness> {
  const n = opts.agents ?? 1;
  const cluster = await startInProcessCluster({ agents: n, log, agent: agentOptions(), master: opts.master });
  const extra: AgentHandle[] = [];
  const extraOpts = (opts.extraAgents ?? []).map((a, k) => ({
    ...agentOptions(),
    port: 0,
    hostname: a.hostname,
    attributes: a.attributes,
    masterUrl: cluster.masterUrl,
    workDir: join(cluster.dataDir, `extra-${k}`),
    log: log.child(`agent-x${k}`),
  }));
  for (const o of extraOpts) {
    const agent = await startAgent(o);
    extra.push(agent);
    await agent.registered();
  }
  const store = createMemoryStore();
  const events: MarathonEvent[] = [];
  const start = async () => {
    const o = await startOrchestrator({ masterUrl: cluster.masterUrl, store, log: log.child('orchestrator'), ...FAST, ...opts.orchestrator });
    o.events.subscribe((e) => events.push(e));
    await o.ready();
    return o;
  };
  const h: Harness = {
    cluster,
    store,
    orch: await start(),
    events,
    extraAgents: extra,
    async crashAgent(k) {
      await extra[k]!.close({ killTasks: false });
    },
    async restartAgent(k) {
      extra[k] = await startAgent(extraOpts[k]!);
      await extra[k]!.registered();
    },
    async restart() {
      await h.orch.close();
      h.orch = await start();
      return h.orch;
    },
    async stop() {
      await h.orch.close().catch(() => {});
      await Promise.allSettled(extra.map((a) => a.close({ killTasks: true })));
      await cluster.stop();
      await store.close().catch(() => {});
    },
  };
  return h;
}

export function app(id: string, extra: Partial<AppDefinition> = {}): AppDefinition {
  return {
    id,
    cmd: 'sleep 1000',
    instances: 1,
    cpus: 0.1,
    mem: 32,
    disk: 0,
    portDefinitions: [],
    backoffSeconds: 0.2,
    backoffFactor: 1.5,
    maxLaunchDelaySeconds: 5,
    ...extra,
  };
}

export const running = (instances: InstanceRecord[]) => instances.filter((i) => i.condition === 'Running' && i.goal === 'Running');

/** Waits until the app has exactly `n` running instances (goal Running) and no other live ones. */
export function waitRunning(h: Harness, appId: string, n: number, timeoutMs = 15_000, extra?: (list: InstanceRecord[]) => boolean) {
  return eventually(
    () => {
      const st = h.orch.getApp(appId);
      if (!st) return false;
      const r = running(st.instances);
      return r.length === n && st.instances.length === n && (!extra || extra(st.instances)) ? st : false;
    },
    timeoutMs,
    `${appId} to have ${n} running instances`,
  );
}

export function waitDeploymentsDone(h: Harness, timeoutMs = 20_000) {
  return eventually(() => h.orch.listDeployments().length === 0, timeoutMs, 'deployments to finish');
}

/** Tasks of the orchestrator's framework as the master reports them (GET /master/state). */
export async function masterTasks(h: Harness): Promise<{ id: string; state: string }[]> {
  const res = await fetch(`${h.cluster.masterUrl}/master/state`);
  const state = (await res.json()) as { frameworks: { id: string; tasks: { id: string; state: string }[] }[] };
  const fwId = h.orch.info().frameworkId;
  return state.frameworks.filter((f) => f.id === fwId).flatMap((f) => f.tasks.map((t) => ({ id: t.id, state: t.state })));
}
