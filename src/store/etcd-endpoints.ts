// The etcd members an EtcdStore talks to, one etcd3 client per member, so that this code — not the
// etcd3 pool's random pick — decides where each attempt goes (EndpointHealth keeps the score).
//
// Why: a member that stops answering without closing its connections (SIGSTOP, a blackholed host)
// does not fail a call, it hangs it. So every attempt is bounded by a slice of its call's budget, an
// attempt that times out marks its member failed, and everything still waiting on that member is told
// at once (attempts abort, watches move). Failed members, and members nothing was heard from lately
// while the store holds leases or watches, are probed in the background with a linearizable read: a
// member cut off from the quorum fails it too, and a member that is back is used again only once a
// probe came back.
import type { CallOptions } from '@grpc/grpc-js';
import { ExponentialBackoff, noop, type IBackoff } from 'cockatiel';
import { EtcdLeaseInvalidError, Etcd3, type IResponseHeader } from 'etcd3';
import { UnavailableError } from '../protocol/errors.ts';
import type { Logger } from '../runtime/log.ts';
import { EndpointHealth, type EndpointView } from './etcd-health.ts';

/** Heartbeat period: how often quiet or failed members are probed while the store holds leases or watches. */
export const PROBE_INTERVAL_MS = 500;
/** How long a probe (a count-only linearizable read) may take before its member counts as failed. */
export const PROBE_TIMEOUT_MS = 750;
/**
 * gRPC deadline and our own timer both bound an attempt; ours fires this much later, so that gRPC's
 * own error — which says whether the call ever left ("Waiting for LB pick") — is the one seen.
 */
const OWN_TIMER_GRACE_MS = 150;

/** etcd answered, with an error about the request: the member itself is fine. */
function answeredByMember(err: unknown): boolean {
  if (err instanceof EtcdLeaseInvalidError) return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /lease not found|request is too large|compacted|duplicate key|too many operations|permission denied|invalid auth|authentication failed/i.test(msg);
}

/** An attempt that took longer than its slice. */
export class AttemptTimeoutError extends UnavailableError {}
/** An attempt abandoned on news from elsewhere (its member marked failed by another, another member back). */
export class GivenUpError extends UnavailableError {}

export interface EndpointPoolOptions {
  log: Logger;
  /** True while the store holds something that must notice a dead member without a call failing (leases, watches). */
  active: () => boolean;
  /** Sees the header of every probe answer (the store tracks the newest revision). */
  see: (header: IResponseHeader | undefined) => void;
  /** Called when a member is marked failed: what is placed on it (watches) should move. */
  onDown: (index: number) => void;
  /** Called when a failed member answers again. */
  onUp?: (index: number) => void;
}

