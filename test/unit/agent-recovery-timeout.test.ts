// --recovery-timeout: the duration syntax, the watchdog's decision (shared with the agent's start-up check),
// the marker file and the terminal update it turns into.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ValidationError } from '../../src/protocol/errors.ts';
import { RECOVERY_TIMEOUT_FILE } from '../../src/agent/paths.ts';
import {
  DEFAULT_RECOVERY_TIMEOUT_MS,
  formatDuration,
  parseDuration,
  readRecoveryTimeoutMarker,
  recoveryTimeoutOutcome,
  writeRecoveryTimeoutMarker,
} from '../../src/agent/recovery-timeout.ts';
import { decide, goneSince, parseAgentRecord, type AgentRecord } from '../../src/agent/recovery-timeout-policy.mjs';

describe('parseDuration', () => {
  it('reads Mesos durations and plain milliseconds', () => {
    const cases: [string, number][] = [
      ['15mins', 900_000],
      ['30secs', 30_000],
      ['500ms', 500],
      ['1secs', 1000],
      ['1.5secs', 1500],
      ['2hrs', 7_200_000],
      ['1days', 86_400_000],
      ['1weeks', 604_800_000],
      ['60000', 60_000],
      [' 10secs ', 10_000],
      ['2500000ns', 3], // sub-millisecond parts round up
      ['1us', 1],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it('rejects what is not a positive duration, saying what it expects', () => {
    for (const text of ['', 'abc', '5parsecs', '-1secs', '0', '0secs', '15 minutes', '1e3', 'secs', '1.secs']) {
      assert.throws(
        () => parseDuration(text),
        (e: unknown) => e instanceof ValidationError && /duration|positive/.test(e.message),
        JSON.stringify(text),
      );
    }
    assert.throws(() => parseDuration('5parsecs'), /units: ns, us, ms, secs, mins, hrs, days, weeks/);
    assert.throws(() => parseDuration('x', '--recovery-timeout'), /^ValidationError: --recovery-timeout: /);
  });

  it('defaults to Mesos\'s 15 minutes', () => {
    assert.equal(DEFAULT_RECOVERY_TIMEOUT_MS, parseDuration('15mins'));
  });
});

describe('formatDuration', () => {
  it('prints the largest unit that keeps the value at least 1, as Mesos does', () => {
    assert.equal(formatDuration(900_000), '15mins');
    assert.equal(formatDuration(1000), '1secs');
    assert.equal(formatDuration(1500), '1.5secs');
    assert.equal(formatDuration(500), '500ms');
    assert.equal(formatDuration(3_600_000), '1hrs');
    assert.equal(formatDuration(90 * 60_000), '1.5hrs');
    assert.equal(formatDuration(14 * 86_400_000), '2weeks');
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 1500, 59_000, 60_000, 900_000, 3_600_000, 86_400_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
  });
});

const record = (o: Partial<AgentRecord> = {}): AgentRecord => ({ pid: 4242, start_time: '777', timeout_ms: 1000, started_at: 10_000, state: 'running', ...o });

describe('parseAgentRecord', () => {
  it('accepts a record and drops unknown fields', () => {
    assert.deepEqual(parseAgentRecord({ ...record(), extra: 1 }), record());
    assert.deepEqual(parseAgentRecord(record({ state: 'closed', closed_at: 12_000 })), record({ state: 'closed', closed_at: 12_000 }));
  });

  it('rejects anything else', () => {
    for (const bad of [undefined, null, 'x', {}, record({ pid: 1 }), record({ pid: 1.5 }), record({ timeout_ms: 0 }), record({ state: 'gone' as never }), { ...record(), start_time: 5 }, { ...record(), closed_at: 'x' }, { ...record(), started_at: -1 }])
      assert.equal(parseAgentRecord(bad), undefined, JSON.stringify(bad));
  });
});

describe('the watchdog decision', () => {
  const base = { heartbeatMs: 20_000, agentAlive: false, tasksLeft: 1 };

  it('waits while the agent lives, however old its heartbeat (a hung agent is not a gone one)', () => {
    assert.deepEqual(decide({ ...base, now: 1e9, record: record(), agentAlive: true }), { action: 'wait' });
  });

  it('exits when there is nothing (left) to watch', () => {
    assert.equal(decide({ ...base, now: 30_000, record: undefined }).action, 'exit');
    assert.equal(decide({ ...base, now: 30_000, record: record({ state: 'stopped', closed_at: 20_000 }), agentAlive: true }).action, 'exit');
    assert.equal(decide({ ...base, now: 20_100, record: record(), tasksLeft: 0 }).action, 'exit');
  });

  it('counts a crashed agent as gone since its last heartbeat, and kills once the timeout has passed', () => {
    assert.deepEqual(decide({ ...base, now: 20_999, record: record() }), { action: 'wait', deadline: 21_000 });
    assert.deepEqual(decide({ ...base, now: 21_000, record: record() }), { action: 'kill', goneSince: 20_000, timeoutMs: 1000 });
  });

  it('counts an agent that closed leaving its tasks running as gone since it closed, even though its process lives on', () => {
    const closed = record({ state: 'closed', closed_at: 25_000 });
    assert.deepEqual(decide({ ...base, now: 25_500, record: closed, agentAlive: true }), { action: 'wait', deadline: 26_000 });
    assert.equal(decide({ ...base, now: 26_000, record: closed, agentAlive: true }).action, 'kill');
  });

  it('never counts from before the agent started (a heartbeat left by an older agent)', () => {
    assert.equal(goneSince(record({ started_at: 30_000 }), 20_000), 30_000);
    assert.equal(goneSince(record(), undefined), 10_000);
    assert.deepEqual(decide({ ...base, now: 30_500, record: record({ started_at: 30_000 }) }), { action: 'wait', deadline: 31_000 });
  });
});

describe('the recovery-timeout marker', () => {
  it('is written atomically next to the exit status and read back; garbage reads as none', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-rt-marker-'));
    try {
      assert.equal(readRecoveryTimeoutMarker(dir), undefined);
      writeRecoveryTimeoutMarker(dir, { reason: 'recovery_timeout', timeout_ms: 900_000, agent_gone_since: 1, killed_at: 2, by: 'agent' });
      assert.equal(readRecoveryTimeoutMarker(dir)?.timeout_ms, 900_000);
      assert.deepEqual(fs.readdirSync(dir), [RECOVERY_TIMEOUT_FILE]);
      fs.writeFileSync(path.join(dir, RECOVERY_TIMEOUT_FILE), '{"reason":"recovery_tim');
      assert.equal(readRecoveryTimeoutMarker(dir), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('becomes TASK_FAILED with REASON_EXECUTOR_REREGISTRATION_TIMEOUT and says which timeout', () => {
    assert.deepEqual(recoveryTimeoutOutcome(900_000), {
      state: 'TASK_FAILED',
      reason: 'REASON_EXECUTOR_REREGISTRATION_TIMEOUT',
      message: 'the agent did not recover within --recovery-timeout 15mins; the task was killed',
    });
  });
});
