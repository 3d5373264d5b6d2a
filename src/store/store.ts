// The Store: Corral's only durable state. Its semantics follow etcd v3 (one
// global revision, per-key mod/create revisions, compare-and-set transactions,
// prefix ranges and prefix watches) so that an etcd-backed implementation can
// later replace the embedded one without callers noticing. See docs/store.md.
import { ValidationError } from '../protocol/errors.ts';

export interface KeyValue {
  key: string;
  value: string;
  /** Mod revision: the global revision of the last write to this key. */
  revision: number;
  /** The global revision at which this key was (last) created. */
  createRevision: number;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue }
  | { type: 'delete'; key: string; revision: number };

/** revision 0 = the key must not exist; otherwise the key's mod revision must equal it. */
export interface Condition {
  key: string;
  revision: number;
}

/** A put may attach the key to a lease (Lease.id): the key is deleted when the lease ends. */
export type Op = { type: 'put'; key: string; value: string; lease?: string } | { type: 'delete'; key: string };

export interface WatchHandle {
  cancel(): void;
}

export interface WatchOptions {
  /**
   * Deliver every matching event with revision >= fromRevision, replaying history first (etcd's
   * start_revision). Pair it with snapshot(): watch from snapshot.revision + 1 and no event between the
   * read and the watch is missed. Default: the current revision + 1 (only what is committed later).
   * A revision older than the store's retained history makes watch() throw CompactedError.
   */
  fromRevision?: number;
  /**
   * Called once if the watch ends by itself, after which it delivers nothing more. Only an etcd-backed
   * store does that: CompactedError when the server compacted the history the watch still needed (etcd
   * reports it on the stream, after watch() returned), UnavailableError when the server cancelled it.
   * Local stores never call it. Without it the failure is only logged.
   */
  onError?: (err: Error) => void;
}

/**
 * A lease, as etcd's: keys put with it are deleted when it ends, so a crashed owner's keys vanish by
 * themselves after ttlMs. The store keeps it alive (keep-alive) from the process that granted it.
 */
export interface Lease {
  /** The store's lease id (etcd's 64-bit id as a decimal string). */
  readonly id: string;
  /** Time to live the store granted (etcd rounds up to whole seconds). */
  readonly ttlMs: number;
  /** True once the lease has ended: revoked, expired, or its store closed. */
  readonly lost: boolean;
  /**
   * cb runs once when the lease ends for any reason except revoke(): it expired (keep-alives failed
   * for longer than its TTL) or the store closed. Runs at once (asynchronously) if already lost.
   */
  onLost(cb: (reason: string) => void): void;
  /** Ends the lease now and deletes its keys. Idempotent. */
  revoke(): Promise<void>;
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  /** Returns the new global revision; ConflictError when expectedRevision does not hold. */
  put(key: string, value: string, opts?: { expectedRevision?: number; lease?: Lease }): Promise<number>;
  /** True when the key existed (and is now gone); ConflictError when expectedRevision does not hold. */
  delete(key: string, opts?: { expectedRevision?: number }): Promise<boolean>;
  /** All keys starting with prefix ('' = everything), sorted by key (UTF-8 byte order). */
  range(prefix: string): Promise<KeyValue[]>;
  /** range() and the global revision it was read at, atomically (for watch({ fromRevision: revision + 1 })). */
  snapshot(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }>;
  /**
   * Atomic multi-op transaction: all conditions must hold, then all ops apply
   * with one new revision; else ConflictError and nothing changes. Returns the
   * new revision, or the current one when the ops changed nothing (etcd does
   * not bump the revision for a write-free transaction).
   */
  commit(conditions: Condition[], ops: Op[]): Promise<number>;
  /** Events for keys starting with prefix, committed after this call (or from opts.fromRevision), in revision order. */
  watch(prefix: string, listener: (ev: WatchEvent) => void, opts?: WatchOptions): WatchHandle;
  /** A new lease of at least ttlMs, kept alive until revoke() or close(). */
  grantLease(ttlMs: number): Promise<Lease>;
  /** Current global revision (0 for a store that was never written). */
  revision(): Promise<number>;
  /** Idempotent. Afterwards every call rejects with UnavailableError and watches stop. */
  close(): Promise<void>;
}

