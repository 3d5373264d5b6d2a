// What every Lease implementation shares: the ended flag, the reason, and onLost callbacks that
// always run asynchronously (never inside the store call that ended the lease) and never for revoke().
import type { Logger } from '../runtime/log.ts';

export abstract class LeaseState {
  protected ended = false;
  /** Why it ended; undefined for revoke(), which never calls onLost callbacks. */
  protected reason: string | undefined;
  private callbacks: ((reason: string) => void)[] = [];

  protected constructor(
    readonly id: string,
    readonly ttlMs: number,
    protected readonly log: Logger,
  ) {}

  get lost(): boolean {
    return this.ended;
  }

  onLost(cb: (reason: string) => void): void {
    if (typeof cb !== 'function') throw new TypeError('onLost callback must be a function');
    if (!this.ended) this.callbacks.push(cb);
    else if (this.reason !== undefined) this.fire(cb, this.reason);
  }

  /** Marks the lease ended and schedules its callbacks (unless revoked); false when it had already ended. */
  protected markEnded(reason: string | undefined): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.reason = reason;
    const cbs = this.callbacks;
    this.callbacks = [];
    if (reason !== undefined) for (const cb of cbs) this.fire(cb, reason);
    return true;
  }

  private fire(cb: (reason: string) => void, reason: string): void {
    queueMicrotask(() => {
      try {
        cb(reason);
      } catch (err) {
        this.log.error('lease onLost callback failed', { lease: this.id, error: err });
      }
    });
  }
}
