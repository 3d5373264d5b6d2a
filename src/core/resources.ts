// Resource arithmetic over a plain, flattened form of Mesos resources.
// Pure: no I/O. Scalars are kept in Mesos's fixed-point precision (3 decimals)
// so that repeated add/subtract never drifts (Mesos does the same).
import { ValidationError } from '../protocol/errors.ts';

export interface Range {
  begin: number;
  end: number; // inclusive, as in Mesos
}

export interface Resources {
  scalars: Record<string, number>;
  ranges: Record<string, Range[]>;
  sets: Record<string, string[]>;
}

/** The Mesos v1 JSON shape of one Resource (subset Corral understands). */
export interface MesosResource {
  name: string;
  type: 'SCALAR' | 'RANGES' | 'SET';
  scalar?: { value: number };
  ranges?: { range: Range[] };
  set?: { item: string[] };
  role?: string;
  allocation_info?: { role: string };
  [extra: string]: unknown;
}

export const emptyResources = (): Resources => ({ scalars: {}, ranges: {}, sets: {} });

export function roundScalar(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function cloneResources(r: Resources): Resources {
  return {
    scalars: { ...r.scalars },
    ranges: Object.fromEntries(Object.entries(r.ranges).map(([k, v]) => [k, v.map((x) => ({ ...x }))])),
    sets: Object.fromEntries(Object.entries(r.sets).map(([k, v]) => [k, [...v]])),
  };
}

/** Sorts and merges overlapping/adjacent ranges. */
export function normalizeRanges(ranges: Range[]): Range[] {
  const sorted = ranges.filter((r) => r.end >= r.begin).map((r) => ({ ...r })).sort((a, b) => a.begin - b.begin);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.begin <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push(r);
  }
  return out;
}

function subtractRanges(a: Range[], b: Range[]): Range[] {
  let result = normalizeRanges(a);
  for (const cut of normalizeRanges(b)) {
    const next: Range[] = [];
    for (const r of result) {
      if (cut.end < r.begin || cut.begin > r.end) {
        next.push(r);
        continue;
      }
      if (cut.begin > r.begin) next.push({ begin: r.begin, end: cut.begin - 1 });
      if (cut.end < r.end) next.push({ begin: cut.end + 1, end: r.end });
    }
    result = next;
  }
  return result;
}

function rangesContain(outer: Range[], inner: Range[]): boolean {
  return subtractRanges(inner, outer).length === 0;
}

export function rangeCount(ranges: Range[]): number {
  return ranges.reduce((n, r) => n + (r.end - r.begin + 1), 0);
}

export function addResources(a: Resources, b: Resources): Resources {
  const out = cloneResources(a);
  for (const [k, v] of Object.entries(b.scalars)) out.scalars[k] = roundScalar((out.scalars[k] ?? 0) + v);
  for (const [k, v] of Object.entries(b.ranges)) out.ranges[k] = normalizeRanges([...(out.ranges[k] ?? []), ...v]);
  for (const [k, v] of Object.entries(b.sets)) out.sets[k] = [...new Set([...(out.sets[k] ?? []), ...v])].sort();
  return prune(out);
}

/** a - b, clamped at zero. Use `containsResources` first when b must fit in a. */
export function subtractResources(a: Resources, b: Resources): Resources {
  const out = cloneResources(a);
  for (const [k, v] of Object.entries(b.scalars)) {
    if (out.scalars[k] === undefined) continue;
    out.scalars[k] = Math.max(0, roundScalar(out.scalars[k]! - v));
  }
  for (const [k, v] of Object.entries(b.ranges)) {
    if (out.ranges[k]) out.ranges[k] = subtractRanges(out.ranges[k]!, v);
  }
  for (const [k, v] of Object.entries(b.sets)) {
    if (out.sets[k]) out.sets[k] = out.sets[k]!.filter((x) => !v.includes(x));
  }
  return prune(out);
}

