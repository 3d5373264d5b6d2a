// /v2/apps routes (marathon.md §1.1). App ids contain slashes, so everything
// below /v2/apps is parsed here: a trailing `restart`, `tasks[/{taskId}]`,
// `versions[/{version}]` or `*` selects the sub-resource (app ids may not end
// in those reserved words, so there is no ambiguity).
import type { AppDefinition, AppStatus, DeploymentResult } from '../service.ts';
import { MarathonHttpError, boolParam, listParam, prefersText, type ApiContext, type Reply } from './http.ts';
import {
  appEmbeds,
  appInfo,
  appJson,
  appNotFound,
  appsTextPlain,
  canonicalId,
  deploymentResultJson,
  isObject,
  mergeApp,
  parseApp,
  taskJson,
  taskNotFound,
  rollbackVersion,
  labelFilter,
  scaleAndWipe,
  groupNotFound,
} from './render.ts';
import { methodNotAllowed, type Api, type PrefixRoute } from './server.ts';

export function deployed(r: DeploymentResult, status = 200, extraHeaders: Record<string, string> = {}): Reply {
  return { status, body: deploymentResultJson(r), headers: { 'Marathon-Deployment-Id': r.deploymentId, ...extraHeaders } };
}

const force = (ctx: ApiContext, dflt = false) => boolParam(ctx.query, 'force', dflt);

