// runc, driven through its CLI with the agent's own state root (--root), so `runc list` there shows
// exactly this agent's containers.
//
// A task's container runs in the foreground under the task's exit-status wrapper: `runc run --keep` stays
// the parent of the container's first process, forwards the signals it gets (the agent's SIGTERM to the
// task's process group reaches the container this way) and exits with the container's status (128+N for
// signal N), which the wrapper records like any command's. --keep leaves the stopped container (and its
// cgroups) in place until the agent deletes it: the OOM counter must still be there when the agent asks
// why the task ended.
import { z } from 'zod';
import { runTool } from '../images/tool.ts';

const TIMEOUT_MS = 30_000;

const ListEntry = z.looseObject({ id: z.string(), pid: z.number().optional(), status: z.string() });

export class Runc {
  constructor(
    readonly bin: string,
    readonly root: string,
  ) {}

  /** argv of the foreground run (the wrapper runs it). */
  runArgv(id: string, bundle: string, pidFile: string): string[] {
    return [this.bin, '--root', this.root, 'run', '--keep', '--bundle', bundle, '--pid-file', pidFile, id];
  }

  async kill(id: string, signal: string): Promise<void> {
    await runTool(this.bin, ['--root', this.root, 'kill', id, signal], { timeoutMs: TIMEOUT_MS });
  }

  /** Deletes a container (--force: kills it first if it still runs). */
  async delete(id: string): Promise<void> {
    await runTool(this.bin, ['--root', this.root, 'delete', '--force', id], { timeoutMs: TIMEOUT_MS });
  }

  async list(): Promise<{ id: string; pid?: number; status: string }[]> {
    const { stdout } = await runTool(this.bin, ['--root', this.root, 'list', '--format', 'json'], { timeoutMs: TIMEOUT_MS, maxBytes: 4 * 1024 * 1024 });
    const text = stdout.trim();
    if (!text || text === 'null') return [];
    return z.array(ListEntry).parse(JSON.parse(text));
  }
}
