// Resource arithmetic over a plain, flattened form of Mesos resources.
// Pure: no I/O. Scalars are kept in Mesos's fixed-point precision (3 decimals)
// so that repeated add/subtract never drifts (Mesos does the same).
//
// Reservations and persistent volumes are encoded in the KEY (see resource-keys.ts):
//   cpus                           unreserved ("*")
//   cpus@ops                       statically reserved for role ops (`--resources 'cpus(ops):2'`)
//   cpus@ops~alice                 dynamically reserved for ops by principal alice (`cpus@ops~`: no principal)
//   disk@ops~alice#data1:data:RW   persistent volume data1 (container_path data, RW) on that reservation
// so add/subtract/contains stay key-wise and never mix a reserved resource with an unreserved one.
// Conversion to and from Mesos JSON (pre-refinement `role` + `reservation`, and post-refinement
// `reservations: [{type, role, principal}]`, `disk.persistence`, `disk.volume`) happens only at the
// boundary: fromMesosResources / toMesosResources / parseResourceString. Code that wants quantities
// by resource name (DRF shares, metrics, legacy flat JSON) uses `quantitiesByName` / `collapseByName`.
import { ValidationError } from '../protocol/errors.ts';
import {
  formatKey,
  isCheckpointedKey,
  isPlainKey,
  keyName,
  keyRole,
  parseKey,
  underlyingKey,
  validateContainerPath,
  validatePersistenceId,
  validateRole,
  type KeyReservation,
  type KeyVolume,
} from './resource-keys.ts';

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
  /** Pre-refinement format: set with a non-`*` role for dynamic reservations. */
  reservation?: { principal?: string; labels?: unknown };
  /** Post-refinement format: the reservation stack (Corral keeps one level). */
  reservations?: { type?: 'STATIC' | 'DYNAMIC'; role?: string; principal?: string; labels?: unknown }[];
  disk?: {
    persistence?: { id: string; principal?: string };
    volume?: { container_path: string; mode: 'RW' | 'RO'; [extra: string]: unknown };
    source?: unknown;
  };
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

/** The reservation a wire resource carries (either format), validated; undefined = unreserved. */
function reservationOf(res: MesosResource, p: string): KeyReservation | undefined {
  const stack = res.reservations;
  if (stack !== undefined && !Array.isArray(stack)) throw new ValidationError('reservations must be an array', `${p}.reservations`);
  if (stack && stack.length > 0) {
    if (stack.length > 1) throw new ValidationError('refined reservations (more than one level) are not supported', `${p}.reservations`);
    const r = stack[0]!;
    if (!r || typeof r !== 'object') throw new ValidationError('reservation must be an object', `${p}.reservations[0]`);
    if (r.type !== 'STATIC' && r.type !== 'DYNAMIC')
      throw new ValidationError(`reservation type must be STATIC or DYNAMIC, got ${JSON.stringify(r.type)}`, `${p}.reservations[0].type`);
    validateRole(r.role as string, `${p}.reservations[0].role`);
    if (r.principal !== undefined && typeof r.principal !== 'string') throw new ValidationError('principal must be a string', `${p}.reservations[0].principal`);
    if (res.role !== undefined && res.role !== r.role)
      throw new ValidationError(`role ${JSON.stringify(res.role)} does not match the reservation's role ${JSON.stringify(r.role)}`, `${p}.role`);
    if (r.type === 'STATIC') return { type: 'STATIC', role: r.role! };
    return { type: 'DYNAMIC', role: r.role!, ...(r.principal ? { principal: r.principal } : {}) };
  }
  if (res.role === undefined || res.role === '*') {
    if (res.reservation !== undefined) throw new ValidationError("a reservation needs a role other than '*'", `${p}.reservation`);
    return undefined;
  }
  if (typeof res.role !== 'string') throw new ValidationError('role must be a string', `${p}.role`);
  validateRole(res.role, `${p}.role`);
  // Pre-refinement format: `reservation` present = dynamic, absent = static.
  if (res.reservation === undefined) return { type: 'STATIC', role: res.role };
  const principal = res.reservation?.principal;
  if (principal !== undefined && typeof principal !== 'string') throw new ValidationError('principal must be a string', `${p}.reservation.principal`);
  return { type: 'DYNAMIC', role: res.role, ...(principal ? { principal } : {}) };
}