/** True when every resource in `inner` is available in `outer`. */
export function containsResources(outer: Resources, inner: Resources): boolean {
  for (const [k, v] of Object.entries(inner.scalars)) {
    if (v <= 0) continue;
    if (roundScalar(outer.scalars[k] ?? 0) < roundScalar(v)) return false;
  }
  for (const [k, v] of Object.entries(inner.ranges)) {
    if (v.length && !rangesContain(outer.ranges[k] ?? [], v)) return false;
  }
  for (const [k, v] of Object.entries(inner.sets)) {
    const have = new Set(outer.sets[k] ?? []);
    if (v.some((x) => !have.has(x))) return false;
  }
  return true;
}

export function isEmptyResources(r: Resources): boolean {
  return (
    Object.values(r.scalars).every((v) => v <= 0) &&
    Object.values(r.ranges).every((v) => v.length === 0) &&
    Object.values(r.sets).every((v) => v.length === 0)
  );
}

export function resourcesEqual(a: Resources, b: Resources): boolean {
  return containsResources(a, b) && containsResources(b, a);
}

function prune(r: Resources): Resources {
  for (const [k, v] of Object.entries(r.scalars)) if (v <= 0) delete r.scalars[k];
  for (const [k, v] of Object.entries(r.ranges)) if (v.length === 0) delete r.ranges[k];
  for (const [k, v] of Object.entries(r.sets)) if (v.length === 0) delete r.sets[k];
  return r;
}

/** Quantity of a resource: scalar value, or number of range/set elements. */
export function quantityOf(r: Resources, name: string): number {
  if (r.scalars[name] !== undefined) return r.scalars[name]!;
  if (r.ranges[name]) return rangeCount(r.ranges[name]!);
  if (r.sets[name]) return r.sets[name]!.length;
  return 0;
}

/** Only the scalar part (what DRF shares are computed over). */
export function scalarsOf(r: Resources): Record<string, number> {
  return { ...r.scalars };
}

function checkNumber(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValidationError('must be a finite number', path);
  if (v < 0) throw new ValidationError('must not be negative', path);
  return v;
}

/** Converts wire resources to the flat form, validating values. */
export function fromMesosResources(list: readonly MesosResource[], path = 'resources'): Resources {
  const out = emptyResources();
  list.forEach((res, i) => {
    const p = `${path}[${i}]`;
    if (!res || typeof res.name !== 'string' || res.name === '')
      throw new ValidationError('resource needs a non-empty name', `${p}.name`);
    switch (res.type) {
      case 'SCALAR': {
        const v = checkNumber(res.scalar?.value, `${p}.scalar.value`);
        out.scalars[res.name] = roundScalar((out.scalars[res.name] ?? 0) + v);
        break;
      }
      case 'RANGES': {
        const rs = res.ranges?.range;
        if (!Array.isArray(rs)) throw new ValidationError('RANGES resource needs ranges.range', `${p}.ranges`);
        const parsed = rs.map((r, j) => {
          const begin = checkNumber(r?.begin, `${p}.ranges.range[${j}].begin`);
          const end = checkNumber(r?.end, `${p}.ranges.range[${j}].end`);
          if (!Number.isInteger(begin) || !Number.isInteger(end))
            throw new ValidationError('range bounds must be integers', `${p}.ranges.range[${j}]`);
          if (end < begin) throw new ValidationError('range end is before begin', `${p}.ranges.range[${j}]`);
          return { begin, end };
        });
        out.ranges[res.name] = normalizeRanges([...(out.ranges[res.name] ?? []), ...parsed]);
        break;
      }
      case 'SET': {
        const items = res.set?.item;
        if (!Array.isArray(items) || items.some((x) => typeof x !== 'string'))
          throw new ValidationError('SET resource needs set.item of strings', `${p}.set`);
        out.sets[res.name] = [...new Set([...(out.sets[res.name] ?? []), ...items])].sort();
        break;
      }
      default:
        throw new ValidationError(`unknown resource type ${JSON.stringify(res.type)}`, `${p}.type`);
    }
  });
  return prune(out);
}

