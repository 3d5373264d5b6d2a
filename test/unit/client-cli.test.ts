// Pure helpers behind the CLI: command quoting, exit codes, offer fit, tail offsets, tables.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { table, describeError, fmtMb, usedTotal } from '../../src/cli/common.ts';
import { tailOffset } from '../../src/cli/task.ts';
import {
  buildTaskInfo,
  commandLine,
  defaultTaskName,
  exitCodeOf,
  offerFits,
  parseEnv,
  sanitizeIdPart,
  shellQuote,
  signalNumber,
} from '../../src/cli/task-run.ts';
import { UnavailableError } from '../../src/protocol/errors.ts';
import { idValue, type Offer } from '../../src/protocol/mesos.ts';

describe('task run helpers', () => {
  test('commandLine keeps one argument verbatim and quotes several word by word', () => {
    assert.equal(commandLine(['echo hi | wc -c']), 'echo hi | wc -c');
    assert.equal(commandLine(['sh', '-c', 'exit 3']), "sh -c 'exit 3'");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(shellQuote(''), "''");
    // The quoting round-trips through a real shell.
    const argv = ['printf', '%s|', 'a b', "c'd", '$HOME', '', '*'];
    const outText = execFileSync('/bin/sh', ['-c', commandLine(argv)], { encoding: 'utf8' });
    assert.equal(outText, "a b|c'd|$HOME||*|");
  });

  test('exitCodeOf maps Mesos messages to process exit codes', () => {
    assert.equal(exitCodeOf({ state: 'TASK_FINISHED', message: 'Command exited with status 0' }), 0);
    assert.equal(exitCodeOf({ state: 'TASK_FAILED', message: 'Command exited with status 3' }), 3);
    assert.equal(exitCodeOf({ state: 'TASK_FAILED', message: 'Command terminated with signal SIGKILL' }), 137);
    assert.equal(exitCodeOf({ state: 'TASK_KILLED', message: 'Command terminated with signal Terminated' }), 143);
    assert.equal(exitCodeOf({ state: 'TASK_FAILED', message: 'Task exceeded its max completion time. Command terminated with signal SIGTERM' }), 143);
    assert.equal(exitCodeOf({ state: 'TASK_ERROR', message: 'invalid task' }), 1);
    assert.equal(exitCodeOf({ state: 'TASK_LOST' }), 1);
    assert.equal(exitCodeOf({ state: 'TASK_FAILED', message: 'Command exited with status 0' }), 1);
    assert.equal(signalNumber('SIGINT'), 2);
    assert.equal(signalNumber('KILL'), 9);
    assert.equal(signalNumber('Segmentation fault'), 11);
    assert.equal(signalNumber('nonsense'), undefined);
  });

  test('parseEnv, names and ids', () => {
    assert.deepEqual(parseEnv(['A=1', 'B=x=y', 'C=']), [
      { name: 'A', value: '1' },
      { name: 'B', value: 'x=y' },
      { name: 'C', value: '' },
    ]);
    assert.throws(() => parseEnv(['=1']), /expected NAME=VALUE/);
    assert.throws(() => parseEnv(['1A=1']), /invalid variable name/);
    assert.equal(defaultTaskName(['/bin/echo', 'hi']), 'echo');
    assert.equal(defaultTaskName(['  sleep 10 && echo']), 'sleep');
    for (const s of ['a b/c', '..', '', 'x'.repeat(300), 'ünïcode task']) idValue.parse(`${sanitizeIdPart(s)}.uuid`);
  });

  test('offerFits sums scalar resources and ignores revocable ones', () => {
    const offer = (res: Offer['resources']) => ({ resources: res });
    const cpus = (v: number, extra = {}) => ({ name: 'cpus', type: 'SCALAR' as const, scalar: { value: v }, ...extra });
    const mem = (v: number) => ({ name: 'mem', type: 'SCALAR' as const, scalar: { value: v } });
    const need = { cpus: 0.1, mem: 32, disk: 0 };
    assert.equal(offerFits(offer([cpus(0.1), mem(32)]), need), true);
    assert.equal(offerFits(offer([cpus(0.05), cpus(0.05), mem(32)]), need), true);
    assert.equal(offerFits(offer([cpus(0.09), mem(64)]), need), false);
    assert.equal(offerFits(offer([cpus(1, { revocable: {} }), mem(64)]), need), false);
    assert.equal(offerFits(offer([cpus(1), mem(64)]), { ...need, disk: 10 }), false);
  });

  test('buildTaskInfo carries the offer allocation role, env and a shell command', () => {
    const offer: Offer = {
      id: { value: 'o1' },
      framework_id: { value: 'f1' },
      agent_id: { value: 'a1' },
      hostname: 'h',
      resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 4 }, allocation_info: { role: 'dev' } }],
    };
    const t = buildTaskInfo({ taskId: 't1', name: 'n', offer, command: 'echo hi', env: [{ name: 'A', value: '1' }], cpus: 0.5, mem: 64, disk: 0 });
    assert.deepEqual(t.agent_id, { value: 'a1' });
    assert.deepEqual(
      t.resources.map((r) => [r.name, r.scalar?.value, r.allocation_info?.role]),
      [
        ['cpus', 0.5, 'dev'],
        ['mem', 64, 'dev'],
      ],
    );
    assert.deepEqual(t.command, { shell: true, value: 'echo hi', environment: { variables: [{ name: 'A', type: 'VALUE', value: '1' }] } });
  });
});

describe('task log tail', () => {
  const fakeFile = (content: string) => {
    const buf = Buffer.from(content);
    return async (offset: number) => ({ offset, data: buf.subarray(offset, offset + 64 * 1024).toString('utf8') });
  };
  test('tailOffset finds where the last N lines start', async () => {
    const text = 'a\nbb\nccc\n';
    const read = fakeFile(text);
    const size = Buffer.byteLength(text);
    assert.equal(text.slice(await tailOffset(read, size, 1)), 'ccc\n');
    assert.equal(text.slice(await tailOffset(read, size, 2)), 'bb\nccc\n');
    assert.equal(text.slice(await tailOffset(read, size, 10)), text);
    const noNl = 'x\ny';
    assert.equal(noNl.slice(await tailOffset(fakeFile(noNl), 3, 1)), 'y');
    assert.equal(await tailOffset(fakeFile(''), 0, 3), 0);
  });
  test('tailOffset works across read chunks', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i}`);
    const text = lines.join('\n') + '\n';
    const off = await tailOffset(fakeFile(text), Buffer.byteLength(text), 15_000);
    assert.equal(text.slice(off).split('\n')[0], 'line 5000');
  });
});

describe('output', () => {
  test('table aligns columns without colour codes when not a TTY', () => {
    const t = table(['ID', 'STATE'], [
      ['a', 'TASK_RUNNING'],
      ['long-id', 'X'],
    ]);
    assert.equal(t, 'ID       STATE\na        TASK_RUNNING\nlong-id  X\n');
    assert.doesNotMatch(t, /\x1b/);
  });
  test('resource formatting and error hints', () => {
    assert.equal(fmtMb(512), '512M');
    assert.equal(fmtMb(1536), '1.5G');
    assert.equal(usedTotal({ cpus: 0.1 }, { cpus: 4 }, 'cpus'), '0.1/4');
    const e = new UnavailableError('cannot reach master at http://x:1: connect ECONNREFUSED', { peer: 'master' });
    assert.match(describeError(e), /is `corral dev` running\?/);
  });
});
