// The agent's checkpointed resources: dynamic reservations and persistent volumes (Mesos's
// `meta/resources/resources.info`), and the volumes' directories.
//
//   <work>/resources/resources.json        {"resources": [Mesos Resource JSON]}, temp + fdatasync + rename
//   <work>/volumes/roles/<role>/<id>/      one directory per persistent volume (role URI-encoded)
//
// Both live outside meta/, which is wiped when the agent gets a new id or is shut down: like Mesos,
// the reservations and the volumes' data are kept and reported with the next registration, and the
// master adopts them. The master owns the set: it sends the whole of it (CHECKPOINT_RESOURCES) after
// every operation; the agent only checks that it fits its static `--resources`, makes it durable and
// creates/removes volume directories. A task using a volume gets it linked into its sandbox at
// `container_path` (a symlink, as Mesos's posix filesystem isolator does).
import fs from 'node:fs';
import path from 'node:path';
import { parseKey, validateContainerPath } from '../core/resource-keys.ts';
import {
  applyCheckpointed,
  checkpointedOf,
  fromMesosResources,
  keyOfMesosResource,
  toMesosResources,
  type MesosResource,
  type Resources,
} from '../core/resources.ts';
import { keysOf } from '../core/reservations.ts';
import { ValidationError } from '../protocol/errors.ts';
import type { TaskInfo } from '../protocol/mesos.ts';
import type { Logger } from '../runtime/log.ts';
import { readJsonFile, writeJsonAtomic } from './checkpoint.ts';

export const resourcesCheckpointPath = (work: string): string => path.join(work, 'resources', 'resources.json');
export const volumesRoot = (work: string): string => path.join(work, 'volumes', 'roles');
export const volumePath = (work: string, role: string, id: string): string => path.join(volumesRoot(work), encodeURIComponent(role), id);

interface VolumeRef {
  role: string;
  id: string;
}

function volumesIn(r: Resources): Map<string, VolumeRef> {
  const out = new Map<string, VolumeRef>();
  for (const k of keysOf(r)) {
    const key = parseKey(k);
    if (key.volume && key.reservation) out.set(`${key.reservation.role}/${key.volume.id}`, { role: key.reservation.role, id: key.volume.id });
  }
  return out;
}

export class CheckpointedResources {
  private checkpointed: Resources;
  private totalResources: Resources;
  private chain: Promise<void> = Promise.resolve();

  /**
   * Reads the checkpoint. Throws when it is unreadable or no longer fits the static resources (the
   * agent was restarted with less than it has reserved): starting anyway would lose reservations.
   */
  constructor(
    private readonly workDir: string,
    private readonly staticResources: Resources,
    private readonly log: Logger,
  ) {
    const file = resourcesCheckpointPath(workDir);
    let saved: { resources?: MesosResource[] } | undefined;
    try {
      saved = readJsonFile<{ resources?: MesosResource[] }>(file);
    } catch (e) {
      throw new ValidationError(`cannot read the checkpointed resources in ${file}: ${(e as Error).message}`, 'resources');
    }
    this.checkpointed = checkpointedOf(fromMesosResources(saved?.resources ?? [], 'checkpointed_resources'));
    try {
      this.totalResources = applyCheckpointed(staticResources, this.checkpointed);
    } catch (e) {
      throw new ValidationError(
        `the checkpointed reservations and volumes in ${file} do not fit --resources: ${(e as Error).message}. ` +
          'Start the agent with resources that hold them (or remove that file to drop them).',
        'resources',
      );
    }
    for (const v of volumesIn(this.checkpointed).values()) fs.mkdirSync(volumePath(workDir, v.role, v.id), { recursive: true });
  }

  /** Static resources with the reservations and volumes applied: what the agent has. */
  total(): Resources {
    return this.totalResources;
  }

  /** What REGISTER/REREGISTER report as `checkpointed_resources`. */
  wire(): MesosResource[] {
    return toMesosResources(this.checkpointed);
  }

  /** CHECKPOINT_RESOURCES: durable once this resolves; updates are applied one at a time, in order. */
  update(list: readonly MesosResource[]): Promise<void> {
    const next = checkpointedOf(fromMesosResources(list, 'resources'));
    const total = applyCheckpointed(this.staticResources, next); // throws ValidationError: nothing changes
    const run = this.chain.then(() => this.apply(next, total));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async apply(next: Resources, total: Resources): Promise<void> {
    const before = volumesIn(this.checkpointed);
    const after = volumesIn(next);
    // New volumes' directories exist before the checkpoint names them; destroyed ones go after it no
    // longer does, so a crash in between leaves at worst an empty or unreferenced directory.
    for (const [k, v] of after) if (!before.has(k)) fs.mkdirSync(volumePath(this.workDir, v.role, v.id), { recursive: true });
    const file = resourcesCheckpointPath(this.workDir);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await writeJsonAtomic(file, { resources: toMesosResources(next) });
    this.checkpointed = next;
    this.totalResources = total;
    for (const [k, v] of before) {
      if (after.has(k)) continue;
      fs.rmSync(volumePath(this.workDir, v.role, v.id), { recursive: true, force: true });
      this.log.info('persistent volume destroyed', { role: v.role, id: v.id });
    }
    for (const [k, v] of after) if (!before.has(k)) this.log.info('persistent volume created', { role: v.role, id: v.id, path: volumePath(this.workDir, v.role, v.id) });
  }

  /**
   * Links every persistent volume the task uses into its sandbox at its container_path. Returns an
   * error message (the task must not start) or undefined.
   */
  linkVolumes(task: Pick<TaskInfo, 'resources' | 'executor'>, sandbox: string): string | undefined {
    const resources = [...(task.resources ?? []), ...(task.executor?.resources ?? [])] as MesosResource[];
    const known = new Set(keysOf(this.checkpointed));
    for (const r of resources) {
      if (!r.disk?.persistence) continue;
      let key: string;
      try {
        key = keyOfMesosResource(r);
      } catch (e) {
        return `Invalid persistent volume: ${(e as Error).message}`;
      }
      const k = parseKey(key);
      if (!k.volume || !k.reservation) continue;
      if (!known.has(key)) return `Persistent volume ${k.volume.id} (role ${k.reservation.role}) does not exist on this agent`;
      try {
        validateContainerPath(k.volume.containerPath, 'disk.volume.container_path');
      } catch (e) {
        return (e as Error).message;
      }
      const target = path.resolve(sandbox, k.volume.containerPath);
      if (!target.startsWith(path.resolve(sandbox) + path.sep)) return `volume container_path ${k.volume.containerPath} leaves the sandbox`;
      const source = volumePath(this.workDir, k.reservation.role, k.volume.id);
      try {
        fs.mkdirSync(source, { recursive: true });
        fs.mkdirSync(path.dirname(target), { recursive: true });
        // A parent that is itself a link (another volume) must not carry the link out of the sandbox.
        const parent = fs.realpathSync(path.dirname(target));
        const root = fs.realpathSync(sandbox);
        if (parent !== root && !parent.startsWith(root + path.sep)) return `volume container_path ${k.volume.containerPath} leaves the sandbox`;
        fs.symlinkSync(source, target, 'dir');
      } catch (e) {
        return `Failed to link persistent volume ${k.volume.id} at ${k.volume.containerPath}: ${(e as Error).message}`;
      }
    }
    return undefined;
  }
}
