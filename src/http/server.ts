// A small HTTP shell shared by the master and the agent: routing, bounded JSON
// bodies, and one mapping from CorralError to status codes. Handlers return a
// Reply or take over the raw response (streams) and return undefined.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CorralError, ValidationError, toCorralError } from '../protocol/errors.ts';
import type { Logger } from '../runtime/log.ts';

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface Reply {
  status?: number;
  body?: unknown; // objects are sent as JSON, strings as text/plain
  headers?: Record<string, string>;
}

export interface RequestContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  /** Route parameters from `:name` segments. */
  params: Record<string, string>;
  /** Reads and parses the JSON body (≤ MAX_BODY_BYTES); throws ValidationError/413 with a clear message. */
  json(): Promise<unknown>;
  /** Raw body bytes (bounded). */
  raw(): Promise<Buffer>;
}

export type Handler = (ctx: RequestContext) => Promise<Reply | undefined> | Reply | undefined;
export type ErrorFormat = 'json' | 'text';

interface Route {
  methods: string[];
  parts: string[];
  handler: Handler;
  errorFormat: ErrorFormat;
}

export class Router {
  private routes: Route[] = [];

  /** `path` may contain `:param` segments; `methods` may be '*' for any. */
  on(methods: string | string[], path: string, handler: Handler, errorFormat: ErrorFormat = 'json'): this {
    this.routes.push({
      methods: Array.isArray(methods) ? methods : [methods],
      parts: path.split('/').filter(Boolean),
      handler,
      errorFormat,
    });
    return this;
  }

  match(method: string, path: string): { route?: Route; params: Record<string, string>; allowed: string[] } {
    const segs = path.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.routes) {
      if (route.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const p = route.parts[i]!;
        if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(segs[i]!);
        else if (p !== segs[i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (route.methods.includes('*') || route.methods.includes(method)) return { route, params, allowed };
      allowed.push(...route.methods);
    }
    return { params: {}, allowed };
  }
}

export function readBody(req: http.IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new CorralError('PAYLOAD_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new CorralError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => !failed && resolve(Buffer.concat(chunks)));
    req.on('error', (e) => !failed && reject(e));
  });
}

export function parseJsonBody(buf: Buffer): unknown {
  if (buf.length === 0) throw new ValidationError('request body is empty; expected JSON', 'body');
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new ValidationError(`malformed JSON: ${(e as Error).message}`, 'body');
  }
}

export function sendReply(res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  const status = reply.status ?? 200;
  const headers: Record<string, string> = { ...reply.headers };
  let payload: string | Buffer | undefined;
  if (reply.body === undefined || reply.body === null) payload = undefined;
  else if (typeof reply.body === 'string') {
    payload = reply.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (Buffer.isBuffer(reply.body)) {
    payload = reply.body;
    headers['content-type'] ??= 'application/octet-stream';
  } else {
    payload = JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  else headers['content-length'] = '0';
  res.writeHead(status, headers);
  res.end(payload);
}

export function errorReply(err: CorralError, format: ErrorFormat): Reply {
  if (format === 'text') return { status: err.status, body: err.message };
  return { status: err.status, body: { code: err.code, message: err.message, ...(Object.keys(err.details).length ? { details: err.details } : {}) } };
}

export interface ServerHandle {
  server: http.Server;
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port (127.0.0.1 by default; port 0 = any free port). */
export async function listen(
  router: Router,
  opts: { host?: string; port?: number; log: Logger },
): Promise<ServerHandle> {
  const log = opts.log;
  const server = http.createServer((req, res) => {
    void handle(router, req, res, log);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // streaming subscriptions stay open
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    server,
    host,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

async function handle(router: Router, req: http.IncomingMessage, res: http.ServerResponse, log: Logger): Promise<void> {
  let format: ErrorFormat = 'json';
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const { route, params, allowed } = router.match(method, url.pathname);
    if (!route) {
      if (allowed.length) {
        sendReply(res, {
          ...errorReply(new CorralError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}; use ${allowed.join(', ')}`), format),
          headers: { allow: allowed.join(', ') },
        });
      } else sendReply(res, errorReply(new CorralError('NOT_FOUND', `no such endpoint: ${url.pathname}`), format));
      return;
    }
    format = route.errorFormat;
    let bodyPromise: Promise<Buffer> | undefined;
    const raw = () => (bodyPromise ??= readBody(req));
    const ctx: RequestContext = {
      req,
      res,
      method,
      path: url.pathname,
      query: url.searchParams,
      params,
      raw,
      json: async () => parseJsonBody(await raw()),
    };
    const reply = await route.handler(ctx);
    if (reply) sendReply(res, reply);
  } catch (e) {
    const err = toCorralError(e);
    if (err.code === 'INTERNAL') log.error('request failed', { url: req.url, error: err.message, stack: (e as Error)?.stack });
    if (!res.headersSent) sendReply(res, errorReply(err, format));
    else res.end();
  }
}