/** Renders the flat form as Mesos v1 JSON resources, optionally tagged with the allocation role. */
export function toMesosResources(r: Resources, allocationRole?: string): MesosResource[] {
  const tag = (x: MesosResource): MesosResource => {
    x.role = '*';
    if (allocationRole) x.allocation_info = { role: allocationRole };
    return x;
  };
  const out: MesosResource[] = [];
  for (const [name, value] of Object.entries(r.scalars))
    if (value > 0) out.push(tag({ name, type: 'SCALAR', scalar: { value: roundScalar(value) } }));
  for (const [name, range] of Object.entries(r.ranges))
    if (range.length) out.push(tag({ name, type: 'RANGES', ranges: { range: range.map((x) => ({ ...x })) } }));
  for (const [name, item] of Object.entries(r.sets))
    if (item.length) out.push(tag({ name, type: 'SET', set: { item: [...item] } }));
  return out;
}

/** Mesos's legacy state JSON: `{cpus, gpus, mem, disk, ports: "[31000-32000]"}`. */
export function toLegacyResources(r: Resources): Record<string, number | string> {
  const out: Record<string, number | string> = { cpus: 0, gpus: 0, mem: 0, disk: 0 };
  for (const [k, v] of Object.entries(r.scalars)) out[k] = roundScalar(v);
  for (const [k, v] of Object.entries(r.ranges)) out[k] = '[' + v.map((x) => `${x.begin}-${x.end}`).join(', ') + ']';
  for (const [k, v] of Object.entries(r.sets)) out[k] = '{' + v.join(', ') + '}';
  return out;
}

/**
 * Parses Mesos's agent `--resources` text form: `cpus:4;mem:8192;ports:[31000-32000];zones:{a,b}`.
 * Also accepts a JSON array of Mesos resources.
 */
export function parseResourceString(text: string): Resources {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new ValidationError(`invalid JSON: ${(e as Error).message}`, 'resources');
    }
    if (!Array.isArray(parsed)) throw new ValidationError('expected a JSON array', 'resources');
    return fromMesosResources(parsed as MesosResource[]);
  }
  const out = emptyResources();
  for (const part of trimmed.split(';').map((s) => s.trim()).filter(Boolean)) {
    const idx = part.indexOf(':');
    if (idx <= 0) throw new ValidationError(`expected name:value, got ${JSON.stringify(part)}`, 'resources');
    let name = part.slice(0, idx).trim();
    const value = part.slice(idx + 1).trim();
    const role = /^(.*)\((.*)\)$/.exec(name);
    if (role) {
      if (role[2] !== '*') throw new ValidationError(`static reservations (role ${role[2]}) are not supported yet`, `resources.${role[1]}`);
      name = role[1]!;
    }
    if (value.startsWith('[')) {
      if (!value.endsWith(']')) throw new ValidationError('unterminated range list', `resources.${name}`);
      const ranges = value
        .slice(1, -1)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => {
          const m = /^(\d+)\s*-\s*(\d+)$/.exec(s);
          if (!m) throw new ValidationError(`invalid range ${JSON.stringify(s)}`, `resources.${name}`);
          const begin = Number(m[1]);
          const end = Number(m[2]);
          if (end < begin) throw new ValidationError(`range end before begin in ${s}`, `resources.${name}`);
          return { begin, end };
        });
      out.ranges[name] = normalizeRanges([...(out.ranges[name] ?? []), ...ranges]);
    } else if (value.startsWith('{')) {
      if (!value.endsWith('}')) throw new ValidationError('unterminated set', `resources.${name}`);
      const items = value.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean);
      out.sets[name] = [...new Set([...(out.sets[name] ?? []), ...items])].sort();
    } else {
      const v = Number(value);
      if (value === '' || !Number.isFinite(v)) throw new ValidationError(`invalid number ${JSON.stringify(value)}`, `resources.${name}`);
      if (v < 0) throw new ValidationError('must not be negative', `resources.${name}`);
      out.scalars[name] = roundScalar((out.scalars[name] ?? 0) + v);
    }
  }
  return prune(out);
}

/** Human-readable one-liner, e.g. for CLI output and error messages. */
export function formatResources(r: Resources): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(r.scalars)) parts.push(`${k}:${roundScalar(v)}`);
  for (const [k, v] of Object.entries(r.ranges)) parts.push(`${k}:[${v.map((x) => `${x.begin}-${x.end}`).join(',')}]`);
  for (const [k, v] of Object.entries(r.sets)) parts.push(`${k}:{${v.join(',')}}`);
  return parts.join(';');
}
