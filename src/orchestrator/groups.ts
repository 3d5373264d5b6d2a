// The group tree: groups are implied by app ids (every ancestor path) plus explicitly created
// (possibly empty) groups with their dependencies.
import type { Ctx } from './context.ts';
import { lockedApps } from './context.ts';
import type { GroupMeta } from './persist.ts';
import type { AppDefinition, GroupNode } from './service.ts';
import { appStatus } from './views.ts';

export const parentOf = (id: string): string => {
  const k = id.lastIndexOf('/');
  return k <= 0 ? '/' : id.slice(0, k);
};
export const isUnder = (id: string, group: string): boolean => group === '/' || id === group || id.startsWith(group + '/');

function ancestors(id: string): string[] {
  const out: string[] = [];
  let p = parentOf(id);
  for (;;) {
    out.push(p);
    if (p === '/') return out;
    p = parentOf(p);
  }
}

/** Every group id that exists: '/', explicit groups, and all ancestors of apps and groups. */
export function groupIds(apps: Iterable<AppDefinition>, groups: Iterable<GroupMeta>): Set<string> {
  const ids = new Set<string>(['/']);
  for (const g of groups) {
    ids.add(g.id);
    for (const a of ancestors(g.id)) ids.add(a);
  }
  for (const a of apps) for (const p of ancestors(a.id)) ids.add(p);
  return ids;
}

/** Dependencies of an app including those declared on its enclosing groups. */
export function effectiveDependencies(app: AppDefinition, groups: Map<string, GroupMeta>): string[] {
  const deps = new Set(app.dependencies ?? []);
  for (const g of ancestors(app.id)) for (const d of groups.get(g)?.dependencies ?? []) deps.add(d);
  return [...deps];
}

export function groupTree(ctx: Ctx, id: string): GroupNode | undefined {
  const ids = groupIds(ctx.apps.values(), ctx.groups.values());
  if (!ids.has(id)) return undefined;
  const locks = lockedApps(ctx);
  const build = (gid: string): GroupNode => {
    const apps = [...ctx.apps.values()].filter((a) => parentOf(a.id) === gid).sort((a, b) => a.id.localeCompare(b.id));
    const children = [...ids].filter((g) => g !== '/' && g !== gid && parentOf(g) === gid).sort();
    const groups = children.map(build);
    const meta = ctx.groups.get(gid);
    const versions = [meta?.version, ...apps.map((a) => a.version), ...groups.map((g) => g.version)].filter((v): v is string => !!v).sort();
    // The root version at which something below the group last changed (root-versions.ts).
    const recorded = ctx.rootVersions[ctx.rootVersions.length - 1]?.groupVersions[gid];
    return {
      id: gid,
      apps: apps.map((a) => appStatus(ctx, a, locks)),
      groups,
      dependencies: meta?.dependencies ?? [],
      version: recorded ?? versions[versions.length - 1] ?? new Date(0).toISOString(),
    };
  };
  return build(id);
}