export function appRoutes(api: Api): PrefixRoute[] {
  const { service } = api;

  const requireApp = (id: string): AppStatus => {
    const s = service.getApp(id);
    if (!s) throw appNotFound(id);
    return s;
  };

  const publishPost = (ctx: ApiContext, app: AppDefinition | undefined) => {
    if (!app) return;
    service.events.publish({ eventType: 'api_post_event', clientIp: ctx.clientIp, uri: ctx.path, appDefinition: app });
  };

  /** The definition a PUT/PATCH body describes for app `id` (merged with the current one when partial). */
  const updatedDefinition = (id: string, body: unknown, partial: boolean): AppDefinition => {
    const current = service.getApp(id)?.app;
    if (current && partial) return mergeApp(current, body);
    return parseApp(body, { id });
  };

  const listApps = (ctx: ApiContext): Reply => {
    const embeds = appEmbeds(listParam(ctx.query, 'embed'), 'list');
    const cmd = ctx.query.get('cmd');
    const idFilter = ctx.query.get('id');
    const label = labelFilter(ctx.query.get('label'));
    const apps = service
      .listApps()
      .filter((s) => (cmd ? (s.app.cmd ?? '').includes(cmd) : true))
      .filter((s) => (idFilter ? s.app.id.includes(idFilter) : true))
      .filter((s) => (label ? label(s.app.labels) : true))
      .sort((a, b) => (a.app.id < b.app.id ? -1 : a.app.id > b.app.id ? 1 : 0))
      .map((s) => appInfo(s, embeds));
    return { body: { apps } };
  };

  const createApp = async (ctx: ApiContext): Promise<Reply> => {
    const body = await ctx.json();
    const app = parseApp(body, {});
    const r = await service.createApp(app, { force: force(ctx) });
    const stored = r.deployment.target[app.id] ?? service.getApp(app.id)?.app ?? app;
    publishPost(ctx, stored);
    const status: AppStatus = {
      app: stored,
      counts: { staged: 0, running: 0, healthy: 0, unhealthy: 0 },
      instances: [],
      deployments: [r.deploymentId],
      readinessCheckResults: [],
    };
    return {
      status: 201,
      headers: { Location: `${ctx.baseUrl}/v2/apps${stored.id}`, 'Marathon-Deployment-Id': r.deploymentId },
      body: appInfo(status, { counts: true, deployments: true, tasks: true, readiness: false, lastTaskFailure: false, taskStats: false }),
    };
  };

  const bulkUpdate = async (ctx: ApiContext, patch: boolean): Promise<Reply> => {
    const body = await ctx.json();
    if (!Array.isArray(body)) throw new MarathonHttpError(400, { message: 'Invalid JSON', details: [{ path: '/', errors: ['error.expected.jsarray'] }] });
    const partial = patch || boolParam(ctx.query, 'partialUpdate', true);
    const details: { path: string; errors: string[] }[] = [];
    const apps: AppDefinition[] = [];
    body.forEach((item, i) => {
      try {
        if (!isObject(item) || typeof item.id !== 'string') {
          details.push({ path: `/(${i})/id`, errors: ['error.path.missing'] });
          return;
        }
        const id = canonicalId(item.id);
        if (patch && !service.getApp(id)) throw appNotFound(id);
        apps.push(updatedDefinition(id, item, partial));
      } catch (e) {
        const v = (e as { body?: { details?: unknown } }).body?.details;
        if ((e as { status?: number }).status === 422 && Array.isArray(v))
          for (const d of v as { path: string; errors: string[] }[]) details.push({ path: `/(${i})${d.path === '/' ? '' : d.path}`, errors: d.errors });
        else throw e;
      }
    });
    if (details.length) throw new MarathonHttpError(422, { message: 'Object is not valid', details });
    const r = await service.putApps(apps, { force: force(ctx) });
    for (const a of apps) publishPost(ctx, r.deployment.target[a.id]);
    return deployed(r);
  };

  const putApp = async (ctx: ApiContext, id: string, patch: boolean): Promise<Reply> => {
    const body = await ctx.json();
    const exists = service.getApp(id) !== undefined;
    if (patch && !exists) throw appNotFound(id);
    const rollbackTo = patch ? undefined : rollbackVersion(body);
    if (rollbackTo !== undefined) {
      // `{"version": "<ts>"}` (plus id) is a rollback to a stored version.
      if (!exists) throw appNotFound(id);
      const r = await service.rollbackApp(id, rollbackTo, { force: force(ctx) });
      publishPost(ctx, r.deployment.target[id]);
      return deployed(r);
    }
    const partial = patch || boolParam(ctx.query, 'partialUpdate', true);
    const def = updatedDefinition(id, body, partial);
    const r = await service.putApps([def], { force: force(ctx) });
    publishPost(ctx, r.deployment.target[id]);
    if (r.created.includes(id)) return deployed(r, 201, { Location: `${ctx.baseUrl}/v2/apps${id}` });
    return deployed(r);
  };

  const appTasks = async (ctx: ApiContext, id: string): Promise<Reply> => {
    const s = requireApp(id);
    if (ctx.method === 'GET') {
      if (prefersText(ctx.req)) return { body: appsTextPlain([s]), headers: { 'content-type': 'text/plain; charset=utf-8' } };
      return { body: { tasks: s.instances.map((i) => taskJson(i, s.app)) } };
    }
    if (ctx.method === 'DELETE') {
      const scale = boolParam(ctx.query, 'scale', false);
      const wipe = boolParam(ctx.query, 'wipe', false);
      if (scale && wipe) throw scaleAndWipe();
      const host = ctx.query.get('host') ?? undefined;
      const r = await service.killTasks({ appId: id, ...(host ? { host } : {}), scale, force: force(ctx) });
      if (r.scaled) return deployed(r.result);
      return { body: { tasks: r.killed.map((i) => taskJson(i, s.app)) } };
    }
    throw methodNotAllowed(ctx, ['GET', 'DELETE']);
  };

  const killOne = async (ctx: ApiContext, id: string, taskId: string): Promise<Reply> => {
    if (ctx.method !== 'DELETE') throw methodNotAllowed(ctx, ['DELETE']);
    const s = requireApp(id);
    const inst = service.getInstance(taskId);
    if (!inst || inst.appId !== id) throw taskNotFound(taskId);
    const scale = boolParam(ctx.query, 'scale', false);
    const wipe = boolParam(ctx.query, 'wipe', false);
    if (scale && wipe) throw scaleAndWipe();
    const r = await service.killTasks({ ids: [taskId], scale, force: force(ctx) });
    if (r.scaled) return deployed(r.result);
    const killed = r.killed[0] ?? inst;
    return { body: { task: taskJson(killed, s.app) } };
  };

  const handler = async (ctx: ApiContext, rest: string[]): Promise<Reply | undefined> => {
    if (rest.length === 0) {
      if (ctx.method === 'GET') return listApps(ctx);
      if (ctx.method === 'POST') return createApp(ctx);
      if (ctx.method === 'PUT') return bulkUpdate(ctx, false);
      if (ctx.method === 'PATCH') return bulkUpdate(ctx, true);
      throw methodNotAllowed(ctx, ['GET', 'POST', 'PUT', 'PATCH']);
    }
    const last = rest[rest.length - 1]!;
    const prev = rest[rest.length - 2];
    // GET /v2/apps/{groupId}/*: every app below the group.
    if (last === '*' && ctx.method === 'GET') {
      const gid = canonicalId(rest.slice(0, -1).join('/'));
      const g = service.getGroup(gid);
      if (!g) throw groupNotFound(gid);
      const embeds = appEmbeds(listParam(ctx.query, 'embed'), 'list');
      const all: AppStatus[] = [];
      const walk = (n: typeof g) => {
        all.push(...n.apps);
        n.groups.forEach(walk);
      };
      walk(g);
      return { body: { '*': all.map((s) => appInfo(s, embeds)) } };
    }
    if (last === 'restart' && rest.length >= 2) {
      if (ctx.method !== 'POST') throw methodNotAllowed(ctx, ['POST']);
      const id = appIdFrom(rest.slice(0, -1));
      requireApp(id);
      return deployed(await service.restartApp(id, { force: force(ctx) }));
    }
    if (last === 'tasks' && rest.length >= 2) return appTasks(ctx, appIdFrom(rest.slice(0, -1)));
    if (prev === 'tasks' && rest.length >= 3) return killOne(ctx, appIdFrom(rest.slice(0, -2)), last);
    if (last === 'versions' && rest.length >= 2) {
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
      const id = appIdFrom(rest.slice(0, -1));
      requireApp(id);
      return { body: { versions: await service.appVersions(id) } };
    }
    if (prev === 'versions' && rest.length >= 3) {
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
      const id = appIdFrom(rest.slice(0, -2));
      requireApp(id);
      let def: AppDefinition;
      try {
        def = await service.appVersion(id, last);
      } catch (e) {
        if ((e as { status?: number }).status === 404) throw appNotFound(id, last);
        throw e;
      }
      return { body: appJson(def) };
    }
    const id = appIdFrom(rest);
    switch (ctx.method) {
      case 'GET': {
        const s = requireApp(id);
        return { body: { app: appInfo(s, appEmbeds(listParam(ctx.query, 'embed'), 'single')) } };
      }
      case 'PUT':
        return putApp(ctx, id, false);
      case 'PATCH':
        return putApp(ctx, id, true);
      case 'DELETE': {
        requireApp(id);
        return deployed(await service.deleteApp(id, { force: force(ctx, true) }));
      }
      default:
        throw methodNotAllowed(ctx, ['GET', 'PUT', 'PATCH', 'DELETE']);
    }
  };

  return [{ prefix: ['v2', 'apps'], deep: true, handler }];

  function appIdFrom(segs: string[]): string {
    return canonicalId(segs.join('/'));
  }
}
