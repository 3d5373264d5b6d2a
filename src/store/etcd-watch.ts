// One Store watch on etcd, placed on one member at a time and moved to another when that member stops
// answering, resumed from the first revision not yet delivered: no gap, no duplicate.
//
// Why moving is ours: etcd3 resumes a broken stream on the same client, and a stream on a member that
// hangs (SIGSTOP, a blackholed host) does not even break — it just goes quiet. EtcdStore notices the
// member through its calls and probes (etcd-endpoints.ts) and calls moveOff().
import type { Etcd3, IResponseHeader, IWatchResponse, Watcher as EtcdWatcher } from 'etcd3';
import { CompactedError, UnavailableError } from '../protocol/errors.ts';
import type { Logger } from '../runtime/log.ts';
import type { KeyValue, WatchEvent } from './store.ts';

/** What a watch needs from its store: where to go and whom to tell. */
export interface WatchHost {
  readonly description: string;
  readonly log: Logger;
  /** The member to place a watch on now. */
  best(): number;
  isHealthy(i: number): boolean;
  endpoint(i: number): string;
  client(i: number): Etcd3;
  ok(i: number): void;
  fail(i: number, why: string): void;
  see(header: IResponseHeader | undefined): void;
}

export interface WatchSpec {
  prefix: string;
  range: { key: Buffer; range_end: Buffer };
  fromRevision: number;
  deliver: (ev: WatchEvent) => void;
  /** The server ended the watch for good (compaction, permissions). */
  ended: (err: Error) => void;
}

/** Pause before re-placing a watch whose stream broke: doubles from the first to the last, reset by data. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;

const utf8 = (b: Buffer | undefined) => (b ? b.toString('utf8') : '');
const num = (s: string | number | undefined) => Number(s ?? 0);

export function toKv(kv: { key: Buffer; value: Buffer; mod_revision: string; create_revision: string }): KeyValue {
  return Object.freeze({ key: utf8(kv.key), value: utf8(kv.value), revision: num(kv.mod_revision), createRevision: num(kv.create_revision) });
}

export class EtcdWatch {
  /** The member it is placed on (-1 before start). */
  endpoint = -1;
  private cancelled = false;
  /** Everything below this revision was delivered: a resumed stream must not deliver it again. */
  private next: number;
  private watcher: EtcdWatcher | undefined;
  private detachListeners: (() => void) | undefined;
  private retryMs = RETRY_FIRST_MS;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: WatchHost,
    private readonly spec: WatchSpec,
  ) {
    this.next = spec.fromRevision;
  }

  get active(): boolean {
    return !this.cancelled;
  }

  start(): void {
    this.place(this.host.best());
  }

  /** Member i stopped answering: if this watch is there and a healthy member exists, move now. */
  moveOff(i: number, why: string): void {
    if (this.cancelled || this.endpoint !== i || this.host.best() === i || !this.host.isHealthy(this.host.best())) return;
    this.move(why);
  }

  /** Some member answers again: a watch left on a failed member (nowhere better to go then) moves to it. */
  moveIfStranded(): void {
    if (this.cancelled || this.endpoint < 0 || this.host.isHealthy(this.endpoint) || !this.host.isHealthy(this.host.best())) return;
    this.move('a member answers again');
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    clearTimeout(this.retryTimer);
    this.detach();
  }

  private move(why: string): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const from = this.endpoint;
    this.detach();
    const to = this.host.best();
    this.host.log.info('etcd watch moved', { prefix: this.spec.prefix, from: this.host.endpoint(from), to: this.host.endpoint(to), fromRevision: this.next, reason: why });
    this.place(to);
  }

  private place(i: number): void {
    this.endpoint = i;
    const { range } = this.spec;
    const w = this.host.client(i).watch().inRange({ start: range.key, end: range.range_end }).startRevision(String(this.next)).watcher();
    this.watcher = w;
    const onData = (res: IWatchResponse) => this.onData(w, i, res);
    const onConnected = () => {
      if (w !== this.watcher) return;
      this.host.ok(i);
      this.retryMs = RETRY_FIRST_MS;
    };
    const onDisconnected = (err: Error) => this.onDisconnected(w, i, err);
    const onError = (err: Error) => this.onServerEnded(w, err);
    w.on('data', onData);
    w.on('connected', onConnected);
    w.on('disconnected', onDisconnected);
    w.on('error', onError);
    this.detachListeners = () => {
      w.off('data', onData);
      w.off('connected', onConnected);
      w.off('disconnected', onDisconnected);
      w.off('error', onError);
      w.on('error', () => undefined); // an EventEmitter 'error' without a listener would throw
    };
  }

  private detach(): void {
    const w = this.watcher;
    this.watcher = undefined;
    this.detachListeners?.();
    this.detachListeners = undefined;
    // On a member that hangs the cancel is never answered; the stream goes when gRPC gives up on it.
    w?.cancel().catch(() => undefined);
  }

  private onData(w: EtcdWatcher, i: number, res: IWatchResponse): void {
    if (this.cancelled || w !== this.watcher) return;
    this.host.ok(i);
    this.retryMs = RETRY_FIRST_MS;
    this.host.see(res.header);
    const floor = this.next;
    for (const ev of res.events) {
      const rev = num(ev.kv.mod_revision);
      if (rev < floor) continue; // replayed after a reconnect: already delivered
      this.next = Math.max(this.next, rev + 1);
      const out: WatchEvent =
        String(ev.type).toLowerCase() === 'delete'
          ? Object.freeze({ type: 'delete' as const, key: utf8(ev.kv.key), revision: rev })
          : Object.freeze({ type: 'put' as const, kv: toKv(ev.kv) });
      this.spec.deliver(out);
      if (this.cancelled || w !== this.watcher) return;
    }
    // A response without events is a progress notification: everything up to its revision was sent.
    if (res.events.length === 0) this.next = Math.max(this.next, num(res.header.revision) + 1);
  }

  private onDisconnected(w: EtcdWatcher, i: number, err: Error): void {
    if (this.cancelled || w !== this.watcher) return;
    this.host.log.debug('etcd watch disconnected; resuming', { prefix: this.spec.prefix, endpoint: this.host.endpoint(i), fromRevision: this.next, error: err.message });
    // Mark the member first: the move (here, or the store's on the news) then goes elsewhere if it can.
    this.host.fail(i, `watch stream broke: ${err.message}`);
    if (w !== this.watcher || this.cancelled) return; // already moved on the news
    // Taken off etcd3's own reconnect loop (it would stay on this member) and re-placed after a pause.
    this.detach();
    this.endpoint = i;
    const pause = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.cancelled || this.watcher) return;
      this.place(this.host.best());
    }, pause);
    this.retryTimer.unref();
  }

  private onServerEnded(w: EtcdWatcher, err: Error): void {
    if (this.cancelled || w !== this.watcher) return;
    this.cancelled = true;
    clearTimeout(this.retryTimer);
    this.detach();
    const compacted = /compact|canceled: $/i.test(err.message);
    const e = compacted
      ? new CompactedError(`cannot watch ${this.host.description} from revision ${this.next}: that history was compacted`, { fromRevision: this.next })
      : new UnavailableError(`${this.host.description} ended the watch on ${JSON.stringify(this.spec.prefix)}: ${err.message}`);
    this.spec.ended(e);
  }
}
