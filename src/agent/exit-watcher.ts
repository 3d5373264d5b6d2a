// Notices the exit of processes this agent did not start (re-attached after a restart), which it cannot
// wait() for: one timer polls them all (pid alive, not a zombie, same start time) while any are watched.
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import { isSameLiveProcess } from './proc.ts';

export interface Watched {
  pid: number;
  startTime?: string;
}

export class ExitWatcher<T extends Watched> {
  private watched = new Set<T>();
  private timer?: TimerHandle;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly pollMs: number,
    private readonly onExit: (item: T) => void,
  ) {}

  watch(item: T): void {
    if (this.stopped) return;
    this.watched.add(item);
    this.timer ??= this.clock.setInterval(() => this.poll(), this.pollMs);
  }

  unwatch(item: T): void {
    this.watched.delete(item);
    if (this.watched.size === 0) {
      this.timer?.cancel();
      this.timer = undefined;
    }
  }

  /** Forgets everything watched (the timer stops with it). */
  clear(): void {
    this.watched.clear();
    this.timer?.cancel();
    this.timer = undefined;
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private poll(): void {
    for (const item of [...this.watched]) {
      if (!isSameLiveProcess(item.pid, item.startTime)) {
        this.unwatch(item);
        this.onExit(item);
      }
    }
  }
}
