// Versions of the root group (marathon.md §1.2: GET /v2/groups[/{id}]/versions[/{v}], PUT with
// {"version"}). Every change that alters the app set or the explicit groups records a
// RootVersion: the version of every app in effect (definitions stay in the per-app version
// store), the explicit groups, and per group the root version at which something below it last
// changed — that is the group's `version`, and the list of a group's versions is the distinct
// values over the retained root versions. Kept: the newest MAX_ROOT_VERSIONS; app versions a
// retained root version refers to are not pruned, also after the app was removed.
import { NotFoundError } from '../protocol/errors.ts';
import type { Ctx } from './context.ts';
import { groupIds, isUnder, parentOf } from './groups.ts';
import { MAX_ROOT_VERSIONS, type GroupMeta, type RootVersion } from './persist.ts';
import type { AppDefinition, AppStatus, GroupNode } from './service.ts';

/** Is version `version` of app `appId` part of a retained root version? */
export function isReferenced(ctx: Ctx, appId: string, version: string): boolean {
  return ctx.rootVersions.some((r) => r.apps[appId] === version);
}

/**
 * Records the root version after a change (`changed`: ids of apps and groups that were added,
 * changed or removed). Nothing is recorded when nothing changed. The record is history: a store
 * failure is logged, never fails the change.
 */
export async function recordRootVersion(
  ctx: Ctx,
  version: string,
  apps: ReadonlyMap<string, AppDefinition>,
  groups: ReadonlyMap<string, GroupMeta>,
  changed: string[],
): Promise<void> {
  const prev = ctx.rootVersions[ctx.rootVersions.length - 1];
  if (!changed.length && prev) return;
  const groupVersions: Record<string, string> = {};
  for (const g of [...groupIds(apps.values(), groups.values())].sort()) {
    const before = prev?.groupVersions[g];
    groupVersions[g] = before && !changed.some((p) => isUnder(p, g)) ? before : version;
  }
  const rv: RootVersion = {
    version,
    apps: Object.fromEntries([...apps.values()].map((a) => [a.id, a.version ?? ''])),
    groups: [...groups.values()],
    groupVersions,
  };
  ctx.rootVersions.push(rv);
  const pruned = ctx.rootVersions.splice(0, Math.max(0, ctx.rootVersions.length - MAX_ROOT_VERSIONS));
  try {
    await ctx.persist.saveRootVersion(rv);
    for (const old of pruned) {
      await ctx.persist.deleteRootVersion(old.version);
      // Versions of apps that no longer exist are kept only while a root version refers to them.
      for (const [appId, v] of Object.entries(old.apps)) {
        if (!apps.has(appId) && !isReferenced(ctx, appId, v)) await ctx.persist.deleteVersion(appId, v);
      }
    }
  } catch (err) {
    ctx.log.warn('could not store a root group version', { version, error: (err as Error).message });
  }
}

/** The group's versions, newest first (the current one included); [] when the group is unknown. */
export function groupVersionList(ctx: Ctx, id: string, current: string | undefined): string[] {
  const out = new Set<string>();
  if (current) out.add(current);
  for (const r of ctx.rootVersions) {
    const v = r.groupVersions[id];
    if (v) out.add(v);
  }
  return [...out].sort().reverse();
}

/** The newest root version in which group `id` had version `version` (or the root version `version` itself). */
function rootVersionOf(ctx: Ctx, id: string, version: string): RootVersion | undefined {
  for (let k = ctx.rootVersions.length - 1; k >= 0; k--) {
    const r = ctx.rootVersions[k]!;
    if (r.groupVersions[id] === version) return r;
  }
  return ctx.rootVersions.find((r) => r.version === version && r.groupVersions[id] !== undefined);
}

/** Group `id` as it was at `version`: apps as stored then (no instances); undefined when unknown. */
export async function groupAtVersion(ctx: Ctx, id: string, version: string): Promise<GroupNode | undefined> {
  const r = rootVersionOf(ctx, id, version);
  if (!r) return undefined;
  const defs: AppDefinition[] = [];
  for (const [appId, v] of Object.entries(r.apps)) {
    if (appId === id || !isUnder(appId, id)) continue;
    const cur = ctx.apps.get(appId);
    const def = cur && cur.version === v ? cur : await ctx.persist.version(appId, v);
    if (!def) throw new NotFoundError(`Group '${id}' does not exist in version ${version}: app ${appId} version ${v} is no longer stored`, { id, version });
    defs.push(def);
  }
  const metas = new Map(r.groups.map((g) => [g.id, g]));
  const ids = [...groupIds(defs, r.groups)].filter((g) => isUnder(g, id));
  const status = (app: AppDefinition): AppStatus => ({
    app,
    counts: { staged: 0, running: 0, healthy: 0, unhealthy: 0 },
    instances: [],
    deployments: [],
    readinessCheckResults: [],
  });
  const build = (gid: string): GroupNode => ({
    id: gid,
    apps: defs
      .filter((a) => parentOf(a.id) === gid)
      .sort((a, b) => a.id.localeCompare(b.id))
      .map(status),
    groups: ids
      .filter((g) => g !== '/' && g !== gid && parentOf(g) === gid)
      .sort()
      .map(build),
    dependencies: metas.get(gid)?.dependencies ?? [],
    version: r.groupVersions[gid] ?? r.version,
  });
  return build(id);
}
