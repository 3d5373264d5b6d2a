// Test doubles for master tests, speaking the real wire protocols over real HTTP:
//  - FakeAgent: the agent side of the internal agent<->master protocol. It registers,
//    records every MasterToAgent message (RUN_TASK, KILL_TASK, ACKNOWLEDGE, …), answers
//    PINGs (unless told not to), and sends STATUS_UPDATEs with fresh 16-byte uuids.
//  - TestScheduler: a minimal Mesos v1 scheduler: SUBSCRIBE with a RecordIO stream
//    reader, and calls carrying the Mesos-Stream-Id header.
// Waiting is always on events with a deadline, never on sleeps.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { listen, Router, type ServerHandle } from '../../src/http/server.ts';
import { AGENT_MESSAGE_PATH, MASTER_MESSAGE_PATH, MasterToAgent, type AgentTask, type MasterReply } from '../../src/protocol/internal.ts';
import type { FrameworkInfo, Resource, TaskState } from '../../src/protocol/mesos.ts';
import { RecordIODecoder } from '../../src/protocol/recordio.ts';
import { parseOrThrow } from '../../src/protocol/validate.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { startMaster, type MasterHandle, type MasterOptions } from '../../src/master/index.ts';
import { createMemoryStore } from '../../src/store/memory.ts';
import type { Store } from '../../src/store/store.ts';

export const DEFAULT_WAIT_MS = 5000;

/** Resolves when `check` returns a value (re-checked whenever `subscribe`'s callback fires); rejects after `timeoutMs`. */
function waitUntil<T>(check: () => T | undefined, subscribe: (fn: () => void) => () => void, what: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const first = check();
    if (first !== undefined) return resolve(first);
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    unsubscribe = subscribe(() => {
      const v = check();
      if (v === undefined) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(v);
    });
  });
}

