// The embedded Store: one SQLite file (dir/corral.db) in WAL mode with
// synchronous=FULL, owned by exactly one process at a time.
//
// Single writer: the connection runs in EXCLUSIVE locking mode and takes the
// write lock while opening, so the kernel's file lock (released when a process
// dies, however it dies) is what keeps a second process out; a lock can never
// go stale. dir/corral.lock records the owner's pid, only so that the refusal
// can say who holds the store; a leftover one is simply overwritten.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UnavailableError } from '../protocol/errors.ts';
import { BackendStore, type Backend, type StoreOptions } from './core.ts';
import type { KeyValue } from './store.ts';

export const DB_FILE = 'corral.db';
export const LOCK_FILE = 'corral.lock';
// 1: kv(key, value, mod_revision, create_revision), meta(revision).
// 2: kv.lease, the id of the lease a key is attached to (NULL: none).
const SCHEMA_VERSION = 2;

interface Row {
  key: string;
  value: string;
  mod_revision: number;
  create_revision: number;
}

const toKv = (r: Row): KeyValue =>
  Object.freeze({ key: r.key, value: r.value, revision: r.mod_revision, createRevision: r.create_revision });

class SqliteBackend implements Backend {
  private readonly getStmt;
  private readonly rangeAllStmt;
  private readonly rangeFromStmt;
  private readonly revStmt;
  private readonly setRevStmt;
  private readonly writeStmt;
  private readonly removeStmt;
  private readonly tx;

  constructor(
    private readonly db: Database.Database,
    private readonly release: () => void,
  ) {
    const cols = 'SELECT key, value, mod_revision, create_revision FROM kv';
    this.getStmt = db.prepare<[string], Row>(`${cols} WHERE key = ?`);
    this.rangeAllStmt = db.prepare<[], Row>(`${cols} ORDER BY key`);
    this.rangeFromStmt = db.prepare<[string], Row>(`${cols} WHERE key >= ? ORDER BY key`);
    this.revStmt = db.prepare<[], { value: number }>(`SELECT value FROM meta WHERE name = 'revision'`);
    this.setRevStmt = db.prepare<[number]>(`UPDATE meta SET value = ? WHERE name = 'revision'`);
    this.writeStmt = db.prepare<[string, string, number, number, string | null]>(
      `INSERT INTO kv (key, value, mod_revision, create_revision, lease) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision,
         create_revision = excluded.create_revision, lease = excluded.lease`,
    );
    this.removeStmt = db.prepare<[string]>(`DELETE FROM kv WHERE key = ?`);
    this.tx = db.transaction((fn: () => unknown) => fn());
  }

  get(key: string): KeyValue | undefined {
    const row = this.getStmt.get(key);
    return row && toKv(row);
  }

  range(prefix: string): KeyValue[] {
    if (prefix === '') return this.rangeAllStmt.all().map(toKv);
    // Keys with the prefix are contiguous in BINARY (UTF-8 byte) order, starting at the prefix itself.
    const out: KeyValue[] = [];
    for (const row of this.rangeFromStmt.iterate(prefix)) {
      if (!row.key.startsWith(prefix)) break; // leaving the loop early resets the statement
      out.push(toKv(row));
    }
    return out;
  }

  revision(): number {
    return this.revStmt.get()!.value;
  }

  atomically<T>(fn: () => T): T {
    // BEGIN IMMEDIATE … COMMIT; with synchronous=FULL the WAL is fsynced before COMMIT returns.
    return this.tx.immediate(fn) as T;
  }

  write(kv: KeyValue, lease?: string): void {
    this.writeStmt.run(kv.key, kv.value, kv.revision, kv.createRevision, lease ?? null);
  }

  remove(key: string): void {
    this.removeStmt.run(key);
  }

  setRevision(rev: number): void {
    this.setRevStmt.run(rev);
  }

  close(): void {
    try {
      this.release();
    } finally {
      this.db.close(); // checkpoints the WAL into corral.db and drops the lock
    }
  }
}

