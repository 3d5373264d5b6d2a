// A reusable Mesos v1 HTTP scheduler client (POST /api/v1/scheduler).
//
// SUBSCRIBE opens one long-lived chunked response whose body is a RecordIO
// stream of Events; every other call goes over separate keep-alive
// connections carrying the Mesos-Stream-Id header from the subscription.
// 307 redirects (Location may be protocol-relative, `//host:port/path`) are
// followed, and the client then talks to the redirected master.
//
// Which master to subscribe to comes from a MasterLocator (master-locator.ts):
// every subscribe() asks it for the current leader, so a re-subscription after
// a failover goes to the new leader, with the same framework id. A locator that
// learns of a new leader by itself (etcd) also ends a stream still open to the
// old one (a paused or partitioned leader would otherwise hold it until the
// heartbeats run out).
//
// Events are delivered to `onEvent`, to `on('event')`, and per type
// ('subscribed', 'offers', 'update', …). A Mesos ERROR event is emitted as
// 'master-error' (never Node's special 'error'). 'disconnected' fires once when
// an established stream ends, breaks, or misses heartbeats; `close()` does not
// fire it. After a disconnect `subscribe()` may be called again: it
// re-subscribes with the same framework id.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { CorralError, UnavailableError } from '../protocol/errors.ts';
import type { FrameworkInfo, ID, KillPolicy, MasterInfo, Offer, TaskInfo, TaskStatus } from '../protocol/mesos.ts';
import { RecordIODecoder } from '../protocol/recordio.ts';
import type { Call, Event, OfferOperation } from '../protocol/scheduler.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { MAX_REDIRECTS, baseOf, httpError, keepAliveAgent, request, resolveLocation, unreachable } from './http.ts';
import { invalidateReasonOf, locatorFor, type LeaderInfo, type MasterLocator } from './master-locator.ts';

export const SCHEDULER_PATH = '/api/v1/scheduler';

/** Any event the master may send, including types Corral's typed union does not list (INVERSE_OFFERS, …). */
export type SchedulerEvent = Event | { type: string; [key: string]: unknown };

export interface Subscribed {
  frameworkId: string;
  streamId: string;
  heartbeatIntervalSeconds: number;
  masterInfo?: MasterInfo;
  /** Base URL of the master that accepted the subscription (after redirects). */
  masterUrl: string;
}

export interface DisconnectInfo {
  reason: string;
  error?: Error;
}

export interface SchedulerEvents {
  event: (ev: SchedulerEvent) => void;
  subscribed: (info: Subscribed) => void;
  offers: (offers: Offer[]) => void;
  rescind: (offerId: string) => void;
  update: (status: TaskStatus) => void;
  message: (msg: { agent_id: ID; executor_id: ID; data: string }) => void;
  failure: (failure: { agent_id?: ID; executor_id?: ID; status?: number }) => void;
  /** A Mesos ERROR event (e.g. the framework was removed or failed over elsewhere). */
  'master-error': (message: string) => void;
  heartbeat: () => void;
  disconnected: (info: DisconnectInfo) => void;
}

export interface SchedulerClientOptions {
  /** A --master string: a URL, a comma-separated list of URLs, or etcd://host:port[,…]. */
  masterUrl?: string;
  /** Finds the leading master (shared with other clients; not closed by close()). Wins over masterUrl. */
  locator?: MasterLocator;
  onEvent?: (ev: SchedulerEvent) => void;
  log?: Logger;
  /** Deadline for the SUBSCRIBED event after the request is sent. Default 30 s. */
  subscribeTimeoutMs?: number;
  /** Deadline for each non-SUBSCRIBE call. Default 30 s. */
  callTimeoutMs?: number;
  /** Consecutive missed heartbeats before the stream is considered dead. Default 5 (Mesos's advice). */
  maxMissedHeartbeats?: number;
}

export interface SubscribeOptions {
  suppressedRoles?: string[];
  offerConstraints?: Record<string, unknown>;
}

/** A call without framework_id (the client fills it in). */
export type CallInput = Omit<Call, 'framework_id'> & { framework_id?: ID };

export type IdLike = string | ID;
const toId = (x: IdLike): ID => (typeof x === 'string' ? { value: x } : x);