/** Finds the first item from index `from` on matching `pred`, looking at each item once across calls. */
function scanner<T, S extends T>(items: readonly T[], from: number, pred: ((x: T) => x is S) | ((x: T) => boolean)): () => S | undefined {
  let next = from;
  return () => {
    for (; next < items.length; next++) if (pred(items[next]!)) return items[next] as S;
    return undefined;
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

export const scalar = (name: string, value: number): Resource => ({ name, type: 'SCALAR', scalar: { value } });
export const newUuid = (): string => randomBytes(16).toString('base64');

export interface FakeAgentOptions {
  masterUrl: string;
  hostname?: string;
  cpus?: number;
  mem?: number;
  disk?: number;
  ports?: { begin: number; end: number };
  attributes?: { name: string; type: 'TEXT'; text: { value: string } }[];
}

interface KnownTask {
  frameworkId: string;
  taskId: string;
  name: string;
  resources: Resource[];
  state: TaskState;
  statuses: { task_id: { value: string }; state: TaskState; uuid?: string; agent_id?: { value: string }; source?: 'SOURCE_EXECUTOR'; timestamp?: number }[];
}

export class FakeAgent {
  readonly received: MasterToAgent[] = [];
  readonly tasks = new Map<string, KnownTask>();
  agentId?: string;
  masterId?: string;
  /** When false, PINGs are answered with HTTP 503 (the agent looks dead to the master). */
  respondToPings = true;
  /** When false, RUN_TASK is answered with HTTP 503 (delivery failure). */
  acceptTasks = true;
  private listeners = new Set<() => void>();
  private constructor(
    private readonly server: ServerHandle,
    readonly opts: FakeAgentOptions,
  ) {}

  static async start(opts: FakeAgentOptions): Promise<FakeAgent> {
    const router = new Router();
    let agent: FakeAgent | undefined;
    router.on('POST', MASTER_MESSAGE_PATH, async (rc) => agent!.onMessage(await rc.json()));
    const server = await listen(router, { port: 0, log: silentLogger });
    agent = new FakeAgent(server, opts);
    return agent;
  }

  get url(): string {
    return this.server.url;
  }

  get resources(): Resource[] {
    const o = this.opts;
    const out = [scalar('cpus', o.cpus ?? 4), scalar('mem', o.mem ?? 4096), scalar('disk', o.disk ?? 10000)];
    if (o.ports) out.push({ name: 'ports', type: 'RANGES', ranges: { range: [o.ports] } });
    return out;
  }

  private agentInfo() {
    return {
      hostname: this.opts.hostname ?? 'fake-agent.local',
      port: this.server.port,
      resources: this.resources,
      attributes: this.opts.attributes ?? [],
    };
  }

  private onMessage(body: unknown) {
    const msg = parseOrThrow(MasterToAgent, body, 'message');
    this.received.push(msg);
    for (const fn of [...this.listeners]) fn();
    if (msg.type === 'PING') {
      if (!this.respondToPings) return { status: 503, body: 'not answering pings' };
      return { status: 200, body: { type: 'PONG', agent_id: msg.agent_id } };
    }
    if (msg.type === 'RUN_TASK') {
      if (!this.acceptTasks) return { status: 503, body: 'not accepting tasks' };
      this.tasks.set(`${msg.framework_info.id.value}/${msg.task.task_id.value}`, {
        frameworkId: msg.framework_info.id.value,
        taskId: msg.task.task_id.value,
        name: msg.task.name,
        resources: msg.task.resources,
        state: 'TASK_STAGING',
        statuses: [],
      });
    }
    return { status: 200, body: { type: 'ACCEPTED' } };
  }

  /** Waits for a message from the master matching `pred` (looking at messages from index `from` on). */
  waitFor<T extends MasterToAgent['type']>(
    type: T,
    pred: (m: Extract<MasterToAgent, { type: T }>) => boolean = () => true,
    opts: { from?: number; timeoutMs?: number } = {},
  ): Promise<Extract<MasterToAgent, { type: T }>> {
    const scan = scanner(this.received, opts.from ?? 0, (m): m is Extract<MasterToAgent, { type: T }> => m.type === type && pred(m as Extract<MasterToAgent, { type: T }>));
    return waitUntil(
      scan,
      (fn) => {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
      },
      `${type} at agent ${this.agentId}`,
      opts.timeoutMs ?? DEFAULT_WAIT_MS,
    );
  }

  mark(): number {
    return this.received.length;
  }

  post(msg: unknown): Promise<{ status: number; body: any; text: string }> {
    return postJson(this.opts.masterUrl + AGENT_MESSAGE_PATH, msg);
  }

  async register(): Promise<string> {
    const res = await this.post({ type: 'REGISTER_AGENT', agent_info: this.agentInfo(), endpoint: this.url, version: '1.11.0' });
    if (res.status !== 200 || res.body?.type !== 'REGISTERED') throw new Error(`registration failed: ${res.status} ${res.text}`);
    this.agentId = res.body.agent_id.value;
    this.masterId = res.body.master_id;
    return this.agentId!;
  }

  /** REREGISTER_AGENT with the tasks this fake knows (or `tasks`). */
  async reregister(opts: { tasks?: AgentTask[]; frameworks?: FrameworkInfo[]; masterUrl?: string } = {}): Promise<MasterReply> {
    const tasks =
      opts.tasks ??
      [...this.tasks.values()].map((t) => ({
        name: t.name,
        task_id: { value: t.taskId },
        framework_id: { value: t.frameworkId },
        agent_id: { value: this.agentId! },
        state: t.state,
        resources: t.resources,
        statuses: t.statuses,
      }));
    const res = await postJson((opts.masterUrl ?? this.opts.masterUrl) + AGENT_MESSAGE_PATH, {
      type: 'REREGISTER_AGENT',
      agent_info: { ...this.agentInfo(), id: { value: this.agentId } },
      endpoint: this.url,
      version: '1.11.0',
      tasks,
      frameworks: opts.frameworks ?? [],
    });
    if (res.status !== 200) throw new Error(`re-registration failed: ${res.status} ${res.text}`);
    if (res.body?.type === 'REREGISTERED') this.masterId = res.body.master_id;
    return res.body as MasterReply;
  }

  /** Sends a STATUS_UPDATE (with a fresh uuid unless given) and returns the uuid and the master's reply. */
  async sendStatus(
    frameworkId: string,
    taskId: string,
    state: TaskState,
    opts: { uuid?: string; latestState?: TaskState; message?: string } = {},
  ): Promise<{ uuid: string; reply: any; status: number }> {
    const uuid = opts.uuid ?? newUuid();
    const status = {
      task_id: { value: taskId },
      state,
      source: 'SOURCE_EXECUTOR' as const,
      agent_id: { value: this.agentId! },
      timestamp: Date.now() / 1000,
      uuid,
      ...(opts.message ? { message: opts.message } : {}),
    };
    const known = this.tasks.get(`${frameworkId}/${taskId}`);
    if (known) {
      known.state = opts.latestState ?? state;
      known.statuses.push(status);
    }
    const res = await this.post({
      type: 'STATUS_UPDATE',
      agent_id: { value: this.agentId },
      update: { framework_id: { value: frameworkId }, status, ...(opts.latestState ? { latest_state: opts.latestState } : {}) },
    });
    return { uuid, reply: res.body, status: res.status };
  }

  async close(): Promise<void> {
    await this.server.close();
  }
}

export interface SchedulerEvent {
  type: string;
  [k: string]: any;
}

/** A minimal v1 scheduler over real HTTP, with a RecordIO reader for its event stream. */
export class TestScheduler {
  readonly events: SchedulerEvent[] = [];
  frameworkId?: string;
  streamId?: string;
  statusCode = 0;
  ended = false;
  private listeners = new Set<() => void>();
  private req?: http.ClientRequest;
  private res?: http.IncomingMessage;

  constructor(readonly masterUrl: string) {}

  private notify() {
    for (const fn of [...this.listeners]) fn();
  }

  /** Opens the subscription; resolves once the first event (SUBSCRIBED or ERROR) arrived, or with the non-200 reply. */
  subscribe(frameworkInfo: FrameworkInfo, opts: { suppressedRoles?: string[]; headers?: Record<string, string>; path?: string } = {}): Promise<SchedulerEvent | { status: number; body: string }> {
    const call: Record<string, unknown> = {
      type: 'SUBSCRIBE',
      subscribe: { framework_info: frameworkInfo, ...(opts.suppressedRoles ? { suppressed_roles: opts.suppressedRoles } : {}) },
    };
    if (frameworkInfo.id) call.framework_id = frameworkInfo.id;
    const body = JSON.stringify(call);
    const url = new URL(opts.path ?? '/api/v1/scheduler', this.masterUrl);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        { method: 'POST', agent: false, headers: { 'content-type': 'application/json', accept: 'application/json', ...opts.headers } },
        (res) => {
          this.res = res;
          this.statusCode = res.statusCode ?? 0;
          if (res.statusCode !== 200) {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            return;
          }
          this.streamId = res.headers['mesos-stream-id'] as string | undefined;
          const decoder = new RecordIODecoder();
          let settled = false;
          res.on('data', (chunk: Buffer) => {
            for (const ev of decoder.push(chunk) as SchedulerEvent[]) {
              this.events.push(ev);
              if (ev.type === 'SUBSCRIBED') this.frameworkId = ev.subscribed.framework_id.value;
              if (!settled) {
                settled = true;
                resolve(ev);
              }
            }
            this.notify();
          });
          const end = () => {
            this.ended = true;
            this.notify();
            if (!settled) {
              settled = true;
              reject(new Error('stream ended before the first event'));
            }
          };
          res.on('end', end);
          res.on('close', end);
          res.on('error', end);
        },
      );
      this.req = req;
      req.on('error', (e) => {
        this.ended = true;
        this.notify();
        reject(e);
      });
      req.end(body);
    });
  }

  mark(): number {
    return this.events.length;
  }

  waitFor(pred: (e: SchedulerEvent) => boolean, opts: { from?: number; timeoutMs?: number; what?: string } = {}): Promise<SchedulerEvent> {
    return waitUntil(
      scanner(this.events, opts.from ?? 0, pred),
      (fn) => {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
      },
      opts.what ?? 'a scheduler event',
      opts.timeoutMs ?? DEFAULT_WAIT_MS,
    );
  }

  waitForType(type: string, opts: { from?: number; timeoutMs?: number } = {}): Promise<SchedulerEvent> {
    return this.waitFor((e) => e.type === type, { ...opts, what: `${type} event` });
  }

  /** Waits for an UPDATE of `taskId` (optionally in `state`). */
  waitForUpdate(taskId: string, state?: string, opts: { from?: number; timeoutMs?: number } = {}): Promise<any> {
    return this.waitFor((e) => e.type === 'UPDATE' && e.update.status.task_id.value === taskId && (!state || e.update.status.state === state), {
      ...opts,
      what: `UPDATE ${taskId} ${state ?? ''}`,
    }).then((e) => e.update.status);
  }

  /** Collects offers until they cover `count` offers, returning them all. */
  async waitForOffers(opts: { from?: number; timeoutMs?: number } = {}): Promise<any[]> {
    const e = await this.waitForType('OFFERS', opts);
    return e.offers.offers;
  }

  waitForEnd(timeoutMs = DEFAULT_WAIT_MS): Promise<true> {
    return waitUntil(
      () => (this.ended ? true : undefined),
      (fn) => {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
      },
      'the stream to end',
      timeoutMs,
    );
  }

  /** POSTs a call (framework_id filled in) with the stream id header unless overridden. */
  call(call: Record<string, unknown>, opts: { headers?: Record<string, string>; streamId?: string | null } = {}) {
    const headers: Record<string, string> = { ...opts.headers };
    const sid = opts.streamId === undefined ? this.streamId : opts.streamId;
    if (sid !== null && sid !== undefined) headers['mesos-stream-id'] = sid;
    const body = { framework_id: { value: this.frameworkId }, ...call };
    return postJson(new URL('/api/v1/scheduler', this.masterUrl).toString(), body, headers);
  }

  accept(offerIds: string[], tasks: unknown[], refuseSeconds?: number) {
    return this.call({
      type: 'ACCEPT',
      accept: {
        offer_ids: offerIds.map((value) => ({ value })),
        operations: tasks.length ? [{ type: 'LAUNCH', launch: { task_infos: tasks } }] : [],
        ...(refuseSeconds !== undefined ? { filters: { refuse_seconds: refuseSeconds } } : {}),
      },
    });
  }

  /** Breaks the stream from the client side. */
  disconnect(): void {
    this.req?.destroy();
    this.res?.destroy();
  }
}

