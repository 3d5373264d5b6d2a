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
import { isWildcardHost, loopbackFor } from '../../protocol/hosts.ts';

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

/** The API's request handling, without a listening socket (an HA front serves it only while leading). */
export interface OrchestratorApiHandler {
  handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
  /** Ends every open event stream (clients reconnect, e.g. through a follower to the new leader). */
  closeStreams(): void;
}

export interface OrchestratorApiOptions {
  service: OrchestratorService;
  log?: Logger;
  heartbeatMs?: number;
  /** `host:port` this API answers on (for /v2/leader and /v2/info). */
  self(): string;
  /** Base URL for Location headers when the request has no usable Host header. */
  defaultBase(): string;
}

export function createOrchestratorApi(opts: OrchestratorApiOptions): OrchestratorApiHandler {
  const log = opts.log ?? silentLogger;
  const api: Api = {
    service: opts.service,
    log,
    leader: opts.self,
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

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const ctx = makeContext(req, res, opts.defaultBase());
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
      sendError(res, e, log);
    } finally {
      // Unread request bodies (e.g. a DELETE with a body) must not stall keep-alive.
      if (!req.complete) req.resume();
    }
  }

  return { handle, closeStreams: () => streams.closeAll() };
}

/** Answers a thrown error in Marathon's JSON shape (or cuts a response already under way). */
export function sendError(res: http.ServerResponse, e: unknown, log: Logger): void {
  const { status, body } = errorResponse(e);
  const req = res.req;
  if (status >= 500) log.error('request failed', { method: req?.method, url: req?.url, error: (e as Error)?.message, stack: (e as Error)?.stack });
  if (!res.headersSent) send(res, { status, body });
  else res.end();
}

export interface HttpListener {
  url: string;
  host: string;
  port: number;
  /** `host:port` clients are told (the machine's hostname when bound to a wildcard address). */
  advertised: string;
  server: http.Server;
  /** Stops listening and cuts every open connection (event streams included). */
  close(): Promise<void>;
}

/**
 * Listens on host:port (0 = any free port) with the settings the Marathon API needs (keep-alive
 * longer than common clients', no request timeout: event streams stay open); `handler` gets every
 * request once the port is known.
 */
export async function listenHttp(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  opts: { host?: string; port?: number },
): Promise<HttpListener> {
  const host = opts.host ?? '127.0.0.1';
  const wildcard = isWildcardHost(host);
  const local = wildcard ? loopbackFor(host) : host;
  const server = http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // the event stream stays open
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    url: `http://${hostPort(local, port)}`,
    host,
    port,
    advertised: hostPort(wildcard ? os.hostname() : host, port),
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

export function hostPort(h: string, port: number): string {
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export async function startOrchestratorServer(opts: OrchestratorServerOptions): Promise<OrchestratorServer> {
  const log = opts.log ?? silentLogger;
  // The port is known only once listening; the handler asks for it per request.
  let listener: HttpListener | undefined;
  const api = createOrchestratorApi({
    service: opts.service,
    log,
    heartbeatMs: opts.heartbeatMs,
    // What clients are told: /v2/leader names this machine; `url` is reachable locally.
    self: () => listener!.advertised,
    defaultBase: () => listener!.url,
  });
  listener = await listenHttp((req, res) => void api.handle(req, res), { host: opts.host, port: opts.port });
  const l = listener;
  log.info('Marathon API listening', { url: l.url });
  return {
    url: l.url,
    host: l.host,
    port: l.port,
    server: l.server,
    close: () => {
      api.closeStreams();
      return l.close();
    },
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
