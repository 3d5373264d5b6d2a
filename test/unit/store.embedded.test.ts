// What only the embedded (SQLite) store promises: files on disk, persistence
// across restarts, one owner per directory, and durability through a crash.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { UnavailableError } from '../../src/protocol/errors.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { DB_FILE, LOCK_FILE, openEmbeddedStore } from '../../src/store/index.ts';

const quiet = createLogger('store-test', 'error', () => {});
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const storeModule = new URL('../../src/store/embedded.ts', import.meta.url).href;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'corral-embedded-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs an ESM script in a fresh node process (with tsx), with DIR and openEmbeddedStore in scope. */
function child(script: string, dir: string) {
  const prelude = `const DIR = ${JSON.stringify(dir)}; const { openEmbeddedStore } = await import(${JSON.stringify(storeModule)});\n`;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', prelude + script], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function finished(p: ReturnType<typeof child>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => (stderr += d));
  return new Promise((res, rej) => {
    p.on('error', rej);
    p.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

describe('embedded store on disk', () => {
  it('creates the directory (mode 0700), corral.db, and a lock file naming this pid', async () => {
    const dir = join(tempDir(), 'nested', 'state');
    const s = await openEmbeddedStore(dir, { logger: quiet });
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.ok(existsSync(join(dir, DB_FILE)));
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    await s.close();
    assert.ok(!existsSync(join(dir, LOCK_FILE)), 'a clean close removes the lock file');
  });

  it('uses WAL with synchronous=FULL', async () => {
    const dir = tempDir();
    const s = await openEmbeddedStore(dir, { logger: quiet });
    await s.put('a', '1');
    assert.ok(existsSync(join(dir, `${DB_FILE}-wal`)), 'WAL file exists while open');
    await s.close();
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal', 'WAL mode is persistent');
    db.close();
    // synchronous is per-connection; it is asserted indirectly by the crash test, and by reading the source.
  });

  it('keeps data and the revision across close and reopen', async () => {
    const dir = tempDir();
    let s = await openEmbeddedStore(dir, { logger: quiet });
    const r1 = await s.put('a', 'one');
    await s.put('b', 'two');
    await s.put('gone', 'x');
    await s.delete('gone');
    const rev = await s.revision();
    await s.close();

    s = await openEmbeddedStore(dir, { logger: quiet });
    assert.equal(await s.revision(), rev, 'the revision survives, including deletes');
    assert.deepEqual(await s.get('a'), { key: 'a', value: 'one', revision: r1, createRevision: r1 });
    assert.deepEqual((await s.range('')).map((kv) => kv.key), ['a', 'b']);
    const r2 = await s.put('a', 'uno', { expectedRevision: r1 });
    assert.equal(r2, rev + 1, 'revisions continue, never reuse');
    assert.equal((await s.get('a'))!.createRevision, r1);
    await s.close();

    s = await openEmbeddedStore(dir, { logger: quiet });
    assert.equal((await s.get('a'))!.value, 'uno');
    assert.equal(await s.revision(), r2);
    await s.close();
  });

  it('refuses a second open of the same directory in this process, until the first closes', async () => {
    const dir = tempDir();
    const s = await openEmbeddedStore(dir, { logger: quiet });
    await s.put('a', '1');
    const t0 = Date.now();
    await assert.rejects(openEmbeddedStore(dir, { logger: quiet }), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.match(e.message, new RegExp(`already open in this process \\(pid ${process.pid}\\)`));
      return true;
    });
    assert.ok(Date.now() - t0 < 1000, 'fails fast');
    assert.equal((await s.get('a'))!.value, '1', 'the refused open did not disturb the owner');
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    await s.close();
    const again = await openEmbeddedStore(dir, { logger: quiet });
    assert.equal((await again.get('a'))!.value, '1');
    await again.close();
  });

  it('refuses a schema from a newer Corral', async () => {
    const dir = tempDir();
    await (await openEmbeddedStore(dir, { logger: quiet })).close();
    const db = new Database(join(dir, DB_FILE));
    db.pragma('user_version = 99');
    db.close();
    await assert.rejects(openEmbeddedStore(dir, { logger: quiet }), /schema version 99 is newer/);
  });

  it('reports an unusable directory as UnavailableError', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(openEmbeddedStore(file, { logger: quiet }), UnavailableError);
  });
});

describe('embedded store across processes', () => {
  it('a second process is refused fast, naming the owner; after the owner dies (SIGKILL) its stale lock is taken over', async () => {
    const dir = tempDir();
    const owner = child(
      `const s = await openEmbeddedStore(DIR);
       await s.put('owner', String(process.pid));
       process.stdout.write('ready\\n');
       setInterval(() => {}, 1000);`,
      dir,
    );
    const ownerDone = finished(owner);
    try {
      await ownerHeldAndReleased(dir, owner, ownerDone);
    } finally {
      owner.kill('SIGKILL'); // never leave it running, even when an assertion failed
    }
  });

  async function ownerHeldAndReleased(
    dir: string,
    owner: ReturnType<typeof child>,
    ownerDone: ReturnType<typeof finished>,
  ): Promise<void> {
    await new Promise<void>((res, rej) => {
      owner.stdout!.on('data', (d) => String(d).includes('ready') && res());
      void ownerDone.then((r) => rej(new Error(`owner exited early: ${r.stderr}`)));
    });

    // In-process attempt against a foreign owner.
    await assert.rejects(openEmbeddedStore(dir, { logger: quiet }), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.match(e.message, new RegExp(`already open in process ${owner.pid}\\b`));
      assert.equal(e.details.pid, owner.pid);
      return true;
    });
    // Another process.
    const rival = await finished(
      child(
        `const t0 = Date.now();
         try { await openEmbeddedStore(DIR); console.log(JSON.stringify({ opened: true })); }
         catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message, ms: Date.now() - t0 })); }`,
        dir,
      ),
    );
    const verdict = JSON.parse(rival.stdout.trim()) as { name?: string; message?: string; ms?: number; opened?: boolean };
    assert.equal(verdict.opened, undefined, 'the second process must not open the store');
    assert.equal(verdict.name, 'UnavailableError');
    assert.match(verdict.message!, new RegExp(`process ${owner.pid}\\b`));
    assert.ok(verdict.ms! < 1000, `refused in ${verdict.ms} ms`);

    owner.kill('SIGKILL');
    const { signal } = await ownerDone;
    assert.equal(signal, 'SIGKILL');
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, owner.pid, 'the dead owner left its lock file');

    const s = await openEmbeddedStore(dir, { logger: quiet });
    assert.equal((await s.get('owner'))!.value, String(owner.pid));
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid, 'lock taken over');
    await s.close();
  }

  it('a lock file naming a live but unrelated pid (pid reuse) does not block opening', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, token: 'x' }));
    const s = await openEmbeddedStore(dir, { logger: quiet });
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    await s.close();
  });

  it('a lock file naming a dead pid is taken over', async () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, token: 'x' }));
    const s = await openEmbeddedStore(dir, { logger: quiet });
    await s.put('a', '1');
    await s.close();
  });

  it('every put that resolved survives SIGKILL right after it', async () => {
    const dir = tempDir();
    const N = 200;
    const r = await finished(
      child(
        `const s = await openEmbeddedStore(DIR);
         let last = 0;
         for (let i = 0; i < ${N}; i++) last = await s.put('crash/' + String(i).padStart(4, '0'), 'value-' + i);
         await s.commit([{ key: 'crash/0000', revision: 1 }], [{ type: 'put', key: 'tx/a', value: 'A' }, { type: 'delete', key: 'crash/0000' }]);
         process.kill(process.pid, 'SIGKILL');`,
        dir,
      ),
    );
    assert.equal(r.signal, 'SIGKILL', `child should die by SIGKILL: ${r.stderr}`);
    assert.ok(existsSync(join(dir, `${DB_FILE}-wal`)), 'the WAL was never checkpointed by a clean close');

    const s = await openEmbeddedStore(dir, { logger: quiet });
    const kvs = await s.range('crash/');
    assert.equal(kvs.length, N - 1);
    kvs.forEach((kv, j) => {
      const i = j + 1;
      assert.equal(kv.key, 'crash/' + String(i).padStart(4, '0'));
      assert.equal(kv.value, 'value-' + i);
      assert.equal(kv.revision, i + 1);
    });
    assert.equal((await s.get('tx/a'))!.value, 'A');
    assert.equal(await s.revision(), N + 1);
    assert.equal(await s.put('after', 'x'), N + 2);
    await s.close();
  });
});