/** A TaskInfo for a shell command using `resources` from `offer`'s agent. */
export function taskInfo(id: string, agentId: string, resources: Resource[] = [scalar('cpus', 0.1), scalar('mem', 32)], extra: Record<string, unknown> = {}) {
  return { name: `task ${id}`, task_id: { value: id }, agent_id: { value: agentId }, resources, command: { value: 'sleep 1000' }, ...extra };
}

// ---- harness -------------------------------------------------------------


export interface TestCluster {
  store: Store;
  master: MasterHandle;
  agents: FakeAgent[];
  schedulers: TestScheduler[];
  addAgent(opts?: Partial<FakeAgentOptions>): Promise<FakeAgent>;
  scheduler(info?: Partial<FrameworkInfo>, opts?: { suppressedRoles?: string[] }): Promise<TestScheduler>;
  get(path: string): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  metrics(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Fast timers for tests: allocation 50 ms, ping 200 ms × 3. */
export const FAST: Partial<MasterOptions> = {
  allocationIntervalMs: 50,
  agentPingTimeoutMs: 200,
  maxAgentPingTimeouts: 3,
  heartbeatIntervalSeconds: 1,
  agentReregisterTimeoutMs: 2000,
};

export async function startCluster(opts: Partial<MasterOptions> = {}): Promise<TestCluster> {
  const store = opts.store ?? createMemoryStore({ logger: silentLogger });
  const master = await startMaster({ ...FAST, log: silentLogger, ...opts, store, port: 0 });
  const agents: FakeAgent[] = [];
  const schedulers: TestScheduler[] = [];
  const get = async (path: string) => {
    const res = await fetch(master.url + path);
    const text = await res.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body, text, headers: res.headers };
  };
  return {
    store,
    master,
    agents,
    schedulers,
    async addAgent(o = {}) {
      const a = await FakeAgent.start({ masterUrl: master.url, ...o });
      agents.push(a);
      await a.register();
      return a;
    },
    async scheduler(info = {}, o = {}) {
      const s = new TestScheduler(master.url);
      schedulers.push(s);
      const first = await s.subscribe({ user: 'tester', name: 'test-framework', ...info }, o);
      if ((first as SchedulerEvent).type !== 'SUBSCRIBED') throw new Error(`subscribe failed: ${JSON.stringify(first)}`);
      return s;
    },
    get,
    async metrics() {
      return (await get('/metrics/snapshot')).body;
    },
    async close() {
      for (const s of schedulers) s.disconnect();
      await master.close();
      for (const a of agents) await a.close();
    },
  };
}

/** Polls an async condition (e.g. a metrics value) until it holds; for state that emits no event. */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
