// The Store on an etcd v3 cluster (through the `etcd3` client), for HA masters: every master of a
// cluster opens the same etcd. The mapping is direct (see docs/store.md):
//   revision = mod_revision, createRevision = create_revision, store revision = header.revision;
//   a commit is one Txn; a watch is an etcd watch from a start revision; a Lease is an etcd lease.
//
// Failure model. Every call has a deadline (callTimeoutMs); a cluster that cannot answer in time
// surfaces as UnavailableError naming the endpoints, never as a hang, a crash or an unhandled
// rejection. Each attempt goes to one member (etcd-endpoints.ts: the preferred healthy one first). A
// member that hangs (paused, blackholed) does not fail a call, it holds it, so reads and keep-alives get
// only a slice of the deadline per attempt; an attempt that times out marks its member failed, which
// also ends every other attempt waiting on it, and the call goes on at once on the next member. Writes
// are sent only to a member that answered a moment ago (else it is probed first) and get the rest of
// the deadline, and are retried only when the request certainly never left (no connection could be
// made): a retried write whose first attempt was applied would apply twice (or fail its own compare),
// so any other failure is reported as UnavailableError saying the outcome is unknown.
import type { CallOptions } from '@grpc/grpc-js';
import {
  CompareResult,
  CompareTarget,
  EtcdLeaseInvalidError,
  type Etcd3,
  type ICompare,
  type IRequestOp,
  type IResponseHeader,
  type ITxnResponse,
} from 'etcd3';
import { ConflictError, CorralError, NotFoundError, UnavailableError, ValidationError } from '../protocol/errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../runtime/clock.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { EndpointPool, PROBE_TIMEOUT_MS } from './etcd-endpoints.ts';
import type { EndpointView } from './etcd-health.ts';
import { EtcdWatch, toKv, type WatchHost } from './etcd-watch.ts';
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

export type { EndpointView } from './etcd-health.ts';

export interface EtcdStoreOptions {
  /** Where listener failures and lease/watch trouble are reported. */
  logger?: Logger;
  /** Drives lease keep-alives and expiry. */
  clock?: Clock;
  /** The most a call may take, retries included, before it fails with UnavailableError (default 5000). */
  callTimeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 5000;
/** No attempt gets less than this (unless less is left): a healthy member answers well within it. */
const MIN_ATTEMPT_MS = 300;
/** Pause before going round the members again once every one failed in this call (doubling, capped). */
const RETRY_PAUSE_MS = 50;
const RETRY_MAX_PAUSE_MS = 250;
/** A write goes without a probe first only to a member that answered within this long. */
const WRITE_FRESH_MS = 250;
/** Background revocation of a lease lost locally: attempts, and the pauses between them (doubling). */
const REVOKE_ATTEMPTS = 12;
const REVOKE_FIRST_PAUSE_MS = 250;
const REVOKE_MAX_PAUSE_MS = 5000;

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

/** True when the request certainly never reached etcd, so even a write may be sent again. */
function neverSent(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'BrokenCircuitError' || name === 'IsolatedCircuitError') return true;
  const msg = err instanceof Error ? err.message : String(err);
  // "Waiting for LB pick": gRPC's deadline passed before the call was given a connection.
  return /No connection established|ECONNREFUSED|connect ECONNRESET|etcdserver: no leader|Connection pool has no hosts|Waiting for LB pick/i.test(msg);
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
      // Each attempt gets half an interval, so a member that hangs costs that much and the retry, on
      // another member, still comes well before the lease could lapse.
      const ttlSeconds = await this.owner.keepAliveOnce(this.id, budget, Math.max(MIN_ATTEMPT_MS, this.interval() / 2));
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

interface CallOpts {
  /** Past the store's closing (revocation while closing). */
  evenIfClosed?: boolean;
  /** The whole call's deadline (default callTimeoutMs). */
  budgetMs?: number;
  /** One attempt's bound (default max(MIN_ATTEMPT_MS, budget / 3); a write gets whatever is left). */
  attemptMs?: number;
}

export class EtcdStore implements Store {
  private closed = false;
  private readonly pool: EndpointPool;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly callTimeoutMs: number;
  private readonly description: string;
  /** The highest revision seen in any response: where a watch without fromRevision starts (+1). */
  private knownRevision = 0;
  private readonly leases = new Map<string, EtcdLease>();
  private readonly watches = new Set<EtcdWatch>();
  private readonly watchHost: WatchHost;

