// The orchestrator in HA mode (Marathon's high availability, marathon.md §9.1): several instances
// share one store (etcd); each serves the Marathon API, exactly one leads. The leader runs the
// runtime over a *fenced* view of the store (every write conditional on its election key, so a
// deposed leader cannot write anything); the followers proxy every API call to it. When the leader
// dies, pauses or abdicates, another instance is elected, loads the state the old one wrote,
// re-subscribes with the same framework id and reconciles: tasks keep running, deployments resume.
//
// Answered by every instance itself: /ping, GET /v2/leader, /v2/info. Everything else: the leader
// serves it (with `X-Marathon-Leader`), a follower forwards it (proxy.ts), and while no leader is
// known (or this one was just elected and is still loading its state) the answer is 503.
import type http from 'node:http';
import os from 'node:os';
import type { Term } from '../../coordination/election.ts';
import { fencedStore, type FencedStore } from '../../coordination/fenced-store.ts';
import { ORCHESTRATOR_ELECTION, type Leader } from '../../coordination/leader.ts';
import { systemClock } from '../../runtime/clock.ts';
import { systemIds } from '../../runtime/ids.ts';
import { silentLogger } from '../../runtime/log.ts';
import { startOrchestrator } from '../index.ts';
import { keys } from '../keys.ts';
import { ORCHESTRATOR_VERSION, type OrchestratorRuntime } from '../runtime.ts';
import type { OrchestratorInfo, OrchestratorService } from '../service.ts';
import { Leadership, type OrchestratorLeadershipEvent } from './ha-leadership.ts';
import { makeContext, type ApiContext, type Reply } from './http.ts';
import { infoReply, leaderReply, type LeadershipView } from './leader-api.ts';
import { pingReply } from './misc.ts';
import { LeaderProxy } from './proxy.ts';
import { createOrchestratorApi, hostPort, listenHttp, send, sendError, splitPath, type OrchestratorApiHandler } from './server.ts';
import type { OrchestratorStackOptions } from './stack.ts';
import { isWildcardHost } from '../../protocol/hosts.ts';

export type { OrchestratorLeadershipEvent };

export const DEFAULT_ELECTION_TTL_MS = 2000;
export const HEADER_LEADER = 'X-Marathon-Leader';
export const NO_CURRENT_LEADER = 'Could not determine the current leader';
export const LEADER_STARTING = 'This instance was just elected leader and is loading its state; retry shortly';

export interface HaOrchestratorStackOptions extends OrchestratorStackOptions {
  /** Lease TTL of the election: how long a dead or paused leader holds up a new one (default 2000). */
  electionTtlMs?: number;
  /** This instance's id in the election (default: a fresh uuid). Must differ between instances. */
  instanceId?: string;
  /**
   * Base URL the other instances proxy to. Default: http://<hostname>:<port> when bound to a
   * non-loopback address and `hostname` is given, else http://<host, or the machine's name for a
   * wildcard bind>:<port>.
   */
  advertisedUrl?: string;
  /** SSE heartbeat period of the leader's /v2/events (default 15 s). */
  heartbeatMs?: number;
  /** How long a follower waits for the leader's response headers (default 10 s). */
  proxyTimeoutMs?: number;
  onLeadership?: (e: OrchestratorLeadershipEvent) => void;
}

export interface HaOrchestratorStack {
  /** This instance's Marathon API base URL (local). */
  url: string;
  port: number;
  /** This instance's id in the election. */
  id: string;
  /** The URL recorded in the election (what followers proxy to). */
  advertisedUrl: string;
  /** True while this instance holds the election (its runtime may still be loading). */
  readonly elected: boolean;
  /** The runtime, while this instance leads and serves. */
  readonly service: OrchestratorService | undefined;
  /** The leader as the election says (undefined: none known). */
  leader(): Leader | undefined;
  /** Gives up leadership if held; the instance stays a candidate. */
  abdicate(): Promise<void>;
  /**
   * Stops leading (the runtime stops; the framework is NOT torn down, tasks keep running),
   * withdraws from the election so another instance takes over at once, closes the API.
   * Does not close the store.
   */
  close(): Promise<void>;
}

interface Serving {
  fenced: FencedStore;
  runtime?: OrchestratorRuntime;
  api?: OrchestratorApiHandler;
  ended: boolean;
}