/** The persistent volume a wire `disk` resource carries, validated; undefined = plain disk. */
function volumeOf(res: MesosResource, reservation: KeyReservation | undefined, p: string): KeyVolume | undefined {
  const disk = res.disk;
  if (disk === undefined || disk === null) return undefined;
  if (typeof disk !== 'object') throw new ValidationError('disk must be an object', `${p}.disk`);
  if (disk.source !== undefined) throw new ValidationError('disk sources (MOUNT/PATH disks) are not supported', `${p}.disk.source`);
  if (disk.persistence === undefined) {
    if (disk.volume !== undefined) throw new ValidationError('disk.volume needs disk.persistence', `${p}.disk.volume`);
    return undefined;
  }
  if (res.name !== 'disk' || res.type !== 'SCALAR') throw new ValidationError('only SCALAR disk resources can be persistent volumes', `${p}.disk`);
  if (!reservation) throw new ValidationError('a persistent volume needs reserved disk', `${p}.disk.persistence`);
  const { id, principal } = disk.persistence;
  validatePersistenceId(id, `${p}.disk.persistence.id`);
  if (principal !== undefined && typeof principal !== 'string') throw new ValidationError('principal must be a string', `${p}.disk.persistence.principal`);
  const volume = disk.volume;
  if (!volume || typeof volume !== 'object') throw new ValidationError('a persistent volume needs disk.volume', `${p}.disk.volume`);
  validateContainerPath(volume.container_path, `${p}.disk.volume.container_path`);
  const mode = volume.mode ?? 'RW';
  if (mode !== 'RW' && mode !== 'RO') throw new ValidationError(`volume mode must be RW or RO, got ${JSON.stringify(mode)}`, `${p}.disk.volume.mode`);
  return { id, containerPath: volume.container_path, mode, ...(principal ? { principal } : {}) };
}

/** The flat key of one wire resource (its name, reservation and volume). */
export function keyOfMesosResource(res: MesosResource, p = 'resource'): string {
  const reservation = reservationOf(res, p);
  const volume = volumeOf(res, reservation, p);
  return formatKey({ name: res.name, ...(reservation ? { reservation } : {}), ...(volume ? { volume } : {}) });
}

/** Converts wire resources to the flat form, validating values. */
export function fromMesosResources(list: readonly MesosResource[], path = 'resources'): Resources {
  const out = emptyResources();
  list.forEach((res, i) => {
    const p = `${path}[${i}]`;
    if (!res || typeof res.name !== 'string' || res.name === '')
      throw new ValidationError('resource needs a non-empty name', `${p}.name`);
    const key = keyOfMesosResource(res, p);
    switch (res.type) {
      case 'SCALAR': {
        const v = checkNumber(res.scalar?.value, `${p}.scalar.value`);
        out.scalars[key] = roundScalar((out.scalars[key] ?? 0) + v);
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
        out.ranges[key] = normalizeRanges([...(out.ranges[key] ?? []), ...parsed]);
        break;
      }
      case 'SET': {
        const items = res.set?.item;
        if (!Array.isArray(items) || items.some((x) => typeof x !== 'string'))
          throw new ValidationError('SET resource needs set.item of strings', `${p}.set`);
        out.sets[key] = [...new Set([...(out.sets[key] ?? []), ...items])].sort();
        break;
      }
      default:
        throw new ValidationError(`unknown resource type ${JSON.stringify(res.type)}`, `${p}.type`);
    }
  });
  return prune(out);
}

/**
 * Renders the flat form as Mesos v1 JSON resources, optionally tagged with the allocation role.
 * Reserved resources carry both formats, as Mesos's endpoints do: `role` (+ `reservation` when
 * dynamic) for pre-refinement clients and `reservations` for the others; volumes carry
 * `disk.persistence` and `disk.volume`.
 */
export function toMesosResources(r: Resources, allocationRole?: string): MesosResource[] {
  const make = (key: string, x: Omit<MesosResource, 'name'>): MesosResource => {
    const out = { name: '', ...x } as MesosResource;
    if (isPlainKey(key)) {
      out.name = parseKey(key).name;
      out.role = '*';
    } else {
      const k = parseKey(key);
      out.name = k.name;
      const res = k.reservation;
      if (res) {
        out.role = res.role;
        if (res.type === 'DYNAMIC') out.reservation = res.principal ? { principal: res.principal } : {};
        out.reservations = [{ type: res.type, role: res.role, ...(res.principal ? { principal: res.principal } : {}) }];
      } else out.role = '*';
      if (k.volume) {
        const v = k.volume;
        out.disk = { persistence: { id: v.id, ...(v.principal ? { principal: v.principal } : {}) }, volume: { container_path: v.containerPath, mode: v.mode } };
      }
    }
    if (allocationRole) out.allocation_info = { role: allocationRole };
    return out;
  };
  const out: MesosResource[] = [];
  for (const [key, value] of Object.entries(r.scalars))
    if (value > 0) out.push(make(key, { type: 'SCALAR', scalar: { value: roundScalar(value) } }));
  for (const [key, range] of Object.entries(r.ranges))
    if (range.length) out.push(make(key, { type: 'RANGES', ranges: { range: range.map((x) => ({ ...x })) } }));
  for (const [key, item] of Object.entries(r.sets))
    if (item.length) out.push(make(key, { type: 'SET', set: { item: [...item] } }));
  return out;
}

