// Composition root of the master: resolves options, listens, and runs leadership terms (term.ts):
// a single master leads at once, for its whole life; an HA master (options.ha) starts as a follower
// that redirects to the leader and runs a term each time it wins the election (ha.ts).
import { listen, Router } from '../http/server.ts';
import type { MasterInfo } from '../protocol/mesos.ts';
import { systemClock } from '../runtime/clock.ts';
import { systemIds } from '../runtime/ids.ts';
import { createLogger } from '../runtime/log.ts';
import { httpTransport } from '../runtime/transport.ts';
import { masterInfo, resolveConfig, resolveElectionTtlMs } from './config.ts';
import { Leadership } from './ha.ts';
import type { MasterHandle, MasterOptions } from './index.ts';
import { MasterMetricsService } from './metrics-service.ts';
import { registerLocalRoutes } from './operator-api.ts';
import { FollowerRouter, MasterRouter, type LeaderView } from './router.ts';
import { startTerm, type MasterTerm, type TermDeps } from './term.ts';

/** How long a follower waits for the store to confirm the leader before redirecting an agent (else 503). */
const CONFIRM_LEADER_TIMEOUT_MS = 1000;

export { DEFAULT_MIN_ALLOCATABLE_TEXT, ipv4NetworkOrder, resolveConfig } from './config.ts';

/** `{ hostname, port }` of a leader record's MasterInfo, else of its URL. */
function redirectTarget(info: unknown, url: string): { hostname: string; port: number } | undefined {
  const i = info as Partial<MasterInfo> | undefined;
  if (i && typeof i.hostname === 'string' && typeof i.port === 'number') return { hostname: i.hostname, port: i.port };
  try {
    const u = new URL(url);
    return { hostname: u.hostname, port: Number(u.port) };
  } catch {
    return undefined;
  }
}

export async function startMaster(opts: MasterOptions): Promise<MasterHandle> {
  const config = resolveConfig(opts);
  const ttlMs = opts.ha ? resolveElectionTtlMs(opts) : 0;
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? systemIds;
  const log = opts.log ?? createLogger('master');
  const host = opts.host ?? '127.0.0.1';
  const startTime = clock.now();

  let term: MasterTerm | undefined;
  let leadership: Leadership | undefined;
  let port = opts.port ?? 5050;
  const info = (id: string) => masterInfo(id, host, config.hostname, port);
  // What this master advertises in its election record: the URL others use to reach it (never a wildcard).
  const selfUrl = () => `http://${config.hostname.includes(':') ? `[${config.hostname}]` : config.hostname}:${port}`;

  const view = (): LeaderView => {
    if (!leadership) return { kind: 'self' }; // a single master recovering its registry
    const l = leadership.leader;
    if (!l) return { kind: 'none' };
    if (l.id === leadership.candidateId) return { kind: 'self' };
    // Our own record from a term that ended (the store has not told us the key is gone yet, e.g.
    // etcd is unreachable): redirecting to ourselves would loop.
    if (l.url === selfUrl()) return { kind: 'none' };
    return { kind: 'other', url: l.url };
  };
  // What view() says, checked against a fresh read of the election before an agent is redirected:
  // a just-elected master may not have heard of its own election yet (see router.ts).
  const confirmedView = async (): Promise<LeaderView> => {
    const seen = view();
    if (seen.kind !== 'other' || !leadership) return seen;
    const l = await leadership.readLeader(CONFIRM_LEADER_TIMEOUT_MS);
    if (!l || l.url === selfUrl()) return { kind: l && l.id === leadership.candidateId ? 'self' : 'none' };
    return { kind: 'other', url: l.url };
  };
  const local = new Router();
  registerLocalRoutes(local, () => {
    if (term) return { hostname: term.ctx.masterInfo.hostname, port: term.ctx.masterInfo.port, self: true };
    const l = leadership?.leader;
    const target = l && view().kind !== 'none' ? redirectTarget(l.info, l.url) : undefined;
    return target && { ...target, self: false };
  });
  // Every master answers /metrics* itself, leader or not (master/elected says which).
  const metrics = new MasterMetricsService({ clock, log: log.child('metrics'), startTime, term: () => term, options: opts.metrics });
  metrics.register(local);
  const follower = new FollowerRouter(view, () => metrics.snapshot(), confirmedView);
  const server = await listen(
    metrics.counting(new MasterRouter(local, () => term?.router ?? follower)),
    { host, port, log },
  );
  port = server.port;

  const termDeps = (masterId: string): TermDeps => ({
    config,
    clock,
    ids,
    log,
    transport: opts.transport ?? httpTransport,
    store: opts.store,
    masterId,
    masterInfo: info(masterId),
    startTime,
    metrics: metrics.metrics,
    metricsHistory: metrics.history,
  });

  if (!opts.ha) {
    const masterId = ids.uuid();
    try {
      term = await startTerm(termDeps(masterId));
    } catch (e) {
      await server.close();
      throw e;
    }
    log.info('master started', { id: masterId, url: server.url });
  } else {
    // Ends the current term at once (synchronously: nothing of it may run after a stall is noticed).
    const stepDown = (reason: string) => {
      const t = term;
      term = undefined;
      if (!t) return;
      t.stop();
      log.warn('stepped down', { id: t.ctx.masterId, reason, timersLeft: t.scope.pendingTimers });
    };
    leadership = new Leadership({
      store: opts.store,
      clock,
      ids,
      log,
      ttlMs,
      url: selfUrl(),
      infoFor: info,
      async begin(masterId, t, depose) {
        const lose = (reason: string) => {
          stepDown(reason);
          depose(reason);
        };
        const started = await startTerm({
          ...termDeps(masterId),
          fence: t.fence,
          onFenceLost: (e) => lose(`a registry write was fenced off: ${e.message}`),
          // Past half the TTL without running, the lease may have lapsed (see scope.ts).
          stall: { stallLimitMs: ttlMs / 2, onStall: (ms) => lose(`this process was stalled for ${ms} ms; leadership may have lapsed`) },
        });
        if (t.ended || started.scope.ended) {
          started.stop();
          return;
        }
        term = started;
      },
      end: stepDown,
      onEvent: opts.ha.onLeadership,
    });
    leadership.start();
    log.info('master started as a candidate for leadership', { url: server.url, electionTtlMs: ttlMs });
  }

  metrics.start();
  let closed = false;
  return {
    url: server.url,
    port: server.port,
    isLeading: () => term !== undefined,
    async close() {
      if (closed) return;
      closed = true;
      metrics.stop();
      await leadership?.close();
      term?.stop();
      term = undefined;
      await server.close();
    },
  };
}
