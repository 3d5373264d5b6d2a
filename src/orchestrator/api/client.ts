// A small client for the Marathon v2 API (the `corral app|deployment` CLI and
// tests use it): JSON requests with Marathon's error bodies turned into
// MarathonApiError, and an SSE reader for /v2/events.
import http from 'node:http';
import { keepAliveAgent, normalizeBaseUrl, requestOnce, unreachable } from '../../client/http.ts';
import { CorralError, UnavailableError, httpStatusOf, type ErrorCode } from '../../protocol/errors.ts';

export const DEFAULT_ORCHESTRATOR = 'http://127.0.0.1:8080';

const codeByStatus = new Map<number, ErrorCode>(
  (Object.entries(httpStatusOf) as [ErrorCode, number][]).map(([code, status]) => [status, code]),
);

/** A non-2xx answer: `status`, Marathon's `message`, and the parsed body (details, deployments…). */
export class MarathonApiError extends CorralError {
  constructor(
    readonly httpStatus: number,
    message: string,
    readonly body: unknown,
  ) {
    super(codeByStatus.get(httpStatus) ?? (httpStatus >= 500 ? 'INTERNAL' : 'BAD_REQUEST'), message, { status: httpStatus, body });
  }
}

export interface ApiResponse<T = any> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
  text: string;
}

export interface MarathonEventFrame {
  event: string;
  data: any;
}

/** Formats Marathon's `details` (422 `[{path, errors}]` or a string) as one line. */
export function describeDetails(details: unknown): string {
  if (typeof details === 'string') return details;
  if (!Array.isArray(details)) return '';
  return details
    .map((d: { path?: unknown; errors?: unknown }) => {
      const errs = Array.isArray(d?.errors) ? d.errors.join(', ') : String(d?.errors ?? '');
      return `${typeof d?.path === 'string' ? d.path : '/'}: ${errs}`;
    })
    .join('; ');
}

export class MarathonClient {
  readonly baseUrl: string;
  private readonly agent = keepAliveAgent(8);

  constructor(baseUrl: string, private readonly timeoutMs = 30_000) {
    this.baseUrl = normalizeBaseUrl(baseUrl);
  }

  close(): void {
    this.agent.destroy();
  }

  url(path: string, query?: Record<string, string | number | boolean | string[] | undefined>): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, x);
      else u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  /** One request; non-2xx → MarathonApiError with Marathon's message (and details). */
  async request<T = any>(
    method: string,
    path: string,
    opts: { query?: Record<string, string | number | boolean | string[] | undefined>; body?: unknown; accept?: string } = {},
  ): Promise<ApiResponse<T>> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    let res: Awaited<ReturnType<typeof requestOnce>>;
    try {
      res = await requestOnce(url, { method, headers, body, agent: this.agent, timeoutMs: this.timeoutMs, peer: 'orchestrator' });
    } catch (e) {
      if (e instanceof UnavailableError && /^cannot reach/.test(e.message))
        throw new UnavailableError(`${e.message} (is \`corral orchestrator\` running? set --orchestrator or CORRAL_ORCHESTRATOR)`, e.details);
      throw e;
    }
    const text = res.body.toString('utf8');
    let parsed: any = undefined;
    if (text && /json/.test(String(res.headers['content-type'] ?? ''))) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (res.status < 200 || res.status >= 300) {
      const msg = parsed && typeof parsed.message === 'string' ? parsed.message : text.trim() || http.STATUS_CODES[res.status] || 'error';
      const details = parsed ? describeDetails(parsed.details) : '';
      throw new MarathonApiError(res.status, `${method} ${path}: ${res.status} ${msg}${details ? ` (${details})` : ''}`, parsed ?? text);
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  async get<T = any>(path: string, query?: Record<string, string | number | boolean | string[] | undefined>): Promise<T> {
    return (await this.request<T>('GET', path, { query })).body;
  }

  /**
   * Opens /v2/events and calls `onEvent` for every frame (the first is
   * `event_stream_attached`). Resolves once the stream is attached; `closed`
   * settles when the server ends the stream or close() is called.
   */
  async events(
    onEvent: (frame: MarathonEventFrame) => void,
    opts: { types?: string[] } = {},
  ): Promise<{ close(): void; closed: Promise<void> }> {
    const url = this.url('/v2/events', { event_type: opts.types });
    return new Promise((resolve, reject) => {
      let attached = false;
      let closedResolve!: () => void;
      const closed = new Promise<void>((r) => (closedResolve = r));
      const req = http.request(url, { method: 'GET', headers: { accept: 'text/event-stream' } });
      const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })), this.timeoutMs);
      const handle = { close: () => req.destroy(), closed };
      req.on('error', (e) => {
        clearTimeout(timer);
        if (!attached) reject(unreachable(url, e, 'orchestrator'));
        closedResolve();
      });
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          clearTimeout(timer);
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => reject(new MarathonApiError(res.statusCode ?? 0, `GET /v2/events: ${res.statusCode} ${text.trim()}`, text)));
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        let event = 'message';
        let data: string[] = [];
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).replace(/\r$/, '');
            buf = buf.slice(nl + 1);
            if (line === '') {
              if (data.length) {
                let parsed: unknown;
                try {
                  parsed = JSON.parse(data.join('\n'));
                } catch {
                  parsed = data.join('\n');
                }
                if (!attached && event === 'event_stream_attached') {
                  attached = true;
                  clearTimeout(timer);
                  resolve(handle);
                }
                try {
                  onEvent({ event, data: parsed });
                } catch {
                  // a consumer's bug must not kill the stream reader
                }
              }
              event = 'message';
              data = [];
              continue;
            }
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
          }
        });
        res.on('close', () => {
          clearTimeout(timer);
          if (!attached) reject(new CorralError('UNAVAILABLE', 'the event stream ended before it was attached'));
          closedResolve();
        });
        // A server that filters event_stream_attached away: count the open response as attached.
        if (opts.types?.length && !opts.types.includes('event_stream_attached')) {
          attached = true;
          clearTimeout(timer);
          resolve(handle);
        }
      });
      req.end();
    });
  }
}
