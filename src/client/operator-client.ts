// GET helpers for the master's and agents' legacy JSON operator endpoints
// (Mesos's /master/state, /master/tasks, /master/slaves, /master/frameworks,
// /metrics/snapshot, agent /state and /files/read). The types describe the
// legacy JSON conventions (plain-string ids, flat resource objects) loosely:
// every field a reader might miss is optional.
//
// Master requests go to the leader a MasterLocator names (any --master form);
// a follower's 307 is followed, and a leader that cannot be reached is looked
// up once more (a failover may be under way) before the error is reported.
import type http from 'node:http';
import { getJson, keepAliveAgent, normalizeBaseUrl } from './http.ts';
import { invalidateReasonOf, locatorFor, type MasterLocator } from './master-locator.ts';

/** Flat legacy resources: `{cpus, gpus, mem, disk, ports: "[31000-32000]"}`. */
export type LegacyResources = Record<string, number | string>;

export interface LegacyTaskStatus {
  state: string;
  timestamp?: number;
  message?: string;
  reason?: string;
  source?: string;
  labels?: unknown;
  container_status?: { executor_pid?: number; container_id?: { value: string }; [k: string]: unknown };
  healthy?: boolean;
}

export interface LegacyTask {
  id: string;
  name: string;
  framework_id: string;
  executor_id?: string;
  slave_id: string;
  state: string;
  resources?: LegacyResources;
  statuses?: LegacyTaskStatus[];
  user?: string;
  role?: string;
  labels?: unknown;
  [key: string]: unknown;
}

export interface LegacySlave {
  id: string;
  hostname: string;
  port?: number;
  pid?: string;
  attributes?: Record<string, string | number>;
  resources?: LegacyResources;
  used_resources?: LegacyResources;
  offered_resources?: LegacyResources;
  unreserved_resources?: LegacyResources;
  active?: boolean;
  deactivated?: boolean;
  registered_time?: number;
  reregistered_time?: number;
  version?: string;
  [key: string]: unknown;
}

export interface LegacyFramework {
  id: string;
  name: string;
  user?: string;
  pid?: string;
  hostname?: string;
  active?: boolean;
  connected?: boolean;
  recovered?: boolean;
  failover_timeout?: number;
  checkpoint?: boolean;
  capabilities?: string[];
  role?: string;
  roles?: string[];
  principal?: string;
  webui_url?: string;
  registered_time?: number;
  unregistered_time?: number;
  used_resources?: LegacyResources;
  offered_resources?: LegacyResources;
  tasks?: LegacyTask[];
  unreachable_tasks?: LegacyTask[];
  completed_tasks?: LegacyTask[];
  offers?: unknown[];
  executors?: unknown[];
  [key: string]: unknown;
}

export interface LegacyMasterState {
  version?: string;
  id?: string;
  pid?: string;
  hostname?: string;
  start_time?: number;
  elected_time?: number;
  leader?: string;
  leader_info?: { hostname?: string; port?: number; [k: string]: unknown };
  activated_slaves?: number;
  deactivated_slaves?: number;
  unreachable_slaves?: number;
  slaves?: LegacySlave[];
  recovered_slaves?: unknown[];
  frameworks?: LegacyFramework[];
  completed_frameworks?: LegacyFramework[];
  [key: string]: unknown;
}

export interface AgentExecutor {
  id: string;
  name?: string;
  source?: string;
  directory?: string;
  tasks?: LegacyTask[];
  queued_tasks?: LegacyTask[];
  completed_tasks?: LegacyTask[];
  [key: string]: unknown;
}

export interface AgentFramework {
  id: string;
  name?: string;
  executors?: AgentExecutor[];
  completed_executors?: AgentExecutor[];
  [key: string]: unknown;
}

export interface AgentState {
  id?: string;
  pid?: string;
  hostname?: string;
  frameworks?: AgentFramework[];
  completed_frameworks?: AgentFramework[];
  [key: string]: unknown;
}

export interface FileChunk {
  offset: number;
  data: string;
}

