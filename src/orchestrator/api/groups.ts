// /v2/groups routes (marathon.md §1.2). A GroupUpdate body is parsed by
// protocol/marathon (ids made absolute relative to the group, apps validated)
// and turned here into one GroupChange for the service, with Marathon's
// GroupUpdate semantics: a node's `apps` (when given) replaces that group's
// apps, its `groups` (when given) replaces its subgroups (each updated
// recursively), what a node leaves out stays as it is; `scaleBy` alone scales
// every app below the group; `version` alone rolls the group back.
import type { AppDefinition, GroupChange, GroupNode } from '../service.ts';
import { deployed } from './apps.ts';
import { boolParam, listParam, type ApiContext, type Reply } from './http.ts';
import { appEmbeds, appInfo, appPathExists, canonicalId, deploymentResultJson, groupAlreadyExists, groupJson, groupNotFound, parseGroupUpdate, scaledInstances, type ParsedGroupUpdate } from './render.ts';
import { methodNotAllowed, type Api, type PrefixRoute } from './server.ts';

/** Every app below (and in) a group node. */
export function appsBelow(node: GroupNode | undefined): AppDefinition[] {
  if (!node) return [];
  return [...node.apps.map((s) => s.app), ...node.groups.flatMap(appsBelow)];
}

/**
 * The GroupChange that makes group `groupId` look like `update` applied to `current`: every app
 * that should exist below the group is listed (unchanged ones with their stored definition, which
 * the planner leaves alone), every group of the update is replaced with its dependencies.
 */
export function groupChangeFor(groupId: string, update: ParsedGroupUpdate, current: GroupNode | undefined): GroupChange {
  const apps: AppDefinition[] = [];
  const replaceGroups: { id: string; dependencies?: string[] }[] = [];
  const apply = (id: string, u: ParsedGroupUpdate | undefined, c: GroupNode | undefined) => {
    replaceGroups.push({ id, dependencies: u?.dependencies ?? c?.dependencies ?? [] });
    apps.push(...(u?.apps ?? c?.apps.map((s) => s.app) ?? []));
    if (u?.groups) {
      for (const g of u.groups) apply(g.id, g, c?.groups.find((x) => x.id === g.id));
    } else {
      for (const g of c?.groups ?? []) apply(g.id, undefined, g);
    }
  };
  apply(groupId, update, current);
  return { apps, replaceGroups };
}

/** A stored group version as the GroupUpdate that restores it. */
function asUpdate(node: GroupNode): ParsedGroupUpdate {
  return { id: node.id, apps: node.apps.map((s) => s.app) as unknown as ParsedGroupUpdate['apps'], groups: node.groups.map(asUpdate), dependencies: node.dependencies };
}

const groupIdsOf = (node: GroupNode): string[] => [node.id, ...node.groups.flatMap(groupIdsOf)];

export function groupRoutes(api: Api): PrefixRoute[] {
  const { service } = api;
  const force = (ctx: ApiContext) => boolParam(ctx.query, 'force', false);

  const requireGroup = (id: string): GroupNode => {
    const g = service.getGroup(id);
    if (!g) throw groupNotFound(id);
    return g;
  };

  const getGroup = (ctx: ApiContext, id: string): Reply => {
    const g = requireGroup(id);
    return { body: groupJson(g, listParam(ctx.query, 'embed')) };
  };

  /** The group at a stored version (404 in Marathon's words when unknown). */
  const groupAt = async (id: string, version: string): Promise<GroupNode> => {
    try {
      return await service.groupVersion(id, version);
    } catch (e) {
      if ((e as { status?: number }).status === 404) throw groupNotFound(id, version);
      throw e;
    }
  };

  const versions = async (ctx: ApiContext, id: string, version: string | undefined): Promise<Reply> => {
    if (ctx.method !== 'GET') throw methodNotAllowed(ctx, ['GET']);
    requireGroup(id);
    if (version === undefined) return { body: await service.groupVersions(id) };
    const g = await groupAt(id, version);
    // A stored version holds definitions only: apps render bare unless embeds are asked for.
    const embed = listParam(ctx.query, 'embed');
    return { body: groupJson(g, embed.length ? embed : ['group.apps', 'group.groups', 'group.pods']) };
  };

  const change = async (ctx: ApiContext, pathId: string, create: boolean): Promise<Reply> => {
    const body = await ctx.json();
    const update = parseGroupUpdate(body, pathId);
    const gid = update.id;
    const current = service.getGroup(gid);
    const dryRun = !create && boolParam(ctx.query, 'dryRun', false);
    let groupChange: GroupChange;
    if (update.scaleBy !== undefined) {
      if (!current) throw groupNotFound(gid);
      groupChange = { apps: appsBelow(current).map((a) => ({ ...a, instances: scaledInstances(a.instances ?? 1, update.scaleBy!) })) };
    } else if (update.version !== undefined) {
      // Rollback: the group below `gid` becomes what it was at that version (apps whose
      // definition differs are deployed as new versions; the others are left alone).
      if (!current) throw groupNotFound(gid);
      const old = await groupAt(gid, update.version);
      groupChange = groupChangeFor(gid, asUpdate(old), current);
      const keep = new Set(groupIdsOf(old));
      const gone = groupIdsOf(current).filter((g) => g !== gid && !keep.has(g));
      const removeGroups = gone.filter((g) => !gone.some((o) => o !== g && g.startsWith(`${o}/`)));
      if (removeGroups.length) groupChange.removeGroups = removeGroups;
    } else {
      if (create && current) throw groupAlreadyExists(gid);
      if (create && service.getApp(gid)) throw appPathExists(gid);
      groupChange = groupChangeFor(gid, update, current);
      if (create) groupChange.createOnly = true;
    }
    if (dryRun) return { body: await service.updateGroup(groupChange, { force: force(ctx), dryRun: true }) };
    const r = await service.updateGroup(groupChange, { force: force(ctx) });
    if (create) return { ...deployed(r, 201, { Location: `${ctx.baseUrl}/v2/groups${gid === '/' ? '' : gid}` }), body: deploymentResultJson(r) };
    return deployed(r);
  };

  const handler = async (ctx: ApiContext, rest: string[]): Promise<Reply | undefined> => {
    const last = rest[rest.length - 1];
    const prev = rest[rest.length - 2];
    if (last === 'versions') return versions(ctx, canonicalId(rest.slice(0, -1).join('/')), undefined);
    if (prev === 'versions') return versions(ctx, canonicalId(rest.slice(0, -2).join('/')), last);
    if (last === 'apps' && ctx.method === 'GET') {
      const g = requireGroup(canonicalId(rest.slice(0, -1).join('/')));
      const embeds = appEmbeds(listParam(ctx.query, 'embed'), 'list');
      return { body: g.apps.map((s) => appInfo(s, embeds)) };
    }
    const id = canonicalId(rest.join('/'));
    switch (ctx.method) {
      case 'GET':
        return getGroup(ctx, id);
      case 'POST':
        return change(ctx, id, true);
      case 'PUT':
        return change(ctx, id, false);
      case 'PATCH': {
        requireGroup(id);
        await ctx.json(); // GroupPartialUpdate {enforceRole}: metadata only, nothing to deploy
        return { status: 200 };
      }
      case 'DELETE': {
        if (id !== '/') requireGroup(id);
        return deployed(await service.deleteGroup(id, { force: force(ctx) }));
      }
      default:
        throw methodNotAllowed(ctx, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
    }
  };

  return [{ prefix: ['v2', 'groups'], deep: true, handler }];
}