export class EndpointPool {
  readonly health: EndpointHealth;
  private readonly clients: Etcd3[];
  /** Per member: what to run the moment it is marked failed (attempts in flight on it abort). */
  private readonly downWaiters: Set<() => void>[];
  /** Retryable attempts in flight on a failed member, given up when another member answers again. */
  private readonly upWaiters = new Set<{ member: number; wake: () => void }>();
  private readonly probes: (Promise<boolean> | undefined)[];
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly endpoints: readonly string[],
    private readonly opts: EndpointPoolOptions,
  ) {
    this.health = new EndpointHealth(endpoints);
    this.clients = endpoints.map(
      (host) =>
        new Etcd3({
          hosts: [host],
          // Retries and failover are ours (see etcd.ts): the library's would resend writes, and its
          // per-host breaker never hears of our own deadlines.
          faultHandling: {
            global: noop,
            host: () => noop,
            // etcd3 calls next() on what it is given, i.e. wants a backoff factory despite its IBackoff type.
            watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 }) as unknown as IBackoff<unknown>,
          },
          grpcOptions: {
            'grpc.max_receive_message_length': -1,
            'grpc.max_send_message_length': -1,
            // A backstop for streams on a member that went silent: pings while calls are open (etcd
            // refuses pings more often than its --grpc-keepalive-min-time, 5 s, and pings without calls).
            'grpc.keepalive_time_ms': 10_000,
            'grpc.keepalive_timeout_ms': 5_000,
            // A member that comes back is reconnected to within 2 s, however long it was away.
            'grpc.initial_reconnect_backoff_ms': 200,
            'grpc.max_reconnect_backoff_ms': 2_000,
          },
        }),
    );
    this.downWaiters = endpoints.map(() => new Set());
    this.probes = endpoints.map(() => undefined);
    this.heartbeat = setInterval(() => this.beat(), PROBE_INTERVAL_MS);
    this.heartbeat.unref();
  }

  client(i: number): Etcd3 {
    return this.clients[i]!;
  }

  view(): EndpointView[] {
    return this.health.view();
  }

  /** Member i answered. */
  ok(i: number): void {
    if (this.health.ok(i, Date.now())) {
      this.opts.log.info('etcd member answers again', { endpoint: this.endpoints[i] });
      for (const w of [...this.upWaiters]) if (w.member !== i) w.wake();
      this.opts.onUp?.(i);
    }
  }

  /** Member i timed out or is unreachable: attempts waiting on it abort, what is placed on it moves. */
  fail(i: number, why: string): void {
    // Only news ends the other attempts: on a member already failed they were sent knowingly (nothing
    // better was known), and one more timeout there says nothing about them.
    if (!this.health.fail(i, Date.now())) return;
    const waiters = [...this.downWaiters[i]!];
    this.downWaiters[i]!.clear();
    for (const w of waiters) w();
    // "etcdserver: leader changed / no leader" is the member telling us it cannot serve for now (an
    // etcd election, usually brief); silence or a refused connection is worth a warning.
    const level = /etcdserver:/.test(why) ? 'info' : 'warn';
    this.opts.log[level]('etcd member not answering; using the others', { endpoint: this.endpoints[i], reason: why });
    this.opts.onDown(i);
  }

  /**
   * One attempt on member i, bounded by `ms` and by the member being marked failed meanwhile (by any
   * other attempt or probe); a `retryable` attempt sent to a failed member (nothing better was known)
   * is also given up as soon as another member answers again. Marks the member: answered → ok; timed
   * out or unreachable → failed. `signal` aborts when the attempt is given up, for calls that hold a
   * stream open.
   */
  async attempt<T>(
    i: number,
    what: string,
    ms: number,
    fn: (client: Etcd3, o: CallOptions, signal: AbortSignal) => Promise<T>,
    retryable = true,
  ): Promise<T> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onDown: (() => void) | undefined;
    let upWaiter: { member: number; wake: () => void } | undefined;
    const given = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AttemptTimeoutError(`${what} on ${this.endpoints[i]} timed out after ${Math.round(ms)} ms`)), ms + OWN_TIMER_GRACE_MS);
      onDown = () => reject(new GivenUpError(`${what} on ${this.endpoints[i]} given up: the member stopped answering`));
      this.downWaiters[i]!.add(onDown);
      if (retryable && !this.health.isHealthy(i)) {
        upWaiter = { member: i, wake: () => reject(new GivenUpError(`${what} on ${this.endpoints[i]} given up: another member answers again`)) };
        this.upWaiters.add(upWaiter);
      }
    });
    let p: Promise<T>;
    try {
      p = fn(this.clients[i]!, { deadline: new Date(Date.now() + ms) }, ac.signal);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch(() => undefined); // a late failure after we gave up must not become an unhandled rejection
    try {
      const res = await Promise.race([p, given]);
      this.ok(i);
      return res;
    } catch (err) {
      ac.abort();
      if (answeredByMember(err)) this.ok(i);
      // Given up because of other news (this member already marked, another one back): no evidence.
      else if (!this.closed && !(err instanceof GivenUpError)) this.fail(i, err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      clearTimeout(timer);
      this.downWaiters[i]!.delete(onDown!);
      if (upWaiter) this.upWaiters.delete(upWaiter);
    }
  }

  /** A linearizable count-only read on member i: does it answer, with a quorum behind it? */
  probe(i: number, ms = PROBE_TIMEOUT_MS): Promise<boolean> {
    const running = this.probes[i];
    if (running) return running;
    const p = this.attempt(i, 'probe', ms, (c, o) => c.kv.range({ key: Buffer.from([0]), count_only: true }, o), false)
      .then((res) => {
        this.opts.see(res.header);
        return true;
      })
      .catch(() => false)
      .finally(() => (this.probes[i] = undefined));
    this.probes[i] = p;
    return p;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const set of this.downWaiters) set.clear();
    this.upWaiters.clear();
    for (const c of this.clients) c.close();
  }

  private beat(): void {
    if (this.closed) return;
    const now = Date.now();
    const active = this.opts.active();
    for (let i = 0; i < this.clients.length; i++) {
      // A failed member is probed until it answers (so it can be used again); a healthy one only while
      // something long-lived depends on noticing its death, and only when it has been quiet.
      const due = !this.health.isHealthy(i) || (active && !this.health.answeredWithin(i, now, PROBE_INTERVAL_MS / 2));
      if (due) void this.probe(i);
    }
  }
}
