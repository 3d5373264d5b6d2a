// One scheduler subscription: a chunked 200 response carrying a RecordIO
// stream of Events, with periodic HEARTBEATs. Closing is idempotent; `onClose`
// fires once, whether the master closed it or the connection broke.
import type http from 'node:http';
import { encodeRecord } from '../protocol/recordio.ts';
import type { Event } from '../protocol/scheduler.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';

/** A stream whose unsent backlog exceeds this is considered broken (a stuck scheduler). */
const MAX_BACKLOG_BYTES = 64 * 1024 * 1024;

export class SchedulerStream {
  private closed = false;
  private heartbeat?: TimerHandle;
  private closeListeners: (() => void)[] = [];

  constructor(
    private readonly res: http.ServerResponse,
    readonly streamId: string,
    private readonly clock: Clock,
    heartbeatIntervalMs: number,
  ) {
    res.socket?.setNoDelay(true);
    res.writeHead(200, {
      'content-type': 'application/json',
      'mesos-stream-id': streamId,
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    res.on('close', () => this.finish());
    res.on('error', () => this.finish());
    // The client may have gone while the subscription was being persisted: 'close' already fired.
    if (res.destroyed || res.socket === null || res.socket.destroyed) {
      this.finish();
      return;
    }
    if (heartbeatIntervalMs > 0) this.heartbeat = clock.setInterval(() => this.send({ type: 'HEARTBEAT' }), heartbeatIntervalMs);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeListeners.push(fn);
  }

  /** Writes one event; false when the stream is closed (the event is dropped). */
  send(event: Event | { type: string; [k: string]: unknown }): boolean {
    if (this.closed) return false;
    if (this.res.writableLength > MAX_BACKLOG_BYTES) {
      this.close();
      return false;
    }
    this.res.write(encodeRecord(event));
    return true;
  }

  /** Ends the response (optionally after a last event). */
  close(last?: Event): void {
    if (this.closed) return;
    if (last) this.send(last);
    this.res.end();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.heartbeat?.cancel();
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const fn of listeners) {
      try {
        fn();
      } catch {
        // listeners guard themselves; a failure here must not break the response
      }
    }
  }
}
