// A container's own root filesystem, made from an image's read-only base (Mesos's provisioner backends):
//   overlay: an overlayfs with the base as its lower layer and the container's writes in its own upper
//            directory. runc mounts it, as the container's first mount, over the bundle's (empty) rootfs
//            directory inside the container's mount namespace: nothing is mounted on the host, so nothing
//            is left mounted when the container ends, whoever ends it, and no mount(8) runs per launch.
//   copy:    `cp -a --reflink=auto` of the base (instant on reflink file systems, a real copy elsewhere),
//            for kernels without overlayfs.
import fs from 'node:fs';
import path from 'node:path';
import { parseMountinfo } from '../isolation/mountinfo.ts';
import { runTool } from '../images/tool.ts';

export const PROVISIONER_BACKENDS = ['overlay', 'copy'] as const;
export type ProvisionerBackend = (typeof PROVISIONER_BACKENDS)[number];

const TOOL_TIMEOUT_MS = 60_000;

export interface RootfsTools {
  umount: string;
  cp: string;
}

/** An OCI config mount entry. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export const rootfsDir = (containerDir: string): string => path.join(containerDir, 'rootfs');

/** overlayfs takes its layers in a comma/colon-separated option string: such paths cannot be given. */
export const overlaySafe = (p: string): boolean => !/[,:\\\s]/.test(p);

/** overlay where the kernel has overlayfs, else copy. */
export function defaultBackend(filesystems = readFile('/proc/filesystems')): ProvisionerBackend {
  return /\toverlay$/m.test(filesystems) ? 'overlay' : 'copy';
}

/**
 * Makes the container's root filesystem under `containerDir`; for overlay returns the mount runc makes
 * first (over the bundle's rootfs directory).
 */
export async function makeRootfs(backend: ProvisionerBackend, base: string, containerDir: string, tools: RootfsTools): Promise<OciMount | undefined> {
  const target = rootfsDir(containerDir);
  if (backend === 'copy') {
    await runTool(tools.cp, ['-a', '--reflink=auto', base, target], { timeoutMs: TOOL_TIMEOUT_MS });
    return undefined;
  }
  const upper = path.join(containerDir, 'upper');
  const work = path.join(containerDir, 'work');
  if (![base, upper, work].every(overlaySafe)) throw new Error(`cannot give overlayfs a path with ',', ':' or spaces (${containerDir})`);
  for (const d of [upper, work, target]) fs.mkdirSync(d);
  return { destination: '/', type: 'overlay', source: 'overlay', options: [`lowerdir=${base}`, `upperdir=${upper}`, `workdir=${work}`] };
}

const readFile = (f: string): string => {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

export function isMountPoint(dir: string, mountinfo = readFile('/proc/self/mountinfo')): boolean {
  return parseMountinfo(mountinfo).some((m) => m.mountPoint === dir);
}

/**
 * Removes the container's directory. Never while something is mounted on its rootfs in the host's namespace
 * (removing would reach into the mount): that is unmounted first (lazily if busy).
 */
export async function removeRootfs(containerDir: string, tools: RootfsTools): Promise<void> {
  const target = rootfsDir(containerDir);
  if (isMountPoint(target)) {
    try {
      await runTool(tools.umount, [target], { timeoutMs: TOOL_TIMEOUT_MS });
    } catch {
      await runTool(tools.umount, ['-l', target], { timeoutMs: TOOL_TIMEOUT_MS });
    }
    if (isMountPoint(target)) throw new Error(`${target} is still mounted`);
  }
  await fs.promises.rm(containerDir, { recursive: true, force: true });
}
