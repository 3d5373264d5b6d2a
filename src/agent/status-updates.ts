// The status update manager: reliable, ordered delivery of task status updates to the master.
// Per task, updates form a queue; only the head is sent, and it is re-sent with exponential backoff until
// the master forwards the framework's ACKNOWLEDGE for its uuid; then the next one goes. Updates are
// journaled (append + fdatasync) before their first send, so they survive agent restarts, and every head is
// re-sent right after each (re-)registration. When the agent stops with its tasks killed, flush() hands every
// pending update to the master in order without waiting for acknowledgements (bounded in time).
import type { TaskState, TaskStatus } from '../protocol/mesos.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import type { Journal } from './checkpoint.ts';

export interface StatusUpdateManagerDeps {
  clock: Clock;
  log: Logger;
  /**
   * Sends one update to the master; the manager retries, so failures only need to be logged. Resolves false
   * when the master did not accept it (anything else counts as accepted, for flush()).
   */
  send(frameworkId: string, status: TaskStatus, latestState: TaskState | undefined): Promise<boolean | void>;
  latestState(frameworkId: string, taskId: string): TaskState | undefined;
  /** Every update of the stream has been acknowledged. */
  onDrained(frameworkId: string, taskId: string): void;
  /** First retry interval (Mesos: 10 s; Corral default 1 s), doubled per retry up to `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
}

interface Entry {
  status: TaskStatus;
  durable: boolean;
  /** The current master accepted a send of it (not an acknowledgement: that comes from the framework). */
  accepted?: boolean;
  /** A send under way. */
  sending?: Promise<boolean>;
}

const FLUSH_RETRY_MS = 100;

interface Stream {
  frameworkId: string;
  taskId: string;
  entries: Entry[];
  journal?: Journal;
  inFlight: boolean;
  timer?: TimerHandle;
  backoffMs: number;
}

export type AckResult = 'acknowledged' | 'unknown-stream' | 'unexpected-uuid';

const keyOf = (fw: string, task: string): string => `${fw}\u0000${task}`;

export class StatusUpdateManager {
  private streams = new Map<string, Stream>();
  private connected = false;
  private stopped = false;
  /** Counters for /metrics. */
  readonly counters = { updates: 0, acks: 0, unexpectedAcks: 0, sends: 0 };

  constructor(private deps: StatusUpdateManagerDeps) {}

  /**
   * Queues updates for a task (in order). With a journal they are sent only once durable (and `after`, if
   * given, has settled); the promise resolves then. Without one (tasks the agent never knew) they are kept
   * in memory only.
   */
  update(frameworkId: string, taskId: string, statuses: TaskStatus[], journal?: Journal, after?: Promise<unknown>): Promise<void> {
    const s = this.stream(frameworkId, taskId, journal);
    const entries = statuses.map((status) => ({ status, durable: !s.journal }));
    s.entries.push(...entries);
    this.counters.updates += statuses.length;
    if (!s.journal) {
      this.pump(s);
      return Promise.resolve();
    }
    const appended = s.journal.append(statuses.map((status) => ({ type: 'UPDATE', status })));
    return (after ? Promise.all([appended, after]) : appended).then(
      () => {
        for (const e of entries) e.durable = true;
        this.pump(s);
      },
      (err: unknown) => {
        // Delivery matters more than durability: send anyway, and say so.
        this.deps.log.error('cannot checkpoint status updates; sending them unsaved', { task: taskId, error: (err as Error).message });
        for (const e of entries) e.durable = true;
        this.pump(s);
      },
    );
  }

  /** Restores the unacknowledged updates of a task read back from its journal. */
  recover(frameworkId: string, taskId: string, unacked: TaskStatus[], journal: Journal): void {
    const s = this.stream(frameworkId, taskId, journal);
    s.entries.push(...unacked.map((status) => ({ status, durable: true })));
  }

  acknowledge(frameworkId: string, taskId: string, uuid: string): AckResult {
    const s = this.streams.get(keyOf(frameworkId, taskId));
    if (!s) {
      this.counters.unexpectedAcks++;
      return 'unknown-stream';
    }
    const head = s.entries[0];
    if (!head || head.status.uuid !== uuid) {
      this.counters.unexpectedAcks++;
      return 'unexpected-uuid';
    }
    this.counters.acks++;
    s.entries.shift();
    s.timer?.cancel();
    s.timer = undefined;
    s.inFlight = false;
    s.backoffMs = this.deps.retryMs;
    // Neither awaited nor fdatasync'ed: losing an ack record only means a duplicate send after a crash.
    s.journal?.append([{ type: 'ACK', uuid }], false).catch((e: unknown) =>
      this.deps.log.warn('cannot checkpoint an acknowledgement', { task: taskId, error: (e as Error).message }),
    );
    if (s.entries.length === 0) {
      this.streams.delete(keyOf(frameworkId, taskId));
      this.deps.onDrained(frameworkId, taskId);
    } else this.pump(s);
    return 'acknowledged';
  }

