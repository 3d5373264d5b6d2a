// What the agent offers: detected from the machine (Mesos's defaults) or taken from --resources text, with
// detected values filling the standard resources the text leaves out (in any role: `cpus(ops):2` alone
// means no unreserved cpus). Static reservations use Mesos's syntax, `cpus(ops):2`; dynamic reservations
// and volumes cannot be declared here (they come from the master, see volumes.ts).
import fs from 'node:fs';
import os from 'node:os';
import { checkpointedOf, emptyResources, isEmptyResources, parseResourceString, roundScalar, type Resources } from '../core/resources.ts';
import { ValidationError } from '../protocol/errors.ts';
import type { Logger } from '../runtime/log.ts';
import { detectGpus, type GpuInfo } from './gpus.ts';

export interface MachineFacts {
  cpus: number;
  memMB: number;
  /** Free space of the work dir's filesystem. */
  diskMB: number;
  gpus: GpuInfo[];
}

export const DEFAULT_PORTS = { begin: 31000, end: 32000 };

export async function detectMachine(workDir: string, log: Logger): Promise<MachineFacts> {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const memMB = Math.floor(os.totalmem() / (1024 * 1024));
  let diskMB = 0;
  try {
    const st = await fs.promises.statfs(workDir);
    diskMB = Math.floor((Number(st.bavail) * Number(st.bsize)) / (1024 * 1024));
  } catch (e) {
    log.warn('cannot stat the work dir filesystem; offering no disk', { error: (e as Error).message });
  }
  return { cpus, memMB, diskMB, gpus: await detectGpus(log) };
}

/** Mesos keeps min(1 GB, half) of memory and min(5 GB, half) of disk for the system. */
export const memAfterReserve = (totalMB: number): number => totalMB - Math.min(1024, totalMB / 2);
export const diskAfterReserve = (totalMB: number): number => totalMB - Math.min(5 * 1024, totalMB / 2);

/** The machine's default resources, scaled by `share` (0 < share ≤ 1). Ports are not scaled. */
export function defaultResources(facts: MachineFacts, share = 1): Resources {
  const s = share > 0 && share <= 1 ? share : 1;
  const r = emptyResources();
  r.scalars.cpus = Math.max(0.01, roundScalar(facts.cpus * s));
  r.scalars.mem = Math.max(0, Math.floor(memAfterReserve(facts.memMB) * s));
  r.scalars.disk = Math.max(0, Math.floor(diskAfterReserve(facts.diskMB) * s));
  const gpus = Math.floor(facts.gpus.length * s);
  if (gpus > 0) r.scalars.gpus = gpus;
  r.ranges.ports = [{ ...DEFAULT_PORTS }];
  return r;
}

/** Resources from `--resources` text; standard resources it leaves out come from the machine. */
export function agentResources(text: string | undefined, facts: MachineFacts, share = 1): Resources {
  const defaults = defaultResources(facts, share);
  if (text === undefined || text.trim() === '') return defaults;
  const given = parseResourceString(text);
  if (!isEmptyResources(checkpointedOf(given)))
    throw new ValidationError('--resources may hold static reservations only; dynamic reservations and volumes are made through the master', 'resources');
  for (const name of ['cpus', 'mem', 'disk', 'gpus'] as const) {
    if (given.scalars[name] === undefined && defaults.scalars[name] !== undefined && !mentions(text, name))
      given.scalars[name] = defaults.scalars[name]!;
  }
  if (!given.ranges.ports && !mentions(text, 'ports')) given.ranges.ports = defaults.ranges.ports!;
  return given;
}

const mentions = (text: string, name: string): boolean => new RegExp(`(^|[;\\s"])${name}[:(" ]`).test(text);

/** GPU indices the agent hands out: detected ones first, then 0..n-1 for GPUs declared in text only. */
export function gpuIndices(count: number, detected: GpuInfo[]): number[] {
  const out = detected.map((g) => g.index).slice(0, count);
  for (let i = 0; out.length < count; i++) if (!out.includes(i)) out.push(i);
  return out;
}
