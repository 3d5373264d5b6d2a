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
  /** Runs body with a started environment, destroying it afterwards; on failure prints describe(env) first. */
  withEnv<E extends { destroy(): Promise<void> }, T>(start: () => Promise<E>, describe: (env: E) => string, body: (env: E) => Promise<T>): Promise<T>;
  /** Bounds the whole run: after timeoutMs every live environment is torn down and the process exits 1. */
  bound(timeoutMs: number): void;
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
    async withEnv(start, describe, body) {
      const env = await start();
      live.add(env);
      try {
        return await body(env);
      } catch (e) {
        progress(`failed; lab state:\n${describe(env)}`);
        throw e;
      } finally {
        live.delete(env);
        await env.destroy().catch((e) => progress(`destroy: ${(e as Error).message}`));
      }
    },
    bound(timeoutMs) {
      const watchdog = setTimeout(() => {
        progress(`the whole run exceeded ${timeoutMs / 1000} s: tearing down`);
        process.exitCode = 1;
        void Promise.allSettled([...live].map((e) => e.destroy())).then(() => process.exit(1));
      }, timeoutMs);
      watchdog.unref();
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
