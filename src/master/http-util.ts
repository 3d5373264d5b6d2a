// Small, pure HTTP helpers for the master's endpoints: media types, Accept
// negotiation (as libprocess's Request::acceptsMediaType), form bodies, JSONP.
import type { Reply } from '../http/server.ts';

export const APPLICATION_JSON = 'application/json';
export const APPLICATION_PROTOBUF = 'application/x-protobuf';

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const t = header.split(';')[0]!.trim().toLowerCase();
  return t === '' ? undefined : t;
}

/**
 * True when an Accept header allows `type` (absent or empty header = anything).
 * The most specific matching range decides; q=0 refuses.
 */
export function acceptsMediaType(accept: string | undefined, type: string): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  const [main, sub] = type.toLowerCase().split('/');
  let best = -1;
  let bestQ = 0;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';').map((s) => s.trim());
    if (!range) continue;
    const [m, s] = range.toLowerCase().split('/');
    let specificity: number;
    if (m === '*' && (s === '*' || s === undefined)) specificity = 0;
    else if (m === main && s === '*') specificity = 1;
    else if (m === main && s === sub) specificity = 2;
    else continue;
    let q = 1;
    for (const p of params) {
      const mq = /^q=([0-9.]+)$/i.exec(p);
      if (mq) q = Number(mq[1]);
    }
    if (specificity > best) {
      best = specificity;
      bestQ = Number.isFinite(q) ? q : 0;
    }
  }
  return best >= 0 && bestQ > 0;
}

/** application/x-www-form-urlencoded body → params ('' → none). */
export function parseForm(body: string): URLSearchParams {
  return new URLSearchParams(body);
}

/** Wraps a JSON reply in `callback(...)` when the query asks for JSONP (legacy endpoints). */
export function jsonReply(body: unknown, query: URLSearchParams): Reply {
  const jsonp = query.get('jsonp');
  if (jsonp && /^[A-Za-z_$][\w$.]*$/.test(jsonp)) {
    return { status: 200, body: `${jsonp}(${JSON.stringify(body)});`, headers: { 'content-type': 'text/javascript' } };
  }
  return { status: 200, body };
}

export const text = (status: number, body: string, headers: Record<string, string> = {}): Reply => ({
  status,
  body,
  headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
});
