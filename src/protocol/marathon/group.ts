// Group definitions for PUT/POST /v2/groups[/{id}] (marathon.md §1.2): nested apps and
// groups with ids relative to their enclosing group, validated in one pass with paths
// like `/apps(0)/id` and `/groups(1)/apps(0)/cpus`.
import { readAppDefinitionInto, type AppDefinition, type ParseAppOptions } from './app.ts';
import { Violations, type ViolationPath } from './errors.ts';
import { canonicalPath, isRoot, parentOf, pathIdErrors, pathSegments } from './pathid.ts';
import { given, isObject, Msg, Reader } from './read.ts';
import { marathonTimestamp, parseMarathonTimestamp } from './ids.ts';

/** A parsed group update; every id absolute. Fields absent in the body stay absent. */
export type GroupUpdate = {
  id: string;
  apps?: AppDefinition[];
  groups?: GroupUpdate[];
  dependencies?: string[];
  /** Multiply instances of all apps below the group (alone: a scale-only change). */
  scaleBy?: number;
  /** Roll the group back to this stored version (alone). */
  version?: string;
  enforceRole?: boolean;
};

export const GroupMessages = {
  onlyDefinedOption: 'not allowed in conjunction with other properties.',
  appsAndGroupsSameId: 'Groups and Applications may not have the same identifier.',
  enforceRoleTopLevel: (id: string) => `enforceRole can only be set for top-level groups, and ${id} is not top-level`,
} as const;

const GROUP_FIELDS = ['id', 'apps', 'groups', 'dependencies', 'scaleBy', 'version', 'enforceRole', 'pods'] as const;

export type ParseGroupOptions = Pick<ParseAppOptions, 'defaultNetworkName' | 'defaultRole'>;

function readGroup(
  v: Violations,
  json: unknown,
  path: ViolationPath,
  base: string,
  opts: ParseGroupOptions,
  enforcedRole: string | undefined,
): GroupUpdate | undefined {
  const r = new Reader(v);
  if (!isObject(json)) {
    v.add(path, Msg.object);
    return undefined;
  }
  const o = json;
  const rawId = r.string(o.id, [...path, 'id']);
  const id = rawId === undefined ? canonicalPath(base) : canonicalPath(rawId, base);
  if (rawId !== undefined) for (const m of pathIdErrors(id)) v.add([...path, 'id'], m);
  const g: GroupUpdate = { id };

  const enforceRole = r.bool(o.enforceRole, [...path, 'enforceRole']);
  if (enforceRole !== undefined) {
    g.enforceRole = enforceRole;
    const topLevel = !isRoot(id) && isRoot(parentOf(id));
    if (enforceRole && !topLevel) v.add([...path, 'enforceRole'], GroupMessages.enforceRoleTopLevel(id));
  }
  const role = enforcedRole ?? (g.enforceRole && pathSegments(id).length === 1 ? pathSegments(id)[0] : undefined);

  const apps = r.array(o.apps, [...path, 'apps'], (el, p) =>
    readAppDefinitionInto(v, el, p, { ...opts, base: id, groupBase: id, defaultRole: role ?? opts.defaultRole }),
  );
  if (apps) g.apps = apps;
  const groups = r.array(o.groups, [...path, 'groups'], (el, p) => readGroup(v, el, p, id, opts, role));
  if (groups) g.groups = groups;
  const deps = r.stringArray(o.dependencies, [...path, 'dependencies'], { nonEmptyItems: true });
  if (deps) {
    g.dependencies = [...new Set(deps.map((d) => canonicalPath(d, id)))];
    g.dependencies.forEach((d, i) => {
      for (const m of pathIdErrors(d, { reserved: false })) v.add([...path, 'dependencies', i], m);
    });
  }
  const scaleBy = r.number(o.scaleBy, [...path, 'scaleBy'], { min: 0, double: true });
  if (scaleBy !== undefined) g.scaleBy = scaleBy;
  const version = r.string(o.version, [...path, 'version']);
  if (version !== undefined) {
    const ms = parseMarathonTimestamp(version);
    if (ms === undefined) v.add([...path, 'version'], Msg.date);
    else g.version = marathonTimestamp(ms);
  }

  // version / scaleBy must be the only property (besides the id).
  const others = GROUP_FIELDS.filter((k) => k !== 'id' && given(o[k]));
  for (const k of ['version', 'scaleBy'] as const) if (given(o[k]) && others.length > 1) v.add([...path, k], GroupMessages.onlyDefinedOption);

  if (apps && groups) {
    const groupIds = new Set(groups.map((c) => c.id));
    if (apps.some((a) => groupIds.has(a.id))) v.add(path, GroupMessages.appsAndGroupsSameId);
  }
  return g;
}

/**
 * Parses a GroupUpdate body. `base` is the group of the URL (`/` for /v2/groups): a relative body
 * `id` is resolved against it, apps' and sub-groups' ids against their enclosing group (apps must be
 * direct children). A top-level group with `enforceRole: true` makes its name the default role of its
 * apps. Throws MarathonValidationError (422) with every violation.
 */
export function parseGroupDefinition(json: unknown, base = '/', opts: ParseGroupOptions = {}): GroupUpdate {
  const v = new Violations();
  const g = readGroup(v, json, [], base, opts, undefined);
  v.throwIfAny();
  return g!;
}

/** All apps of a parsed group update, depth-first. */
export function groupUpdateApps(g: GroupUpdate): AppDefinition[] {
  return [...(g.apps ?? []), ...(g.groups ?? []).flatMap(groupUpdateApps)];
}

/** Whether an update is only a scale (`scaleBy`) or only a rollback (`version`). */
export const isScaleOnly = (g: GroupUpdate): boolean => g.scaleBy !== undefined;
export const isGroupRollback = (g: GroupUpdate): boolean => g.version !== undefined;
