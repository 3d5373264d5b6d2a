// Runs the image tools (skopeo, umoci, runc, mount) as child processes: never through a shell, with a
// deadline, their output lines handed over as they come, and errors that say which tool failed and why.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ToolResult {
  stdout: string;
  stderr: string;
}

export class ToolError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(message);
  }
}

export interface ToolOptions {
  timeoutMs: number;
  /** Called for each stdout/stderr line as it arrives (progress). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
  /** Keeps at most this many bytes of each stream (default 64 KiB). */
  maxBytes?: number;
}

/** Runs `bin args`; resolves with its output when it exits 0, rejects with a ToolError otherwise. */
export function runTool(bin: string, args: string[], o: ToolOptions): Promise<ToolResult> {
  const max = o.maxBytes ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(new ToolError(`${bin} was cancelled`, '', null));
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const keep = (acc: string, line: string): string => (acc.length > max ? acc : acc + line + '\n');
    const lines = (stream: 'stdout' | 'stderr') =>
      createInterface({ input: child[stream]! }).on('line', (line) => {
        if (stream === 'stdout') stdout = keep(stdout, line);
        else stderr = keep(stderr, line);
        o.onLine?.(line, stream);
      });
    const outClosed = new Promise((r) => lines('stdout').once('close', r));
    const errClosed = new Promise((r) => lines('stderr').once('close', r));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new ToolError(`${bin} ${args[0] ?? ''} did not finish within ${Math.round(o.timeoutMs / 1000)} s`, stderr, null));
    }, o.timeoutMs);
    timer.unref();
    const onAbort = () => {
      child.kill('SIGKILL');
      finish(new ToolError(`${bin} was cancelled`, stderr, null));
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    function finish(err?: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve({ stdout, stderr });
    }
    child.once('error', (e) => finish(new ToolError(`cannot run ${bin}: ${e.message}`, '', null)));
    child.once('exit', (code, sig) => {
      // Wait for the last lines before judging (an error message is often the final one).
      void Promise.all([outClosed, errClosed]).then(() => {
        if (code === 0) return finish();
        finish(new ToolError(`${bin} ${args[0] ?? ''} failed (${sig ? `signal ${sig}` : `exit status ${code}`}): ${lastMessage(stderr) || 'no error message'}`, stderr, code));
      });
    });
  });
}

/**
 * The useful part of a Go tool's error output: the `msg="…"` of its last logrus line (skopeo, umoci, runc
 * log as `time=… level=fatal msg="…"`), else its last non-empty line.
 */
export function lastMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(lines[i]!);
    if (m && /level=(fatal|error)/.test(lines[i]!)) return m[1]!.replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return lines.at(-1) ?? '';
}
