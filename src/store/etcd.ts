// The Store on an etcd v3 cluster (through the `etcd3` client), for HA masters: every master of a
// cluster opens the same etcd. The mapping is direct (see docs/store.md):
//   revision = mod_revision, createRevision = create_revision, store revision = header.revision;
//   a commit is one Txn; a watch is an etcd watch from a start revision; a Lease is an etcd lease.
//
// Failure model. Every call has a deadline (callTimeoutMs); a cluster that cannot answer in time
// surfaces as UnavailableError naming the endpoints, never as a hang, a crash or an unhandled
// rejection. Reads are retried within the deadline. Writes are retried only when the request
// certainly never reached a member (no connection could be made): a retried write whose first
// attempt was applied would apply twice (or fail its own compare), so any other failure is reported
// as UnavailableError saying the outcome is unknown.
import { CallOptions } from '@grpc/grpc-js';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop, type IBackoff } from 'cockatiel';
import {
  CompareResult,
  CompareTarget,
  Etcd3,
  EtcdLeaseInvalidError,
  isRecoverableError,
  type ICompare,
  type IKeyValue,
  type IRequestOp,
  type IResponseHeader,
  type ITxnResponse,
  type IWatchResponse,
  type Watcher as EtcdWatcher,
} from 'etcd3';
import {
  CompactedError,
  ConflictError,
  CorralError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../protocol/errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../runtime/clock.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { LeaseState } from './lease-state.ts';
import {
  validateCommit,
  validateKey,
  validateLease,
  validatePrefix,
  validateRevision,
  validateTtl,
  validateValue,
  validateWatchOptions,
  type Condition,
  type KeyValue,
  type Lease,
  type Op,
  type Store,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from './store.ts';

export interface EtcdStoreOptions {
  /** Where listener failures and lease/watch trouble are reported. */
  logger?: Logger;
  /** Drives lease keep-alives and expiry. */
  clock?: Clock;
  /** The most a call may take, retries included, before it fails with UnavailableError (default 5000). */
  callTimeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 5000;
/** Pause between retries of a call that may be retried. */
const RETRY_PAUSE_MS = 50;
/** Background revocation of a lease lost locally: attempts, and the pauses between them (doubling). */
const REVOKE_ATTEMPTS = 12;
const REVOKE_FIRST_PAUSE_MS = 250;
const REVOKE_MAX_PAUSE_MS = 5000;

const utf8 = (b: Buffer | undefined) => (b ? b.toString('utf8') : '');
const num = (s: string | number | undefined) => Number(s ?? 0);

/** The first key after every key starting with prefix (etcd's prefix range end); '\0' = no end. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function rangeOf(prefix: string): { key: Buffer; range_end: Buffer } {
  // Key '\0' with range_end '\0' is etcd's "every key".
  if (prefix === '') return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
  const key = Buffer.from(prefix, 'utf8');
  return { key, range_end: prefixEnd(key) };
}

const toKv = (kv: IKeyValue): KeyValue =>
  Object.freeze({
    key: utf8(kv.key),
    value: utf8(kv.value),
    revision: num(kv.mod_revision),
    createRevision: num(kv.create_revision),
  });

/** True when the request certainly never reached etcd, so even a write may be sent again. */
function neverSent(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'BrokenCircuitError' || name === 'IsolatedCircuitError') return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /No connection established|ECONNREFUSED|connect ECONNRESET|etcdserver: no leader|Connection pool has no hosts/i.test(msg);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A lease granted by this store, kept alive from this process until revoked, expired or closed. */
class EtcdLease extends LeaseState implements Lease {
  /** Local, conservative expiry: send time of the last acknowledged keep-alive + TTL. */
  private expiresAt: number;
  private keepAliveTimer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;

  constructor(
    id: string,
    ttlMs: number,
    grantSentAt: number,
    private readonly owner: EtcdStore,
    private readonly clock: Clock,
    log: Logger,
  ) {
    super(id, ttlMs, log);
    this.expiresAt = grantSentAt + ttlMs;
    this.armExpiry();
    this.scheduleKeepAlive(this.interval());
  }

  async revoke(): Promise<void> {
    const first = this.end(undefined);
    if (!first && this.reason !== undefined) return; // expired or closed: nothing left to revoke
    await this.owner.revokeLease(this.id);
  }

  /** Stops keeping the lease alive and schedules onLost (unless revoked); false if already ended. */
  end(reason: string | undefined): boolean {
    if (!this.markEnded(reason)) return false;
    this.keepAliveTimer?.cancel();
    this.expiryTimer?.cancel();
    this.owner.forget(this);
    if (reason !== undefined) this.log.warn('etcd lease lost', { lease: this.id, reason });
    return true;
  }

  // Keep-alives every third of the TTL (as etcd's own clients do), so two may fail before it lapses.
  private interval(): number {
    return Math.max(100, Math.floor(this.ttlMs / 3));
  }

  private scheduleKeepAlive(ms: number): void {
    if (this.ended) return;
    this.keepAliveTimer = this.clock.setTimeout(() => void this.keepAlive(), ms);
  }

  private async keepAlive(): Promise<void> {
    if (this.ended) return;
    const sentAt = this.clock.now();
    const budget = Math.max(1, Math.min(this.expiresAt - sentAt, this.interval() * 2));
    try {
      const ttlSeconds = await this.owner.keepAliveOnce(this.id, budget);
      if (this.ended) return;
      if (ttlSeconds <= 0) {
        this.end('expired: etcd no longer knows the lease');
        return;
      }
      this.expiresAt = Math.max(this.expiresAt, sentAt + ttlSeconds * 1000);
      this.armExpiry();
      this.scheduleKeepAlive(this.interval());
    } catch (err) {
      if (this.ended) return;
      this.log.debug('etcd lease keep-alive failed; retrying', { lease: this.id, error: messageOf(err) });
      this.scheduleKeepAlive(Math.min(250, this.interval()));
    }
  }

  /** Declares the lease lost as soon as etcd may have expired it: never later than etcd would. */
  private armExpiry(): void {
    this.expiryTimer?.cancel();
    const ms = Math.max(0, this.expiresAt - this.clock.now());
    this.expiryTimer = this.clock.setTimeout(() => {
      if (this.clock.now() < this.expiresAt) return this.armExpiry();
      this.end(`expired: no keep-alive acknowledged for ${this.ttlMs} ms`);
      // Lost by our own reckoning only: etcd may still hold the lease and its keys (it expires nothing
      // without quorum, and a newly elected etcd leader renews every lease for a full TTL), and an
      // election key left so would hold up the next leader. Revoke it as soon as etcd answers.
      this.owner.revokeInBackground(this.id);
    }, ms);
  }

}

interface ActiveWatch {
  watcher: EtcdWatcher;
  cancelled: boolean;
}

export class EtcdStore implements Store {
  private closed = false;
  private readonly client: Etcd3;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly callTimeoutMs: number;
  private readonly description: string;
  /** The highest revision seen in any response: where a watch without fromRevision starts (+1). */
  private knownRevision = 0;
  private readonly leases = new Map<string, EtcdLease>();
  private readonly watches = new Set<ActiveWatch>();

  constructor(
    readonly endpoints: readonly string[],
    opts: EtcdStoreOptions = {},
  ) {
    if (endpoints.length === 0) throw new ValidationError('at least one endpoint is needed', 'endpoints');
    this.log = opts.logger ?? createLogger('store');
    this.clock = opts.clock ?? systemClock;
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.description = `etcd ${endpoints.join(',')}`;
    this.client = new Etcd3({
      hosts: [...endpoints],
      dialTimeout: this.callTimeoutMs,
      // Retries are ours (see the header): the library's would resend writes.
      faultHandling: {
        global: noop,
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        // etcd3 calls next() on what it is given, i.e. wants a backoff factory despite its IBackoff type.
        watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 }) as unknown as IBackoff<unknown>,
      },
      grpcOptions: { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 },
    });
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    validateKey(key);
    const res = await this.call('get', 'read', (o) => this.client.kv.range({ key: Buffer.from(key, 'utf8') }, o));
    this.see(res.header);
    return res.kvs[0] && toKv(res.kvs[0]);
  }

  async put(key: string, value: string, opts: { expectedRevision?: number; lease?: Lease } = {}): Promise<number> {
    this.ensureOpen();
    validateKey(key);
    validateValue(value);
    const conditions = this.expectation(key, opts);
    let lease: string | undefined;
    if (opts.lease !== undefined) {
      validateLease(opts.lease);
      if (this.leases.get(opts.lease.id) !== opts.lease) throw this.leaseNotFound(opts.lease.id);
      lease = opts.lease.id;
    }
    return (await this.txn(conditions, [{ type: 'put', key, value, lease }])).revision;
  }

  async delete(key: string, opts: { expectedRevision?: number } = {}): Promise<boolean> {
    this.ensureOpen();
    validateKey(key);
    const conditions = this.expectation(key, opts);
    const res = await this.txn(conditions, [{ type: 'delete', key }]);
    return num(res.responses[0]?.response_delete_range?.deleted) > 0;
  }

  async range(prefix: string): Promise<KeyValue[]> {
    return (await this.snapshot(prefix)).kvs;
  }

  async snapshot(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.ensureOpen();
    validatePrefix(prefix);
    // One Range is one consistent read at header.revision.
    const res = await this.call('range', 'read', (o) =>
      this.client.kv.range({ ...rangeOf(prefix), sort_order: 'Ascend', sort_target: 'Key' }, o),
    );
    this.see(res.header);
    return { kvs: res.kvs.map(toKv), revision: num(res.header.revision) };
  }

  async commit(conditions: Condition[], ops: Op[]): Promise<number> {
    this.ensureOpen();
    validateCommit(conditions, ops);
    return (await this.txn(conditions, ops)).revision;
  }

  watch(prefix: string, listener: (ev: WatchEvent) => void, opts?: WatchOptions): WatchHandle {
    this.ensureOpen();
    validatePrefix(prefix);
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    validateWatchOptions(opts);
    // Without fromRevision: after the newest revision this store has seen, so nothing committed
    // after this call is missed (etcd's own default, the revision when the server gets the request, could).
    const from = opts?.fromRevision ?? this.knownRevision + 1;
    const range = rangeOf(prefix);
    let builder = this.client.watch().inRange({ start: range.key, end: range.range_end });
    builder = builder.startRevision(String(from));
    const watcher = builder.watcher();
    const w: ActiveWatch = { watcher, cancelled: false };
    this.watches.add(w);
    /** Everything below this revision was delivered: a resumed stream must not deliver it again. */
    let next = from;
    watcher.on('data', (res: IWatchResponse) => {
      if (w.cancelled) return;
      this.see(res.header);
      const floor = next;
      for (const ev of res.events) {
        const rev = num(ev.kv.mod_revision);
        if (rev < floor) continue; // replayed after a reconnect: already delivered
        next = Math.max(next, rev + 1);
        const out: WatchEvent =
          String(ev.type).toLowerCase() === 'delete'
            ? Object.freeze({ type: 'delete' as const, key: utf8(ev.kv.key), revision: rev })
            : Object.freeze({ type: 'put' as const, kv: toKv(ev.kv) });
        this.deliver(prefix, listener, out);
        if (w.cancelled) return;
      }
      // A response without events is a progress notification: everything up to its revision was sent.
      if (res.events.length === 0) next = Math.max(next, num(res.header.revision) + 1);
    });
    // etcd3 resumes a broken stream from the last header it saw; resume from what we delivered instead
    // (a catch-up response's header can run ahead of its events).
    watcher.on('disconnected', (err: Error) => {
      if (w.cancelled) return;
      watcher.request.start_revision = next;
      this.log.debug('etcd watch disconnected; resuming', { prefix, fromRevision: next, error: messageOf(err) });
    });
    watcher.on('error', (err: Error) => {
      // The server cancelled the watch (compaction, or permissions): it delivers nothing more.
      if (w.cancelled) return;
      this.watches.delete(w);
      w.cancelled = true;
      const compacted = /compact|canceled: $/i.test(err.message);
      const e = compacted
        ? new CompactedError(`cannot watch ${this.description} from revision ${next}: that history was compacted`, { fromRevision: next })
        : new UnavailableError(`${this.description} ended the watch on ${JSON.stringify(prefix)}: ${err.message}`);
      this.log.error('etcd watch ended by the server', { prefix, error: e.message });
      if (opts?.onError) {
        try {
          opts.onError(e);
        } catch (cbErr) {
          this.log.error('watch onError callback failed', { prefix, error: cbErr });
        }
      }
    });
    return {
      cancel: () => {
        if (w.cancelled) return;
        w.cancelled = true;
        this.watches.delete(w);
        watcher.cancel().catch(() => undefined);
      },
    };
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    this.ensureOpen();
    validateTtl(ttlMs);
    const sentAt = this.clock.now();
    // etcd TTLs are whole seconds; the server may also raise a TTL below its minimum.
    const res = await this.call('grant lease', 'read', (o) => this.client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) }, o));
    if (res.error) throw new UnavailableError(`${this.description} refused a lease: ${res.error}`);
    const lease = new EtcdLease(res.ID, num(res.TTL) * 1000, sentAt, this, this.clock, this.log);
    if (this.closed) {
      lease.end(`store ${this.description} closed`);
      await this.revokeLease(res.ID).catch(() => undefined);
      throw this.closedError();
    }
    this.leases.set(res.ID, lease);
    return lease;
  }

  async revision(): Promise<number> {
    this.ensureOpen();
    // Any response header carries the store revision; a count of one (absent) key is the cheapest.
    const res = await this.call('revision', 'read', (o) => this.client.kv.range({ key: Buffer.from([0]), count_only: true }, o));
    this.see(res.header);
    return num(res.header.revision);
  }

  /**
   * Idempotent. Cancels every watch and revokes every lease this store granted (best effort, within
   * the call timeout), so a clean shutdown frees what the leases held (leadership) at once instead of
   * after their TTL; a lease that cannot be revoked simply expires.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) {
      w.cancelled = true;
      w.watcher.removeAllListeners('data');
      w.watcher.cancel().catch(() => undefined);
    }
    this.watches.clear();
    const live = [...this.leases.values()];
    for (const l of live) l.end(`store ${this.description} closed`);
    await Promise.all(
      live.map((l) =>
        this.revokeLease(l.id).catch((err: unknown) =>
          this.log.warn('could not revoke a lease while closing; it will expire', { lease: l.id, error: messageOf(err) }),
        ),
      ),
    );
    this.client.close();
  }

  // ---- used by EtcdLease ----

  /** @internal */
  forget(lease: EtcdLease): void {
    this.endedLeases.add(lease.id);
    if (this.leases.get(lease.id) === lease) this.leases.delete(lease.id);
  }

  /** @internal One keep-alive round trip; resolves with the TTL (seconds) etcd now gives the lease. */
  async keepAliveOnce(id: string, budgetMs: number): Promise<number> {
    const deadline = Date.now() + budgetMs;
    const stream = await this.withDeadline('lease keep-alive', budgetMs, this.client.leaseClient.leaseKeepAlive({ deadline: new Date(deadline) }));
    try {
      return await this.withDeadline(
        'lease keep-alive',
        budgetMs,
        new Promise<number>((resolve, reject) => {
          stream.on('data', (res: { TTL: string }) => resolve(num(res.TTL)));
          stream.on('error', reject);
          stream.on('end', () => reject(new Error('keep-alive stream ended')));
          stream.write({ ID: id });
        }),
      );
    } finally {
      try {
        stream.end();
      } catch {
        // already closed
      }
    }
  }

  /**
   * @internal Revokes a lease this process gave up on, in the background: retried with backoff
   * (each attempt bounded by the call timeout) until etcd answers, a bounded number of times, and
   * never after close(). Failures only log: the lease then expires in etcd by itself.
   */
  revokeInBackground(id: string): void {
    void (async () => {
      let pause = REVOKE_FIRST_PAUSE_MS;
      for (let attempt = 1; attempt <= REVOKE_ATTEMPTS && !this.closed; attempt++) {
        try {
          await this.revokeLease(id);
          this.log.debug('revoked a lost lease', { lease: id, attempt });
          return;
        } catch (err) {
          if (this.closed) return;
          this.log.debug('cannot revoke a lost lease yet; retrying', { lease: id, attempt, error: messageOf(err) });
        }
        await new Promise((r) => setTimeout(r, pause).unref());
        pause = Math.min(pause * 2, REVOKE_MAX_PAUSE_MS);
      }
    })().catch(() => undefined);
  }

  /** @internal */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.call('revoke lease', 'read', (o) => this.client.leaseClient.leaseRevoke({ ID: id }, o), true);
    } catch (err) {
      if (err instanceof NotFoundError) return; // already gone: revoked or expired
      throw err;
    }
  }

  // ---- internals ----

  private ensureOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): UnavailableError {
    return new UnavailableError(`store ${this.description} is closed`);
  }

  private leaseNotFound(id: string): NotFoundError {
    return new NotFoundError(`lease ${id} not found (it ended, or another store granted it)`, { lease: id });
  }

  private see(header: IResponseHeader | undefined): void {
    const rev = num(header?.revision);
    if (rev > this.knownRevision) this.knownRevision = rev;
  }

  private expectation(key: string, opts: { expectedRevision?: number }): Condition[] {
    if (opts.expectedRevision === undefined) return [];
    validateRevision(opts.expectedRevision, 'expectedRevision');
    return [{ key, revision: opts.expectedRevision }];
  }

  private async txn(conditions: Condition[], ops: Op[]): Promise<{ revision: number; responses: ITxnResponse['responses'] }> {
    for (const op of ops) {
      // A lease of ours that ended may still exist in etcd for a moment: refuse it here, as the local stores do.
      if (op.type === 'put' && op.lease !== undefined && this.isEndedOwnLease(op.lease)) throw this.leaseNotFound(op.lease);
    }
    const compare: ICompare[] = conditions.map((c) =>
      c.revision === 0
        ? { key: Buffer.from(c.key, 'utf8'), target: CompareTarget.Version, result: CompareResult.Equal, version: 0 }
        : { key: Buffer.from(c.key, 'utf8'), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: c.revision },
    );
    const success: IRequestOp[] = ops.map((op) =>
      op.type === 'put'
        ? { request_put: { key: Buffer.from(op.key, 'utf8'), value: Buffer.from(op.value, 'utf8'), ...(op.lease !== undefined ? { lease: op.lease } : {}) } }
        : { request_delete_range: { key: Buffer.from(op.key, 'utf8') } },
    );
    // On failure, read the compared keys in the same transaction, to say which compare failed and why.
    const failure: IRequestOp[] = conditions.map((c) => ({ request_range: { key: Buffer.from(c.key, 'utf8') } }));
    const res = await this.call('commit', 'write', (o) => this.client.kv.txn({ compare, success, failure }, o));
    this.see(res.header);
    if (!res.succeeded) {
      const failed: { key: string; expected: number; actual: number }[] = [];
      conditions.forEach((c, i) => {
        const actual = num(res.responses[i]?.response_range?.kvs[0]?.mod_revision);
        if (actual !== c.revision) failed.push({ key: c.key, expected: c.revision, actual });
      });
      const f = failed[0] ?? { key: conditions[0]?.key ?? '', expected: conditions[0]?.revision ?? 0, actual: -1 };
      const what = f.expected === 0 ? 'to be absent' : `at revision ${f.expected}`;
      const found = f.actual === 0 ? 'it is absent' : `it is at revision ${f.actual}`;
      throw new ConflictError(`compare failed: expected ${f.key} ${what}, but ${found}`, { failed });
    }
    return { revision: num(res.header.revision), responses: res.responses };
  }

  private readonly endedLeases = new Set<string>();

  private isEndedOwnLease(id: string): boolean {
    return this.endedLeases.has(id);
  }

  /**
   * Runs one etcd call under the store's deadline and maps its failures: etcd's "lease not found" →
   * NotFoundError, "request is too large" → ValidationError, anything else → UnavailableError.
   */
  private async call<T>(
    what: string,
    kind: 'read' | 'write',
    fn: (o: CallOptions) => Promise<T>,
    evenIfClosed = false,
  ): Promise<T> {
    // Real time, not this.clock: these are network waits (the clock drives only lease timing).
    const deadline = Date.now() + this.callTimeoutMs;
    let lastErr: unknown;
    for (let attempt = 0; ; attempt++) {
      if (this.closed && !evenIfClosed) throw this.closedError();
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        return await this.withDeadline(what, left, fn({ deadline: new Date(Date.now() + left) }));
      } catch (err) {
        lastErr = err;
        if (err instanceof EtcdLeaseInvalidError || /requested lease not found/.test(messageOf(err))) {
          throw new NotFoundError(`lease not found: ${messageOf(err)}`, { cause: messageOf(err) });
        }
        if (/request is too large/.test(messageOf(err))) {
          throw new ValidationError(`${this.description} refused the request as too large (its --max-request-bytes)`, 'request');
        }
        if (err instanceof CorralError && !(err instanceof UnavailableError)) throw err;
        const retry = kind === 'read' || neverSent(err);
        if (!retry) {
          throw new UnavailableError(`${this.description}: ${what} failed, outcome unknown: ${messageOf(err)}`, {
            endpoints: this.endpoints,
            cause: messageOf(err),
          });
        }
        const pause = Math.min(RETRY_PAUSE_MS * (attempt + 1), 250, Math.max(0, deadline - Date.now()));
        if (pause <= 0) break;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
    throw new UnavailableError(`${this.description} unavailable: ${what} did not succeed within ${this.callTimeoutMs} ms: ${messageOf(lastErr)}`, {
      endpoints: this.endpoints,
      cause: messageOf(lastErr),
    });
  }

  /** gRPC deadlines do not cover every wait inside the client (connecting, circuit breakers): bound it here too. */
  private withDeadline<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UnavailableError(`${this.description}: ${what} timed out after ${Math.round(ms)} ms`)), ms);
    });
    p.catch(() => undefined); // a late failure after the timeout must not become an unhandled rejection
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private deliver(prefix: string, listener: (ev: WatchEvent) => void, ev: WatchEvent): void {
    const report = (err: unknown) => this.log.error('watch listener failed', { prefix, event: ev.type, error: err });
    try {
      const r: unknown = listener(ev);
      if (r && typeof (r as PromiseLike<unknown>).then === 'function') (r as Promise<unknown>).then(undefined, report);
    } catch (err) {
      report(err);
    }
  }
}

/**
 * Connects to an etcd cluster (endpoints like http://127.0.0.1:2379) and checks that it answers:
 * UnavailableError, naming the endpoints, when it does not within callTimeoutMs.
 */
export async function openEtcdStore(endpoints: readonly string[], opts: EtcdStoreOptions = {}): Promise<EtcdStore> {
  const store = new EtcdStore(endpoints, opts);
  try {
    await store.revision();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
