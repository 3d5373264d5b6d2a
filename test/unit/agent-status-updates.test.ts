import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Journal, readJournal } from '../../src/agent/checkpoint.ts';
import { StatusUpdateManager } from '../../src/agent/status-updates.ts';
import type { TaskStatus } from '../../src/protocol/mesos.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { silentLogger } from '../../src/runtime/log.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-sum-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const status = (task: string, state: string, uuid: string): TaskStatus => ({ task_id: { value: task }, state, uuid }) as TaskStatus;

function harness() {
  const clock = new ManualClock(0);
  const sent: { fw: string; uuid: string; at: number; latest?: string }[] = [];
  const drained: string[] = [];
  const sum = new StatusUpdateManager({
    clock,
    log: silentLogger,
    send: async (fw, s, latest) => void sent.push({ fw, uuid: s.uuid!, at: clock.now(), latest }),
    latestState: () => 'TASK_FINISHED',
    onDrained: (_fw, task) => drained.push(task),
    retryMs: 1000,
    maxRetryMs: 4000,
  });
  return { clock, sent, drained, sum };
}

describe('status update manager', () => {
  it('sends only the head, retrying with doubling backoff up to the cap', async () => {
    const { clock, sent, sum } = harness();
    sum.setConnected(true);
    await sum.update('fw', 't', [status('t', 'TASK_STARTING', 'a'), status('t', 'TASK_RUNNING', 'b')]);
    assert.deepEqual(sent.map((s) => s.uuid), ['a']);
    assert.equal(sent[0]!.latest, 'TASK_FINISHED');
    for (const step of [1000, 2000, 4000, 4000]) clock.advance(step);
    assert.deepEqual(sent.map((s) => s.at), [0, 1000, 3000, 7000, 11000]);
    assert.ok(sent.every((s) => s.uuid === 'a'));
  });

  it('moves to the next update on the matching ack only', async () => {
    const { clock, sent, drained, sum } = harness();
    sum.setConnected(true);
    await sum.update('fw', 't', [status('t', 'TASK_STARTING', 'a'), status('t', 'TASK_FINISHED', 'b')]);
    assert.equal(sum.acknowledge('fw', 't', 'b'), 'unexpected-uuid');
    assert.equal(sum.acknowledge('fw', 'other', 'a'), 'unknown-stream');
    assert.equal(sum.oldestUnacked('fw', 't')?.uuid, 'a');
    assert.equal(sum.acknowledge('fw', 't', 'a'), 'acknowledged');
    assert.deepEqual(sent.map((s) => s.uuid), ['a', 'b']);
    clock.advance(1000);
    assert.deepEqual(sent.map((s) => s.uuid), ['a', 'b', 'b'], 'backoff restarts for the new head');
    assert.equal(sum.acknowledge('fw', 't', 'b'), 'acknowledged');
    assert.deepEqual(drained, ['t']);
    clock.advance(60_000);
    assert.equal(sent.length, 3);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('holds updates while disconnected and re-sends every head on reconnect', async () => {
    const { clock, sent, sum } = harness();
    await sum.update('fw', 't1', [status('t1', 'TASK_RUNNING', 'x')]);
    await sum.update('fw', 't2', [status('t2', 'TASK_RUNNING', 'y')]);
    clock.advance(10_000);
    assert.equal(sent.length, 0);
    sum.setConnected(true);
    assert.deepEqual(sent.map((s) => s.uuid).sort(), ['x', 'y']);
    sum.setConnected(false);
    clock.advance(10_000);
    assert.equal(sent.length, 2);
    sum.setConnected(true);
    assert.equal(sent.length, 4);
  });

  it('checkpoints updates before their first send and records acks', async () => {
    const { sent, sum } = harness();
    sum.setConnected(true);
    const file = path.join(dir, 'updates');
    const journal = new Journal(file);
    const durable = sum.update('fw', 't', [status('t', 'TASK_STARTING', 'a')], journal);
    assert.equal(sent.length, 0, 'nothing goes out before the journal write completes');
    await durable;
    assert.deepEqual(sent.map((s) => s.uuid), ['a']);
    assert.deepEqual(readJournal(file).records, [{ type: 'UPDATE', status: status('t', 'TASK_STARTING', 'a') }]);
    sum.acknowledge('fw', 't', 'a');
    await journal.drain();
    assert.deepEqual(readJournal(file).records.at(-1), { type: 'ACK', uuid: 'a' });
  });

  it('restores recovered updates and drops a removed framework\'s streams', async () => {
    const { clock, sent, sum } = harness();
    sum.recover('fw', 't', [status('t', 'TASK_RUNNING', 'r1'), status('t', 'TASK_FINISHED', 'r2')], new Journal(path.join(dir, 'u2')));
    sum.setConnected(true);
    assert.deepEqual(sent.map((s) => s.uuid), ['r1']);
    assert.equal(sum.pendingCount(), 2);
    sum.removeFramework('fw');
    clock.advance(10_000);
    assert.equal(sent.length, 1);
    assert.equal(sum.pendingCount(), 0);
  });
});
