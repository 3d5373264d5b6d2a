// Which of the agent's GPUs are free; tasks get specific indexes (CUDA_VISIBLE_DEVICES).
import type { Logger } from '../runtime/log.ts';

export class GpuPool {
  private free: number[];

  constructor(
    private readonly all: number[],
    private readonly log: Logger,
  ) {
    this.free = [...all];
  }

  take(n: number): number[] {
    const got = this.free.splice(0, n);
    if (got.length < n) this.log.warn('task asks for more GPUs than are free', { wanted: n, free: got.length });
    return got;
  }

  /** Marks recovered assignments as taken again; returns those that were still free. */
  reclaim(gpus: readonly number[]): number[] {
    const got = gpus.filter((g) => this.free.includes(g));
    this.free = this.free.filter((g) => !got.includes(g));
    return got;
  }

  release(gpus: readonly number[]): void {
    for (const g of gpus) if (this.all.includes(g) && !this.free.includes(g)) this.free.push(g);
    this.free.sort((a, b) => a - b);
  }

  reset(): void {
    this.free = [...this.all];
  }
}
