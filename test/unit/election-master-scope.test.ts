// The master's term scope (src/master/scope.ts) on a manual clock: ending a term cancels its timers
// and refuses sends; a stall of the process longer than the limit ends the term before any timer
// that fell due during the stall can act.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TermScope } from '../../src/master/scope.ts';
import { UnavailableError } from '../../src/protocol/errors.ts';
import { ManualClock, type Clock } from '../../src/runtime/clock.ts';
import type { Transport } from '../../src/runtime/transport.ts';

function recordingTransport(): Transport & { sent: string[] } {
  const sent: string[] = [];
  return { sent, post: async (url) => (sent.push(url), { status: 200, body: { type: 'ACCEPTED' } }) };
}

/** A manual clock whose wall time can jump without timers running: a paused process (SIGSTOP). */
class PausableClock implements Clock {
  readonly manual = new ManualClock();
  private skew = 0;
  now = () => this.manual.now() + this.skew;
  setTimeout: Clock['setTimeout'] = (fn, ms) => this.manual.setTimeout(fn, ms);
  setInterval: Clock['setInterval'] = (fn, ms) => this.manual.setInterval(fn, ms);
  pause(ms: number): void {
    this.skew += ms;
  }
}

describe('TermScope', () => {
  test('end() cancels every timer, refuses new ones and refuses sends', async () => {
    const clock = new ManualClock();
    const t = recordingTransport();
    const scope = new TermScope(clock, t);
    let fired = 0;
    scope.clock.setInterval(() => fired++, 100);
    scope.clock.setTimeout(() => fired++, 250);
    clock.advance(200);
    assert.equal(fired, 2);
    await scope.transport.post('http://a/1', {});
    scope.end();
    assert.equal(scope.pendingTimers, 0);
    assert.equal(clock.pendingTimers(), 0);
    scope.clock.setTimeout(() => fired++, 1);
    clock.advance(1000);
    assert.equal(fired, 2);
    await assert.rejects(scope.transport.post('http://a/2', {}), UnavailableError);
    assert.deepEqual(t.sent, ['http://a/1']);
  });

  test('a stall longer than the limit ends the term instead of running the timers that fell due', async () => {
    const clock = new PausableClock();
    const t = recordingTransport();
    const stalls: number[] = [];
    const scope = new TermScope(clock, t, { stallLimitMs: 1000, onStall: (ms) => stalls.push(ms) });
    let fired = 0;
    scope.clock.setInterval(() => fired++, 300);
    clock.manual.advance(900); // ticking along normally: the ticker runs every 250 ms
    assert.equal(fired, 3);
    assert.equal(scope.check(), true);

    // The process is paused for 5 s: time jumps without any timer running, then the timers run late.
    clock.pause(5000);
    clock.manual.advance(300);
    assert.equal(fired, 3, 'no timer of the term acted after the stall');
    assert.equal(stalls.length, 1);
    assert.ok(stalls[0]! >= 5000);
    assert.equal(scope.ended, true);
    await assert.rejects(scope.transport.post('http://a/late', {}), UnavailableError);
    assert.deepEqual(t.sent, []);
  });

  test('a send after a stall (before any timer ran) is refused and ends the term', async () => {
    const clock = new PausableClock();
    const t = recordingTransport();
    const stalls: number[] = [];
    const scope = new TermScope(clock, t, { stallLimitMs: 1000, onStall: (ms) => stalls.push(ms) });
    clock.pause(2000);
    await assert.rejects(scope.transport.post('http://a/x', {}), UnavailableError);
    assert.equal(stalls.length, 1);
    assert.equal(scope.ended, true);
  });
});
