// One leadership term: a fresh MasterContext over the registry as the store holds it now, the
// term's routes, and its timers. A single master has one term for its whole life; an HA master one
// per election won. stop() ends everything the term started (timers, scheduler streams, sends to
// agents, registry writes) so that nothing from a deposed term acts after it.
import { emptyResources, fromMesosResources } from '../core/resources.ts';
import { Router } from '../http/server.ts';
import { AGENT_MESSAGE_PATH } from '../protocol/internal.ts';
import type { ConflictError } from '../protocol/errors.ts';
import type { MasterInfo } from '../protocol/mesos.ts';
import type { Clock } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Transport } from '../runtime/transport.ts';
import type { Condition, Store } from '../store/store.ts';
import { agentMessageHandler } from './agent-api.ts';
import { AgentLink } from './agent-link.ts';
import { AgentService } from './agents.ts';
import type { MetricHistory } from '../core/alerts/index.ts';
import type { MasterAlerts } from './alerts-api.ts';
import { startMasterAlerts } from './alerts-term.ts';
import { registerFilesProxyRoutes } from './files-proxy.ts';
import type { MasterConfig, MasterContext } from './context.ts';
import { FrameworkService } from './frameworks.ts';
import { MasterMetrics } from './metrics.ts';
import { registrarStore } from './metrics-registrar.ts';
import { OfferService } from './offers.ts';
import { registerOperatorRoutes } from './operator-api.ts';
import { Registry } from './registry.ts';
import { schedulerHandler } from './scheduler-api.ts';
import { TermScope, type TermScopeOptions } from './scope.ts';
import { MasterState, newAgentEntry } from './state.ts';
import { TaskService } from './tasks.ts';

export interface TermDeps {
  config: MasterConfig;
  clock: Clock;
  ids: IdSource;
  log: Logger;
  transport: Transport;
  store: Store;
  /** The master id for this term: agents re-register when a PING carries a new one. */
  masterId: string;
  masterInfo: MasterInfo;
  startTime: number;
  /** The election fence every registry write of the term is made under (HA only). */
  fence?: Condition[];
  /** A registry write failed on the fence: the term is over. */
  onFenceLost?: (err: ConflictError) => void;
  /** The process's metrics, which outlive the term (default: the term's own). */
  metrics?: MasterMetrics;
  /** The process's metrics history, read by the alert rules (default: the alerts sample their own). */
  metricsHistory?: MetricHistory;
  /** HA: end the term after a stall of the process (see scope.ts). */
  stall?: TermScopeOptions;
}

export interface MasterTerm {
  readonly ctx: MasterContext;
  /** The term's routes: scheduler API, agent messages, operator API, metrics. */
  readonly router: Router;
  readonly scope: TermScope;
  /** The term's alert evaluation (GET /alerts); `alerts.service.firing()` is master/alerts_firing. */
  readonly alerts: MasterAlerts;
  /** Idempotent. */
  stop(): void;
}

export async function startTerm(d: TermDeps): Promise<MasterTerm> {
  const scope = new TermScope(d.clock, d.transport, d.stall);
  const metrics = d.metrics ?? new MasterMetrics(d.clock);
  const registry = new Registry(registrarStore(d.store, metrics), d.log.child('registry'), { fence: d.fence, onFenceLost: d.onFenceLost });
  const log = d.log;
  const ctx = {
    config: d.config,
    clock: scope.clock,
    ids: d.ids,
    log,
    transport: scope.transport,
    state: new MasterState(),
    metrics,
    registry,
    masterId: d.masterId,
    startTime: d.startTime,
    electedTime: d.clock.now(),
    masterInfo: d.masterInfo,
    active: () => scope.check(),
    safely(what: string, fn: () => void) {
      try {
        fn();
      } catch (e) {
        log.error(`${what} failed`, { error: (e as Error).message, stack: (e as Error).stack });
      }
    },
  } as MasterContext;
  ctx.agentLink = new AgentLink(ctx.transport, () => d.masterId, ctx.metrics, log.child('agent-link'));
  ctx.offers = new OfferService(ctx);
  ctx.frameworks = new FrameworkService(ctx);
  ctx.tasks = new TaskService(ctx);
  ctx.agents = new AgentService(ctx);

  let stopped = false;
  let alerts: MasterAlerts | undefined;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    scope.end();
    alerts?.stop();
    registry.seal();
    ctx.offers.stop();
    ctx.agents.stop();
    ctx.frameworks.closeAll();
  };

  try {
    await recover(ctx);
  } catch (e) {
    stop();
    throw e;
  }

  const router = new Router();
  router.on('*', '/api/v1/scheduler', schedulerHandler(ctx), 'text');
  router.on('*', '/master/api/v1/scheduler', schedulerHandler(ctx), 'text');
  router.on('POST', AGENT_MESSAGE_PATH, agentMessageHandler(ctx));
  registerOperatorRoutes(router, ctx);
  alerts = startMasterAlerts(router, ctx, d.metricsHistory);
  registerFilesProxyRoutes(router, ctx);

  ctx.offers.start();
  ctx.agents.start();
  registry.background('master info', registry.putMaster(ctx.masterInfo));
  return { ctx, router, scope, alerts: alerts!, stop };
}

/** Loads the registry: admitted agents wait for re-registration, frameworks for resubscription. */
async function recover(ctx: MasterContext): Promise<void> {
  const snapshot = await ctx.registry.load();
  const now = ctx.clock.now();
  for (const rec of snapshot.agents) {
    let total;
    try {
      total = fromMesosResources(rec.agent_info.resources);
    } catch {
      total = emptyResources();
    }
    const unreachable = rec.unreachable_time !== undefined;
    const agent = newAgentEntry(rec.agent_info.id.value, rec.agent_info, rec.endpoint, rec.version, total, unreachable ? 'unreachable' : 'recovered', rec.registered_time ?? now);
    if (unreachable) agent.unreachableTime = rec.unreachable_time;
    ctx.state.agents.set(agent.id, agent);
  }
  for (const rec of snapshot.frameworks) {
    if (!ctx.state.frameworks.has(rec.framework_info.id.value))
      ctx.state.newFramework(rec.framework_info, rec.registered_time ?? now, { connected: false, recovered: true });
  }
  if (snapshot.agents.length || snapshot.frameworks.length)
    ctx.log.info('registry recovered', { agents: snapshot.agents.length, frameworks: snapshot.frameworks.length });
}