/**
 * Leases live in the process that granted them, so keys still attached to one belong to a process
 * that died (or never closed the store): delete them all, in one new revision, as etcd would once
 * their TTL ran out. Runs before anyone can watch, so nobody sees these deletes as events.
 */
function dropOrphanedLeaseKeys(db: Database.Database): void {
  const { n } = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM kv WHERE lease IS NOT NULL`).get()!;
  if (n === 0) return;
  db.exec(`DELETE FROM kv WHERE lease IS NOT NULL; UPDATE meta SET value = value + 1 WHERE name = 'revision';`);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readLockOwner(lockPath: string): { pid?: number; openedAt?: string } {
  try {
    const parsed = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: unknown; openedAt?: unknown };
    return {
      pid: typeof parsed.pid === 'number' ? parsed.pid : undefined,
      openedAt: typeof parsed.openedAt === 'string' ? parsed.openedAt : undefined,
    };
  } catch {
    return {};
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

/**
 * Opens (creating if needed) the store in dir. Rejects with UnavailableError,
 * without waiting, when another process, or this one, already has it open.
 */
export async function openEmbeddedStore(dir: string, opts: StoreOptions = {}): Promise<BackendStore> {
  const root = resolve(dir);
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new UnavailableError(`cannot create store directory ${root}: ${(err as Error).message}`, { dir: root });
  }
  const dbPath = join(root, DB_FILE);
  const lockPath = join(root, LOCK_FILE);

  let db: Database.Database;
  try {
    db = new Database(dbPath, { timeout: 0 }); // timeout 0: a held lock fails at once instead of waiting
  } catch (err) {
    throw new UnavailableError(`cannot open ${dbPath}: ${(err as Error).message}`, { dir: root });
  }
  try {
    // EXCLUSIVE must precede the first WAL access: then there is no shared-memory
    // index, and the lock taken below is held until close.
    db.pragma('locking_mode = EXCLUSIVE');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`could not enable WAL (journal_mode is ${mode})`);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = OFF');
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(`schema version ${version} is newer than this Corral understands (${SCHEMA_VERSION})`);
      }
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);
        CREATE TABLE IF NOT EXISTS kv (
          key TEXT NOT NULL PRIMARY KEY,
          value TEXT NOT NULL,
          mod_revision INTEGER NOT NULL,
          create_revision INTEGER NOT NULL,
          lease TEXT
        );
      `);
      // Version 1 databases lack the lease column; their keys carry no lease.
      const cols = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('kv')`).all();
      if (!cols.some((c) => c.name === 'lease')) db.exec(`ALTER TABLE kv ADD COLUMN lease TEXT`);
      if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      dropOrphanedLeaseKeys(db);
    }).immediate(); // the first write: from here on this connection holds the file lock
  } catch (err) {
    db.close();
    if (isBusy(err)) {
      const owner = readLockOwner(lockPath);
      const who =
        owner.pid === undefined
          ? 'another process'
          : owner.pid === process.pid
            ? `this process (pid ${owner.pid})`
            : `process ${owner.pid}`;
      throw new UnavailableError(
        `store ${root} is already open in ${who}; only one Corral process may use a store directory at a time`,
        { dir: root, ...owner },
      );
    }
    throw new UnavailableError(`cannot open store ${root}: ${(err as Error).message}`, { dir: root });
  }

  // We own the store now. Whatever corral.lock says is stale: overwrite it.
  const token = randomUUID();
  try {
    writeFileSync(lockPath, JSON.stringify({ pid: process.pid, token, openedAt: new Date().toISOString() }) + '\n', {
      mode: 0o600,
    });
    fsyncDir(root); // make the new files' directory entries durable too
  } catch (err) {
    db.close();
    throw new UnavailableError(`cannot write ${lockPath}: ${(err as Error).message}`, { dir: root });
  }
  const release = () => {
    // Still holding the SQLite lock, so no other owner can have rewritten it yet.
    try {
      if ((JSON.parse(readFileSync(lockPath, 'utf8')) as { token?: string }).token === token) unlinkSync(lockPath);
    } catch {
      // informational file only
    }
  };
  return new BackendStore(new SqliteBackend(db, release), root, opts);
}
