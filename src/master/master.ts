// Composition root of the master: resolves options, recovers the registry,
// wires the services, mounts the HTTP routes and starts the timers.
import { parseMinAllocatable } from '../core/allocator/index.ts';
import { emptyResources, fromMesosResources } from '../core/resources.ts';
import { listen, Router } from '../http/server.ts';
import { AGENT_MESSAGE_PATH } from '../protocol/internal.ts';
import type { MasterInfo } from '../protocol/mesos.ts';
import { systemClock } from '../runtime/clock.ts';
import { systemIds } from '../runtime/ids.ts';
import { createLogger } from '../runtime/log.ts';
import { httpTransport } from '../runtime/transport.ts';
import { agentMessageHandler } from './agent-api.ts';
import { AgentLink } from './agent-link.ts';
import { AgentService } from './agents.ts';
import type { MasterConfig, MasterContext } from './context.ts';
import { FrameworkService } from './frameworks.ts';
import type { MasterHandle, MasterOptions } from './index.ts';
import { MasterMetrics } from './metrics.ts';
import { OfferService } from './offers.ts';
import { registerOperatorRoutes } from './operator-api.ts';
import { Registry } from './registry.ts';
import { schedulerHandler } from './scheduler-api.ts';
import { MasterState, newAgentEntry } from './state.ts';
import { TaskService } from './tasks.ts';
import { MESOS_COMPAT_VERSION } from './version.ts';

export const DEFAULT_MIN_ALLOCATABLE_TEXT = 'cpus:0.01|mem:32';

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`master option ${name} must be a positive number, got ${v}`);
  return v;
}

export function resolveConfig(opts: MasterOptions): MasterConfig {
  const minText = opts.minAllocatableResources ?? DEFAULT_MIN_ALLOCATABLE_TEXT;
  return {
    hostname: opts.hostname ?? opts.host ?? '127.0.0.1',
    allocationIntervalMs: positive(opts.allocationIntervalMs, 1000, 'allocationIntervalMs'),
    offerTimeoutMs: opts.offerTimeoutMs === undefined ? undefined : positive(opts.offerTimeoutMs, 0, 'offerTimeoutMs'),
    heartbeatIntervalSeconds: positive(opts.heartbeatIntervalSeconds, 15, 'heartbeatIntervalSeconds'),
    agentPingTimeoutMs: positive(opts.agentPingTimeoutMs, 3000, 'agentPingTimeoutMs'),
    maxAgentPingTimeouts: Math.ceil(positive(opts.maxAgentPingTimeouts, 3, 'maxAgentPingTimeouts')),
    agentReregisterTimeoutMs: positive(opts.agentReregisterTimeoutMs, 60_000, 'agentReregisterTimeoutMs'),
    minAllocatable: parseMinAllocatable(minText),
    minAllocatableText: minText,
  };
}

/** MasterInfo.ip: the IPv4 address as a uint32 in network byte order (127.0.0.1 → 16777343), 0 if not IPv4. */
export function ipv4NetworkOrder(host: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (!m) return 0;
  const [a, b, c, d] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  return (a + b * 2 ** 8 + c * 2 ** 16 + d * 2 ** 24) >>> 0;
}

function masterInfo(id: string, host: string, hostname: string, port: number): MasterInfo {
  const ip = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    id,
    ip: ipv4NetworkOrder(ip),
    port,
    pid: `master@${ip}:${port}`,
    hostname,
    version: MESOS_COMPAT_VERSION,
    address: { hostname, ip, port },
  };
}

export async function startMaster(opts: MasterOptions): Promise<MasterHandle> {
  const config = resolveConfig(opts);
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? systemIds;
  const log = opts.log ?? createLogger('master');
  const host = opts.host ?? '127.0.0.1';
  const masterId = ids.uuid();
  const metrics = new MasterMetrics();
  const registry = new Registry(opts.store, log.child('registry'));

  const ctx = {
    config,
    clock,
    ids,
    log,
    transport: opts.transport ?? httpTransport,
    state: new MasterState(),
    metrics,
    registry,
    masterId,
    startTime: clock.now(),
    masterInfo: masterInfo(masterId, host, config.hostname, opts.port ?? 5050),
    safely(what: string, fn: () => void) {
      try {
        fn();
      } catch (e) {
        log.error(`${what} failed`, { error: (e as Error).message, stack: (e as Error).stack });
      }
    },
  } as MasterContext;
  ctx.agentLink = new AgentLink(ctx.transport, () => masterId, metrics, log.child('agent-link'));
  ctx.offers = new OfferService(ctx);
  ctx.frameworks = new FrameworkService(ctx);
  ctx.tasks = new TaskService(ctx);
  ctx.agents = new AgentService(ctx);

  // Recover the registry: admitted agents wait for re-registration, frameworks for resubscription.
  const snapshot = await registry.load();
  const now = clock.now();
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
    log.info('registry recovered', { agents: snapshot.agents.length, frameworks: snapshot.frameworks.length });

  const router = new Router();
  router.on('*', '/api/v1/scheduler', schedulerHandler(ctx), 'text');
  router.on('*', '/master/api/v1/scheduler', schedulerHandler(ctx), 'text');
  router.on('POST', AGENT_MESSAGE_PATH, agentMessageHandler(ctx));
  registerOperatorRoutes(router, ctx);

  const server = await listen(router, { host, port: opts.port ?? 5050, log });
  ctx.masterInfo = masterInfo(masterId, host, config.hostname, server.port);
  ctx.offers.start();
  ctx.agents.start();
  registry.background('master info', registry.putMaster(ctx.masterInfo));
  log.info('master started', { id: masterId, url: server.url });

  let closed = false;
  return {
    url: server.url,
    port: server.port,
    async close() {
      if (closed) return;
      closed = true;
      ctx.offers.stop();
      ctx.agents.stop();
      ctx.frameworks.closeAll();
      await server.close();
    },
  };
}