export class SchedulerClient {
  private readonly emitter = new EventEmitter();
  private readonly log: Logger;
  private readonly streamAgent = keepAliveAgent(2);
  private readonly callAgent = keepAliveAgent(16);
  private readonly locator: MasterLocator;
  private readonly ownsLocator: boolean;
  private readonly unwatchLeader: () => void;
  /** The master this client talks to (after redirects); undefined until first resolved. */
  private base?: string;
  /** What the locator answered for the current subscription. */
  private resolvedFrom?: string;
  private subscribing = false;
  private req?: http.ClientRequest;
  private res?: http.IncomingMessage;
  private watchdog?: NodeJS.Timeout;
  private connected = false;
  private closed = false;
  private _frameworkId?: string;
  private _streamId?: string;
  private _heartbeatSeconds = 15;
  private queue: (() => void)[] = [];
  private draining = false;

  constructor(private readonly opts: SchedulerClientOptions) {
    this.log = opts.log ?? silentLogger;
    if (!opts.locator && opts.masterUrl === undefined) throw new CorralError('BAD_REQUEST', 'SchedulerClient needs masterUrl or locator');
    const { locator, owned } = locatorFor(opts.locator ?? opts.masterUrl!, { log: this.log.child('locator') });
    this.locator = locator;
    this.ownsLocator = owned;
    this.unwatchLeader = locator.onChange((l) => this.leaderChanged(l));
    this.emitter.setMaxListeners(0);
  }

  /** The master this client talks to, or the --master text before the first subscription. */
  get masterUrl(): string {
    return this.base ?? this.locator.description;
  }
  get frameworkId(): string | undefined {
    return this._frameworkId;
  }
  get streamId(): string | undefined {
    return this._streamId;
  }
  get isConnected(): boolean {
    return this.connected;
  }
  get heartbeatIntervalSeconds(): number {
    return this._heartbeatSeconds;
  }

  on<K extends keyof SchedulerEvents>(name: K, fn: SchedulerEvents[K]): this {
    this.emitter.on(name, fn as (...a: unknown[]) => void);
    return this;
  }
  once<K extends keyof SchedulerEvents>(name: K, fn: SchedulerEvents[K]): this {
    this.emitter.once(name, fn as (...a: unknown[]) => void);
    return this;
  }
  off<K extends keyof SchedulerEvents>(name: K, fn: SchedulerEvents[K]): this {
    this.emitter.off(name, fn as (...a: unknown[]) => void);
    return this;
  }

  /**
   * Opens the event stream and resolves on SUBSCRIBED. Rejects with a CorralError carrying the
   * status and body text on a non-2xx reply, on an ERROR event, or on timeout; with
   * UnavailableError when the master cannot be reached.
   */
  subscribe(frameworkInfo: FrameworkInfo, sub: SubscribeOptions = {}): Promise<Subscribed> {
    if (this.closed) return Promise.reject(new UnavailableError('scheduler client is closed'));
    if (this.req || this.subscribing) return Promise.reject(new CorralError('CONFLICT', 'already subscribed; close() or wait for disconnected first'));
    const fi: FrameworkInfo = { ...frameworkInfo };
    if (!fi.id && this._frameworkId) fi.id = { value: this._frameworkId };
    const call: Record<string, unknown> = {
      type: 'SUBSCRIBE',
      subscribe: {
        framework_info: fi,
        ...(sub.suppressedRoles ? { suppressed_roles: sub.suppressedRoles } : {}),
        ...(sub.offerConstraints ? { offer_constraints: sub.offerConstraints } : {}),
      },
    };
    if (fi.id) call.framework_id = fi.id;
    const body = Buffer.from(JSON.stringify(call));
    this.subscribing = true;
    return this.subscribeToLeader(body).finally(() => (this.subscribing = false));
  }

  /** Asks the locator for the leader now (a failover may have moved it), then opens the stream there. */
  private async subscribeToLeader(body: Buffer): Promise<Subscribed> {
    const leader = await this.locator.current();
    if (this.closed) throw new UnavailableError('scheduler client is closed');
    this.base = leader;
    this.resolvedFrom = leader;
    try {
      return await this.openStream(`${leader}${SCHEDULER_PATH}`, body, 0);
    } catch (err) {
      // Unreachable, or answering 503: the next attempt must look again (the locator decides how).
      const why = invalidateReasonOf(err);
      if (why) this.locator.invalidate(leader, why);
      throw err;
    }
  }

