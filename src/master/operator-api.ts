// Operator endpoints: Mesos's legacy JSON GETs (/master/state, /master/tasks,
// …, mesos.md §3.1), /metrics/snapshot, POST /master/teardown, and the v1
// operator API (POST /api/v1, §3.2) for the read calls plus TEARDOWN; the
// reservation and volume endpoints and calls are in reserve-api.ts.
import type { Reply, RequestContext, Router } from '../http/server.ts';
import { ValidationError } from '../protocol/errors.ts';
import type { MasterContext } from './context.ts';
import { APPLICATION_JSON, acceptsMediaType, jsonReply, mediaType, parseForm, text } from './http-util.ts';
import { metricsSnapshot } from './metrics.ts';
import {
  allTasks,
  legacyFramework,
  legacySlaves,
  legacyState,
  legacyStateSummary,
  legacyTask,
  rolesOf,
  v1Agents,
  v1Frameworks,
  v1Tasks,
  type RenderContext,
} from './render.ts';
import { BUILD_INFO } from './version.ts';
import { isV1ResourceCall, registerReservationRoutes, v1ResourceCall } from './reserve-api.ts';
import { LEADING_HEADER } from '../protocol/leader-header.ts';
import { toLegacyResources, toMesosResources } from '../core/resources.ts';

/** Mesos TASK_LIMIT. */
const DEFAULT_TASK_LIMIT = 100;

export function masterFlags(ctx: MasterContext): Record<string, string> {
  const c = ctx.config;
  return {
    hostname: c.hostname,
    port: String(ctx.masterInfo.port),
    allocation_interval: `${c.allocationIntervalMs}ms`,
    offer_timeout: c.offerTimeoutMs !== undefined ? `${c.offerTimeoutMs}ms` : '',
    agent_ping_timeout: `${c.agentPingTimeoutMs}ms`,
    max_agent_ping_timeouts: String(c.maxAgentPingTimeouts),
    agent_reregister_timeout: `${c.agentReregisterTimeoutMs}ms`,
    min_allocatable_resources: c.minAllocatableText,
    max_completed_frameworks: '50',
    max_completed_tasks_per_framework: '1000',
    max_unreachable_tasks_per_framework: '1000',
    registry: 'corral_store',
  };
}

function renderContext(ctx: MasterContext): RenderContext {
  return { state: ctx.state, masterInfo: ctx.masterInfo, startTime: ctx.startTime, electedTime: ctx.electedTime, flags: masterFlags(ctx) };
}

function snapshot(ctx: MasterContext): Record<string, number> {
  return metricsSnapshot({ state: ctx.state, metrics: ctx.metrics, now: ctx.clock.now(), startTime: ctx.startTime });
}

function intParam(q: URLSearchParams, name: string, dflt: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ValidationError(`Failed to parse '${name}': '${raw}' is not a non-negative integer`, name);
  return n;
}

function tasksReply(ctx: MasterContext, q: URLSearchParams): Reply {
  const limit = intParam(q, 'limit', DEFAULT_TASK_LIMIT);
  const offset = intParam(q, 'offset', 0);
  const order = q.get('order') ?? 'des';
  if (order !== 'asc' && order !== 'des') throw new ValidationError(`Failed to parse 'order': '${order}' is not 'asc' or 'des'`, 'order');
  const frameworkId = q.get('framework_id');
  const taskId = q.get('task_id');
  let tasks = allTasks(ctx.state);
  if (frameworkId) tasks = tasks.filter((t) => t.frameworkId === frameworkId);
  if (taskId) tasks = tasks.filter((t) => t.taskId === taskId);
  if (order === 'des') tasks.reverse();
  return jsonReply({ tasks: tasks.slice(offset, offset + limit).map(legacyTask) }, q);
}

