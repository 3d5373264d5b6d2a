// A follower's leader proxy (Marathon's LeaderProxyFilter + RequestForwarder): the request goes to
// the leader as it came (method, path, query, headers, body streamed), and the leader's answer comes
// back as it is (status, headers, body streamed — so GET /v2/events, a Server-Sent Events stream,
// flows through for as long as the leader keeps it open). Marathon's headers: `X-Marathon-Via:
// 1.1 <host:port>` on the forwarded request and on the answer (a request already carrying our own
// Via is a loop: 502), `X-Forwarded-For` with the client's address. Failures before the leader
// answered are Marathon's 502/504s with a JSON message; after, the client's connection is cut.
import http from 'node:http';
import { silentLogger, type Logger } from '../../runtime/log.ts';

export const HEADER_VIA = 'x-marathon-via';
export const HEADER_FORWARDED_FOR = 'x-forwarded-for';
export const ERROR_LOOP = 'Detected proxying loop.';
export const ERROR_REFUSED = 'Connection to leader refused.';
export const ERROR_TIMEOUT = 'Connection to leader timed out.';
export const ERROR_BAD_CONNECTION = 'Failed to successfully establish a connection to the leader.';

export interface LeaderProxyOptions {
  /** This instance's `host:port`: its Via value is `1.1 <self>`. */
  self: string;
  /** Time allowed for the leader's response headers (Marathon's leader_proxy_read_timeout_ms; default 10 s). */
  timeoutMs?: number;
  log?: Logger;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, not the message's; host names the leader.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

export class LeaderProxy {
  private readonly via: string;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly log: Logger;
  private readonly inFlight = new Set<http.ClientRequest>();

  constructor(private readonly opts: LeaderProxyOptions) {
    this.via = `1.1 ${opts.self}`;
    this.log = opts.log ?? silentLogger;
  }

  /** Forwards req to `leaderUrl` (a base URL, e.g. http://10.0.0.2:8080) and streams the answer into res. */
  forward(req: http.IncomingMessage, res: http.ServerResponse, leaderUrl: string): void {
    const seen = headerValues(req.headers[HEADER_VIA]);
    if (seen.includes(this.via)) {
      this.log.error('proxy loop: the request already came through this instance', { url: req.url, via: seen });
      req.resume();
      return fail(res, 502, ERROR_LOOP);
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '/', leaderUrl);
    } catch {
      req.resume();
      return fail(res, 502, ERROR_BAD_CONNECTION);
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue;
      headers[name] = value;
    }
    // A chunked request body stays chunked: Node adds transfer-encoding itself when no length is known.
    headers[HEADER_VIA] = [...seen, this.via].join(', ');
    const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    headers[HEADER_FORWARDED_FOR] = [...headerValues(req.headers[HEADER_FORWARDED_FOR]), client].filter(Boolean).join(',');

    const up = http.request(target, { method: req.method, headers, agent: this.agent });
    this.inFlight.add(up);
    up.once('close', () => this.inFlight.delete(up));
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    let answered = false;
    const timer = setTimeout(() => {
      if (answered) return;
      up.destroy(Object.assign(new Error('timed out'), { code: 'PROXY_TIMEOUT' }));
    }, timeoutMs);

    up.on('response', (upRes) => {
      answered = true;
      clearTimeout(timer);
      const out: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upRes.headers)) {
        if (value === undefined || HOP_BY_HOP.has(name)) continue;
        out[name] = value;
      }
      out[HEADER_VIA] = [...headerValues(upRes.headers[HEADER_VIA]), this.via].join(', ');
      if (res.headersSent || res.destroyed) {
        upRes.destroy();
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out);
      // Event streams must reach the client frame by frame.
      if (/^text\/event-stream/i.test(String(upRes.headers['content-type'] ?? ''))) res.socket?.setNoDelay(true);
      res.flushHeaders();
      upRes.pipe(res);
      upRes.once('aborted', () => res.destroy());
      upRes.once('error', () => res.destroy());
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (answered || res.headersSent) {
        res.destroy();
        return;
      }
      const code = err.code ?? '';
      this.log.warn('proxying to the leader failed', { leader: leaderUrl, method: req.method, url: req.url, error: err.message, code });
      if (code === 'ECONNREFUSED') fail(res, 502, ERROR_REFUSED);
      else if (code === 'PROXY_TIMEOUT' || code === 'ETIMEDOUT') fail(res, 504, ERROR_TIMEOUT);
      else fail(res, 502, ERROR_BAD_CONNECTION);
    });
    // The client went away (an event stream closed, a request aborted): stop talking to the leader.
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }

  /** Cuts every forwarded exchange still open (event streams included). */
  close(): void {
    for (const up of [...this.inFlight]) up.destroy();
    this.agent.destroy();
  }
}

function headerValues(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

function fail(res: http.ServerResponse, status: number, message: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
