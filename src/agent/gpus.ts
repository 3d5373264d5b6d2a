// NVIDIA GPU discovery through nvidia-smi. The parser is pure (unit-tested on captured output); detection
// degrades to "no GPUs" when nvidia-smi is absent or fails.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../runtime/log.ts';

export interface GpuInfo {
  index: number;
  name: string;
  /** MiB; undefined when nvidia-smi reports [N/A]. */
  memoryMiB?: number;
}

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.total', '--format=csv,noheader'];

/**
 * Parses `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader` output, e.g.
 * `0, NVIDIA H100 80GB HBM3, 81559 MiB`. The name may contain commas, so index is the first field and
 * memory the last. Lines that do not start with an index (messages such as "No devices were found") are skipped.
 */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const out: GpuInfo[] = [];
  const seen = new Set<number>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const fields = line.split(',').map((s) => s.trim());
    if (fields.length < 3 || !/^\d+$/.test(fields[0]!)) continue;
    const index = Number(fields[0]);
    if (seen.has(index)) continue;
    const mem = /^(\d+(?:\.\d+)?)\s*MiB$/i.exec(fields[fields.length - 1]!);
    const name = fields.slice(1, -1).join(', ');
    seen.add(index);
    out.push({ index, name, ...(mem ? { memoryMiB: Number(mem[1]) } : {}) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** Finds an executable on PATH without spawning anything. */
export function findOnPath(cmd: string, envPath = process.env.PATH ?? ''): string | undefined {
  if (cmd.includes('/')) return isExecutableFile(cmd) ? cmd : undefined;
  for (const dir of envPath.split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Lists NVIDIA GPUs; [] when there is no nvidia-smi or it fails (logged). */
export async function detectGpus(log: Logger): Promise<GpuInfo[]> {
  const smi = findOnPath('nvidia-smi');
  if (!smi) return [];
  return new Promise((resolve) => {
    execFile(smi, NVIDIA_SMI_ARGS, { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        log.warn('nvidia-smi failed; offering no GPUs', { error: err.message });
        resolve([]);
        return;
      }
      resolve(parseNvidiaSmi(stdout));
    });
  });
}