export type MetricsSnapshot = Record<string, number>;

export interface TasksQuery {
  limit?: number;
  offset?: number;
  order?: 'asc' | 'des';
  framework_id?: string;
  task_id?: string;
}

/** Agent base URL from its legacy object: the libprocess pid `slave(1)@host:port`, else hostname:port. */
export function agentUrlOf(slave: Pick<LegacySlave, 'pid' | 'hostname' | 'port'>): string {
  const m = /@([^@]+):(\d+)$/.exec(slave.pid ?? '');
  if (m) return `http://${m[1]!.includes(':') && !m[1]!.startsWith('[') ? `[${m[1]}]` : m[1]}:${m[2]}`;
  return `http://${slave.hostname}:${slave.port ?? 5051}`;
}

function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface OperatorClientOptions {
  /** Per-request deadline. Default 15 s. */
  timeoutMs?: number;
}

export class OperatorClient {
  private readonly agent: http.Agent = keepAliveAgent(8);
  private readonly locator: MasterLocator;
  private readonly ownsLocator: boolean;
  private resolved?: string;

  /** `master`: a --master string (URL, URL list, etcd://…) or a locator shared with other clients (not closed here). */
  constructor(master: string | MasterLocator, private readonly opts: OperatorClientOptions = {}) {
    const { locator, owned } = locatorFor(master);
    this.locator = locator;
    this.ownsLocator = owned;
  }

  /** The leading master last talked to, or the --master text before the first request. */
  get masterUrl(): string {
    return this.resolved ?? this.locator.description;
  }

  private get<T>(base: string, path: string, peer: string): Promise<T> {
    return getJson<T>(`${base}${path}`, { agent: this.agent, timeoutMs: this.opts.timeoutMs ?? 15_000, peer });
  }

  /** GET any master path (JSON), from the leading master. */
  async master<T>(path: string): Promise<T> {
    const base = await this.locator.current();
    this.resolved = base;
    try {
      return await this.get<T>(base, path, 'master');
    } catch (err) {
      const why = invalidateReasonOf(err);
      if (!why) throw err;
      this.locator.invalidate(base, why);
      const next = await this.locator.current().catch(() => undefined);
      if (next === undefined || next === base) throw err;
      this.resolved = next;
      return this.get<T>(next, path, 'master');
    }
  }

  state(): Promise<LegacyMasterState> {
    return this.master('/master/state');
  }

  tasks(query: TasksQuery = {}): Promise<{ tasks: LegacyTask[] }> {
    return this.master(`/master/tasks${qs({ ...query })}`);
  }

  slaves(): Promise<{ slaves: LegacySlave[]; recovered_slaves?: unknown[] }> {
    return this.master('/master/slaves');
  }

  frameworks(frameworkId?: string): Promise<{
    frameworks: LegacyFramework[];
    completed_frameworks?: LegacyFramework[];
    unregistered_frameworks?: unknown[];
  }> {
    return this.master(`/master/frameworks${qs({ framework_id: frameworkId })}`);
  }

  metrics(): Promise<MetricsSnapshot> {
    return this.master('/metrics/snapshot');
  }

  version(): Promise<Record<string, string>> {
    return this.master('/version');
  }

  /** GET any agent path (JSON). */
  agentGet<T>(agentUrl: string, path: string): Promise<T> {
    return this.get<T>(normalizeBaseUrl(agentUrl), path, 'agent');
  }

  agentState(agentUrl: string): Promise<AgentState> {
    return this.agentGet(agentUrl, '/state');
  }

  /**
   * Agent /files/read. `offset` -1 (default) returns `{offset: <size>, data: ''}`; the agent caps
   * `length` (Mesos: 16 pages).
   */
  readFile(agentUrl: string, path: string, offset = -1, length?: number): Promise<FileChunk> {
    return this.agentGet(agentUrl, `/files/read${qs({ path, offset, length })}`);
  }

  close(): void {
    this.agent.destroy();
    if (this.ownsLocator) void this.locator.close();
  }
}
