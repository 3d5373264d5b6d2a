// Which routes answer a request: the routes every master serves itself (health, version,
// /master/redirect), then either the leading term's routes or, on a follower (or a leader still
// recovering its registry), a catch-all that redirects to the leader as Mesos does: 307 with
// `Location: <leader URL><same path and query>` (HTTP clients re-send the body on 307), or 503 while
// no leader is known. A follower answers /metrics/snapshot itself (master/elected = 0).
//
// Around a failover a follower's view of the election can lag its clients' by a few ms, and a 307
// would then send them to the leader being replaced (paused, dead or cut off: the client hangs on it).
// So a request carrying NO_REDIRECT_HEADER (a client that finds the leader itself) gets 503, never a
// 307, and an agent message is redirected only to a leader a fresh read of the store confirms.
import { Router, type Handler, type Reply } from '../http/server.ts';
import { AGENT_MESSAGE_PATH } from '../protocol/internal.ts';
import { NO_REDIRECT_HEADER } from '../protocol/leader-header.ts';
import { jsonReply, text } from './http-util.ts';

type Match = ReturnType<Router['match']>;
type Route = NonNullable<Match['route']>;

/** Where the leader is, from this master's point of view. */
export type LeaderView = { kind: 'none' } | { kind: 'self' } | { kind: 'other'; url: string };

/** The server's router: delegates to `local`, then to whatever `current()` returns for this request. */
export class MasterRouter extends Router {
  constructor(
    private readonly local: Router,
    private readonly current: () => Router,
  ) {
    super();
  }

  override match(method: string, path: string): Match {
    const l = this.local.match(method, path);
    if (l.route) return l;
    // Bound once per request: a request begun in one term finishes in it, whatever happens meanwhile.
    const m = this.current().match(method, path);
    return m.route ? m : { ...m, allowed: [...l.allowed, ...m.allowed] };
  }
}

export function followerReply(view: LeaderView, pathAndQuery: string): Reply {
  switch (view.kind) {
    case 'none':
      return text(503, 'No leading master is elected at the moment; retry shortly');
    case 'self':
      return text(503, 'This master was elected and is still recovering its state; retry shortly');
    case 'other':
      return { status: 307, headers: { location: view.url.replace(/\/+$/, '') + pathAndQuery } };
  }
}

/** What a master that does not lead (yet) answers to everything but its local routes. */
export class FollowerRouter extends Router {
  private readonly redirect: Route;
  private readonly own = new Router();

  /**
   * `confirmed`: the leader per a fresh read of the election (bounded; 'none' when the store does not
   * answer), consulted before redirecting an agent message.
   */
  constructor(view: () => LeaderView, metrics: () => Record<string, number>, confirmed?: () => Promise<LeaderView>) {
    super();
    const handler: Handler = async (rc) => {
      const target = rc.req.url ?? rc.path;
      const v = view();
      if (v.kind !== 'other') return followerReply(v, target);
      if (rc.req.headers[NO_REDIRECT_HEADER] !== undefined) return text(503, 'This master does not lead; find the leading master in the election and retry');
      if (confirmed && rc.path === AGENT_MESSAGE_PATH) return followerReply(await confirmed(), target);
      return followerReply(v, target);
    };
    this.redirect = { methods: ['*'], parts: [], handler, errorFormat: 'text' };
    this.own.on(['GET', 'HEAD'], '/metrics/snapshot', (rc) => jsonReply(metrics(), rc.query));
  }

  override match(method: string, path: string): Match {
    const m = this.own.match(method, path);
    return m.route ? m : { route: this.redirect, params: {}, allowed: [] };
  }
}