/** Keys are at most this many UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** Values are at most this many UTF-8 bytes: etcd's default request limit (--max-request-bytes). */
export const MAX_VALUE_BYTES = 1.5 * 1024 * 1024;
/** At most this many ops in one commit: etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;

// A lone surrogate cannot be encoded as UTF-8; it would come back as U+FFFD.
const LONE_SURROGATE = /\p{Surrogate}/u;

function checkString(s: unknown, path: string, maxBytes: number): asserts s is string {
  if (typeof s !== 'string') throw new ValidationError('must be a string', path);
  if (LONE_SURROGATE.test(s)) throw new ValidationError('must be well-formed Unicode (lone surrogate)', path);
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes > maxBytes) {
    throw new ValidationError(`is ${bytes} bytes; the limit is ${maxBytes}`, path, { bytes, limit: maxBytes });
  }
}

export function validateKey(key: unknown, path = 'key'): asserts key is string {
  checkString(key, path, MAX_KEY_BYTES);
  if (key.length === 0) throw new ValidationError('must not be empty', path);
  if (key.includes('\0')) throw new ValidationError('must not contain NUL', path);
}

/** A prefix is a key that may be empty. */
export function validatePrefix(prefix: unknown, path = 'prefix'): asserts prefix is string {
  checkString(prefix, path, MAX_KEY_BYTES);
  if (prefix.includes('\0')) throw new ValidationError('must not contain NUL', path);
}

export function validateValue(value: unknown, path = 'value'): asserts value is string {
  checkString(value, path, MAX_VALUE_BYTES);
}

export function validateRevision(rev: unknown, path: string): asserts rev is number {
  if (typeof rev !== 'number' || !Number.isSafeInteger(rev) || rev < 0) {
    throw new ValidationError('must be a non-negative integer', path);
  }
}

export function validateLeaseId(id: unknown, path: string): asserts id is string {
  if (typeof id !== 'string' || id.length === 0) throw new ValidationError('must be a lease id (a non-empty string)', path);
}

/** put()'s lease option: a Lease (anything with a string id; whether it is live is the store's call). */
export function validateLease(lease: unknown, path = 'lease'): asserts lease is Lease {
  if (typeof lease !== 'object' || lease === null) throw new ValidationError('must be a Lease', path);
  validateLeaseId((lease as { id?: unknown }).id, `${path}.id`);
}

export function validateTtl(ttlMs: unknown, path = 'ttlMs'): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new ValidationError('must be a positive finite number of milliseconds', path);
  }
}

/** Revision 0 means "now" in etcd but "from the start" to a reader, so it is refused as ambiguous. */
export function validateWatchOptions(opts: unknown): asserts opts is WatchOptions {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null) throw new ValidationError('must be an object', 'opts');
  const onError = (opts as { onError?: unknown }).onError;
  if (onError !== undefined && typeof onError !== 'function') throw new ValidationError('must be a function', 'onError');
  const from = (opts as { fromRevision?: unknown }).fromRevision;
  if (from === undefined) return;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 1) {
    throw new ValidationError('must be a positive integer', 'fromRevision');
  }
}

/** Validates a whole commit up front, so that nothing is touched when any part is bad. */
export function validateCommit(conditions: unknown, ops: unknown): asserts ops is Op[] {
  if (!Array.isArray(conditions)) throw new ValidationError('must be an array', 'conditions');
  if (!Array.isArray(ops)) throw new ValidationError('must be an array', 'ops');
  if (conditions.length > MAX_TXN_OPS) {
    throw new ValidationError(`at most ${MAX_TXN_OPS} conditions per commit`, 'conditions');
  }
  if (ops.length > MAX_TXN_OPS) throw new ValidationError(`at most ${MAX_TXN_OPS} ops per commit`, 'ops');
  conditions.forEach((c: unknown, i) => {
    if (typeof c !== 'object' || c === null) throw new ValidationError('must be an object', `conditions[${i}]`);
    const cond = c as Record<string, unknown>;
    validateKey(cond.key, `conditions[${i}].key`);
    validateRevision(cond.revision, `conditions[${i}].revision`);
  });
  const seen = new Set<string>();
  ops.forEach((o: unknown, i) => {
    if (typeof o !== 'object' || o === null) throw new ValidationError('must be an object', `ops[${i}]`);
    const op = o as Record<string, unknown>;
    if (op.type !== 'put' && op.type !== 'delete') {
      throw new ValidationError("must be 'put' or 'delete'", `ops[${i}].type`);
    }
    validateKey(op.key, `ops[${i}].key`);
    if (op.type === 'put') {
      validateValue(op.value, `ops[${i}].value`);
      if (op.lease !== undefined) validateLeaseId(op.lease, `ops[${i}].lease`);
    }
    // etcd rejects a transaction that writes one key twice ("duplicate key given in txn request").
    if (seen.has(op.key)) throw new ValidationError('duplicate key in one commit', `ops[${i}].key`, { key: op.key });
    seen.add(op.key);
  });
}

/**
 * Orders keys the way etcd and SQLite (BINARY collation on UTF-8 text) do: by
 * UTF-8 bytes, which equals code point order. Plain `<` on JS strings compares
 * UTF-16 code units and puts U+10000.. before U+E000..U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs === ys) return x - y;
    return xs ? 1 : -1; // a surrogate pair encodes a code point above every BMP one
  }
  return a.length - b.length;
}