function frameworksReply(ctx: MasterContext, q: URLSearchParams): Reply {
  const id = q.get('framework_id');
  const pick = <T extends { id: string }>(list: T[]) => (id ? list.filter((f) => f.id === id) : list);
  return jsonReply(
    {
      frameworks: pick([...ctx.state.frameworks.values()]).map((fw) => legacyFramework(ctx.state, fw)),
      completed_frameworks: pick(ctx.state.completedFrameworks).map((fw) => legacyFramework(ctx.state, fw)),
      unregistered_frameworks: [],
    },
    q,
  );
}

function slavesReply(ctx: MasterContext, q: URLSearchParams): Reply {
  const id = q.get('slave_id');
  const all = legacySlaves(ctx.state);
  if (!id) return jsonReply(all, q);
  const match = (x: unknown) => (x as { id: string }).id === id;
  return jsonReply({ slaves: all.slaves.filter(match), recovered_slaves: all.recovered_slaves.filter(match) }, q);
}

async function teardownReply(ctx: MasterContext, rc: RequestContext): Promise<Reply> {
  let id = rc.query.get('frameworkId');
  if (!id) {
    const body = (await rc.raw()).toString('utf8');
    id = parseForm(body).get('frameworkId');
  }
  if (!id) return text(400, "Missing 'frameworkId' query parameter in the request body");
  const fw = ctx.state.frameworks.get(id);
  if (!fw) return text(400, 'No framework found with specified ID');
  ctx.frameworks.remove(fw, { error: 'Framework has been removed' });
  return { status: 200 };
}

/** POST /api/v1 (master operator API). */
async function operatorCall(ctx: MasterContext, rc: RequestContext): Promise<Reply> {
  if (rc.method !== 'POST') return text(405, 'Expecting POST', { allow: 'POST' });
  const contentType = rc.req.headers['content-type'];
  if (contentType === undefined) return text(400, "Expecting 'Content-Type' to be present");
  if (mediaType(contentType) !== APPLICATION_JSON) return text(415, "Expecting 'Content-Type' of application/json");
  if (!acceptsMediaType(rc.req.headers.accept, APPLICATION_JSON)) return text(406, "Expecting 'Accept' to allow application/json");
  const raw = await rc.raw();
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    return text(400, `Failed to parse body into JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || typeof (body as { type?: unknown }).type !== 'string')
    return text(400, "Failed to validate master::Call: Expecting 'type' to be present");
  const call = body as { type: string; teardown?: { framework_id?: { value?: unknown } } };
  const respond = (type: string, key: string, payload: unknown): Reply => ({ status: 200, body: { type, [key]: payload } });
  switch (call.type) {
    case 'GET_HEALTH':
      return respond('GET_HEALTH', 'get_health', { healthy: true });
    case 'GET_VERSION':
      return respond('GET_VERSION', 'get_version', { version_info: BUILD_INFO });
    case 'GET_METRICS':
      return respond('GET_METRICS', 'get_metrics', { metrics: Object.entries(snapshot(ctx)).map(([name, value]) => ({ name, value })) });
    case 'GET_FLAGS':
      return respond('GET_FLAGS', 'get_flags', { flags: Object.entries(masterFlags(ctx)).map(([name, value]) => ({ name, value })) });
    case 'GET_STATE':
      return respond('GET_STATE', 'get_state', {
        get_tasks: v1Tasks(ctx.state),
        get_executors: { executors: [] },
        get_frameworks: v1Frameworks(ctx.state),
        get_agents: v1Agents(ctx.state),
      });
    case 'GET_AGENTS':
      return respond('GET_AGENTS', 'get_agents', v1Agents(ctx.state));
    case 'GET_FRAMEWORKS':
      return respond('GET_FRAMEWORKS', 'get_frameworks', v1Frameworks(ctx.state));
    case 'GET_TASKS':
      return respond('GET_TASKS', 'get_tasks', v1Tasks(ctx.state));
    case 'GET_EXECUTORS':
      return respond('GET_EXECUTORS', 'get_executors', { executors: [] });
    case 'GET_ROLES':
      return respond('GET_ROLES', 'get_roles', {
        roles: rolesOf(ctx.state).map((r) => ({ name: r.name, weight: r.weight, frameworks: r.frameworks.map((value) => ({ value })), resources: toMesosResources(r.resources) })),
      });
    case 'GET_WEIGHTS':
      return respond('GET_WEIGHTS', 'get_weights', { weight_infos: [] });
    case 'GET_MASTER':
      return respond('GET_MASTER', 'get_master', {
        master_info: ctx.masterInfo,
        start_time: ctx.startTime / 1000,
        elected_time: ctx.electedTime / 1000,
      });
    case 'TEARDOWN': {
      const id = call.teardown?.framework_id?.value;
      if (typeof id !== 'string') return text(400, "Failed to validate master::Call: Expecting 'teardown.framework_id' to be present");
      const fw = ctx.state.frameworks.get(id);
      if (!fw) return text(400, `No framework found with ID ${id}`);
      ctx.frameworks.remove(fw, { error: 'Framework has been removed' });
      return { status: 200 };
    }
    default:
      if (isV1ResourceCall(call.type)) return v1ResourceCall(ctx, call as unknown as Record<string, unknown> & { type: string });
      return text(501, `Call type '${call.type}' is not implemented by this master`);
  }
}

/**
 * Routes every master answers itself, leading or not: health, version and /master/redirect (to the
 * leader, as Mesos's; `leader()` is undefined while none is known → 503).
 */
export function registerLocalRoutes(router: Router, leader: () => { hostname: string; port: number; self: boolean } | undefined): void {
  const redirect = (): Reply => {
    const l = leader();
    if (!l) return text(503, 'No leading master is elected at the moment; retry shortly');
    return { status: 307, headers: { location: `//${l.hostname}:${l.port}`, [LEADING_HEADER]: String(l.self) } };
  };
  router.on(['GET', 'HEAD'], '/health', () => ({ status: 200 }));
  router.on(['GET', 'HEAD'], '/master/health', () => ({ status: 200 }));
  router.on(['GET', 'HEAD'], '/version', (rc) => jsonReply(BUILD_INFO, rc.query));
  router.on(['GET', 'HEAD'], '/redirect', redirect);
  router.on(['GET', 'HEAD'], '/master/redirect', redirect);
}

