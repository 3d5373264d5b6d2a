// A Corral cluster of real processes on a lab: `corral master` (short agent-ping settings) and
// `corral orchestrator` on h0, `corral agent` on each of h1..hN with a disjoint slice of host ports. Each
// program binds its own host's lab address; the test process reaches them through Lab.forward().
import path from 'node:path';
import type { Lab, LabProcess } from './lab.ts';
import { getJson, poll, sendJson } from './http.ts';
import { jsonLines } from './proc.ts';

export const MASTER_PORT = 5050;
export const AGENT_PORT = 5051;
export const ORCHESTRATOR_PORT = 8080;

export interface LabClusterOptions {
  /** Master → agent ping period/timeout. Default 1000 ms. */
  agentPingTimeoutMs?: number;
  /** Missed pings before an agent is unreachable. Default 3. */
  maxAgentPingTimeouts?: number;
  allocationIntervalMs?: number;
  /** Start the orchestrator on h0. Default true. */
  orchestrator?: boolean;
  /** Per-agent resources (ports are added). Default 'cpus:2;mem:2048;disk:2048'. */
  agentResources?: string;
  /** Extra `corral agent` arguments. */
  agentArgs?: string[];
}

export interface LabAgent {
  host: number;
  workDir: string;
  /** Lab-internal URL (http://10.254.x.y:5051). */
  url: string;
  /** Forwarded URL for the test process. */
  localUrl: string;
  /** Host ports this agent offers. */
  ports: { begin: number; end: number };
  proc?: LabProcess;
  agentId?: string;
}

/** The i-th agent's host-port slice: 31000+100·(i-1) … +99 (disjoint across the cluster). */
export function agentPorts(i: number): { begin: number; end: number } {
  const begin = 31000 + 100 * (i - 1);
  return { begin, end: begin + 99 };
}

export class LabCluster {
  master!: LabProcess;
  orchestrator?: LabProcess;
  /** Lab-internal URLs (what cluster processes use). */
  masterUrl: string;
  orchestratorUrl: string;
  /** Forwarded URLs (what the test process uses). */
  masterLocal = '';
  orchestratorLocal = '';
  readonly agents = new Map<number, LabAgent>();

  private constructor(
    readonly lab: Lab,
    readonly opts: LabClusterOptions,
  ) {
    this.masterUrl = lab.url(0, MASTER_PORT);
    this.orchestratorUrl = lab.url(0, ORCHESTRATOR_PORT);
  }

  /** Starts the master, every agent (waiting for each to register), then the orchestrator. */
  static async start(lab: Lab, opts: LabClusterOptions = {}): Promise<LabCluster> {
    const c = new LabCluster(lab, opts);
    const h0 = lab.host(0);
    c.master = await lab.spawn(
      0,
      [
        'master',
        '--data-dir',
        path.join(h0.dir, 'master'),
        '--host',
        h0.address,
        '--port',
        String(MASTER_PORT),
        '--agent-ping-timeout-ms',
        String(opts.agentPingTimeoutMs ?? 1000),
        '--max-agent-ping-timeouts',
        String(opts.maxAgentPingTimeouts ?? 3),
        '--allocation-interval-ms',
        String(opts.allocationIntervalMs ?? 200),
        '--json',
      ],
      { name: 'master' },
    );
    c.masterLocal = await lab.forward(h0.address, MASTER_PORT);
    await Promise.all(lab.hosts.slice(1).map((h) => c.startAgent(h.index)));
    if (opts.orchestrator ?? true) await c.startOrchestrator();
    return c;
  }

  async startOrchestrator(): Promise<void> {
    const h0 = this.lab.host(0);
    this.orchestrator = await this.lab.spawn(
      0,
      [
        'orchestrator',
        '--master',
        this.masterUrl,
        '--host',
        h0.address,
        '--port',
        String(ORCHESTRATOR_PORT),
        '--data-dir',
        path.join(h0.dir, 'orchestrator'),
        '--json',
      ],
      { name: 'orchestrator' },
    );
    this.orchestratorLocal = await this.lab.forward(h0.address, ORCHESTRATOR_PORT);
  }

