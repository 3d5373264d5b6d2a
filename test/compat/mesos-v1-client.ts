// A minimal Apache Mesos v1 scheduler HTTP API client (JSON encoding).
//
// Written ONLY from the Mesos documentation (docs/scheduler-http-api.md,
// docs/reconciliation.md, include/mesos/v1/scheduler/scheduler.proto as
// summarised in shared/reference/mesos.md). It deliberately knows nothing
// about Corral's implementation: it is used to check Corral as a black box.
import http from 'node:http';

/** Mesos JSON is loosely typed here on purpose: the tests assert on shapes. */
export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export const SCHEDULER_PATH = '/api/v1/scheduler';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One plain HTTP exchange on its own connection (no keep-alive agent). */
export function httpRequest(opts: {
  port: number;
  host?: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host ?? '127.0.0.1',
        port: opts.port,
        method: opts.method,
        path: opts.path,
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () =>
      req.destroy(new Error(`${opts.method} ${opts.path}: no response within ${opts.timeoutMs ?? 10_000} ms`)),
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Incremental RecordIO decoder: each record is `<decimal byte length>\n<bytes>`.
 * Handles records split across chunks and several records in one chunk.
 */
export class RecordIODecoder {
  private buf: Buffer = Buffer.alloc(0);

  feed(chunk: Buffer | string): string[] {
    this.buf = Buffer.concat([this.buf, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk]);
    const out: string[] = [];
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.buf.length > 20) throw new Error(`RecordIO: no length header in ${JSON.stringify(this.buf.subarray(0, 40).toString())}`);
        break;
      }
      const header = this.buf.subarray(0, nl).toString('ascii');
      if (!/^[0-9]+$/.test(header)) throw new Error(`RecordIO: bad length header ${JSON.stringify(header)}`);
      const len = Number(header);
      if (len === 0) throw new Error('RecordIO: zero-length record');
      if (this.buf.length < nl + 1 + len) break; // wait for the rest of the record
      out.push(this.buf.subarray(nl + 1, nl + 1 + len).toString('utf8'));
      this.buf = this.buf.subarray(nl + 1 + len);
    }
    return out;
  }

  /** Bytes received but not yet forming a complete record. */
  get pending(): number {
    return this.buf.length;
  }
}

export function encodeRecordIO(json: string): string {
  return `${Buffer.byteLength(json, 'utf8')}\n${json}`;
}

export function scalar(resources: Json[] | undefined, name: string): number {
  return (resources ?? [])
    .filter((r) => r.name === name && r.type === 'SCALAR')
    .reduce((s, r) => s + Number(r.scalar?.value ?? 0), 0);
}

/** TaskInfo for a shell command task (uses the built-in command executor). */
export function shellTask(o: { id: string; agentId: string; cmd: string; cpus: number; mem: number }): Json {
  return {
    name: o.id,
    task_id: { value: o.id },
    agent_id: { value: o.agentId },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: o.cpus } },
      { name: 'mem', type: 'SCALAR', scalar: { value: o.mem } },
    ],
    command: { value: o.cmd, shell: true },
  };
}

interface Waiter {
  check: () => boolean;
  fail: (e: Error) => void;
}

export interface AckRecord {
  taskId: string;
  state: string;
  uuid: string;
  status: number;
  body: string;
}

export class MesosV1Scheduler {
  readonly events: Json[] = [];
  /** Protocol violations noticed while decoding the stream. */
  readonly protocolErrors: string[] = [];
  readonly acks: AckRecord[] = [];
  readonly errors: Json[] = [];
  readonly failures: Json[] = [];
  readonly rescinded = new Set<string>();
  heartbeats = 0;
  streamId: string | undefined;
  frameworkId: string | undefined;
  subscribeResponse: { status: number; headers: http.IncomingHttpHeaders } | undefined;
  closed = false;
  closeReason = '';

  private readonly decoder = new RecordIODecoder();
  private readonly waiters = new Set<Waiter>();
  private readonly pendingAcks = new Set<Promise<void>>();
  private req: http.ClientRequest | undefined;

  constructor(
    readonly port: number,
    readonly opts: { autoAck?: boolean; host?: string } = {},
  ) {}

