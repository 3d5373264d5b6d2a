// One way for the test process wrappers (corral dev, a standalone agent, a lab process) to wait on
// what a child process prints: re-evaluate a probe on every change, reject when the process exits
// first or at the deadline, always with the process's output in the message.

export interface WatchedProcess {
  readonly running: boolean;
  describe(): string;
  /** Calls `onChange` on every output chunk and on exit; returns the unsubscribe function. */
  watch(onChange: () => void): () => void;
}

/** Resolves with the first defined value of `probe`; a throwing probe rejects with its error. */
export function waitForOutput<T>(proc: WatchedProcess, probe: () => T | undefined, timeoutMs: number, what: string, name = 'process'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let unwatch = () => {};
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${proc.describe()}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      unwatch();
    };
    const check = () => {
      let v: T | undefined;
      try {
        v = probe();
      } catch (e) {
        done();
        reject(e);
        return;
      }
      if (v !== undefined) {
        done();
        resolve(v);
      } else if (!proc.running) {
        done();
        reject(new Error(`${name} exited while waiting for ${what}\n${proc.describe()}`));
      }
    };
    unwatch = proc.watch(check);
    check();
  });
}
