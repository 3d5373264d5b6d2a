// The flattened resource key: one string per distinct Mesos resource identity, so that resource
// arithmetic stays key-wise (a reserved cpu and an unreserved cpu are different keys and never mix,
// exactly as Mesos's `Resources` never merges resources whose reservations or disk infos differ).
//
//   key        = name [ "@" role [ "~" principal ] ] [ "#" id ":" container_path ":" mode [ ":" vprincipal ] ]
//
//   cpus                           unreserved (role "*")
//   cpus@ops                       STATIC reservation for role ops (agent flag `cpus(ops):2`)
//   cpus@ops~                      DYNAMIC reservation for ops, no principal
//   cpus@ops~alice                 DYNAMIC reservation for ops by principal alice
//   disk@ops~alice#data1:data:RW   a persistent volume (disk.persistence.id data1,
//                                  disk.volume.container_path data, mode RW) on that reservation;
//                                  `:bob` after the mode would be disk.persistence.principal
//
// Every component is escaped (`%`, `@`, `~`, `#`, `:` become %XX) so that any role, principal, id or
// path round-trips; plain names (`cpus`, `mem`, `ports`) are their own key, so unreserved resources
// look exactly as they did before reservations existed. Only one level of reservation is kept
// (Mesos's refined reservation stacks are not supported) and only `disk` may carry a volume.
import { ValidationError } from '../protocol/errors.ts';

export type ReservationType = 'STATIC' | 'DYNAMIC';

export interface KeyReservation {
  type: ReservationType;
  role: string;
  principal?: string;
}

export interface KeyVolume {
  /** disk.persistence.id */
  id: string;
  /** disk.persistence.principal */
  principal?: string;
  containerPath: string;
  mode: 'RW' | 'RO';
}

export interface ResourceKey {
  name: string;
  reservation?: KeyReservation;
  volume?: KeyVolume;
}

