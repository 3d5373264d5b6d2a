// The agent's containerizer for tasks with a container image (Mesos's unified containerizer with the docker
// image provider): pulls the image into the image store, makes the container's root filesystem from it,
// writes the OCI config and hands the task manager the `runc run` command that its exit-status wrapper runs.
// It also deletes containers when their tasks end, and sweeps containers no checkpoint accounts for.
//
//   <work>/runc/<container id>/                 runc's state (--root): `runc --root <work>/runc list`
//   <work>/provisioner/containers/<id>/         the bundle: config.json, rootfs/ (+ upper/, work/ for overlay)
//
// See docs/isolation.md ("Container images").
import fs from 'node:fs';
import path from 'node:path';
import type { Resources } from '../../core/resources.ts';
import { ValidationError } from '../../protocol/errors.ts';
import type { TaskInfo } from '../../protocol/mesos.ts';
import type { Clock } from '../../runtime/clock.ts';
import type { IdSource } from '../../runtime/ids.ts';
import type { Logger } from '../../runtime/log.ts';
import { findOnPath } from '../gpus.ts';
import type { RuntimeUser } from '../images/image-config.ts';
import { DEFAULT_DOCKER_REGISTRY, parseRegistryUrl } from '../images/reference.ts';
import { ImagePullError, ImageStore } from '../images/store.ts';
import { limitsFor } from '../isolation/limits.ts';
import { containerArgs, containerEnv } from './command.ts';
import { runtimeSpec } from './oci-spec.ts';
import { defaultBackend, makeRootfs, removeRootfs, type OciMount, type ProvisionerBackend, type RootfsTools } from './rootfs.ts';
import { Runc } from './runc.ts';
import type { TaskImage } from './task-image.ts';

export { taskImage, type TaskImage } from './task-image.ts';
export { PROVISIONER_BACKENDS, type ProvisionerBackend } from './rootfs.ts';
export { CONTAINER_SANDBOX } from './command.ts';

export interface ContainerizerOptions {
  workDir: string;
  /** --docker-registry: where names without a registry host are pulled from. Default https://registry-1.docker.io. */
  dockerRegistry?: string;
  /** --docker-insecure-registries: host[:port] spoken to over HTTP / without certificate checks. */
  dockerInsecureRegistries?: string[];
  /** --docker-store-dir: the image store. Default <workDir>/images. */
  dockerStoreDir?: string;
  /** --image-provisioner-backend. Default overlay where the kernel has overlayfs, else copy. */
  imageProvisionerBackend?: ProvisionerBackend;
  /** The isolation settings the container's cgroup gets (same as the cgroups isolators'). */
  cgroupsRoot: string;
  cgroupsEnableCfs: boolean;
  pidsMax: number;
}

/** The agent options (and CLI flags) of container images. */
export type ContainerImageOptions = Pick<ContainerizerOptions, 'dockerRegistry' | 'dockerInsecureRegistries' | 'dockerStoreDir' | 'imageProvisionerBackend'>;

export interface ContainerizerDeps {
  clock: Clock;
  ids: IdSource;
  log: Logger;
}

export interface PrepareInput {
  containerId: string;
  task: TaskInfo;
  image: TaskImage;
  /** Host path of the sandbox (bound at /mnt/mesos/sandbox). */
  sandbox: string;
  /** The task's environment built without the agent's own (see containerEnv). */
  env: Record<string, string>;
  /** The task's user with --switch-user; otherwise the image's User is used. */
  user?: { uid: number; gid: number };
  resources: Resources;
  /** Aborted when the task is killed (or the agent stops) while the image is pulled. */
  signal: AbortSignal;
  /** Pull progress, for the sandbox's stderr. */
  progress(line: string): void;
}

/** The launch cannot go on; the message is the task's (Mesos: REASON_CONTAINER_LAUNCH_FAILED). */
export class ContainerLaunchError extends Error {}
/** The wait for the image was abandoned (the task was killed, the agent is stopping). */
export class ContainerLaunchAborted extends Error {}

const HOST_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];
const SEARCH_PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

export class Containerizer {
  /** Containers whose directory or runc state could not be removed (Mesos's provisioner metric). */
  removeErrors = 0;
  private backend: ProvisionerBackend;
  private preparing = new Map<string, Promise<unknown>>();
  private live = new Set<string>();
  private destroying = new Map<string, Promise<void>>();
  private readonly runc?: Runc;
  private readonly containersDir: string;
  private readonly hostFiles: string[];

