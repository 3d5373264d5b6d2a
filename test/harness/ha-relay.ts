// The test process's view of a replicated service in the lab (HA masters, HA orchestrators): one
// stable URL on 127.0.0.1 that relays every HTTP request to whichever instance leads right now.
//
// Why a relay rather than pointing clients at one forward: followers answer 307 with the leader's
// *lab* address, and a client in the root namespace that followed it would leave the machine through
// its default route (see lab.ts). The relay rewrites such Locations back to itself, so following a
// redirect lands here again and goes to the leader. It also behaves like a client that watches the
// election: when the tracked leader changes, every request still open to the old one (a scheduler's
// event stream, an SSE stream) is cut, as SchedulerClient does on an etcd locator's change notice —
// a stream to a paused or partitioned leader would otherwise hang until its heartbeat watchdog.
import http from 'node:http';
import type net from 'node:net';

export interface RelayTarget {
  /** Identifies the instance (its lab URL): requests are cut when the leader's key changes. */
  key: string;
  /** Where the test process reaches it: its Lab.forward URL (http://127.0.0.1:P). */
  local: string;
}

export interface RelayOptions {
  /** The leader now, or undefined while none is known. */
  target: () => RelayTarget | undefined;
  /** Resolves when target() may have changed (bounded by the caller's wait). */
  changed: (cb: () => void) => () => void;
  /** Lab base URLs (http://10.254.x.y:port) of every instance: Locations naming one are rewritten to the relay. */
  labBases: () => string[];
  /** How long a request waits for a leader to be known before it is answered 503. Default 5000. */
  waitMs?: number;
  name?: string;
}

interface Open {
  key: string;
  down: http.ServerResponse;
  up?: http.ClientRequest;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

export class LeaderRelay {
  private server?: http.Server;
  private readonly open = new Set<Open>();
  private readonly sockets = new Set<net.Socket>();
  private readonly unwatch: () => void;
  private lastKey?: string;
  url = '';
  /** Requests cut because the leader changed (for reports). */
  cut = 0;

  constructor(private readonly opts: RelayOptions) {
    this.unwatch = opts.changed(() => this.onChange());
  }

  async listen(): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 1000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    this.lastKey = this.opts.target()?.key;
    return this.url;
  }

  private onChange(): void {
    const key = this.opts.target()?.key;
    if (key === this.lastKey) return;
    this.lastKey = key;
    // Only a *new* leader cuts: while none is known, an open stream to the old one may still be the
    // best there is (a slow probe is not a failover).
    if (key === undefined) return;
    for (const o of [...this.open]) if (o.key !== key) this.abort(o);
  }

  private abort(o: Open): void {
    this.open.delete(o);
    this.cut++;
    o.up?.destroy();
    o.down.destroy();
  }

  private async leader(): Promise<RelayTarget | undefined> {
    const now = this.opts.target();
    if (now) return now;
    const waitMs = this.opts.waitMs ?? 5000;
    return new Promise((resolve) => {
      const done = (t: RelayTarget | undefined) => {
        clearTimeout(timer);
        stop();
        resolve(t);
      };
      const timer = setTimeout(() => done(this.opts.target()), waitMs);
      const stop = this.opts.changed(() => {
        const t = this.opts.target();
        if (t) done(t);
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // The body is buffered: a request waiting for a leader must not lose it, and 307 re-sends need it.
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const target = await this.leader();
    if (!target) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `${this.opts.name ?? 'relay'}: no leader known` }));
      return;
    }
    const o: Open = { key: target.key, down: res };
    this.open.add(o);
    res.on('close', () => {
      this.open.delete(o);
      o.up?.destroy();
    });
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && k !== 'host' && v !== undefined) headers[k] = v;
    headers['content-length'] = String(body.length);
    delete headers['transfer-encoding'];
    const up = http.request(`${target.local}${req.url ?? '/'}`, { method: req.method, headers, agent: false });
    o.up = up;
    up.on('response', (ur) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(ur.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      if (typeof out.location === 'string') out.location = this.rewrite(out.location);
      if (!res.headersSent) res.writeHead(ur.statusCode ?? 502, out);
      res.flushHeaders();
      ur.on('data', (d: Buffer) => res.write(d));
      ur.on('end', () => res.end());
      ur.on('error', () => res.destroy());
    });
    up.on('error', (e) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `${this.opts.name ?? 'relay'}: ${target.key}: ${e.message}` }));
      } else res.destroy();
    });
    up.end(body);
  }

  /** A Location naming any instance's lab address points at the relay instead. */
  private rewrite(location: string): string {
    const self = new URL(this.url);
    for (const base of this.opts.labBases()) {
      const b = new URL(base);
      const hostPort = `${b.hostname}:${b.port}`;
      if (location.startsWith(`http://${hostPort}`)) return `${this.url}${location.slice(`http://${hostPort}`.length)}`;
      if (location.startsWith(`//${hostPort}`)) return `//${self.host}${location.slice(`//${hostPort}`.length)}`;
    }
    return location;
  }

  close(): void {
    this.unwatch();
    for (const o of [...this.open]) this.abort(o);
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }
}
