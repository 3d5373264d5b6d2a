// One bounded network probe (HTTP/HTTPS GET or TCP connect) for Marathon-level health and
// readiness checks. Never throws; the deadline runs on the injected clock.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Clock } from '../runtime/clock.ts';

export interface ProbeResult {
  ok: boolean;
  /** HTTP status (HTTP/HTTPS probes that got a response). */
  status?: number;
  contentType?: string;
  body?: string;
  /** Why it failed ("connect ECONNREFUSED", "timed out after 2000 ms", "500 Internal Server Error"). */
  cause?: string;
}

export interface ProbeTarget {
  protocol: 'HTTP' | 'HTTPS' | 'TCP';
  host: string;
  port: number;
  path?: string;
  timeoutMs: number;
  /** HTTP: statuses counted as success; default 200–399. */
  okStatuses?: number[];
  /** Keep up to 4 KiB of the body. */
  keepBody?: boolean;
}

const MAX_BODY = 4096;

export function probe(t: ProbeTarget, clock: Clock): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    let cleanup = () => {};
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      timer.cancel();
      cleanup();
      resolve(r);
    };
    const timer = clock.setTimeout(() => finish({ ok: false, cause: `timed out after ${t.timeoutMs} ms` }), t.timeoutMs);
    if (t.protocol === 'TCP') {
      const sock = net.connect({ host: t.host, port: t.port });
      cleanup = () => sock.destroy();
      sock.once('connect', () => finish({ ok: true }));
      sock.once('error', (e) => finish({ ok: false, cause: e.message }));
      return;
    }
    const mod = t.protocol === 'HTTPS' ? https : http;
    const req = mod.request({
      host: t.host,
      port: t.port,
      path: t.path || '/',
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'corral-orchestrator', connection: 'close' },
      ...(t.protocol === 'HTTPS' ? { rejectUnauthorized: false } : {}),
    });
    cleanup = () => req.destroy();
    req.once('error', (e) => finish({ ok: false, cause: e.message }));
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      const ok = t.okStatuses ? t.okStatuses.includes(status) : status >= 200 && status < 400;
      const contentType = String(res.headers['content-type'] ?? '');
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (t.keepBody && size < MAX_BODY) {
          chunks.push(c);
          size += c.length;
        }
      });
      const end = () =>
        finish({
          ok,
          status,
          contentType,
          ...(t.keepBody ? { body: Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8') } : {}),
          ...(ok ? {} : { cause: `${status} ${http.STATUS_CODES[status] ?? ''}`.trim() }),
        });
      res.once('end', end);
      res.once('error', end);
      if (!t.keepBody) {
        res.resume();
      }
    });
    req.end();
  });
}