  private constructor(
    private readonly o: ContainerizerOptions & { dockerRegistry: string; storeDir: string },
    private readonly deps: ContainerizerDeps,
    readonly images: ImageStore | undefined,
    private readonly tools: RootfsTools | undefined,
    runcBin: string | undefined,
    /** Why this agent cannot run images, if it cannot. */
    private readonly unavailable: string | undefined,
  ) {
    this.backend = o.imageProvisionerBackend ?? defaultBackend();
    this.containersDir = path.join(o.workDir, 'provisioner', 'containers');
    if (runcBin) this.runc = new Runc(runcBin, path.join(o.workDir, 'runc'));
    this.hostFiles = HOST_FILES.filter((f) => fs.existsSync(f));
  }

  /** Validates the flags (ValidationError) and finds the tools; a machine without them runs no image tasks, saying why. */
  static create(o: ContainerizerOptions, deps: ContainerizerDeps): Containerizer {
    const dockerRegistry = o.dockerRegistry ?? DEFAULT_DOCKER_REGISTRY;
    parseRegistryUrl(dockerRegistry);
    if (o.imageProvisionerBackend && !['overlay', 'copy'].includes(o.imageProvisionerBackend))
      throw new ValidationError(`unknown backend '${o.imageProvisionerBackend}' (overlay, copy)`, 'image_provisioner_backend');
    const storeDir = o.dockerStoreDir ?? path.join(o.workDir, 'images');
    const find = (b: string) => findOnPath(b, SEARCH_PATH);
    const bins = { runc: find('runc'), skopeo: find('skopeo'), umoci: find('umoci'), umount: find('umount'), cp: find('cp') };
    const missing = Object.entries(bins)
      .filter(([, v]) => !v)
      .map(([k]) => k);
    let unavailable: string | undefined;
    if (process.geteuid?.() !== 0) unavailable = 'container images need the agent to run as root (runc)';
    else if (missing.length) unavailable = `container images need ${missing.join(', ')} on the agent (Debian packages runc, skopeo, umoci)`;
    const settings = { ...o, dockerRegistry, storeDir };
    const registry = { defaultRegistry: dockerRegistry, insecure: new Set(o.dockerInsecureRegistries ?? []) };
    const images = bins.skopeo && bins.umoci ? new ImageStore({ storeDir, registry, skopeo: bins.skopeo, umoci: bins.umoci, ...deps }) : undefined;
    const tools = bins.umount && bins.cp ? { umount: bins.umount, cp: bins.cp } : undefined;
    if (unavailable) deps.log.info('tasks with container images cannot run on this agent', { why: unavailable });
    return new Containerizer(settings, deps, images, tools, bins.runc, unavailable);
  }

  /** Creates the directories and loads the image cache (not when images cannot run here). */
  init(): void {
    if (this.unavailable) return;
    fs.mkdirSync(this.containersDir, { recursive: true });
    fs.mkdirSync(this.runc!.root, { recursive: true });
    this.images!.init();
  }

  flags(): Record<string, string> {
    return {
      docker_registry: this.o.dockerRegistry,
      docker_insecure_registries: (this.o.dockerInsecureRegistries ?? []).join(','),
      docker_store_dir: this.o.storeDir,
      image_provisioner_backend: this.backend,
      image_providers: this.unavailable ? '' : 'docker',
    };
  }

  metrics(): Record<string, number> {
    return { ...(this.images?.metrics() ?? {}), 'containerizer/mesos/provisioner/remove_container_errors': this.removeErrors };
  }

  private containerDir(id: string): string {
    return path.join(this.containersDir, id);
  }

  /**
   * Gets the image (pulling it if needed) and prepares the container's bundle; returns the argv the task's
   * wrapper runs. Throws ContainerLaunchError (with the task's message) or ContainerLaunchAborted.
   */
  prepare(i: PrepareInput): Promise<{ argv: string[] }> {
    const p = this.prepareNow(i);
    this.preparing.set(i.containerId, p);
    void p.catch(() => undefined).finally(() => this.preparing.delete(i.containerId));
    return p;
  }

