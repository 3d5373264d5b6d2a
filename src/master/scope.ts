// What one leadership term may touch in the outside world: timers, messages to agents, events to
// schedulers. When the term ends (the master stepped down or closed), every timer it armed is
// cancelled, new ones are never armed, and sends are refused: a deposed master must not act on
// anything it learned as leader.
//
// An HA term also watches for stalls of its own process (SIGSTOP, a VM pause, a long GC): after
// one, the lease may have expired and another master may lead, but the timers that fell due
// during the stall would run before the lease-loss notice arrives. So the first timer callback or
// send after a stall longer than stallLimitMs ends the term instead of acting (onStall), and the
// master stands for election again.
import { UnavailableError } from '../protocol/errors.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { Transport } from '../runtime/transport.ts';

const NOOP: TimerHandle = { cancel() {} };

export interface TermScopeOptions {
  /** End the term when the process was stalled longer than this (HA; default: never). */
  stallLimitMs?: number;
  /** Called once, synchronously, when a stall ended the term. */
  onStall?: (stalledMs: number) => void;
}

export class TermScope {
  private over = false;
  private readonly live = new Set<TimerHandle>();
  private lastTick: number;
  private readonly ticker?: TimerHandle;
  readonly clock: Clock;
  readonly transport: Transport;

  constructor(
    private readonly base: Clock,
    transport: Transport,
    private readonly opts: TermScopeOptions = {},
  ) {
    this.lastTick = base.now();
    const limit = opts.stallLimitMs;
    if (limit !== undefined) {
      this.ticker = base.setInterval(
        () => {
          if (this.check()) this.lastTick = base.now();
        },
        Math.max(10, Math.floor(limit / 4)),
      );
    }
    const arm = (kind: 'setTimeout' | 'setInterval', fn: () => void, ms: number): TimerHandle => {
      if (this.over) return NOOP;
      const entry: TimerHandle = {
        cancel: () => {
          this.live.delete(entry);
          inner.cancel();
        },
      };
      const inner = base[kind](() => {
        if (kind === 'setTimeout') this.live.delete(entry);
        if (this.check()) fn();
      }, ms);
      this.live.add(entry);
      return entry;
    };
    this.clock = {
      now: () => base.now(),
      setTimeout: (fn, ms) => arm('setTimeout', fn, ms),
      setInterval: (fn, ms) => arm('setInterval', fn, ms),
    };
    this.transport = {
      post: (url, body, o) => {
        if (!this.check()) return Promise.reject(new UnavailableError('this master no longer leads; message not sent', { url }));
        return transport.post(url, body, o);
      },
    };
  }

  get ended(): boolean {
    return this.over;
  }

  /** Timers still armed (for tests and diagnostics). */
  get pendingTimers(): number {
    return this.live.size;
  }

  /** May the term act now? False once it ended; ends it (onStall) when the process was stalled too long. */
  check(): boolean {
    if (this.over) return false;
    const limit = this.opts.stallLimitMs;
    if (limit === undefined) return true;
    const stalled = this.base.now() - this.lastTick;
    if (stalled <= limit) return true;
    this.end();
    this.opts.onStall?.(stalled);
    return false;
  }

  /** Idempotent. */
  end(): void {
    if (this.over) return;
    this.over = true;
    this.ticker?.cancel();
    for (const t of [...this.live]) t.cancel();
    this.live.clear();
  }
}
