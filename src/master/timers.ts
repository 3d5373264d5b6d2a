// Timers longer than setTimeout's 2^31-1 ms ceiling (failover timeouts of
// weeks), armed in chunks on the injected Clock.
import type { Clock, TimerHandle } from '../runtime/clock.ts';

export const MAX_TIMER_MS = 2_147_483_647;

export function longTimeout(clock: Clock, fn: () => void, ms: number): TimerHandle {
  let handle: TimerHandle | undefined;
  let cancelled = false;
  const arm = (remaining: number) => {
    const step = Math.min(Math.max(0, remaining), MAX_TIMER_MS);
    handle = clock.setTimeout(() => {
      if (cancelled) return;
      if (remaining > MAX_TIMER_MS) arm(remaining - MAX_TIMER_MS);
      else fn();
    }, step);
  };
  arm(Number.isFinite(ms) ? ms : Number.MAX_SAFE_INTEGER);
  return {
    cancel() {
      cancelled = true;
      handle?.cancel();
    },
  };
}