/**
 * Mesos's legacy state JSON: `{cpus, gpus, mem, disk, ports: "[31000-32000]"}`, summed over
 * reservations (Mesos's `model(Resources)` does the same; `reserved_resources` break them down).
 */
export function toLegacyResources(r: Resources): Record<string, number | string> {
  const c = collapseByName(r);
  const out: Record<string, number | string> = { cpus: 0, gpus: 0, mem: 0, disk: 0 };
  for (const [k, v] of Object.entries(c.scalars)) out[parseKey(k).name] = roundScalar(v);
  for (const [k, v] of Object.entries(c.ranges)) out[parseKey(k).name] = '[' + v.map((x) => `${x.begin}-${x.end}`).join(', ') + ']';
  for (const [k, v] of Object.entries(c.sets)) out[parseKey(k).name] = '{' + v.join(', ') + '}';
  return out;
}

// ---- views over reservations -------------------------------------------------

/** The resources whose key satisfies `keep` (a copy). */
export function filterResources(r: Resources, keep: (key: string) => boolean): Resources {
  const out = emptyResources();
  for (const k in r.scalars) if (keep(k)) out.scalars[k] = r.scalars[k]!;
  for (const k in r.ranges) if (keep(k)) out.ranges[k] = r.ranges[k]!.map((x) => ({ ...x }));
  for (const k in r.sets) if (keep(k)) out.sets[k] = [...r.sets[k]!];
  return prune(out);
}

/** True when any key is reserved (or a volume). */
export function hasReservations(r: Resources): boolean {
  for (const k in r.scalars) if (!isPlainKey(k)) return true;
  for (const k in r.ranges) if (!isPlainKey(k)) return true;
  for (const k in r.sets) if (!isPlainKey(k)) return true;
  return false;
}

export const unreservedOf = (r: Resources): Resources => filterResources(r, isPlainKey);

/** What may be offered to (or used by) `role`: unreserved resources plus those reserved for exactly that role. */
export function allocatableTo(r: Resources, role: string): Resources {
  return filterResources(r, (k) => isPlainKey(k) || keyRole(k) === role);
}

/** Reserved resources grouped by the role they are reserved for. */
export function reservedByRole(r: Resources): Map<string, Resources> {
  const out = new Map<string, Resources>();
  const put = (k: string, add: (into: Resources) => void) => {
    const role = keyRole(k);
    if (role === undefined) return;
    let into = out.get(role);
    if (!into) out.set(role, (into = emptyResources()));
    add(into);
  };
  for (const k in r.scalars) put(k, (into) => (into.scalars[k] = r.scalars[k]!));
  for (const k in r.ranges) put(k, (into) => (into.ranges[k] = r.ranges[k]!.map((x) => ({ ...x }))));
  for (const k in r.sets) put(k, (into) => (into.sets[k] = [...r.sets[k]!]));
  return out;
}

/** The same quantities keyed by plain name only (reservations and volumes merged away). */
export function collapseByName(r: Resources): Resources {
  if (!hasReservations(r)) return cloneResources(r);
  const out = emptyResources();
  for (const k in r.scalars) {
    const n = keyName(k);
    out.scalars[n] = roundScalar((out.scalars[n] ?? 0) + r.scalars[k]!);
  }
  for (const k in r.ranges) {
    const n = keyName(k);
    out.ranges[n] = normalizeRanges([...(out.ranges[n] ?? []), ...r.ranges[k]!]);
  }
  for (const k in r.sets) {
    const n = keyName(k);
    out.sets[n] = [...new Set([...(out.sets[n] ?? []), ...r.sets[k]!])].sort();
  }
  return prune(out);
}

/** Dynamic reservations and persistent volumes: the part an agent checkpoints. */
export const checkpointedOf = (r: Resources): Resources => filterResources(r, isCheckpointedKey);

