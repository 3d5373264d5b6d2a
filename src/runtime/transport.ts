// Message transport between components. Production uses HTTP; the simulator
// substitutes an in-memory implementation with delays, drops and partitions.
import { UnavailableError } from '../protocol/errors.ts';

export interface TransportResponse {
  status: number;
  body: unknown;
}

export interface Transport {
  /** POSTs a JSON message; resolves with the reply, rejects with UnavailableError when the peer can't be reached. */
  post(url: string, body: unknown, opts?: { timeoutMs?: number; headers?: Record<string, string> }): Promise<TransportResponse>;
}

export const httpTransport: Transport = {
  async post(url, body, opts = {}) {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...opts.headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new UnavailableError(`cannot reach ${url}: ${(e as Error).message}`, { url });
    }
    const text = await res.text();
    let parsed: unknown = text;
    if (text && (res.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, body: parsed };
  },
};
