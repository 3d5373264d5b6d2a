// Small HTTP helpers for observing a lab cluster from the test process (through Lab.forward URLs):
// bounded JSON requests and a Server-Sent Events reader for the orchestrator's /v2/events.
import http from 'node:http';
import { eventually } from '../support/cluster.ts';

/** GET url → parsed JSON; rejects on non-2xx or at the deadline. */
export async function getJson<T = any>(url: string, timeoutMs = 5000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/** A request with a JSON body → {status, body} (body parsed when it is JSON). Never throws on HTTP errors. */
export async function sendJson(method: string, url: string, body?: unknown, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    signal: AbortSignal.timeout(timeoutMs),
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

export interface SseEvent {
  /** Arrival time (epoch ms). */
  at: number;
  type: string;
  data: any;
}

/**
 * Reads an SSE stream (GET url) until close(): every `event:`/`data:` frame is parsed and passed to
 * `onEvent`. `ready` resolves once the response headers arrived (the subscription is in place).
 */
export class SseReader {
  private req?: http.ClientRequest;
  private closed = false;
  readonly ready: Promise<void>;
  error?: Error;
  ended = false;

  constructor(
    url: string,
    private readonly onEvent: (ev: SseEvent) => void,
  ) {
    this.ready = new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        resolve();
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (;;) {
            const end = buf.indexOf('\n\n');
            if (end < 0) break;
            const frame = buf.slice(0, end);
            buf = buf.slice(end + 2);
            this.frame(frame);
          }
        });
        res.on('end', () => (this.ended = true));
        res.on('error', (e) => (this.error = e));
      });
      req.on('error', (e) => {
        if (!this.closed) this.error = e;
        reject(e);
      });
      this.req = req;
    });
    this.ready.catch(() => undefined);
  }

  private frame(frame: string): void {
    const ev = parseSseFrame(frame);
    if (ev) this.onEvent({ at: Date.now(), ...ev });
  }

  close(): void {
    this.closed = true;
    this.req?.destroy();
  }
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes (every 100 ms here). */
export const poll = <T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string, everyMs = 100): Promise<T> =>
  eventually(check, timeoutMs, what, everyMs);

/** One Server-Sent Events frame → its type and data (JSON when it parses); undefined for comment-only frames. */
export function parseSseFrame(frame: string): { type: string; data: unknown } | undefined {
  let type = 'message';
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
  }
  if (data.length === 0) return undefined;
  const text = data.join('\n');
  try {
    return { type, data: JSON.parse(text) };
  } catch {
    return { type, data: text };
  }
}
