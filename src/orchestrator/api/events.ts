// GET /v2/events: Marathon's Server-Sent Events stream (marathon.md §1.6, §8).
// Frames are `event: <eventType>\ndata: <one-line JSON>\n\n`; the first one is
// `event_stream_attached`; `event_type=` (repeatable, or a comma list) filters;
// a comment line (`:\n\n`) every heartbeat keeps proxies from timing the
// connection out. A consumer that does not read (socket buffer above the limit)
// is dropped rather than letting memory grow; every subscription is removed
// when the client goes away.
import type http from 'node:http';
import type { Logger } from '../../runtime/log.ts';
import { eventStreamAttached, sseFrame } from '../../protocol/marathon/index.ts';
import type { MarathonEvent, MarathonEventBus } from '../service.ts';

export interface EventStreamOptions {
  bus: MarathonEventBus;
  log: Logger;
  /** Heartbeat comment period. Default 15 s. */
  heartbeatMs?: number;
  /** Drop the client when this many bytes are waiting to be written. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** Renders an event to its wire JSON (default: as published). */
  render?: (ev: MarathonEvent) => unknown;
}

/** Tracks open streams so the server can end them on close(). */
export class EventStreams {
  private readonly open = new Set<() => void>();

  constructor(private readonly opts: EventStreamOptions) {}

  get size(): number {
    return this.open.size;
  }

  /** Takes over the response and streams until the client disconnects or closeAll(). */
  attach(req: http.IncomingMessage, res: http.ServerResponse, types: string[]): void {
    const { bus, log } = this.opts;
    const heartbeatMs = this.opts.heartbeatMs ?? 15_000;
    const maxBuffered = this.opts.maxBufferedBytes ?? 16 * 1024 * 1024;
    const render = this.opts.render ?? ((ev: MarathonEvent) => ev);
    const filter = new Set(types);
    const remoteAddress = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');

    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);

    let closed = false;
    const write = (chunk: string): void => {
      if (closed) return;
      res.write(chunk);
      if (res.writableLength > maxBuffered) {
        log.warn('dropping a slow event stream consumer', { remoteAddress, buffered: res.writableLength });
        cleanup();
        res.destroy();
      }
    };
    const wanted = (type: string) => filter.size === 0 || filter.has(type);
    const send = (ev: MarathonEvent) => {
      if (!wanted(ev.eventType)) return;
      let frame: string;
      try {
        frame = sseFrame({ ...(render(ev) as object), eventType: ev.eventType });
      } catch (e) {
        log.warn('could not render an event', { eventType: ev.eventType, error: (e as Error).message });
        return;
      }
      write(frame);
    };

    if (wanted('event_stream_attached')) write(sseFrame(eventStreamAttached({ remoteAddress })));
    // Subscribe to everything and filter here: the filter may name types the bus does not know.
    const unsubscribe = bus.subscribe(send);
    const heartbeat = setInterval(() => write(':\n\n'), heartbeatMs);
    heartbeat.unref?.();

    const cleanup = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      this.open.delete(end);
    };
    const end = () => {
      cleanup();
      res.end();
    };
    this.open.add(end);
    req.on('close', cleanup);
    res.on('close', cleanup);
    res.on('error', cleanup);
  }

  closeAll(): void {
    for (const end of [...this.open]) end();
  }
}