  private async prepareNow(i: PrepareInput): Promise<{ argv: string[] }> {
    if (this.unavailable) throw new ContainerLaunchError(`Failed to launch container: ${this.unavailable}`);
    const images = this.images!;
    let image;
    try {
      image = await images.get(i.image.name, { force: !i.image.cached, onProgress: i.progress, signal: i.signal });
    } catch (e) {
      if (i.signal.aborted) throw new ContainerLaunchAborted('cancelled');
      if (e instanceof ImagePullError || e instanceof ValidationError) throw new ContainerLaunchError(`Failed to launch container: ${e.message}`);
      throw e;
    }
    const cmd = containerArgs(i.task, image.config);
    if ('error' in cmd) throw new ContainerLaunchError(`Failed to launch container: ${cmd.error}`);
    const user: RuntimeUser = i.user ?? image.user;
    if (!i.user && user.uid !== 0) {
      // The image's user (not switched by the agent) gets its sandbox, as a switched task user does.
      fs.chownSync(i.sandbox, user.uid, user.gid);
    }
    const dir = this.containerDir(i.containerId);
    this.live.add(i.containerId);
    fs.mkdirSync(dir, { recursive: true });
    const rootfsMount = await this.makeRootfs(image.rootfs, dir);
    const spec = runtimeSpec({
      args: cmd.args,
      env: containerEnv(image.config.Env, i.env, i.task),
      cwd: cmd.cwd,
      user,
      sandbox: i.sandbox,
      cgroupsPath: `/${this.o.cgroupsRoot}/${i.containerId}`,
      limits: limitsFor(i.resources, { cfs: this.o.cgroupsEnableCfs, pidsMax: this.o.pidsMax }),
      hostFiles: this.hostFiles,
      ...(rootfsMount ? { rootfsMount } : {}),
    });
    // A few KB into the page cache: synchronously, rather than three thread-pool round trips on the launch path.
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
    return { argv: this.runc!.runArgv(i.containerId, dir, path.join(dir, 'pid')) };
  }

  private async makeRootfs(base: string, dir: string): Promise<OciMount | undefined> {
    try {
      return await makeRootfs(this.backend, base, dir, this.tools!);
    } catch (e) {
      throw new ContainerLaunchError(`Failed to launch container: cannot provision its root filesystem (${this.backend}): ${(e as Error).message}`);
    }
  }

  /** SIGKILLs the container's processes (its runc parent may be gone already). Best effort. */
  kill(containerId: string): void {
    if (!this.runc || !fs.existsSync(path.join(this.runc.root, containerId))) return;
    this.runc.kill(containerId, 'KILL').catch(() => undefined);
  }

  /** The task ended: delete the container and its root filesystem (in the background; idempotent). */
  destroy(containerId: string): void {
    if (this.destroying.has(containerId) || !this.runc) return;
    const p = (async () => {
      // A launch still preparing (a kill during its pull) finishes making its mount first.
      await this.preparing.get(containerId)?.catch(() => undefined);
      const runc = this.runc!;
      if (fs.existsSync(path.join(runc.root, containerId))) {
        try {
          await runc.delete(containerId);
        } catch (e) {
          this.removeErrors++;
          this.deps.log.warn('runc could not delete a container', { container: containerId, error: (e as Error).message });
        }
      }
      const dir = this.containerDir(containerId);
      if (fs.existsSync(dir)) {
        try {
          await removeRootfs(dir, this.tools!);
        } catch (e) {
          this.removeErrors++;
          this.deps.log.warn('could not remove a container root filesystem', { container: containerId, error: (e as Error).message });
        }
      }
    })().finally(() => {
      this.destroying.delete(containerId);
      this.live.delete(containerId);
    });
    this.destroying.set(containerId, p);
  }

  /** A task re-attached after an agent restart: its container is ours again. */
  recover(containerId: string): void {
    this.live.add(containerId);
  }

  /**
   * Deletes containers (runc state, root filesystems) that no live task accounts for: left by tasks that ended
   * while no agent was around, or by an agent whose checkpoint is gone.
   */
  async sweep(keep: ReadonlySet<string>): Promise<number> {
    if (this.unavailable) return 0;
    const ids = new Set<string>();
    try {
      for (const c of await this.runc!.list()) ids.add(c.id);
    } catch (e) {
      this.deps.log.warn('cannot list runc containers', { error: (e as Error).message });
    }
    for (const d of fs.existsSync(this.containersDir) ? fs.readdirSync(this.containersDir) : []) ids.add(d);
    let n = 0;
    for (const id of ids) {
      if (keep.has(id) || this.live.has(id) || this.preparing.has(id) || this.destroying.has(id)) continue;
      this.deps.log.info('removing a container no task accounts for', { container: id });
      this.destroy(id);
      n++;
    }
    return n;
  }

  /** Stops pulls in flight and waits for deletions under way. */
  async stop(): Promise<void> {
    this.images?.close();
    await Promise.all([...this.destroying.values()]);
  }
}
