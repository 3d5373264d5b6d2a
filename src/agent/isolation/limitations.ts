// What a task that hit a container limit is told, and the marker that keeps the reason across an agent
// restart (the kill and the exit it causes may straddle one).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { TerminalOutcome } from '../exit-status.ts';
import { formatMb, MIB } from './limits.ts';

/** In a task's meta run dir, next to exit_status: written before the agent kills a task over a limit. */
export const LIMITATION_FILE = 'limitation.json';

const scalar = (name: string, value: number) => ({ name, type: 'SCALAR' as const, scalar: { value } });

/**
 * The kernel OOM-killed a process of the task (Mesos: TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY, from the
 * agent). `limitBytes` is the hard limit enforced (the task's mem, at least MIN_MEMORY); `peakBytes` what the
 * cgroup recorded as its maximum usage, where the kernel keeps it.
 */
export function memoryLimitation(memMb: number | undefined, limitBytes: number, peakBytes: number | undefined): TerminalOutcome {
  const peak = peakBytes !== undefined ? `; peak usage ${formatMb(peakBytes)}` : '';
  return {
    state: 'TASK_FAILED',
    reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
    message: `Memory limit exceeded: the task used more than its ${formatMb(limitBytes)} limit (the kernel's OOM killer killed a process of the task${peak})`,
    limitation: { resources: [scalar('mem', memMb ?? limitBytes / MIB)] },
  };
}

/** disk/du found the sandbox over the task's `disk` (MB) with --enforce-container-disk-quota. */
export function diskLimitation(diskMb: number, usedBytes: number): TerminalOutcome {
  return {
    state: 'TASK_FAILED',
    reason: 'REASON_CONTAINER_LIMITATION_DISK',
    message: `Disk usage (${formatMb(usedBytes)}) exceeds the task's disk limit (${formatMb(diskMb * MIB)}): the sandbox grew past it and the task was killed`,
    limitation: { resources: [scalar('disk', diskMb)] },
  };
}

const Marker = z.object({
  state: z.literal('TASK_FAILED'),
  reason: z.enum(['REASON_CONTAINER_LIMITATION_MEMORY', 'REASON_CONTAINER_LIMITATION_DISK', 'REASON_CONTAINER_LIMITATION']),
  message: z.string(),
  limitation: z.object({ resources: z.array(z.looseObject({ name: z.string() })) }).optional(),
});

export function writeLimitationMarker(runMetaDir: string, outcome: TerminalOutcome): void {
  fs.writeFileSync(path.join(runMetaDir, LIMITATION_FILE), JSON.stringify(outcome));
}

export function readLimitationMarker(runMetaDir: string): TerminalOutcome | undefined {
  try {
    const r = Marker.safeParse(JSON.parse(fs.readFileSync(path.join(runMetaDir, LIMITATION_FILE), 'utf8')));
    return r.success ? (r.data as TerminalOutcome) : undefined;
  } catch {
    return undefined;
  }
}
