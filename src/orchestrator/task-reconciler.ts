// Task reconciliation with the master (mesos.md §5.6, marathon.md §9.2). After every
// (re)subscription: explicit RECONCILE of every known task, retried with truncated exponential
// backoff until each has answered, plus one implicit RECONCILE (which surfaces tasks this
// orchestrator does not know: they are killed). Until the explicit round is answered the
// runtime launches nothing. Periodically (reconciliationIntervalMs) both again. Instances that
// stayed Provisioned (ACCEPT not confirmed) past the launch-confirm timeout are reconciled too.
import type { TimerHandle } from '../runtime/clock.ts';
import type { Ctx } from './context.ts';

export interface ReconcilerOptions {
  intervalMs: number;
  initialRetryMs?: number;
  maxRetryMs?: number;
}

export class TaskReconciler {
  private pending = new Set<string>();
  private retryMs: number;
  private retryTimer?: TimerHandle;
  private periodic?: TimerHandle;
  private closed = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly opts: ReconcilerOptions,
    private readonly onReconciled: () => void,
  ) {
    this.retryMs = opts.initialRetryMs ?? 500;
  }

  /** Starts a full round (after SUBSCRIBED). */
  start(): void {
    this.ctx.reconciled = false;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.retryMs = this.opts.initialRetryMs ?? 500;
    this.pending = new Set(this.ctx.tracker.all().map((i) => i.taskId));
    this.periodic ??= this.ctx.clock.setInterval(() => this.periodicRound(), this.opts.intervalMs);
    this.send(true);
    this.check();
  }

  /** Connection lost: nothing is answered any more until the next start(). */
  pause(): void {
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
  }

  /** A status for this task arrived (any source). */
  answered(taskId: string): void {
    if (this.pending.delete(taskId)) this.check();
  }

  /** The instance was removed locally: nothing to wait for. */
  forget(taskId: string): void {
    this.answered(taskId);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Explicitly reconciles specific tasks (e.g. after a failed ACCEPT). */
  reconcileTasks(taskIds: string[]): void {
    const tasks = taskIds
      .map((t) => this.ctx.tracker.byTaskId(t))
      .filter((i) => i !== undefined)
      .map((i) => ({ taskId: i.taskId, agentId: i.agentId || undefined }));
    if (!tasks.length || !this.ctx.fw.connected) return;
    this.ctx.fw.reconcile(tasks).catch((e) => this.ctx.log.debug('RECONCILE failed', { error: (e as Error).message }));
  }

  close(): void {
    this.closed = true;
    this.retryTimer?.cancel();
    this.periodic?.cancel();
  }

  private check(): void {
    for (const t of [...this.pending]) if (!this.ctx.tracker.byTaskId(t)) this.pending.delete(t);
    if (this.pending.size === 0 && !this.ctx.reconciled) {
      this.ctx.reconciled = true;
      this.retryTimer?.cancel();
      this.retryTimer = undefined;
      this.ctx.log.info('initial reconciliation complete');
      this.onReconciled();
    }
  }

  private send(implicit: boolean): void {
    if (this.closed || !this.ctx.fw.connected) return;
    const tasks = [...this.pending]
      .map((t) => this.ctx.tracker.byTaskId(t))
      .filter((i) => i !== undefined)
      .map((i) => ({ taskId: i.taskId, agentId: i.agentId || undefined }));
    const fail = (e: unknown) => this.ctx.log.debug('RECONCILE failed', { error: (e as Error).message });
    if (tasks.length) this.ctx.fw.reconcile(tasks).catch(fail);
    if (implicit) this.ctx.fw.reconcile([]).catch(fail);
    if (tasks.length) {
      this.retryTimer = this.ctx.clock.setTimeout(() => {
        this.retryTimer = undefined;
        this.check();
        if (this.pending.size) this.send(false);
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 30_000);
    }
  }

  private periodicRound(): void {
    if (this.closed || !this.ctx.fw.connected) return;
    const all = this.ctx.tracker.all().map((i) => ({ taskId: i.taskId, agentId: i.agentId || undefined }));
    const fail = (e: unknown) => this.ctx.log.debug('RECONCILE failed', { error: (e as Error).message });
    if (all.length) this.ctx.fw.reconcile(all).catch(fail);
    this.ctx.fw.reconcile([]).catch(fail);
  }
}
