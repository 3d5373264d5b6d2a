// The frame every lab bench shares: JSON-line output, progress on stderr, named steps selected with
// --only (a failing step is reported as a JSON line and the run goes on), and an exit that tears down
// every lab still alive and exits 1 when any step failed.
export interface BenchRun {
  emit(o: Record<string, unknown>): void;
  progress(msg: string): void;
  readonly failures: string[];
  /** Labs/environments to destroy at exit, whatever happens. */
  readonly live: Set<{ destroy(): Promise<void> }>;
  steps(steps: [string, () => Promise<void>][], only: Set<string>): Promise<void>;
  /** Runs main, then tears down and exits with the verdict. */
  finish(main: () => Promise<void>): void;
}

export function benchRun(name: string): BenchRun {
  const failures: string[] = [];
  const live = new Set<{ destroy(): Promise<void> }>();
  const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
  const progress = (msg: string) => process.stderr.write(`[bench:${name}] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);
  return {
    emit,
    progress,
    failures,
    live,
    async steps(steps, only) {
      for (const [step, run] of steps) {
        if (!only.has(step)) continue;
        try {
          await run();
        } catch (e) {
          failures.push(step);
          emit({ bench: `${name}-${step}`, error: (e as Error).message.split('\n').slice(0, 6).join(' | ') });
        }
      }
    },
    finish(main) {
      main()
        .catch((e) => {
          failures.push('main');
          progress((e as Error).stack ?? String(e));
        })
        .finally(async () => {
          await Promise.allSettled([...live].map((e) => e.destroy()));
          if (failures.length) progress(`FAILED: ${failures.join(', ')}`);
          process.exit(failures.length ? 1 : 0);
        });
    },
  };
}