  /** A locator that learns of a new leader by itself: leave a stream still open to the old one. */
  private leaderChanged(l: LeaderInfo | undefined): void {
    if (!l || !this.connected || !this.resolvedFrom) return;
    if (sameBase(l.url, this.resolvedFrom) || (this.base && sameBase(l.url, this.base))) return;
    this.lost(`the leading master is now ${l.url}`);
  }

  private openStream(url: string, body: Buffer, hop: number): Promise<Subscribed> {
    return new Promise<Subscribed>((resolve, reject) => {
      let settled = false;
      const timeoutMs = this.opts.subscribeTimeoutMs ?? 30_000;
      const settle = (err?: Error, value?: Subscribed) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          this.teardownStream();
          reject(err);
        } else resolve(value!);
      };
      const timer = setTimeout(
        () => settle(new UnavailableError(`no SUBSCRIBED event from ${baseOf(url)} within ${timeoutMs} ms`, { url })),
        timeoutMs,
      );
      timer.unref?.();

      const req = http.request(url, {
        method: 'POST',
        agent: this.streamAgent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': String(body.length),
        },
      });
      this.req = req;
      req.on('error', (err) => {
        if (!settled) settle(unreachable(url, err, 'master'));
        else if (this.req === req) this.lost('stream error', err);
      });
      req.on('response', (res) => {
        this.res = res;
        const status = res.statusCode ?? 0;
        if (status === 307 || status === 308) {
          res.resume();
          const location = res.headers.location;
          if (!location) return settle(httpError(status, 'redirect without Location', 'SUBSCRIBE'));
          if (hop >= MAX_REDIRECTS) return settle(new UnavailableError(`too many redirects subscribing at ${this.masterUrl}`));
          const next = resolveLocation(location, url);
          this.log.info('following redirect', { from: url, to: next });
          this.base = baseOf(next);
          this.req = undefined;
          this.res = undefined;
          clearTimeout(timer);
          settled = true;
          this.openStream(next, body, hop + 1).then(resolve, reject);
          return;
        }
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => settle(httpError(status, Buffer.concat(chunks), 'SUBSCRIBE')));
          res.on('error', (err) => settle(unreachable(url, err, 'master')));
          return;
        }
        const streamId = String(res.headers['mesos-stream-id'] ?? '');
        const decoder = new RecordIODecoder();
        res.on('data', (chunk: Buffer) => {
          this.kickWatchdog();
          let events: unknown[];
          try {
            events = decoder.push(chunk);
          } catch (err) {
            if (!settled) settle(new CorralError('INTERNAL', `malformed event stream: ${(err as Error).message}`));
            else if (this.req === req) this.lost('malformed event stream', err as Error);
            return;
          }
          for (const raw of events) {
            const ev = raw as SchedulerEvent;
            if (!settled) {
              if (ev.type === 'SUBSCRIBED') {
                const s = (ev as Extract<Event, { type: 'SUBSCRIBED' }>).subscribed;
                this._frameworkId = s.framework_id.value;
                this._streamId = streamId;
                this._heartbeatSeconds = s.heartbeat_interval_seconds ?? 15;
                this.connected = true;
                this.kickWatchdog();
                const info: Subscribed = {
                  frameworkId: s.framework_id.value,
                  streamId,
                  heartbeatIntervalSeconds: this._heartbeatSeconds,
                  masterInfo: s.master_info,
                  masterUrl: this.masterUrl,
                };
                settle(undefined, info);
              } else if (ev.type === 'ERROR') {
                const msg = (ev as Extract<Event, { type: 'ERROR' }>).error?.message ?? 'unknown error';
                settle(new CorralError('FORBIDDEN', `subscription refused by the master: ${msg}`, { message: msg }));
                return;
              }
            }
            this.enqueue(() => this.dispatch(ev));
          }
        });
        const ended = (err?: Error) => {
          if (!settled) settle(err ? unreachable(url, err, 'master') : new UnavailableError(`master ${this.base} closed the stream before SUBSCRIBED`));
          else if (this.req === req) this.lost(err ? 'stream error' : 'stream ended', err);
        };
        res.on('end', () => ended());
        res.on('error', (err) => ended(err));
        res.on('close', () => ended());
      });
      req.end(body);
    });
  }

  private kickWatchdog(): void {
    if (!this.connected) return;
    clearTimeout(this.watchdog);
    const misses = this.opts.maxMissedHeartbeats ?? 5;
    const ms = Math.max(100, this._heartbeatSeconds * 1000 * misses);
    this.watchdog = setTimeout(() => {
      this.lost(`no event or heartbeat for ${Math.round(ms / 1000)} s`);
    }, ms);
    this.watchdog.unref?.();
  }

  private dispatch(ev: SchedulerEvent): void {
    if (this.closed) return;
    const safe = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        this.log.error('event handler threw', { type: ev.type, error: (err as Error).message });
      }
    };
    if (this.opts.onEvent) safe(() => this.opts.onEvent!(ev));
    safe(() => this.emitter.emit('event', ev));
    const e = ev as Event;
    switch (e.type) {
      case 'SUBSCRIBED':
        safe(() =>
          this.emitter.emit('subscribed', {
            frameworkId: e.subscribed.framework_id.value,
            streamId: this._streamId ?? '',
            heartbeatIntervalSeconds: this._heartbeatSeconds,
            masterInfo: e.subscribed.master_info,
            masterUrl: this.masterUrl,
          } satisfies Subscribed),
        );
        break;
      case 'OFFERS':
        safe(() => this.emitter.emit('offers', e.offers?.offers ?? []));
        break;
      case 'RESCIND':
        safe(() => this.emitter.emit('rescind', e.rescind.offer_id.value));
        break;
      case 'UPDATE':
        safe(() => this.emitter.emit('update', e.update.status));
        break;
      case 'MESSAGE':
        safe(() => this.emitter.emit('message', e.message));
        break;
      case 'FAILURE':
        safe(() => this.emitter.emit('failure', e.failure));
        break;
      case 'ERROR':
        safe(() => this.emitter.emit('master-error', e.error?.message ?? ''));
        break;
      case 'HEARTBEAT':
        safe(() => this.emitter.emit('heartbeat'));
        break;
      default:
        break;
    }
  }

  /** The established stream is gone: emit 'disconnected' once. */
  private lost(reason: string, error?: Error): void {
    const wasConnected = this.connected;
    this.teardownStream();
    if (!wasConnected || this.closed) return;
    this.log.warn('disconnected from master', { master: this.base, reason, error: error?.message });
    this.enqueue(() => this.emitter.emit('disconnected', { reason, error } satisfies DisconnectInfo));
  }

  /**
   * Events are delivered in order from a queue drained on the next macrotask, so that a caller
   * that attaches listeners right after `await subscribe()` sees events that arrived in the same
   * chunk as SUBSCRIBED.
   */
  private enqueue(fn: () => void): void {
    this.queue.push(fn);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => {
      this.draining = false;
      const batch = this.queue;
      this.queue = [];
      for (const f of batch) f();
    });
  }

  private teardownStream(): void {
    this.connected = false;
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    const req = this.req;
    const res = this.res;
    this.req = undefined;
    this.res = undefined;
    res?.destroy();
    req?.destroy();
  }

  /**
   * POSTs a non-SUBSCRIBE call with the Mesos-Stream-Id header. Resolves with the parsed body
   * (undefined for 202 with no body); throws a CorralError with the status and body text on non-2xx.
   */
  async call(call: CallInput): Promise<unknown> {
    if (this.closed) throw new UnavailableError('scheduler client is closed');
    const body: Record<string, unknown> = { ...call };
    if (!body.framework_id && this._frameworkId) body.framework_id = { value: this._frameworkId };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this._streamId) headers['mesos-stream-id'] = this._streamId;
    const base = this.base ?? (await this.locator.current());
    const res = await request(`${base}${SCHEDULER_PATH}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      agent: this.callAgent,
      peer: 'master',
      timeoutMs: this.opts.callTimeoutMs ?? 30_000,
    });
    if (res.status < 200 || res.status >= 300) throw httpError(res.status, res.body, call.type);
    if (res.body.length === 0) return undefined;
    const text = res.body.toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  accept(offerIds: IdLike[], operations: OfferOperation[], filters?: { refuse_seconds?: number }): Promise<unknown> {
    return this.call({ type: 'ACCEPT', accept: { offer_ids: offerIds.map(toId), operations, ...(filters ? { filters } : {}) } });
  }

  /** ACCEPT with one LAUNCH operation. */
  launch(offerIds: IdLike[], taskInfos: TaskInfo[], filters?: { refuse_seconds?: number }): Promise<unknown> {
    return this.accept(offerIds, [{ type: 'LAUNCH', launch: { task_infos: taskInfos } }], filters);
  }

  decline(offerIds: IdLike[], filters?: { refuse_seconds?: number }): Promise<unknown> {
    return this.call({ type: 'DECLINE', decline: { offer_ids: offerIds.map(toId), ...(filters ? { filters } : {}) } });
  }

  /** Acknowledges a status update; a no-op (resolves false) for updates without a uuid. */
  async acknowledge(status: Pick<TaskStatus, 'task_id' | 'agent_id' | 'uuid'>): Promise<boolean> {
    if (!status.uuid || !status.agent_id) return false;
    await this.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } });
    return true;
  }

  kill(taskId: IdLike, agentId?: IdLike, killPolicy?: KillPolicy): Promise<unknown> {
    return this.call({
      type: 'KILL',
      kill: { task_id: toId(taskId), ...(agentId ? { agent_id: toId(agentId) } : {}), ...(killPolicy ? { kill_policy: killPolicy } : {}) },
    });
  }

  /** Explicit reconciliation for the given tasks; implicit (all tasks) when the list is empty. */
  reconcile(tasks: { taskId: IdLike; agentId?: IdLike }[] = []): Promise<unknown> {
    return this.call({
      type: 'RECONCILE',
      reconcile: { tasks: tasks.map((t) => ({ task_id: toId(t.taskId), ...(t.agentId ? { agent_id: toId(t.agentId) } : {}) })) },
    });
  }

  revive(roles?: string[]): Promise<unknown> {
    return this.call({ type: 'REVIVE', revive: roles ? { roles } : {} });
  }

  suppress(roles?: string[]): Promise<unknown> {
    return this.call({ type: 'SUPPRESS', suppress: roles ? { roles } : {} });
  }

  /** Removes the framework: the master kills all its tasks. The stream is closed by the master. */
  teardown(): Promise<unknown> {
    return this.call({ type: 'TEARDOWN' });
  }

  /**
   * Resolves with the first value `pick` returns for an incoming event; rejects on timeout,
   * on disconnection, or on a Mesos ERROR event.
   */
  waitFor<T>(pick: (ev: SchedulerEvent) => T | undefined, timeoutMs: number, what = 'event'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('disconnected', onLost);
        this.off('master-error', onError);
      };
      const onEvent = (ev: SchedulerEvent) => {
        let v: T | undefined;
        try {
          v = pick(ev);
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (v !== undefined) {
          cleanup();
          resolve(v);
        }
      };
      const onLost = (info: DisconnectInfo) => {
        cleanup();
        reject(new UnavailableError(`disconnected from master ${this.base} while waiting for ${what}: ${info.reason}`));
      };
      const onError = (message: string) => {
        cleanup();
        reject(new CorralError('FORBIDDEN', `master sent ERROR while waiting for ${what}: ${message}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new CorralError('UNAVAILABLE', `timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.on('event', onEvent);
      this.on('disconnected', onLost);
      this.on('master-error', onError);
    });
  }

  /** Closes the stream and all connections. Does not tear the framework down (see teardown()). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.teardownStream();
    this.streamAgent.destroy();
    this.callAgent.destroy();
    this.unwatchLeader();
    if (this.ownsLocator) void this.locator.close();
  }
}

function sameBase(a: string, b: string): boolean {
  try {
    return baseOf(a) === baseOf(b);
  } catch {
    return a === b;
  }
}

/** Creates a client and subscribes; resolves once SUBSCRIBED has arrived. */
export async function subscribe(
  frameworkInfo: FrameworkInfo,
  opts: SchedulerClientOptions & SubscribeOptions,
): Promise<SchedulerClient> {
  const client = new SchedulerClient(opts);
  try {
    await client.subscribe(frameworkInfo, opts);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}
