// Which routes answer a request: the routes every master serves itself (health, version,
// /master/redirect), then either the leading term's routes or, on a follower (or a leader still
// recovering its registry), a catch-all that redirects to the leader as Mesos does: 307 with
// `Location: <leader URL><same path and query>` (HTTP clients re-send the body on 307), or 503 while
// no leader is known. A follower answers /metrics/snapshot itself (master/elected = 0).
import { Router, type Handler, type Reply } from '../http/server.ts';
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

  constructor(view: () => LeaderView, metrics: () => Record<string, number>) {
    super();
    const handler: Handler = (rc) => followerReply(view(), rc.req.url ?? rc.path);
    this.redirect = { methods: ['*'], parts: [], handler, errorFormat: 'text' };
    this.own.on(['GET', 'HEAD'], '/metrics/snapshot', (rc) => jsonReply(metrics(), rc.query));
  }

  override match(method: string, path: string): Match {
    const m = this.own.match(method, path);
    return m.route ? m : { route: this.redirect, params: {}, allowed: [] };
  }
}
