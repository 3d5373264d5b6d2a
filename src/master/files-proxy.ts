// GET /files/browse|read|download on the master: forwarded to the agent that holds the sandbox
// (files-proxy-target.ts says which), so that one URL — the master's — is enough for task logs. The
// agent's answer (status, type, body) is passed through as it comes, streamed, so downloads of any
// size cost no memory here; only the wait for its headers is bounded.
import http from 'node:http';
import type { Reply, RequestContext, Router } from '../http/server.ts';
import { UnavailableError } from '../protocol/errors.ts';
import type { MasterContext } from './context.ts';
import { filesTarget } from './files-proxy-target.ts';

const HEADERS_TIMEOUT_MS = 15_000;
const FORWARDED_PARAMS = ['offset', 'length'];
const PASSED_HEADERS = ['content-type', 'content-length', 'content-disposition'];

function forward(rc: RequestContext, url: string, agentId: string): Promise<Reply | undefined> {
  return new Promise((resolve, reject) => {
    const upstream = http.get(url, { headers: { accept: rc.req.headers.accept ?? '*/*' } });
    const timer = setTimeout(() => upstream.destroy(Object.assign(new Error(`no answer within ${HEADERS_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), HEADERS_TIMEOUT_MS);
    upstream.on('error', (e) => {
      clearTimeout(timer);
      if (rc.res.headersSent) rc.res.destroy();
      else reject(new UnavailableError(`cannot reach agent ${agentId} at ${new URL(url).origin}: ${e.message}`, { agent_id: agentId }));
    });
    upstream.on('response', (res) => {
      clearTimeout(timer);
      const headers: Record<string, string> = {};
      for (const h of PASSED_HEADERS) if (typeof res.headers[h] === 'string') headers[h] = res.headers[h] as string;
      rc.res.writeHead(res.statusCode ?? 502, headers);
      res.pipe(rc.res);
      // A client that goes away stops the transfer from the agent too.
      rc.res.on('close', () => res.destroy());
      resolve(undefined);
    });
  });
}

export function registerFilesProxyRoutes(router: Router, ctx: MasterContext): void {
  for (const op of ['browse', 'read', 'download'] as const) {
    router.on(['GET', 'HEAD'], `/files/${op}`, (rc) => {
      const { agent, path } = filesTarget(ctx.state, rc.query);
      const q = new URLSearchParams({ path });
      for (const p of FORWARDED_PARAMS) {
        const v = rc.query.get(p);
        if (v !== null) q.set(p, v);
      }
      return forward(rc, `${agent.endpoint.replace(/\/+$/, '')}/files/${op}?${q}`, agent.id);
    });
  }
}