describe('embedded store leases', () => {
  it('keys of leases that died with their process are deleted, in one revision, when the store next opens', async () => {
    const dir = tempDir();
    const r = await finished(
      child(
        `const s = await openEmbeddedStore(DIR);
         const lease = await s.grantLease(1000);
         await s.put('leader', 'me', { lease });
         await s.commit([], [{ type: 'put', key: 'member/1', value: 'x', lease: lease.id }, { type: 'put', key: 'plain', value: 'p' }]);
         await s.put('detached', 'x', { lease });
         await s.put('detached', 'y');
         process.kill(process.pid, 'SIGKILL');`,
        dir,
      ),
    );
    assert.equal(r.signal, 'SIGKILL', `child should die by SIGKILL: ${r.stderr}`);
    const s = await openEmbeddedStore(dir, { logger: quiet });
    assert.deepEqual((await s.range('')).map((kv) => [kv.key, kv.value]), [
      ['detached', 'y'],
      ['plain', 'p'],
    ]);
    assert.equal(await s.revision(), 5, 'four writes, then one revision for the cleanup');
    await s.close();
    const again = await openEmbeddedStore(dir, { logger: quiet });
    assert.equal(await again.revision(), 5, 'nothing left to clean: no new revision');
    await again.close();
  });

  it('a clean close deletes the keys of its leases at once', async () => {
    const dir = tempDir();
    const s = await openEmbeddedStore(dir, { logger: quiet });
    const lease = await s.grantLease(1000);
    await s.put('leader', 'me', { lease });
    await s.put('plain', 'p');
    await s.close();
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    assert.deepEqual(db.prepare('SELECT key, lease FROM kv ORDER BY key').all(), [{ key: 'plain', lease: null }]);
    db.close();
  });

  it('opens a schema-1 database (no lease column), keeping its data and revision', async () => {
    const dir = tempDir();
    const db = new Database(join(dir, DB_FILE));
    db.exec(`
      CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT INTO meta (name, value) VALUES ('revision', 7);
      CREATE TABLE kv (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL, mod_revision INTEGER NOT NULL, create_revision INTEGER NOT NULL);
      INSERT INTO kv VALUES ('a', 'one', 7, 3);
    `);
    db.pragma('user_version = 1');
    db.close();
    const s = await openEmbeddedStore(dir, { logger: quiet });
    assert.deepEqual(await s.get('a'), { key: 'a', value: 'one', revision: 7, createRevision: 3 });
    assert.equal(await s.revision(), 7);
    const lease = await s.grantLease(1000);
    assert.equal(await s.put('b', 'two', { lease }), 8);
    await s.put('c', 'three');
    await s.close();
    const check = new Database(join(dir, DB_FILE), { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 2);
    assert.deepEqual(check.prepare('SELECT key FROM kv ORDER BY key').all(), [{ key: 'a' }, { key: 'c' }]);
    check.close();
  });
});