/** Takes `value` of `key` out of `r` (in place); false when `r` does not hold it all. */
function takeKey(r: Resources, kind: 'scalars' | 'ranges' | 'sets', key: string, value: number | Range[] | string[]): boolean {
  const one = emptyResources();
  (one[kind] as Record<string, unknown>)[key] = value;
  if (!containsResources(r, one)) return false;
  const left = subtractResources(r, one);
  r.scalars = left.scalars;
  r.ranges = left.ranges;
  r.sets = left.sets;
  return true;
}

/**
 * An agent's total: its static resources (`--resources`) with its checkpointed dynamic reservations
 * and volumes applied, each taken out of the resource it was made from (Mesos's
 * `applyCheckpointedResources`). Throws ValidationError when the static resources cannot hold them
 * (the agent was restarted with fewer resources than it has reserved).
 */
export function applyCheckpointed(staticResources: Resources, checkpointed: Resources): Resources {
  const base = cloneResources(staticResources);
  for (const kind of ['scalars', 'ranges', 'sets'] as const) {
    for (const [key, value] of Object.entries(checkpointed[kind])) {
      if (!isCheckpointedKey(key)) throw new ValidationError(`${key} is neither a dynamic reservation nor a persistent volume`, 'checkpointed_resources');
      if (!takeKey(base, kind, underlyingKey(key), value as never))
        throw new ValidationError(`checkpointed resource ${key} does not fit in the agent's resources (${formatResources(staticResources)})`, 'checkpointed_resources');
    }
  }
  return addResources(base, checkpointed);
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
    // Mesos syntax for static reservations: `cpus(ops):2`; `cpus(*)` is unreserved.
    const role = /^(.*)\((.*)\)$/.exec(name);
    let key = name;
    if (role) {
      name = role[1]!.trim();
      const r = role[2]!.trim();
      if (r === '*') key = formatKey({ name });
      else {
        validateRole(r, `resources.${name}`);
        key = formatKey({ name, reservation: { type: 'STATIC', role: r } });
      }
    } else key = formatKey({ name });
    if (name === '') throw new ValidationError(`expected name:value, got ${JSON.stringify(part)}`, 'resources');
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
      out.ranges[key] = normalizeRanges([...(out.ranges[key] ?? []), ...ranges]);
    } else if (value.startsWith('{')) {
      if (!value.endsWith('}')) throw new ValidationError('unterminated set', `resources.${name}`);
      const items = value.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean);
      out.sets[key] = [...new Set([...(out.sets[key] ?? []), ...items])].sort();
    } else {
      const v = Number(value);
      if (value === '' || !Number.isFinite(v)) throw new ValidationError(`invalid number ${JSON.stringify(value)}`, `resources.${name}`);
      if (v < 0) throw new ValidationError('must not be negative', `resources.${name}`);
      out.scalars[key] = roundScalar((out.scalars[key] ?? 0) + v);
    }
  }
  return prune(out);
}

/** Human-readable one-liner, e.g. for CLI output and error messages (static reservations in Mesos's `cpus(ops)` syntax). */
export function formatResources(r: Resources): string {
  const label = (key: string): string => {
    if (isPlainKey(key)) return key;
    const k = parseKey(key);
    return k.reservation?.type === 'STATIC' && !k.volume ? `${k.name}(${k.reservation.role})` : key;
  };
  const parts: string[] = [];
  for (const [k, v] of Object.entries(r.scalars)) parts.push(`${label(k)}:${roundScalar(v)}`);
  for (const [k, v] of Object.entries(r.ranges)) parts.push(`${label(k)}:[${v.map((x) => `${x.begin}-${x.end}`).join(',')}]`);
  for (const [k, v] of Object.entries(r.sets)) parts.push(`${label(k)}:{${v.join(',')}}`);
  return parts.join(';');
}

/**
 * Mesos's reservation breakdown of an agent's resources, as its state JSON shows it: by role (flat
 * and full JSON) and the unreserved rest. `allocated` (what tasks use) adds the `*_allocated` pair.
 */
export function reservationBreakdown(total: Resources, allocated?: Resources): Record<string, unknown> {
  const byRole = (r: Resources, render: (x: Resources) => unknown): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [role, x] of [...reservedByRole(r)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[role] = render(x);
    return out;
  };
  const unreserved = unreservedOf(total);
  return {
    reserved_resources: byRole(total, toLegacyResources),
    unreserved_resources: toLegacyResources(unreserved),
    reserved_resources_full: byRole(total, toMesosResources),
    unreserved_resources_full: toMesosResources(unreserved),
    ...(allocated
      ? {
          reserved_resources_allocated: byRole(allocated, toLegacyResources),
          unreserved_resources_allocated: toLegacyResources(unreservedOf(allocated)),
        }
      : {}),
  };
}