export async function startHaOrchestratorStack(opts: HaOrchestratorStackOptions): Promise<HaOrchestratorStack> {
  const {
    store,
    host,
    port,
    log = silentLogger,
    electionTtlMs = DEFAULT_ELECTION_TTL_MS,
    instanceId,
    advertisedUrl: advertisedOpt,
    heartbeatMs,
    proxyTimeoutMs,
    onLeadership,
    ...runtimeOpts
  } = opts;
  const clock = runtimeOpts.clock ?? systemClock;
  const id = instanceId ?? (runtimeOpts.ids ?? systemIds).uuid();
  const apiLog = log.child('api');

  let term: Serving | undefined;
  let leadership: Leadership | undefined;
  // Requests may arrive as soon as the port is bound: until the loop exists they see "no leader".
  const listener = await listenHttp((req, res) => void front(req, res), { host, port });
  // A --hostname names this machine to the others; a wildcard or loopback bind address cannot.
  const named = opts.hostname && !isWildcardHost(opts.hostname) && listener.host !== '127.0.0.1' ? hostPort(opts.hostname, listener.port) : undefined;
  const advertisedUrl = advertisedOpt ?? `http://${named ?? listener.advertised}`;
  const self = hostPortOf(advertisedUrl);
  const proxy = new LeaderProxy({ self, timeoutMs: proxyTimeoutMs, log: apiLog.child('proxy') });

  const serving = (): Serving | undefined => (term && !term.ended && term.api ? term : undefined);
  const remoteLeader = (): Leader | undefined => {
    const l = leadership?.leader;
    return l && l.id !== id ? l : undefined;
  };
  const view: LeadershipView = {
    elected: () => leadership?.elected ?? false,
    leader: () => {
      const l = leadership?.leader;
      return l ? hostPortOf(l.url) : undefined;
    },
    abdicate: () => leadership?.abdicate() ?? Promise.resolve(),
  };

  async function standbyInfo(): Promise<OrchestratorInfo> {
    const fw = await store.get(keys.frameworkId).catch(() => undefined);
    return {
      name: 'marathon',
      version: ORCHESTRATOR_VERSION,
      frameworkId: fw?.value || null,
      frameworkName: runtimeOpts.frameworkName ?? 'marathon',
      masterUrl: runtimeOpts.masterUrl,
      connected: false,
      role: runtimeOpts.role ?? '*',
      user: runtimeOpts.user ?? processUser(),
      failoverTimeoutSeconds: runtimeOpts.failoverTimeoutSeconds ?? 7 * 24 * 3600,
      reconciliationIntervalMs: runtimeOpts.reconciliationIntervalMs ?? 600_000,
      reconciled: false,
    };
  }

  /** Answers /ping, /v2/leader and /v2/info here; undefined for everything else. */
  async function local(ctx: ApiContext, path: string, cur: Serving | undefined): Promise<Reply | undefined> {
    if (path !== 'ping' && path !== 'v2/leader' && path !== 'v2/info') return undefined;
    if (ctx.method === 'HEAD') {
      ctx.method = 'GET';
      ctx.head = true;
    }
    if (path === 'ping') return pingReply(ctx);
    if (path === 'v2/leader') return leaderReply(ctx, view);
    return infoReply(ctx, cur?.runtime ? cur.runtime.info() : await standbyInfo(), self, view);
  }

  async function front(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const ctx = makeContext(req, res, listener.url);
      const path = splitPath(ctx.path).join('/');
      const cur = serving();
      if (cur) res.setHeader(HEADER_LEADER, advertisedUrl);
      // A follower has no leadership to give up: the leader's instance must be asked.
      const forwardAbdication = path === 'v2/leader' && ctx.method === 'DELETE' && !cur && remoteLeader();
      const reply = forwardAbdication ? undefined : await local(ctx, path, cur);
      if (reply) {
        send(res, reply);
        if (!req.complete) req.resume();
        return;
      }
      if (cur) return await cur.api!.handle(req, res);
      const leader = remoteLeader();
      if (leader && !leadership?.elected) return proxy.forward(req, res, leader.url);
      // Expected during elections, so not logged as a failure: the client retries.
      req.resume();
      send(res, { status: 503, body: { message: leadership?.elected ? LEADER_STARTING : NO_CURRENT_LEADER } });
    } catch (e) {
      sendError(res, e, apiLog);
      if (!req.complete) req.resume();
    }
  }

  const runner = {
    async begin(t: Term, depose: (reason: string) => void): Promise<void> {
      const fenced = fencedStore(store, {
        fence: t.fence,
        onFenced: (e) => depose(`a store write was fenced off: ${e.message}`),
      });
      const s: Serving = { fenced, ended: false };
      term = s;
      const onFailedOver = (message: string) => {
        runtimeOpts.onFailedOver?.(message);
        // A deposed instance that had not noticed yet may have subscribed over this one, or this
        // one is the deposed instance: the election key tells which. The leader takes it back.
        void store.get(t.key).then(
          (kv) => {
            if (!kv || kv.revision !== t.revision) depose('the framework failed over to another instance');
          },
          () => undefined,
        );
      };
      const runtime = await startOrchestrator({ ...runtimeOpts, store: fenced, log: log.child('runtime'), onFailedOver });
      if (s.ended) {
        // The term ended while the state was loading.
        await runtime.close();
        return;
      }
      s.runtime = runtime;
      s.api = createOrchestratorApi({ service: runtime, log: apiLog, heartbeatMs, self: () => self, defaultBase: () => listener.url });
    },
    async end(reason: string): Promise<void> {
      const s = term;
      if (!s || s.ended) return;
      // At once, before anything awaits: no request is served and no write lands from here on.
      s.ended = true;
      s.fenced.seal();
      term = undefined;
      log.info('stepping down', { id, reason });
      // Event stream clients reconnect, through this instance's proxy, to the next leader.
      s.api?.closeStreams();
      // Stops timers, checks and the scheduler connection; the framework is not torn down.
      await s.runtime?.close();
    },
  };

  leadership = new Leadership({
    store,
    prefix: ORCHESTRATOR_ELECTION,
    record: { id, url: advertisedUrl },
    ttlMs: electionTtlMs,
    clock,
    log: log.child('leadership'),
    runner,
    onEvent: onLeadership,
  });
  leadership.start();
  log.info('Marathon API listening (HA: campaigning for leadership)', { url: listener.url, id, advertised: advertisedUrl });

  const l = leadership;
  return {
    url: listener.url,
    port: listener.port,
    id,
    advertisedUrl,
    get elected() {
      return l.elected;
    },
    get service() {
      return serving()?.runtime;
    },
    leader: () => l.leader,
    abdicate: () => l.abdicate(),
    async close() {
      await l.close();
      proxy.close();
      await listener.close();
    },
  };
}

/** `host:port` of a base URL (what /v2/leader names). */
function hostPortOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function processUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}