const SPECIAL = /[%@~#:]/g;
const escapeComponent = (s: string): string => s.replace(SPECIAL, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
function unescapeComponent(s: string): string {
  return s.indexOf('%') < 0 ? s : s.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** True for keys of plain unreserved resources (the hot path: no parse needed). */
export function isPlainKey(key: string): boolean {
  return key.indexOf('@') < 0 && key.indexOf('#') < 0;
}

export function formatKey(k: ResourceKey): string {
  let out = escapeComponent(k.name);
  if (k.reservation) {
    out += '@' + escapeComponent(k.reservation.role);
    if (k.reservation.type === 'DYNAMIC') out += '~' + escapeComponent(k.reservation.principal ?? '');
  }
  if (k.volume) {
    const v = k.volume;
    out += '#' + escapeComponent(v.id) + ':' + escapeComponent(v.containerPath) + ':' + v.mode;
    if (v.principal !== undefined && v.principal !== '') out += ':' + escapeComponent(v.principal);
  }
  return out;
}

const parsed = new Map<string, ResourceKey>();
const MAX_CACHED = 10_000;

/** Parses a key made by `formatKey` (memoised: the allocator asks about the same few keys every cycle). */
export function parseKey(key: string): ResourceKey {
  if (isPlainKey(key)) return { name: unescapeComponent(key) };
  const hit = parsed.get(key);
  if (hit) return hit;
  let rest = key;
  let volume: KeyVolume | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    const parts = rest.slice(hash + 1).split(':');
    const mode = parts[2];
    if (parts.length < 3 || parts.length > 4 || (mode !== 'RW' && mode !== 'RO')) throw new Error(`malformed resource key ${JSON.stringify(key)}`);
    volume = { id: unescapeComponent(parts[0]!), containerPath: unescapeComponent(parts[1]!), mode };
    if (parts[3] !== undefined) volume.principal = unescapeComponent(parts[3]);
    rest = rest.slice(0, hash);
  }
  let reservation: KeyReservation | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const r = rest.slice(at + 1);
    const tilde = r.indexOf('~');
    reservation =
      tilde < 0
        ? { type: 'STATIC', role: unescapeComponent(r) }
        : { type: 'DYNAMIC', role: unescapeComponent(r.slice(0, tilde)), ...(tilde < r.length - 1 ? { principal: unescapeComponent(r.slice(tilde + 1)) } : {}) };
    rest = rest.slice(0, at);
  }
  const out: ResourceKey = { name: unescapeComponent(rest), ...(reservation ? { reservation } : {}), ...(volume ? { volume } : {}) };
  if (parsed.size >= MAX_CACHED) parsed.clear();
  parsed.set(key, out);
  return out;
}

/**
 * The key's name part as it appears in the key (escaped): what DRF shares, min-allocatable and the
 * legacy flat JSON aggregate over. `cpus@ops~p` → `cpus`.
 */
export function keyName(key: string): string {
  if (isPlainKey(key)) return key;
  const at = key.indexOf('@');
  const hash = key.indexOf('#');
  const end = at < 0 ? hash : hash < 0 ? at : Math.min(at, hash);
  return key.slice(0, end);
}

/** The role a key is reserved for; undefined for unreserved keys. */
export function keyRole(key: string): string | undefined {
  return isPlainKey(key) ? undefined : parseKey(key).reservation?.role;
}

/** Dynamic reservations and volumes: what the agent checkpoints and the master must remember. */
export function isCheckpointedKey(key: string): boolean {
  if (isPlainKey(key)) return false;
  const k = parseKey(key);
  return k.volume !== undefined || k.reservation?.type === 'DYNAMIC';
}

/**
 * The key a checkpointed key was made from on the agent's static resources: the volume removed, and a
 * dynamic reservation removed. `disk@ops~p#v:…` → `disk`; `disk@ops#v:…` → `disk@ops`; `cpus@ops~p` → `cpus`.
 */
export function underlyingKey(key: string): string {
  const k = parseKey(key);
  const reservation = k.reservation?.type === 'STATIC' ? k.reservation : undefined;
  return formatKey({ name: k.name, ...(reservation ? { reservation } : {}) });
}

/** The key without its volume (what CREATE consumes and DESTROY gives back). */
export function withoutVolume(key: string): string {
  const k = parseKey(key);
  return formatKey({ name: k.name, ...(k.reservation ? { reservation: k.reservation } : {}) });
}

/** The key without its (dynamic) reservation (what RESERVE consumes and UNRESERVE gives back). */
export function withoutReservation(key: string): string {
  return formatKey({ name: parseKey(key).name });
}

/**
 * Mesos role names: not empty, not `.`/`..`, no leading `-`, no whitespace or control characters,
 * `/` separating the components of a hierarchical role (each obeying the same rules). `*` is not a
 * role one can reserve for.
 */
export function validateRole(role: string, path: string): void {
  if (typeof role !== 'string' || role === '') throw new ValidationError('role must not be empty', path);
  if (role === '*') throw new ValidationError("cannot reserve for role '*'", path);
  for (const part of role.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new ValidationError(`invalid role ${JSON.stringify(role)}`, path);
    if (part.startsWith('-')) throw new ValidationError(`role ${JSON.stringify(role)} must not start with '-'`, path);
    if (/[\s\u0000-\u001f\u007f]/.test(part)) throw new ValidationError(`role ${JSON.stringify(role)} contains whitespace or control characters`, path);
  }
}

/** Mesos `validateID` for persistence ids: a single path component of printable characters. */
export function validatePersistenceId(id: string, path: string): void {
  if (typeof id !== 'string' || id === '') throw new ValidationError('persistence id must not be empty', path);
  if (id.length > 255) throw new ValidationError('persistence id is longer than 255 characters', path);
  if (id === '.' || id === '..' || /[/\\]/.test(id)) throw new ValidationError(`invalid persistence id ${JSON.stringify(id)}`, path);
  if (/[\s\u0000-\u001f\u007f]/.test(id)) throw new ValidationError(`persistence id ${JSON.stringify(id)} contains whitespace or control characters`, path);
}

/**
 * A volume's container path is relative to the sandbox (the posix filesystem isolator links it there):
 * not empty, not absolute, no `..` component, so a task cannot make the agent link outside its sandbox.
 */
export function validateContainerPath(p: string, path: string): void {
  if (typeof p !== 'string' || p.trim() === '') throw new ValidationError('volume.container_path must not be empty', path);
  if (p.startsWith('/')) throw new ValidationError(`volume.container_path ${JSON.stringify(p)} must be relative to the sandbox`, path);
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0) throw new ValidationError(`volume.container_path ${JSON.stringify(p)} names the sandbox itself`, path);
  if (parts.includes('..')) throw new ValidationError(`volume.container_path ${JSON.stringify(p)} must not contain '..'`, path);
  if (/[\u0000]/.test(p)) throw new ValidationError('volume.container_path contains a NUL character', path);
}
