// The orchestrator's Marathon v2 REST API (marathon.md §1): an HTTP server in
// front of an OrchestratorService. Parsing, validation and rendering come from
// protocol/marathon; this layer routes (ids contain slashes, so app and group
// routes are matched on a prefix and the rest is parsed here), applies
// Marathon's query-parameter defaults, status codes and headers, and maps
// every error to Marathon's JSON shapes. Nothing a client sends can crash it:
// every handler runs inside one try/catch that answers JSON.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import { silentLogger, type Logger } from '../../runtime/log.ts';
import type { OrchestratorService } from '../service.ts';
import { appRoutes } from './apps.ts';
import { EventStreams } from './events.ts';
import { groupRoutes } from './groups.ts';
import { MarathonHttpError, acceptsEventStream, errorResponse, listParam, makeContext, type ApiContext, type Reply } from './http.ts';
import { miscRoutes } from './misc.ts';
import { renderEvent } from './render.ts';

export interface OrchestratorServerOptions {
  service: OrchestratorService;
  host?: string;
  port?: number;
  log?: Logger;
  /** SSE heartbeat period (default 15 s). */
  heartbeatMs?: number;
}

export interface OrchestratorServer {
  url: string;
  host: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

export interface Api {
  service: OrchestratorService;
  log: Logger;
  /** `host:port` this server answers on (for /v2/leader and /v2/info). */
  leader(): string;
}

/** A route handler: `rest` is the decoded path below the route's prefix (segments). */
export type RouteHandler = (ctx: ApiContext, rest: string[]) => Promise<Reply | undefined> | Reply | undefined;

export interface PrefixRoute {
  /** Path prefix as segments, e.g. ['v2', 'apps']. */
  prefix: string[];
  /** When true the route also takes deeper paths (rest non-empty). */
  deep: boolean;
  handler: RouteHandler;
}

export async function startOrchestratorServer(opts: OrchestratorServerOptions): Promise<OrchestratorServer> {
  const log = opts.log ?? silentLogger;
  const host = opts.host ?? '127.0.0.1';
  let boundPort = 0;
  const wildcard = host === '0.0.0.0' || host === '::';
  // What clients are told: /v2/leader names this machine; `url` is reachable locally.
  const advertised = wildcard ? os.hostname() : host;
  const local = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const hostPort = (h: string) => `${h.includes(':') ? `[${h}]` : h}:${boundPort}`;
  const api: Api = {
    service: opts.service,
    log,
    leader: () => hostPort(advertised),
  };
  const streams = new EventStreams({ bus: opts.service.events, log, heartbeatMs: opts.heartbeatMs, render: renderEvent });

  const routes: PrefixRoute[] = [
    {
      prefix: ['v2', 'events'],
      deep: false,
      handler: (ctx) => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
        if (!acceptsEventStream(ctx.req))
          throw new MarathonHttpError(405, { message: "GET /v2/events is a Server-Sent Events stream: send 'Accept: text/event-stream'." });
        // HEAD: the stream's headers, no stream.
        if (ctx.head) return { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } };
        streams.attach(ctx.req, ctx.res, listParam(ctx.query, 'event_type', 'event_type[]'));
        return undefined;
      },
    },
    ...appRoutes(api),
    ...groupRoutes(api),
    ...miscRoutes(api),
  ];

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // the event stream stays open
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  const defaultBase = () => `http://${hostPort(local)}`;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const ctx = makeContext(req, res, defaultBase());
      // HEAD is GET without the body (same status and headers, content-length included):
      // routes see GET; Node's response drops the payload of a HEAD answer.
      if (ctx.method === 'HEAD') {
        ctx.method = 'GET';
        ctx.head = true;
      }
      const segs = splitPath(ctx.path);
      const route = findRoute(routes, segs);
      if (!route) throw new MarathonHttpError(404, { message: 'URI not found' });
      const reply = await route.handler(ctx, segs.slice(route.prefix.length));
      if (reply) send(res, reply);
    } catch (e) {
      const { status, body } = errorResponse(e);
      if (status >= 500) log.error('request failed', { method: req.method, url: req.url, error: (e as Error)?.message, stack: (e as Error)?.stack });
      if (!res.headersSent) send(res, { status, body });
      else res.end();
    } finally {
      // Unread request bodies (e.g. a DELETE with a body) must not stall keep-alive.
      if (!req.complete) req.resume();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const url = `http://${hostPort(local)}`;
  log.info('Marathon API listening', { url });
  return {
    url,
    host,
    port: boundPort,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        streams.closeAll();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** Decoded path segments; a malformed percent-escape is a 400, never a crash. */
export function splitPath(path: string): string[] {
  return path
    .split('/')
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new MarathonHttpError(400, { message: `Malformed URI component: ${s}` });
      }
    });
}

function findRoute(routes: PrefixRoute[], segs: string[]): PrefixRoute | undefined {
  let best: PrefixRoute | undefined;
  for (const r of routes) {
    if (segs.length < r.prefix.length) continue;
    if (!r.prefix.every((p, i) => segs[i] === p)) continue;
    if (segs.length > r.prefix.length && !r.deep) continue;
    if (!best || r.prefix.length > best.prefix.length) best = r;
  }
  return best;
}

export function methodNotAllowed(ctx: ApiContext, allowed: string[]): MarathonHttpError {
  return new MarathonHttpError(405, { message: `HTTP method ${ctx.method} is not supported by this URL; use ${allowed.join(', ')}` });
}

export function send(res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  const status = reply.status ?? 200;
  const headers: Record<string, string> = { ...reply.headers };
  let payload: string | undefined;
  if (reply.body === undefined || reply.body === null) payload = undefined;
  else if (typeof reply.body === 'string') {
    payload = reply.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else {
    payload = JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json';
  }
  headers['content-length'] = String(payload === undefined ? 0 : Buffer.byteLength(payload));
  res.writeHead(status, headers);
  if (res.req?.method === 'HEAD') res.end();
  else res.end(payload);
}
