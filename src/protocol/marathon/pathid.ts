// Marathon path ids (`/group/sub/app`): parsing, canonicalization relative to a
// base group (`.`/`..` resolved), validation with Marathon's segment regex, and
// the "safe id" (`/prod/web` → `prod_web`) used in task and instance ids.

/** Marathon's ID_PATH_SEGMENT_PATTERN, verbatim (used in its error message). */
export const PATH_SEGMENT_PATTERN =
  '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$';
// Java's Matcher.matches() needs the whole segment to match one alternative.
const SEGMENT_RE = /^(?:(?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])|\.|\.\.)$/;

export const RESERVED_LAST_SEGMENTS = ['restart', 'tasks', 'versions', '.', '..'] as const;

export const ROOT = '/';

/** Raw segments of a path string (leading/trailing/duplicate slashes dropped, `.`/`..` kept). */
export function pathSegments(id: string): string[] {
  return id.split('/').filter((s) => s.length > 0);
}

export const isAbsolute = (id: string): boolean => id.startsWith('/');

function resolveDots(segments: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of segments) {
    if (s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return out;
}

/**
 * Marathon's PathId.canonicalPath: an absolute id with `.`/`..` resolved; a relative id is
 * resolved against `base` (itself made canonical). `..` above the root stays at the root.
 *   canonicalPath('foo') = '/foo'; canonicalPath('web', '/prod') = '/prod/web';
 *   canonicalPath('../db', '/prod/web') = '/prod/db'
 */
export function canonicalPath(id: string, base: string = ROOT): string {
  const segs = isAbsolute(id) ? pathSegments(id) : [...resolveDots(pathSegments(base)), ...pathSegments(id)];
  return '/' + resolveDots(segs).join('/');
}

/** Alias of canonicalPath: what the HTTP API applies to ids from URLs and bodies. */
export const normalizePathId = canonicalPath;

export const isRoot = (id: string): boolean => canonicalPath(id) === ROOT;

/** Parent of a canonical id; the root is its own parent. */
export function parentOf(id: string): string {
  const segs = pathSegments(canonicalPath(id));
  return '/' + segs.slice(0, -1).join('/');
}

/** Last segment ('' for the root). */
export const baseName = (id: string): string => pathSegments(canonicalPath(id)).at(-1) ?? '';

/** `/a/b` is a direct child of `/a` (not of `/`, not of itself). */
export const isChildOf = (child: string, parent: string): boolean =>
  !isRoot(child) && parentOf(child) === canonicalPath(parent);

/** `id` lies strictly below `ancestor` (`/a/b/c` is below `/a` and `/`). */
export function isDescendantOf(id: string, ancestor: string): boolean {
  const a = pathSegments(canonicalPath(ancestor));
  const s = pathSegments(canonicalPath(id));
  return s.length > a.length && a.every((seg, i) => s[i] === seg);
}

/** `id` equals `ancestor` or lies below it (Marathon's PathId.includes, reversed). */
export const isSelfOrDescendantOf = (id: string, ancestor: string): boolean =>
  canonicalPath(id) === canonicalPath(ancestor) || isDescendantOf(id, ancestor);

/** All ancestors of a canonical id, nearest first, ending with the root. */
export function ancestorsOf(id: string): string[] {
  const out: string[] = [];
  let cur = canonicalPath(id);
  while (cur !== ROOT) {
    cur = parentOf(cur);
    out.push(cur);
  }
  return out;
}

/** `/prod/web` → `prod_web` (Marathon's PathId.safePath). */
export const safeId = (id: string): string => pathSegments(canonicalPath(id)).join('_');

/** `prod_web` → `/prod/web` (Marathon's PathId.fromSafePath; lossy when segments contain `_`, which ids cannot). */
export const fromSafeId = (safe: string): string => (safe === '' ? ROOT : '/' + safe.split('_').join('/'));

export const isValidSegment = (segment: string): boolean => SEGMENT_RE.test(segment);

export const segmentPatternMessage = `must fully match regular expression '${PATH_SEGMENT_PATTERN}'`;
export const reservedKeywordMessage = `must not end with any of the following reserved keywords: ${RESERVED_LAST_SEGMENTS.join(', ')}`;

/**
 * Marathon's pathIdValidator messages for an id (empty when valid): every segment must match
 * the segment regex; the last segment must not be a reserved keyword (restart, tasks, versions).
 * Validates the id as given (callers canonicalize first when `.`/`..` should be resolved).
 */
export function pathIdErrors(id: string, opts: { reserved?: boolean } = {}): string[] {
  const segs = pathSegments(id);
  const errors: string[] = [];
  if (!segs.every(isValidSegment)) errors.push(segmentPatternMessage);
  if (opts.reserved !== false) {
    const last = segs.at(-1);
    if (last !== undefined && (RESERVED_LAST_SEGMENTS as readonly string[]).includes(last)) errors.push(reservedKeywordMessage);
  }
  return errors;
}

export const isValidPathId = (id: string): boolean => pathIdErrors(id).length === 0;

/** Marathon's childOf message for apps that are not direct children of their group. */
export const notChildMessage = (parent: string): string => `Identifier is not child of '${canonicalPath(parent)}'`;
