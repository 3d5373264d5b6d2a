// disk/du: sandbox usage measured every --container-disk-watch-interval by a `du -sk -x` child process (as
// Mesos's disk/du isolator does), so a big sandbox never blocks the agent's event loop. One du at a time:
// on a busy agent the round takes longer instead of piling up processes.
import { execFile } from 'node:child_process';
import type { Clock, TimerHandle } from '../../runtime/clock.ts';
import type { Logger } from '../../runtime/log.ts';

const DU_TIMEOUT_MS = 60_000;

/** Parses `du -sk` output ("<KiB>\t<path>") to bytes. */
export function parseDuOutput(text: string): number | undefined {
  const m = /^(\d+)\s/.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Bytes used under `dir`, not crossing into other file systems (mounted volumes are not the sandbox's). */
export function measureWithDu(du: string, dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(du, ['-sk', '-x', dir], { timeout: DU_TIMEOUT_MS, maxBuffer: 64 * 1024 }, (err, stdout) => {
      // du exits 1 when a file vanished mid-walk, yet prints the total: keep it.
      const bytes = parseDuOutput(String(stdout));
      if (bytes !== undefined) resolve(bytes);
      else reject(err ?? new Error(`unexpected du output: ${String(stdout).slice(0, 100)}`));
    });
  });
}

export interface DiskWatcherDeps {
  clock: Clock;
  log: Logger;
  intervalMs: number;
  measure(dir: string): Promise<number>;
  onUsage(containerId: string, bytes: number): void;
}

export class DiskWatcher {
  private dirs = new Map<string, string>();
  private timer?: TimerHandle;
  private busy = false;
  private stopped = false;

  constructor(private readonly d: DiskWatcherDeps) {}

  add(containerId: string, dir: string): void {
    if (this.stopped) return;
    this.dirs.set(containerId, dir);
    this.timer ??= this.d.clock.setInterval(() => void this.round(), this.d.intervalMs);
  }

  remove(containerId: string): void {
    this.dirs.delete(containerId);
    if (this.dirs.size === 0) {
      this.timer?.cancel();
      this.timer = undefined;
    }
  }

  stop(): void {
    this.stopped = true;
    this.dirs.clear();
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Measures every watched sandbox once (skipped while the previous round still runs). */
  async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const [id, dir] of [...this.dirs]) {
        if (this.stopped) return;
        try {
          const bytes = await this.d.measure(dir);
          if (this.dirs.get(id) === dir) this.d.onUsage(id, bytes);
        } catch (e) {
          this.d.log.debug('could not measure a sandbox', { container: id, error: (e as Error).message });
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
