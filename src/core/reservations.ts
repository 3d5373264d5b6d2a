// The four resource-changing operations of Mesos (RESERVE, UNRESERVE, CREATE, DESTROY) as pure
// conversions over flat resources: each one consumes some keys and produces others of the same
// quantity (`cpus` → `cpus@ops~p`, `disk@ops~p` → `disk@ops~p#v1:data:RW`, and back). The master
// applies a conversion to an offer pool (ACCEPT) or to an agent's available resources (operator
// endpoints) and then to the agent's total; the agent applies nothing itself, it checkpoints the
// master's resulting dynamic reservations and volumes (see agent/volumes.ts).
import { ConflictError, ValidationError } from '../protocol/errors.ts';
import { parseKey, withoutReservation, withoutVolume } from './resource-keys.ts';
import {
  addResources,
  containsResources,
  emptyResources,
  formatResources,
  isEmptyResources,
  subtractResources,
  type Range,
  type Resources,
} from './resources.ts';

export type ResourceOperation = 'RESERVE' | 'UNRESERVE' | 'CREATE' | 'DESTROY';

export interface Conversion {
  consumed: Resources;
  converted: Resources;
}

/** Every key of `r` (scalars, ranges and sets). */
export function keysOf(r: Resources): string[] {
  return [...Object.keys(r.scalars), ...Object.keys(r.ranges), ...Object.keys(r.sets)];
}

/** The same quantities under keys mapped by `fn` (keys that map together are added). */
export function mapKeys(r: Resources, fn: (key: string) => string): Resources {
  let out = emptyResources();
  const one = (kind: 'scalars' | 'ranges' | 'sets', key: string, value: number | Range[] | string[]) => {
    const x = emptyResources();
    (x[kind] as Record<string, unknown>)[fn(key)] = value;
    out = addResources(out, x);
  };
  for (const [k, v] of Object.entries(r.scalars)) one('scalars', k, v);
  for (const [k, v] of Object.entries(r.ranges)) one('ranges', k, v);
  for (const [k, v] of Object.entries(r.sets)) one('sets', k, v);
  return out;
}

/** The roles the keys of `r` are reserved for. */
export function reservationRoles(r: Resources): Set<string> {
  const out = new Set<string>();
  for (const k of keysOf(r)) {
    const role = parseKey(k).reservation?.role;
    if (role !== undefined) out.add(role);
  }
  return out;
}

/** The persistent volumes in `r`, as "role/id". */
export function volumeIds(r: Resources): Set<string> {
  const out = new Set<string>();
  for (const k of keysOf(r)) {
    const key = parseKey(k);
    if (key.volume && key.reservation) out.add(`${key.reservation.role}/${key.volume.id}`);
  }
  return out;
}

function requireNonEmpty(r: Resources, op: ResourceOperation, path: string): void {
  if (isEmptyResources(r)) throw new ValidationError(`${op} needs resources`, path);
}

/** RESERVE: `target` holds the reserved form (dynamic, no volume); it is made from the same unreserved keys. */
export function reserveConversion(target: Resources, path = 'resources'): Conversion {
  requireNonEmpty(target, 'RESERVE', path);
  for (const k of keysOf(target)) {
    const key = parseKey(k);
    if (!key.reservation) throw new ValidationError(`RESERVE of unreserved resource ${key.name}: name the role it is reserved for`, path);
    if (key.reservation.type !== 'DYNAMIC') throw new ValidationError(`RESERVE makes DYNAMIC reservations, not ${key.reservation.type} (${key.name})`, path);
    if (key.volume) throw new ValidationError('RESERVE cannot carry a persistent volume (use CREATE)', path);
  }
  return { consumed: mapKeys(target, withoutReservation), converted: target };
}

/** UNRESERVE: dynamically reserved resources (not volumes) go back to unreserved. */
export function unreserveConversion(reserved: Resources, path = 'resources'): Conversion {
  requireNonEmpty(reserved, 'UNRESERVE', path);
  for (const k of keysOf(reserved)) {
    const key = parseKey(k);
    if (!key.reservation) throw new ValidationError(`UNRESERVE of unreserved resource ${key.name}`, path);
    if (key.reservation.type !== 'DYNAMIC') throw new ValidationError(`statically reserved ${key.name} cannot be unreserved (restart the agent with other --resources)`, path);
    if (key.volume) throw new ValidationError(`persistent volume ${key.volume.id} must be destroyed before its disk is unreserved`, path);
  }
  return { consumed: reserved, converted: mapKeys(reserved, withoutReservation) };
}

/** CREATE: persistent volumes made from reserved disk. `existing`: the agent's volumes ("role/id"), ids must be new. */
export function createConversion(volumes: Resources, existing: ReadonlySet<string>, path = 'volumes'): Conversion {
  requireNonEmpty(volumes, 'CREATE', path);
  const seen = new Set<string>();
  for (const k of keysOf(volumes)) {
    const key = parseKey(k);
    if (!key.volume || !key.reservation) throw new ValidationError(`CREATE needs disk resources with disk.persistence and disk.volume (got ${key.name})`, path);
    const id = `${key.reservation.role}/${key.volume.id}`;
    if (seen.has(id)) throw new ValidationError(`persistence id ${key.volume.id} is used twice in this CREATE`, path);
    if (existing.has(id)) throw new ValidationError(`persistence id ${key.volume.id} is already used by another persistent volume of role ${key.reservation.role}`, path);
    seen.add(id);
  }
  return { consumed: mapKeys(volumes, withoutVolume), converted: volumes };
}

/** DESTROY: persistent volumes back to the reserved disk they were made from. */
export function destroyConversion(volumes: Resources, path = 'volumes'): Conversion {
  requireNonEmpty(volumes, 'DESTROY', path);
  for (const k of keysOf(volumes)) {
    const key = parseKey(k);
    if (!key.volume) throw new ValidationError(`DESTROY needs persistent volumes (got ${key.name} without disk.persistence)`, path);
  }
  return { consumed: volumes, converted: mapKeys(volumes, withoutVolume) };
}

/** Whether `pool` holds everything the conversion consumes. */
export function canApply(pool: Resources, c: Conversion): boolean {
  return containsResources(pool, c.consumed);
}

/** pool - consumed + converted; ConflictError when the pool does not hold what is consumed. */
export function applyConversion(pool: Resources, c: Conversion, what = 'the resources'): Resources {
  if (!containsResources(pool, c.consumed))
    throw new ConflictError(`${formatResources(c.consumed)} is not available in ${what} (${formatResources(pool) || 'nothing'})`);
  return addResources(subtractResources(pool, c.consumed), c.converted);
}
