import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isTempFile, Journal, readJournal, readJsonFile, removeTempFiles, writeJsonAtomic } from '../../src/agent/checkpoint.ts';
import { replayJournal } from '../../src/agent/recovery.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-ckpt-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('snapshot checkpoints', () => {
  it('writes atomically and leaves no temp file', async () => {
    const p = path.join(dir, 'a.json');
    await writeJsonAtomic(p, { v: 1 });
    await writeJsonAtomic(p, { v: 2 });
    assert.deepEqual(readJsonFile(p), { v: 2 });
    assert.deepEqual(fs.readdirSync(dir).filter(isTempFile), []);
  });

  it('reads a missing file as undefined and a corrupt one as an error', () => {
    assert.equal(readJsonFile(path.join(dir, 'missing.json')), undefined);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"v":');
    assert.throws(() => readJsonFile(path.join(dir, 'bad.json')));
  });

  it('removes stray temp files', () => {
    fs.writeFileSync(path.join(dir, 'x.json.tmp.123.4'), '{');
    fs.writeFileSync(path.join(dir, 'keep.tmp'), 'not ours');
    removeTempFiles(dir);
    assert.equal(fs.existsSync(path.join(dir, 'x.json.tmp.123.4')), false);
    assert.equal(fs.existsSync(path.join(dir, 'keep.tmp')), true);
  });
});

describe('journal', () => {
  it('appends in order; appends of one tick share one write and fdatasync', async () => {
    const p = path.join(dir, 'j1');
    const j = new Journal(p);
    const opens: string[] = [];
    let syncs = 0;
    const origOpen = fs.openSync;
    const origSync = fs.fdatasync;
    const patched = fs as { openSync: typeof fs.openSync; fdatasync: typeof fs.fdatasync };
    patched.openSync = ((...args: Parameters<typeof fs.openSync>) => {
      opens.push(String(args[0]));
      return origOpen(...args);
    }) as typeof fs.openSync;
    patched.fdatasync = ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      syncs++;
      return origSync(fd, cb);
    }) as typeof fs.fdatasync;
    try {
      await Promise.all([j.append([{ n: 1 }]), j.append([{ n: 2 }, { n: 3 }]), j.append([{ n: 4 }])]);
    } finally {
      patched.openSync = origOpen;
      patched.fdatasync = origSync;
    }
    assert.equal(opens.length, 1);
    assert.equal(syncs, 1);
    await j.append([{ n: 5 }]);
    assert.deepEqual(readJournal(p).records, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]);
  });

  it('appends made during a flush go into the next one, still in order', async () => {
    const p = path.join(dir, 'j2');
    const j = new Journal(p);
    const first = j.append([{ n: 1 }]);
    await Promise.resolve();
    await Promise.resolve();
    const second = j.append([{ n: 2 }]);
    await Promise.all([first, second]);
    await j.drain();
    assert.deepEqual(readJournal(p).records, [{ n: 1 }, { n: 2 }]);
  });

  it('drops and truncates a torn tail, so later appends stay readable', async () => {
    const p = path.join(dir, 'j3');
    fs.writeFileSync(p, '{"n":1}\n{"n":2}\n{"n":');
    const r = readJournal(p);
    assert.deepEqual(r.records, [{ n: 1 }, { n: 2 }]);
    assert.equal(r.truncatedBytes, 5);
    await new Journal(p).append([{ n: 3 }]);
    assert.deepEqual(readJournal(p).records, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('stops at a garbled line', () => {
    const p = path.join(dir, 'j4');
    fs.writeFileSync(p, '{"n":1}\nnot json\n{"n":3}\n');
    assert.deepEqual(readJournal(p).records, [{ n: 1 }]);
    assert.equal(fs.readFileSync(p, 'utf8'), '{"n":1}\n');
  });

  it('reads a missing journal as empty', () => {
    assert.deepEqual(readJournal(path.join(dir, 'none')), { records: [], truncatedBytes: 0 });
  });
});

describe('replayJournal', () => {
  const st = (state: string, uuid: string) => ({ task_id: { value: 't' }, state, uuid }) as never;
  it('derives statuses, the unacknowledged suffix, pid and kill', () => {
    const r = replayJournal([
      { type: 'UPDATE', status: st('TASK_STARTING', 'a') },
      { type: 'PID', pid: 42, start_time: '99' },
      { type: 'UPDATE', status: st('TASK_RUNNING', 'b') },
      { type: 'ACK', uuid: 'a' },
      { type: 'KILL', reason: 'kill', grace_ms: 100, at: 5 },
      { type: 'UPDATE', status: st('TASK_KILLED', 'c') },
    ]);
    assert.deepEqual(r.statuses.map((s) => s.state), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
    assert.deepEqual(r.unacked.map((s) => s.uuid), ['b', 'c']);
    assert.deepEqual(r.pid, { pid: 42, startTime: '99' });
    assert.equal(r.kill?.grace_ms, 100);
  });
});
