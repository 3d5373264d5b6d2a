// HTTP plumbing of the Marathon v2 API: request context, bounded JSON bodies
// with Marathon's error shapes, query-parameter parsing the way JAX-RS does it
// (booleans: "true" ignoring case, anything else false), Accept negotiation,
// and the one mapping from thrown errors to Marathon error bodies
// (`{"message": …, "details"?: …, "deployments"?: …}`, marathon.md §2).
import type http from 'node:http';
import { MAX_BODY_BYTES, readBody } from '../../http/server.ts';
import { CorralError, ValidationError, toCorralError } from '../../protocol/errors.ts';
import { MarathonError, parseJsonBody } from '../../protocol/marathon/index.ts';

export { MAX_BODY_BYTES };

export interface Reply {
  status?: number;
  /** Objects are sent as JSON, strings as text/plain (unless headers say otherwise). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** An error that already carries Marathon's status and body. */
export class MarathonHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(typeof body.message === 'string' ? body.message : `HTTP ${status}`);
    this.name = 'MarathonHttpError';
  }
}


export interface ApiContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** Upper case; a HEAD request is routed as GET (see `head`). */
  method: string;
  /** The request was a HEAD: answered like GET, without a body. */
  head: boolean;
  /** Raw (still percent-encoded) path. */
  path: string;
  query: URLSearchParams;
  /** The client's address (for api_post_event). */
  clientIp: string;
  /** Base URL the client used (`http://host:port`), for Location headers. */
  baseUrl: string;
  /** The body as JSON (≤ 4 MiB, JSON content type); Marathon's 400/413/415 on failure. */
  json(): Promise<unknown>;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

export function makeContext(req: http.IncomingMessage, res: http.ServerResponse, defaultBase: string): ApiContext {
  const url = new URL(req.url ?? '/', 'http://localhost');
  let raw: Promise<Buffer> | undefined;
  const readRaw = () =>
    (raw ??= readBody(req, MAX_BODY_BYTES).catch((e: unknown) => {
      const err = toCorralError(e);
      if (err.code === 'PAYLOAD_TOO_LARGE')
        throw new MarathonHttpError(413, { message: `Request body is too large: the limit is ${MAX_BODY_BYTES} bytes (4 MiB).` });
      throw new MarathonHttpError(400, { message: `Could not read the request body: ${err.message}` });
    }));
  const host = req.headers.host;
  return {
    req,
    res,
    method: (req.method ?? 'GET').toUpperCase(),
    head: false,
    path: url.pathname,
    query: url.searchParams,
    clientIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    baseUrl: host && /^[\w.\-:[\]]+$/.test(host) ? `http://${host}` : defaultBase,
    async json() {
      const ct = req.headers['content-type'];
      if (ct !== undefined && ct.trim() !== '' && !JSON_TYPE.test(ct.trim())) {
        throw new MarathonHttpError(415, {
          message: `Unsupported Media Type: '${ct}'. Send the body as JSON with 'Content-Type: application/json'.`,
        });
      }
      const buf = await readRaw();
      return parseJsonBody(buf.toString('utf8'));
    },
  };
}

// ─── query parameters ───────────────────────────────────────────────────────

/** JAX-RS Boolean.valueOf semantics ("true" in any case → true, anything else false); absent → default. */
export function boolParam(q: URLSearchParams, name: string, dflt: boolean): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  if (v === '') return dflt;
  return v.trim().toLowerCase() === 'true';
}

/** All values of a repeatable parameter; each value may also be a comma list. */
export function listParam(q: URLSearchParams, ...names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) for (const v of q.getAll(n)) for (const part of v.split(',')) if (part.trim()) out.push(part.trim());
  return out;
}

// ─── content negotiation ────────────────────────────────────────────────────

interface MediaRange {
  type: string;
  q: number;
}

function parseAccept(header: string | undefined): MediaRange[] {
  if (!header || !header.trim()) return [];
  return header
    .split(',')
    .map((part) => {
      const [type, ...params] = part.trim().split(';');
      let q = 1;
      for (const p of params) {
        const m = /^\s*q\s*=\s*([\d.]+)\s*$/.exec(p);
        if (m) q = Number(m[1]);
      }
      return { type: (type ?? '').trim().toLowerCase(), q: Number.isFinite(q) ? q : 0 };
    })
    .filter((r) => r.type);
}

function quality(ranges: MediaRange[], type: string): number {
  const [major] = type.split('/');
  let best = -1;
  let specificity = -1;
  for (const r of ranges) {
    const s = r.type === type ? 2 : r.type === `${major}/*` ? 1 : r.type === '*/*' ? 0 : -1;
    if (s > specificity) {
      specificity = s;
      best = r.q;
    }
  }
  return specificity < 0 ? 0 : best;
}

/** Does the client prefer text/plain over JSON? JSON wins ties and wildcards (Marathon's order). */
export function prefersText(req: http.IncomingMessage): boolean {
  const ranges = parseAccept(req.headers.accept);
  if (!ranges.length) return false;
  const text = quality(ranges, 'text/plain');
  const json = quality(ranges, 'application/json');
  if (text <= 0) return false;
  if (text > json) return true;
  // Equal quality: only an explicit text/plain without an explicit JSON range picks text.
  return text === json && ranges.some((r) => r.type === 'text/plain') && !ranges.some((r) => r.type === 'application/json');
}

export function acceptsEventStream(req: http.IncomingMessage): boolean {
  const ranges = parseAccept(req.headers.accept);
  return ranges.some((r) => r.q > 0 && (r.type === 'text/event-stream' || r.type === 'text/*' || r.type === '*/*'));
}

// ─── errors ─────────────────────────────────────────────────────────────────

/** Maps anything thrown by a handler or the service to Marathon's status + body. */
export function errorResponse(e: unknown): { status: number; body: Record<string, unknown> } {
  if (e instanceof MarathonHttpError) return { status: e.status, body: e.body };
  if (e instanceof MarathonError) return { status: e.status, body: e.body };
  const err: CorralError = toCorralError(e);
  const body: Record<string, unknown> = { message: err.message };
  const d = err.details as Record<string, unknown>;
  // LockedError carries `deployments: [{id}]`; 422s may carry `details: [{path, errors}]`.
  if (Array.isArray(d.deployments)) body.deployments = d.deployments;
  if (Array.isArray(d.details)) body.details = d.details;
  let status = err.status;
  // Semantic 422s of the service (dependency cycle, service port conflict) carry Marathon's details.
  if (err.code === 'UNPROCESSABLE' && Array.isArray(d.details)) body.message = 'Object is not valid';
  if (err instanceof ValidationError) {
    // The service reports semantic problems with a definition (e.g. a dependency cycle) as
    // ValidationError: Marathon answers those with 422 and `details`.
    const path = typeof d.path === 'string' && d.path ? d.path : '/';
    const raw = err.message.startsWith(`${d.path}: `) ? err.message.slice(String(d.path).length + 2) : err.message;
    status = 422;
    body.message = 'Object is not valid';
    body.details ??= [{ path: path.startsWith('/') ? path : `/${path}`, errors: [raw] }];
  }
  if (status === 500 && err.code === 'INTERNAL' && !(e instanceof CorralError)) body.message = `Internal error: ${err.message}`;
  return { status, body };
}