  constructor(
    readonly endpoints: readonly string[],
    opts: EtcdStoreOptions = {},
  ) {
    if (endpoints.length === 0) throw new ValidationError('at least one endpoint is needed', 'endpoints');
    this.log = opts.logger ?? createLogger('store');
    this.clock = opts.clock ?? systemClock;
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.description = `etcd ${endpoints.join(',')}`;
    this.pool = new EndpointPool(endpoints, {
      log: this.log,
      active: () => this.leases.size > 0 || this.watches.size > 0,
      see: (h) => this.see(h),
      onDown: (i) => {
        for (const w of this.watches) w.moveOff(i, 'its member stopped answering');
      },
      onUp: () => {
        for (const w of this.watches) w.moveIfStranded();
      },
    });
    const pool = this.pool;
    this.watchHost = {
      description: this.description,
      log: this.log,
      best: () => pool.health.best(),
      isHealthy: (i) => pool.health.isHealthy(i),
      endpoint: (i) => endpoints[i] ?? '(none)',
      client: (i) => pool.client(i),
      ok: (i) => pool.ok(i),
      fail: (i, why) => pool.fail(i, why),
      see: (h) => this.see(h),
    };
  }

  /** Which members this store currently counts as answering, and which one it sends to first. */
  endpointHealth(): EndpointView[] {
    return this.pool.view();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    validateKey(key);
    const res = await this.call('get', 'read', (c, o) => c.kv.range({ key: Buffer.from(key, 'utf8') }, o));
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
    const res = await this.call('range', 'read', (c, o) => c.kv.range({ ...rangeOf(prefix), sort_order: 'Ascend', sort_target: 'Key' }, o));
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
    const w: EtcdWatch = new EtcdWatch(this.watchHost, {
      prefix,
      range: rangeOf(prefix),
      fromRevision: from,
      deliver: (ev) => this.deliver(prefix, listener, ev),
      ended: (e) => {
        // The server cancelled the watch (compaction, or permissions): it delivers nothing more.
        this.watches.delete(w);
        this.log.error('etcd watch ended by the server', { prefix, error: e.message });
        if (opts?.onError) {
          try {
            opts.onError(e);
          } catch (cbErr) {
            this.log.error('watch onError callback failed', { prefix, error: cbErr });
          }
        }
      },
    });
    this.watches.add(w);
    w.start();
    return {
      cancel: () => {
        this.watches.delete(w);
        w.cancel();
      },
    };
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    this.ensureOpen();
    validateTtl(ttlMs);
    const sentAt = this.clock.now();
    // etcd TTLs are whole seconds; the server may also raise a TTL below its minimum. Retried like a
    // read: a grant applied twice leaves an unused lease behind, which expires with nothing on it.
    const res = await this.call('grant lease', 'read', (c, o) => c.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) }, o));
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
    const res = await this.call('revision', 'read', (c, o) => c.kv.range({ key: Buffer.from([0]), count_only: true }, o));
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
    for (const w of this.watches) w.cancel();
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
    this.pool.close();
  }

  // ---- used by EtcdLease ----

  /** @internal */
  forget(lease: EtcdLease): void {
    this.endedLeases.add(lease.id);
    if (this.leases.get(lease.id) === lease) this.leases.delete(lease.id);
  }

  /**
   * @internal One acknowledged keep-alive within budgetMs, each attempt on one member (the preferred
   * healthy one first) bounded by attemptMs; resolves with the TTL (seconds) etcd now gives the lease.
   */
  async keepAliveOnce(id: string, budgetMs: number, attemptMs: number): Promise<number> {
    return this.call('lease keep-alive', 'read', (c, o, signal) => keepAliveOn(c, id, o, signal), { budgetMs, attemptMs });
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
      await this.call('revoke lease', 'read', (c, o) => c.leaseClient.leaseRevoke({ ID: id }, o), { evenIfClosed: true });
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
    const res = await this.call('commit', 'write', (c, o) => c.kv.txn({ compare, success, failure }, o));
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
   * Runs one etcd call under the store's deadline, attempt by attempt on one member each (see the
   * header), and maps its failures: etcd's "lease not found" → NotFoundError, "request is too large"
   * → ValidationError, anything else → UnavailableError.
   */
  private async call<T>(
    what: string,
    kind: 'read' | 'write',
    fn: (client: Etcd3, o: CallOptions, signal: AbortSignal) => Promise<T>,
    opts: CallOpts = {},
  ): Promise<T> {
    // Real time, not this.clock: these are network waits (the clock drives only lease timing).
    const budget = opts.budgetMs ?? this.callTimeoutMs;
    const deadline = Date.now() + budget;
    // A slice per attempt, doubled each time round the members: a hung member costs one short slice,
    // while a cluster that is merely slow (every member timing out) still gets longer and longer tries.
    let slice = opts.attemptMs ?? Math.max(MIN_ATTEMPT_MS, budget / 3);
    /** Members tried in this round; once every one was, pause and go round again. */
    const tried = new Set<number>();
    let pause = RETRY_PAUSE_MS;
    let lastErr: unknown;
    for (;;) {
      if (this.closed && !opts.evenIfClosed) throw this.closedError();
      if (tried.size >= this.pool.health.size) {
        const wait = Math.min(pause, deadline - Date.now());
        if (wait <= 0) break;
        await new Promise((r) => setTimeout(r, wait));
        pause = Math.min(pause * 2, RETRY_MAX_PAUSE_MS);
        slice *= 2;
        tried.clear();
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      const i = this.pool.health.order(tried)[0]!;
      tried.add(i);
      // A write cannot be taken back once sent: send it only to a member known to answer just now. If
      // no member answers a probe, the write goes anyway and the call's deadline decides, as it would
      // without probes.
      if (kind === 'write' && !this.pool.health.fresh(i, Date.now(), WRITE_FRESH_MS)) {
        const answered = await this.pool.probe(i, Math.min(left, PROBE_TIMEOUT_MS));
        if (!answered && this.pool.health.anyHealthy()) {
          lastErr = new UnavailableError(`${this.endpoints[i]} did not answer a probe`);
          continue;
        }
      }
      // A write that timed out cannot be retried, so cutting it short would only turn a slow success
      // into an unknown outcome: it gets what is left (and still ends early if its member is found dead).
      const ms = kind === 'write' ? deadline - Date.now() : Math.min(deadline - Date.now(), slice);
      if (ms <= 0) break;
      try {
        return await this.pool.attempt(i, what, ms, fn, kind === 'read');
      } catch (err) {
        lastErr = err;
        if (err instanceof EtcdLeaseInvalidError || /requested lease not found/.test(messageOf(err))) {
          throw new NotFoundError(`lease not found: ${messageOf(err)}`, { cause: messageOf(err) });
        }
        if (/request is too large/.test(messageOf(err))) {
          throw new ValidationError(`${this.description} refused the request as too large (its --max-request-bytes)`, 'request');
        }
        if (err instanceof CorralError && !(err instanceof UnavailableError)) throw err;
        if (kind === 'write' && !neverSent(err)) {
          throw new UnavailableError(`${this.description}: ${what} failed, outcome unknown: ${messageOf(err)}`, {
            endpoints: this.endpoints,
            cause: messageOf(err),
          });
        }
      }
    }
    throw new UnavailableError(`${this.description} unavailable: ${what} did not succeed within ${budget} ms: ${messageOf(lastErr)}`, {
      endpoints: this.endpoints,
      cause: messageOf(lastErr),
    });
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

/** One keep-alive round trip on one member's stream (etcd has no unary keep-alive). */
async function keepAliveOn(client: Etcd3, id: string, o: CallOptions, signal: AbortSignal): Promise<number> {
  const stream = await client.leaseClient.leaseKeepAlive(o);
  let answered = false;
  try {
    const ttl = await new Promise<number>((resolve, reject) => {
      if (signal.aborted) return reject(new Error('keep-alive given up'));
      signal.addEventListener('abort', () => reject(new Error('keep-alive given up')), { once: true });
      stream.on('data', (res: { TTL: string }) => resolve(num(res.TTL)));
      stream.on('error', reject);
      stream.on('end', () => reject(new Error('keep-alive stream ended')));
      stream.write({ ID: id });
    });
    answered = true;
    return ttl;
  } finally {
    try {
      // Answered: close our side and let the server end it. Given up: drop it now.
      if (answered) stream.end();
      else stream.cancel();
    } catch {
      // already closed
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
