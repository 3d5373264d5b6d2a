// /v2/deployments, /v2/tasks, /v2/queue, /v2/info, /v2/leader, /ping and
// /metrics (marathon.md §1.3–§1.5, §1.7; Prometheus text in metrics.ts).
import type { InstanceRecord, QueueEntry } from '../service.ts';
import { CONSTRAINT_REJECTIONS_EMBED, withConstraintRejections } from './queue-constraints.ts';
import { deployed } from './apps.ts';
import { MarathonHttpError, boolParam, listParam, prefersText, type ApiContext, type Reply } from './http.ts';
import {
  appNotFound,
  appsTextPlain,
  canonicalId,
  deploymentJson,
  deploymentNotFound,
  deploymentResultJson,
  infoJson,
  invalidTaskId,
  isObject,
  parseTaskRef,
  queueAppNotFound,
  queueItemJson,
  taskJson,
  scaleAndWipe,
} from './render.ts';
import { marathonMetricsJson, marathonPrometheus, wantsPrometheus } from './metrics.ts';
import { methodNotAllowed, type Api, type PrefixRoute } from './server.ts';

export function miscRoutes(api: Api): PrefixRoute[] {
  const { service } = api;
  const force = (ctx: ApiContext) => boolParam(ctx.query, 'force', false);

  const cancelDeployment = async (ctx: ApiContext, id: string): Promise<Reply> => {
    if (!service.getDeployment(id)) throw deploymentNotFound(id);
    if (force(ctx)) {
      await service.cancelDeployment(id, { force: true });
      return { status: 202 };
    }
    const r = await service.cancelDeployment(id, { force: false });
    if (!r) return { status: 202 };
    return { status: 200, body: deploymentResultJson(r), headers: { 'Marathon-Deployment-Id': r.deploymentId } };
  };

  const statusFilter = (ctx: ApiContext): ((i: InstanceRecord) => boolean) => {
    const wanted = new Set(listParam(ctx.query, 'status', 'status[]').map((s) => s.toLowerCase()));
    const states = new Set<string>();
    if (wanted.has('running')) states.add('TASK_RUNNING');
    if (wanted.has('staging')) {
      states.add('TASK_STAGING');
      states.add('TASK_STARTING');
    }
    // Unknown values are ignored (Marathon); no known value = no filter.
    return states.size ? (i) => states.has(i.state) : () => true;
  };

  const tasks = async (ctx: ApiContext, rest: string[]): Promise<Reply> => {
    if (rest.length === 0) {
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
      const keep = statusFilter(ctx);
      const apps = service.listApps();
      if (prefersText(ctx.req)) {
        return { body: appsTextPlain(apps.map((s) => ({ ...s, instances: s.instances.filter(keep) }))), headers: { 'content-type': 'text/plain; charset=utf-8' } };
      }
      const defs = new Map(apps.map((s) => [s.app.id, s.app]));
      return { body: { tasks: service.listInstances().filter(keep).map((i) => taskJson(i, defs.get(i.appId))) } };
    }
    if (rest.length === 1 && rest[0] === 'delete') {
      if (ctx.method !== 'POST') throw methodNotAllowed(ctx, ['POST']);
      const scale = boolParam(ctx.query, 'scale', false);
      const wipe = boolParam(ctx.query, 'wipe', false);
      if (scale && wipe) throw scaleAndWipe();
      const body = await ctx.json();
      if (!isObject(body)) throw new MarathonHttpError(400, { message: 'Invalid JSON', details: [{ path: '/', errors: ['error.expected.jsobject'] }] });
      if (!Array.isArray(body.ids)) throw new MarathonHttpError(400, { message: 'Invalid JSON', details: [{ path: '/ids', errors: [body.ids === undefined ? 'error.path.missing' : 'error.expected.jsarray'] }] });
      const ids: string[] = [];
      body.ids.forEach((id: unknown, i: number) => {
        if (typeof id !== 'string') throw new MarathonHttpError(400, { message: 'Invalid JSON', details: [{ path: `/ids(${i})`, errors: ['error.expected.jsstring'] }] });
        const ref = parseTaskRef(id);
        if (!ref) throw invalidTaskId(id);
        ids.push(id);
      });
      // Ids of unknown apps are a 404; unknown tasks of known apps are ignored (already gone).
      const known: string[] = [];
      for (const id of ids) {
        if (service.getInstance(id)) known.push(id);
        else {
          const appId = parseTaskRef(id)!.appId;
          if (!service.getApp(appId)) throw appNotFound(appId);
        }
      }
      if (!known.length) return { body: { tasks: [] } };
      const r = await service.killTasks({ ids: known, scale, force: force(ctx) });
      if (r.scaled) return deployed(r.result);
      const defs = new Map(service.listApps().map((s) => [s.app.id, s.app]));
      return { body: { tasks: r.killed.map((i) => taskJson(i, defs.get(i.appId))) } };
    }
    throw new MarathonHttpError(404, { message: 'URI not found' });
  };

  const queue = (ctx: ApiContext, rest: string[]): Reply => {
    if (rest.length === 0) {
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
      const embedOffers = listParam(ctx.query, 'embed').includes('lastUnusedOffers');
      const embedConstraints = listParam(ctx.query, 'embed').includes(CONSTRAINT_REJECTIONS_EMBED);
      const item = (q: QueueEntry) => (embedConstraints ? withConstraintRejections(queueItemJson(q, embedOffers), q) : queueItemJson(q, embedOffers));
      return { body: { queue: service.queue().map(item) } };
    }
    if (rest.length >= 2 && rest[rest.length - 1] === 'delay') {
      if (ctx.method !== 'DELETE') throw methodNotAllowed(ctx, ['DELETE']);
      const appId = canonicalId(rest.slice(0, -1).join('/'));
      if (!service.queue().some((q) => q.app.id === appId)) throw queueAppNotFound(appId);
      try {
        service.resetDelay(appId);
      } catch (e) {
        if ((e as { status?: number }).status === 404) throw queueAppNotFound(appId);
        throw e;
      }
      return { status: 204 };
    }
    throw new MarathonHttpError(404, { message: 'URI not found' });
  };

  return [
    {
      prefix: ['v2', 'deployments'],
      deep: true,
      handler: async (ctx, rest) => {
        if (rest.length === 0) {
          if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
          return { body: service.listDeployments().map(deploymentJson) };
        }
        if (rest.length !== 1) throw new MarathonHttpError(404, { message: 'URI not found' });
        if (ctx.method !== 'DELETE') throw methodNotAllowed(ctx, ['DELETE']);
        return cancelDeployment(ctx, rest[0]!);
      },
    },
    { prefix: ['v2', 'tasks'], deep: true, handler: tasks },
    { prefix: ['v2', 'queue'], deep: true, handler: queue },
    {
      prefix: ['v2', 'info'],
      deep: false,
      handler: (ctx) => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
        return { body: infoJson(service.info(), api.leader()) };
      },
    },
    {
      prefix: ['v2', 'leader'],
      deep: false,
      handler: (ctx) => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
        return { body: { leader: api.leader() } };
      },
    },
    {
      prefix: ['ping'],
      deep: false,
      handler: pingReply,
    },
    {
      prefix: ['metrics'],
      deep: false,
      handler: (ctx) => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
        return wantsPrometheus(ctx.req.headers.accept) ? marathonPrometheus(service) : { body: marathonMetricsJson(service) };
      },
    },
    {
      prefix: ['metrics', 'prometheus'],
      deep: false,
      handler: (ctx) => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
        return marathonPrometheus(service);
      },
    },
  ];
}

/** GET /ping: always answered by the instance asked (never proxied to the leader). */
export function pingReply(ctx: ApiContext): Reply {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw methodNotAllowed(ctx, ['GET']);
  const accept = String(ctx.req.headers.accept ?? '');
  if (/application\/json/i.test(accept) && !/text\/plain/i.test(accept)) return { body: JSON.stringify('pong'), headers: { 'content-type': 'application/json' } };
  return { body: 'pong\n', headers: { 'content-type': 'text/plain; charset=utf-8' } };
}