  /**
   * Starts (or restarts, same work dir) the agent of host i and waits for its `registered` line.
   * Returns the process and how long it took from spawn to registered.
   */
  async startAgent(i: number, opts: { timeoutMs?: number } = {}): Promise<{ proc: LabProcess; agentId: string; spawnToRegisteredMs: number }> {
    const h = this.lab.host(i);
    const ports = agentPorts(i);
    const workDir = path.join(h.dir, 'agent');
    const resources = `${this.opts.agentResources ?? 'cpus:2;mem:2048;disk:2048'};ports:[${ports.begin}-${ports.end}]`;
    const t0 = Date.now();
    const proc = await this.lab.spawn(
      i,
      [
        'agent',
        '--master',
        this.masterUrl,
        '--host',
        h.address,
        '--port',
        String(AGENT_PORT),
        '--work-dir',
        workDir,
        '--resources',
        resources,
        '--json',
        ...(this.opts.agentArgs ?? []),
      ],
      { name: `agent-${i}`, ready: (o) => o.event === 'registered', readyTimeoutMs: opts.timeoutMs ?? 30_000 },
    );
    const agentId: string = jsonLines(proc.stdout).find((o) => o.event === 'registered')?.agent_id ?? '';
    const entry: LabAgent = this.agents.get(i) ?? {
      host: i,
      workDir,
      url: this.lab.url(i, AGENT_PORT),
      localUrl: await this.lab.forward(h.address, AGENT_PORT),
      ports,
    };
    entry.proc = proc;
    entry.agentId = agentId;
    this.agents.set(i, entry);
    return { proc, agentId, spawnToRegisteredMs: Date.now() - t0 };
  }

  agent(i: number): LabAgent {
    const a = this.agents.get(i);
    if (!a) throw new Error(`no agent on h${i}`);
    return a;
  }

  /** Which lab host runs the agent with this id. */
  hostOfAgent(agentId: string): number | undefined {
    for (const a of this.agents.values()) if (a.agentId === agentId) return a.host;
    return undefined;
  }

  workDirs(): { host: number; workDir: string }[] {
    return [...this.agents.values()].map((a) => ({ host: a.host, workDir: a.workDir }));
  }

  masterState(timeoutMs = 3000): Promise<any> {
    return getJson(`${this.masterLocal}/master/state`, timeoutMs);
  }

  // ------------------------------------------------------------------ Marathon API

  async createApp(def: Record<string, unknown>): Promise<any> {
    const r = await sendJson('POST', `${this.orchestratorLocal}/v2/apps`, def);
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST /v2/apps: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  app(id: string): Promise<any> {
    return getJson(`${this.orchestratorLocal}/v2/apps${id}?embed=app.tasks&embed=app.deployments&embed=app.lastTaskFailure`, 3000).then((b) => b.app);
  }

  deployments(): Promise<any[]> {
    return getJson(`${this.orchestratorLocal}/v2/deployments`, 3000);
  }

  /**
   * Waits until the app has exactly `instances` tasks RUNNING and healthy, and no deployment. Tasks on
   * `notOn` agents must be gone (the orchestrator may still show a task of a dead agent RUNNING until its
   * own TASK_UNREACHABLE arrives).
   */
  async waitForHealthy(id: string, instances: number, timeoutMs: number, notOn: string[] = []): Promise<any> {
    return poll(
      async () => {
        const app = await this.app(id);
        const tasks: any[] = app.tasks ?? [];
        if (tasks.some((t) => notOn.includes(t.slaveId))) return undefined;
        const healthy = tasks.filter(
          (t) => t.state === 'TASK_RUNNING' && (t.healthCheckResults ?? []).length > 0 && t.healthCheckResults.every((h: any) => h.alive),
        );
        return tasks.length === instances && healthy.length === instances && (app.deployments ?? []).length === 0 ? app : undefined;
      },
      timeoutMs,
      `${id} to have exactly ${instances} healthy tasks`,
      100,
    );
  }

  describe(): string {
    return this.lab.describe();
  }
}

/**
 * An app whose tasks serve HTTP on PORT0 (exec'd: the task's process is the server) with an agent-run
 * MESOS_HTTP health check starting at once. `marker` lands in the command line to recognise its processes.
 */
export function webApp(id: string, instances: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const server = `require('http').createServer((q,s)=>s.end('ok')).listen(+process.env.PORT0)`;
  return {
    id,
    cmd: `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(server)}`,
    instances,
    cpus: 0.1,
    mem: 32,
    portDefinitions: [{ port: 0, name: 'http' }],
    healthChecks: [
      { protocol: 'MESOS_HTTP', path: '/', portIndex: 0, delaySeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 15, maxConsecutiveFailures: 3 },
    ],
    backoffSeconds: 1,
    ...extra,
  };
}

/**
 * An app whose tasks accept TCP on PORT0 (exec'd: the task's process is the server) with short agent-run
 * MESOS_TCP health checks, one instance per host (hostname UNIQUE).
 */
export function tcpApp(id: string, instances: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const server = `require('net').createServer((s)=>s.end()).listen(+process.env.PORT0)`;
  return {
    id,
    cmd: `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(server)}`,
    instances,
    cpus: 0.1,
    mem: 32,
    portDefinitions: [{ port: 0, name: 'tcp' }],
    healthChecks: [{ protocol: 'MESOS_TCP', portIndex: 0, delaySeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 15, maxConsecutiveFailures: 3 }],
    backoffSeconds: 1,
    constraints: [['hostname', 'UNIQUE']],
    ...extra,
  };
}