  /** Registered with a master: (re-)send every head now, with fresh backoff. Disconnected: hold everything. */
  setConnected(connected: boolean): void {
    this.connected = connected;
    for (const s of this.streams.values()) {
      for (const e of s.entries) e.accepted = false; // a new master may not have them
      s.timer?.cancel();
      s.timer = undefined;
      s.inFlight = false;
      s.backoffMs = this.deps.retryMs;
      if (connected) this.pump(s);
    }
  }

  /** The oldest unacknowledged update of a task (Mesos's status_update_state/uuid). */
  oldestUnacked(frameworkId: string, taskId: string): TaskStatus | undefined {
    return this.streams.get(keyOf(frameworkId, taskId))?.entries[0]?.status;
  }

  hasPending(frameworkId: string, taskId: string): boolean {
    return (this.streams.get(keyOf(frameworkId, taskId))?.entries.length ?? 0) > 0;
  }

  pendingCount(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.entries.length;
    return n;
  }

  /** Drops a task's stream (framework shut down). */
  remove(frameworkId: string, taskId: string): void {
    const s = this.streams.get(keyOf(frameworkId, taskId));
    if (!s) return;
    s.timer?.cancel();
    this.streams.delete(keyOf(frameworkId, taskId));
  }

  removeFramework(frameworkId: string): void {
    for (const s of [...this.streams.values()]) if (s.frameworkId === frameworkId) this.remove(s.frameworkId, s.taskId);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.streams.values()) s.timer?.cancel();
  }

  private stream(frameworkId: string, taskId: string, journal?: Journal): Stream {
    const key = keyOf(frameworkId, taskId);
    let s = this.streams.get(key);
    if (!s) {
      s = { frameworkId, taskId, entries: [], journal, inFlight: false, backoffMs: this.deps.retryMs };
      this.streams.set(key, s);
    }
    s.journal ??= journal;
    return s;
  }

  /**
   * Sends every pending (durable) update to the master, each stream in order, without waiting for
   * acknowledgements, retrying refused sends, until the master has accepted them all or `timeoutMs` has
   * passed. The updates stay queued (and journaled) for the usual acknowledged delivery.
   */
  async flush(timeoutMs: number): Promise<void> {
    if (this.stopped || !this.connected || this.streams.size === 0) return;
    let over = false;
    let timer: TimerHandle | undefined;
    const expired = new Promise<void>((resolve) => (timer = this.deps.clock.setTimeout(resolve, timeoutMs)));
    const done = () => over || this.stopped || !this.connected;
    const work = Promise.all([...this.streams.values()].map((s) => this.flushStream(s, done)));
    await Promise.race([work, expired]);
    over = true;
    timer?.cancel();
  }

  private async flushStream(s: Stream, done: () => boolean): Promise<void> {
    for (const e of [...s.entries]) {
      while (!e.accepted && s.entries.includes(e)) {
        if (done() || !e.durable) return; // later updates must not overtake this one
        if (await (e.sending ?? this.sendEntry(s, e))) break;
        if (done()) return;
        await new Promise<void>((resolve) => this.deps.clock.setTimeout(resolve, FLUSH_RETRY_MS));
      }
    }
  }

  private sendEntry(s: Stream, e: Entry): Promise<boolean> {
    this.counters.sends++;
    const p = this.deps.send(s.frameworkId, e.status, this.deps.latestState(s.frameworkId, s.taskId)).then(
      (r) => r !== false,
      (err: unknown) => {
        this.deps.log.debug('status update send failed; will retry', { task: s.taskId, error: (err as Error).message });
        return false;
      },
    );
    e.sending = p;
    void p.then((ok) => {
      if (e.sending === p) e.sending = undefined;
      if (ok) e.accepted = true;
    });
    return p;
  }

  private pump(s: Stream): void {
    if (this.stopped || !this.connected || s.inFlight) return;
    const head = s.entries[0];
    if (!head || !head.durable) return;
    s.inFlight = true;
    void this.sendEntry(s, head);
    const delay = s.backoffMs;
    s.backoffMs = Math.min(s.backoffMs * 2, this.deps.maxRetryMs);
    s.timer = this.deps.clock.setTimeout(() => {
      s.timer = undefined;
      s.inFlight = false;
      this.pump(s);
    }, delay);
  }
}
