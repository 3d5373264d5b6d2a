// /v2/leader and /v2/info as an HA instance answers them itself, leader or follower (marathon.md
// §1.7, §9.1): GET /v2/leader → `{"leader":"host:port"}` from the election, 404 `{"message":"There
// is no leader"}` while none is known; DELETE /v2/leader on the leader → it abdicates (another
// instance takes over) and answers `{"message":"Leadership abdicated"}` (Marathon ≥ 1.5's spelling;
// 1.4 and older said "abdicted"); /v2/info says whether this instance is `elected` and who leads.
import type { OrchestratorInfo } from '../service.ts';
import { MarathonHttpError, type ApiContext, type Reply } from './http.ts';
import { infoJson } from './render.ts';

export const NO_LEADER = 'There is no leader';
export const ABDICATED = 'Leadership abdicated';

export interface LeadershipView {
  /** Does this instance lead now? */
  elected(): boolean;
  /** The leader's `host:port` as the election says, or undefined when none is known. */
  leader(): string | undefined;
  /** Gives up leadership (only called while elected()). */
  abdicate(): Promise<void>;
}

/** GET (HEAD) or DELETE /v2/leader. A follower forwards a DELETE to the leader before getting here. */
export function leaderReply(ctx: ApiContext, view: LeadershipView): Reply {
  if (ctx.method === 'GET') {
    const leader = view.leader();
    if (!leader) throw new MarathonHttpError(404, { message: NO_LEADER });
    return { body: { leader } };
  }
  if (ctx.method === 'DELETE') {
    if (!view.elected()) throw new MarathonHttpError(404, { message: NO_LEADER });
    // The answer goes out from this instance's own server, which stays up as a follower.
    void view.abdicate().catch(() => undefined);
    return { body: { message: ABDICATED } };
  }
  throw new MarathonHttpError(405, { message: `HTTP method ${ctx.method} is not supported by this URL; use GET, DELETE` });
}

/** GET /v2/info: `self` is this instance's `host:port` (its hostname and http_port). */
export function infoReply(ctx: ApiContext, info: OrchestratorInfo, self: string, view: LeadershipView): Reply {
  if (ctx.method !== 'GET') throw new MarathonHttpError(405, { message: `HTTP method ${ctx.method} is not supported by this URL; use GET` });
  const body = infoJson(info, self);
  const config = body.marathon_config as Record<string, unknown>;
  return { body: { ...body, elected: view.elected(), leader: view.leader() ?? null, marathon_config: { ...config, ha: true } } };
}