  /** SUBSCRIBE; resolves with the SUBSCRIBED event, rejects on ERROR / non-200. */
  subscribe(frameworkInfo: Json, timeoutMs = 20_000): Promise<Json> {
    const body = JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo } });
    const first = this.waitForEvent((e) => e.type === 'SUBSCRIBED' || e.type === 'ERROR', {
      timeoutMs,
      what: 'first event (SUBSCRIBED) on the subscription stream',
    });
    first.catch(() => {}); // observed below
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.opts.host ?? '127.0.0.1',
          port: this.port,
          method: 'POST',
          path: SCHEDULER_PATH,
          agent: false,
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', Connection: 'keep-alive' },
        },
        (res) => {
          this.subscribeResponse = { status: res.statusCode ?? 0, headers: res.headers };
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              this.markClosed(`SUBSCRIBE answered ${res.statusCode}`);
              reject(new Error(`SUBSCRIBE answered ${res.statusCode}, expected 200: ${text}`));
            });
            return;
          }
          const sid = res.headers['mesos-stream-id'];
          this.streamId = Array.isArray(sid) ? sid[0] : sid;
          if (!this.streamId) this.protocolErrors.push('SUBSCRIBE response has no Mesos-Stream-Id header');
          res.on('data', (chunk: Buffer) => this.onChunk(chunk));
          res.on('end', () => this.markClosed('subscription stream ended by the master'));
          res.on('error', (e) => this.markClosed(`subscription stream error: ${e.message}`));
          res.on('close', () => this.markClosed('subscription connection closed'));
          first.then(
            ({ event }) => {
              if (event.type === 'ERROR') reject(new Error(`SUBSCRIBE got ERROR: ${event.error?.message}`));
              else resolve(event);
            },
            reject,
          );
        },
      );
      req.on('error', (e) => {
        this.markClosed(`subscription request error: ${e.message}`);
        reject(e);
      });
      this.req = req;
      req.end(body);
    });
  }

  private onChunk(chunk: Buffer): void {
    let records: string[];
    try {
      records = this.decoder.feed(chunk);
    } catch (e) {
      this.protocolErrors.push((e as Error).message);
      this.close();
      return;
    }
    for (const rec of records) {
      let ev: Json;
      try {
        ev = JSON.parse(rec);
      } catch {
        this.protocolErrors.push(`record is not JSON: ${rec.slice(0, 200)}`);
        continue;
      }
      this.onEvent(ev);
    }
  }

  private onEvent(ev: Json): void {
    this.events.push(ev);
    switch (ev.type) {
      case 'SUBSCRIBED':
        this.frameworkId = ev.subscribed?.framework_id?.value;
        break;
      case 'HEARTBEAT':
        this.heartbeats++;
        break;
      case 'OFFERS':
        break;
      case 'RESCIND':
        this.rescinded.add(ev.rescind?.offer_id?.value);
        break;
      case 'UPDATE': {
        const st = ev.update?.status;
        if (st?.uuid !== undefined && this.opts.autoAck !== false) this.ackUpdate(st);
        break;
      }
      case 'ERROR':
        this.errors.push(ev.error);
        break;
      case 'FAILURE':
        this.failures.push(ev.failure);
        break;
      default:
        if (!['INVERSE_OFFERS', 'RESCIND_INVERSE_OFFER', 'MESSAGE', 'UPDATE_OPERATION_STATUS'].includes(ev.type))
          this.protocolErrors.push(`unknown event type ${JSON.stringify(ev.type)}`);
    }
    this.notify();
  }

  private ackUpdate(st: Json): void {
    const taskId = st.task_id?.value;
    const agentId = st.agent_id?.value;
    if (!agentId) this.protocolErrors.push(`UPDATE for ${taskId} carries a uuid but no agent_id`);
    const p = this.acknowledge(agentId, taskId, st.uuid).then(
      (r) => {
        this.acks.push({ taskId, state: st.state, uuid: st.uuid, status: r.status, body: r.body });
      },
      (e: Error) => {
        this.acks.push({ taskId, state: st.state, uuid: st.uuid, status: -1, body: e.message });
      },
    );
    this.pendingAcks.add(p);
    void p.finally(() => {
      this.pendingAcks.delete(p);
      this.notify();
    });
  }

  /** Resolves once every ACKNOWLEDGE sent so far has been answered. */
  async settleAcks(): Promise<void> {
    while (this.pendingAcks.size > 0) await Promise.all([...this.pendingAcks]);
  }

  private markClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) {
      if (!this.waiters.has(w)) continue;
      try {
        if (w.check()) continue;
      } catch (e) {
        w.fail(e as Error);
        continue;
      }
      if (this.closed) w.fail(new Error(`stream closed (${this.closeReason})`));
    }
  }

  /**
   * Resolves when `cond()` returns true, re-checked after every event/ack; rejects after
   * timeoutMs, when cond throws, or when the stream closes first.
   */
  waitUntil(cond: () => boolean, o: { timeoutMs?: number; what: string | (() => string) }): Promise<void> {
    const what = () => (typeof o.what === 'function' ? o.what() : o.what);
    return new Promise((resolve, reject) => {
      const timeoutMs = o.timeoutMs ?? 20_000;
      const w: Waiter = {
        check: () => {
          if (!cond()) return false;
          finish();
          resolve();
          return true;
        },
        fail: (e) => {
          finish();
          reject(new Error(`waiting for ${what()}: ${e.message}`));
        },
      };
      const timer = setTimeout(() => w.fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(w);
      };
      this.waiters.add(w);
      queueMicrotask(() => this.notify());
    });
  }

  /** First event at index >= from matching pred. */
  async waitForEvent(
    pred: (e: Json) => boolean,
    o: { from?: number; timeoutMs?: number; what: string | (() => string) },
  ): Promise<{ event: Json; index: number }> {
    let found = -1;
    await this.waitUntil(() => {
      for (let i = o.from ?? 0; i < this.events.length; i++) {
        if (pred(this.events[i])) {
          found = i;
          return true;
        }
      }
      return false;
    }, o);
    return { event: this.events[found], index: found };
  }

  /** Any non-SUBSCRIBE call, on its own connection. streamId null = omit the header. */
  call(call: Json | string, o: { streamId?: string | null; method?: string } = {}): Promise<HttpResult> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
    const sid = o.streamId === undefined ? this.streamId : o.streamId;
    if (sid !== null && sid !== undefined) headers['Mesos-Stream-Id'] = sid;
    return httpRequest({
      host: this.opts.host,
      port: this.port,
      method: o.method ?? 'POST',
      path: SCHEDULER_PATH,
      headers,
      body: typeof call === 'string' ? call : JSON.stringify(call),
    });
  }

  private fw(type: string, payload?: Record<string, Json>): Json {
    return { framework_id: { value: this.frameworkId }, type, ...(payload ?? {}) };
  }

  decline(offerIds: string[], refuseSeconds?: number): Promise<HttpResult> {
    const decline: Json = { offer_ids: offerIds.map((value) => ({ value })) };
    if (refuseSeconds !== undefined) decline.filters = { refuse_seconds: refuseSeconds };
    return this.call(this.fw('DECLINE', { decline }));
  }

  accept(offerIds: string[], operations: Json[], refuseSeconds?: number): Promise<HttpResult> {
    const accept: Json = { offer_ids: offerIds.map((value) => ({ value })), operations };
    if (refuseSeconds !== undefined) accept.filters = { refuse_seconds: refuseSeconds };
    return this.call(this.fw('ACCEPT', { accept }));
  }

  launch(offerIds: string[], taskInfos: Json[], refuseSeconds?: number): Promise<HttpResult> {
    return this.accept(offerIds, [{ type: 'LAUNCH', launch: { task_infos: taskInfos } }], refuseSeconds);
  }

  /** uuid is the base64 string from TaskStatus.uuid, echoed unchanged. */
  acknowledge(agentId: string, taskId: string, uuid: string): Promise<HttpResult> {
    return this.call(
      this.fw('ACKNOWLEDGE', { acknowledge: { agent_id: { value: agentId }, task_id: { value: taskId }, uuid } }),
    );
  }

  /** Empty list = implicit reconciliation. */
  reconcile(tasks: { taskId: string; agentId?: string }[] = []): Promise<HttpResult> {
    return this.call(
      this.fw('RECONCILE', {
        reconcile: {
          tasks: tasks.map((t) => ({
            task_id: { value: t.taskId },
            ...(t.agentId ? { agent_id: { value: t.agentId } } : {}),
          })),
        },
      }),
    );
  }

  teardown(): Promise<HttpResult> {
    return this.call(this.fw('TEARDOWN'));
  }

  /** Drops the subscription connection and fails any waiter. */
  close(): void {
    this.req?.destroy();
    this.markClosed('closed by the client');
    for (const w of [...this.waiters]) w.fail(new Error('client closed'));
  }
}
