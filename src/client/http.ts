// Small node:http helpers shared by the scheduler and operator clients:
// keep-alive agents, bounded buffered requests, 307 redirects (Mesos sends
// protocol-relative `Location: //host:port/path`), and one mapping from
// transport failures / HTTP statuses to CorralError.
import http from 'node:http';
import { CorralError, UnavailableError, httpStatusOf, type ErrorCode } from '../protocol/errors.ts';

export const MAX_REDIRECTS = 5;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  agent?: http.Agent;
  /** Whole-request deadline (connect + response). Default 30 s. */
  timeoutMs?: number;
  /** Follow 307/308 (and for GET 301/302/303) redirects. Default true. */
  followRedirects?: boolean;
  /** Names the peer in connection errors: "cannot reach master at URL: …". */
  peer?: string;
}

export function keepAliveAgent(maxSockets = 16): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 });
}

/** Strips a trailing slash; accepts `host:port` and adds http://. */
export function normalizeBaseUrl(url: string): string {
  let u = url.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) u = `http://${u.replace(/^\/\//, '')}`;
  const parsed = new URL(u);
  if (parsed.protocol !== 'http:') throw new CorralError('BAD_REQUEST', `unsupported URL scheme in ${url} (only http:// is supported)`);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** Resolves a Location header (absolute, protocol-relative `//host:port/p` or path-only) against the request URL. */
export function resolveLocation(location: string, requestUrl: string): string {
  return new URL(location, requestUrl).toString();
}

/** `http://host:port/path?q` → `http://host:port` (the base URL a redirect moves us to). */
export function baseOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

const codeByStatus = new Map<number, ErrorCode>(
  (Object.entries(httpStatusOf) as [ErrorCode, number][]).map(([code, status]) => [status, code]),
);

/** A CorralError for a non-2xx reply; the message carries the status and the body text. */
export function httpError(status: number, body: Buffer | string, what: string): CorralError {
  const text = (Buffer.isBuffer(body) ? body.toString('utf8') : body).trim();
  let detail = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (parsed && typeof parsed.message === 'string') detail = parsed.message;
  } catch {
    // plain text body (Mesos's scheduler API answers errors as text/plain)
  }
  const code = codeByStatus.get(status) ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
  return new CorralError(code, `${what} failed: ${status} ${http.STATUS_CODES[status] ?? ''}${detail ? `: ${detail}` : ''}`.replace(/ :/, ':'), {
    status,
    body: text,
  });
}

/** Wraps a socket-level failure (ECONNREFUSED, timeout, reset) into UnavailableError naming the URL. */
export function unreachable(url: string, err: unknown, peer?: string): UnavailableError {
  const e = err as NodeJS.ErrnoException;
  const reason = e?.code && !String(e.message).includes(e.code) ? `${e.code} ${e.message}` : (e?.message ?? String(err));
  return new UnavailableError(`cannot reach ${peer ? `${peer} at ` : ''}${baseOf(url)}: ${reason}`, {
    url,
    peer,
    cause: e?.code,
  });
}

/** One request, fully buffered; rejects with UnavailableError when the peer cannot be reached. */
export function requestOnce(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      reject(err instanceof CorralError ? err : unreachable(url, err, opts.peer));
    };
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...opts.headers };
    if (body) headers['content-length'] = String(body.length);
    let req: http.ClientRequest;
    try {
      req = http.request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent });
    } catch (err) {
      fail(err);
      return;
    }
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`no response within ${opts.timeoutMs ?? 30_000} ms`), { code: 'ETIMEDOUT' }));
    }, opts.timeoutMs ?? 30_000);
    timer.unref?.();
    req.on('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          res.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        fail(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url });
      });
    });
    req.end(body);
  });
}

function isRedirect(status: number, method: string): boolean {
  if (status === 307 || status === 308) return true;
  return method === 'GET' && (status === 301 || status === 302 || status === 303);
}

/** requestOnce plus redirect following (the body is re-sent on 307/308, as HTTP requires). */
export async function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  let current = url;
  const method = opts.method ?? 'GET';
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(current, opts);
    if (opts.followRedirects === false || !isRedirect(res.status, method)) return res;
    const location = res.headers.location;
    if (!location) return res;
    if (hop >= MAX_REDIRECTS) throw new UnavailableError(`too many redirects starting at ${url}`, { url });
    current = resolveLocation(location, current);
  }
}

/** GET + JSON parse; non-2xx → CorralError with status and body. */
export async function getJson<T>(url: string, opts: RequestOptions = {}): Promise<T> {
  const res = await request(url, { ...opts, method: 'GET', headers: { accept: 'application/json', ...opts.headers } });
  if (res.status < 200 || res.status >= 300) throw httpError(res.status, res.body, `GET ${new URL(url).pathname}`);
  try {
    return JSON.parse(res.body.toString('utf8')) as T;
  } catch (err) {
    throw new CorralError('INTERNAL', `GET ${url}: response is not JSON: ${(err as Error).message}`, { url });
  }
}
