// Children that die with their parent, however the parent dies (SIGKILL and OOM included): the child
// is started through util-linux's `setpriv --pdeathsig SIG --`, which asks the kernel
// (PR_SET_PDEATHSIG) to send it SIG when the thread that spawned it exits, then execs the real
// command in place (same pid). No watchdog process, nothing to clean up after a crash.
import { spawnSync } from 'node:child_process';

export type LifelineSignal = 'TERM' | 'KILL';

let available: boolean | undefined;

/** Whether `setpriv --pdeathsig` works here (checked once). */
export function lifelineAvailable(): boolean {
  if (available === undefined) {
    const r = spawnSync('setpriv', ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore', timeout: 5000 });
    available = !r.error && r.status === 0;
  }
  return available;
}

/**
 * `[command, args]` that runs `command args` so that it receives SIG`signal` when this process dies,
 * or `command args` unchanged where setpriv is missing (then the caller must clean up on exit itself).
 */
export function withLifeline(command: string, args: readonly string[], signal: LifelineSignal): { command: string; args: string[]; lifeline: boolean } {
  if (!lifelineAvailable()) return { command, args: [...args], lifeline: false };
  return { command: 'setpriv', args: ['--pdeathsig', signal, '--', command, ...args], lifeline: true };
}
