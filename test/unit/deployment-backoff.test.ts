import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffActive,
  countsForBackoff,
  launchDelayMs,
  nextLaunchAllowedAt,
  queueDelay,
  recordLaunchFailure,
  type AppSpec,
} from '../../src/core/deployment/index.ts';

const defaults = { seconds: 1, factor: 1.15, maxLaunchDelaySeconds: 300 };

test('launchDelayMs: first failure = backoffSeconds, × factor per further failure, capped', () => {
  const table: [AppSpec['backoff'], number, number][] = [
    [defaults, 0, 0],
    [defaults, 1, 1000],
    [defaults, 2, 1150],
    [defaults, 3, 1322], // 1.15² = 1.3224999… s
    [defaults, 10, Math.round(1000 * 1.15 ** 9)],
    [defaults, 100, 300_000],
    [{ seconds: 2, factor: 2, maxLaunchDelaySeconds: 10 }, 1, 2000],
    [{ seconds: 2, factor: 2, maxLaunchDelaySeconds: 10 }, 3, 8000],
    [{ seconds: 2, factor: 2, maxLaunchDelaySeconds: 10 }, 4, 10_000],
    [{ seconds: 2, factor: 2, maxLaunchDelaySeconds: 10 }, 100_000, 10_000], // 2^99999 = Infinity → cap
    [{ seconds: 0, factor: 2, maxLaunchDelaySeconds: 10 }, 5, 0],
    [{ seconds: 5, factor: 1, maxLaunchDelaySeconds: 3 }, 1, 3000], // cap below the base
  ];
  for (const [b, f, ms] of table) assert.equal(launchDelayMs(b, f), ms, `${JSON.stringify(b)} f=${f}`);
});

test('backoff state: counts consecutive failures per version, resets on new version and after a quiet period', () => {
  const app = { version: 'v1', backoff: { seconds: 10, factor: 2, maxLaunchDelaySeconds: 60 } };
  let s = recordLaunchFailure(app, undefined, 0);
  assert.deepEqual(s, { version: 'v1', consecutiveFailures: 1, lastFailureAt: 0 });
  assert.equal(nextLaunchAllowedAt(app, s, 0), 10_000);
  assert.deepEqual(queueDelay(app, s, 4_000), { timeLeftSeconds: 6, overdue: false });
  s = recordLaunchFailure(app, s, 10_000);
  assert.equal(s.consecutiveFailures, 2);
  assert.equal(nextLaunchAllowedAt(app, s, 10_000), 30_000);
  assert.deepEqual(queueDelay(app, s, 31_000), { timeLeftSeconds: 0, overdue: true });

  // New version: no delay, counting starts over.
  const v2 = { ...app, version: 'v2' };
  assert.equal(backoffActive(v2, s, 10_000), false);
  assert.equal(nextLaunchAllowedAt(v2, s, 10_000), 10_000);
  assert.equal(recordLaunchFailure(v2, s, 11_000).consecutiveFailures, 1);

  // Quiet period = delay (20 s) + maxLaunchDelay (60 s) after the last failure.
  assert.equal(backoffActive(app, s, 10_000 + 79_999), true);
  assert.equal(backoffActive(app, s, 10_000 + 80_000), false);
  assert.equal(recordLaunchFailure(app, s, 10_000 + 80_000).consecutiveFailures, 1);
  assert.equal(recordLaunchFailure(app, s, 10_000 + 50_000).consecutiveFailures, 3);
});

test('countsForBackoff: failures, not kills or agent loss', () => {
  for (const s of ['TASK_FAILED', 'TASK_FINISHED', 'TASK_ERROR', 'TASK_DROPPED']) assert.equal(countsForBackoff(s), true, s);
  for (const s of ['TASK_KILLED', 'TASK_LOST', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNREACHABLE', 'TASK_UNKNOWN', 'TASK_RUNNING'])
    assert.equal(countsForBackoff(s), false, s);
});