/** Routes served by the leading master from its term's state. */
export function registerOperatorRoutes(router: Router, ctx: MasterContext): void {
  const get = (path: string, fn: (rc: RequestContext) => Reply | Promise<Reply>) => router.on(['GET', 'HEAD'], path, fn);
  const both = (path: string, fn: (rc: RequestContext) => Reply | Promise<Reply>) => {
    get(path, fn);
    get(`/master${path}`, fn);
  };
  both('/state', (rc) => jsonReply(legacyState(renderContext(ctx)), rc.query));
  both('/state.json', (rc) => jsonReply(legacyState(renderContext(ctx)), rc.query));
  both('/state-summary', (rc) => jsonReply(legacyStateSummary(renderContext(ctx)), rc.query));
  both('/tasks', (rc) => tasksReply(ctx, rc.query));
  both('/slaves', (rc) => slavesReply(ctx, rc.query));
  both('/frameworks', (rc) => frameworksReply(ctx, rc.query));
  both('/flags', (rc) => jsonReply({ flags: masterFlags(ctx) }, rc.query));
  both('/roles', (rc) =>
    jsonReply({ roles: rolesOf(ctx.state).map((r) => ({ name: r.name, weight: r.weight, frameworks: r.frameworks, resources: toLegacyResources(r.resources) })) }, rc.query),
  );
  both('/weights', (rc) => jsonReply([], rc.query));
  get('/metrics/snapshot', (rc) => jsonReply(snapshot(ctx), rc.query));
  router.on('POST', '/master/teardown', (rc) => teardownReply(ctx, rc), 'text');
  router.on('POST', '/teardown', (rc) => teardownReply(ctx, rc), 'text');
  registerReservationRoutes(router, ctx);
  router.on('*', '/api/v1', (rc) => operatorCall(ctx, rc), 'text');
  router.on('*', '/master/api/v1', (rc) => operatorCall(ctx, rc), 'text');
}
