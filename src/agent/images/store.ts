// The agent's image store (Mesos's docker store): images pulled from a registry with skopeo into one OCI
// layout (so layers are kept once per digest), unpacked once per manifest digest with umoci into a
// read-only base that containers' root filesystems are made from.
//
//   <store>/oci/                     the OCI layout (blobs/sha256/<digest>: layers, configs, manifests)
//   <store>/rootfs/<digest hex>/     umoci's bundle of the image: rootfs/, config.json, and our image.json
//                                    (written last: a directory without it is not an image)
//   <store>/refs/<hash of name>.json {name, digest}: which digest a name was when it was pulled
//   <store>/tmp/                     unpacks in progress (emptied at start)
//
// A name already pulled is not looked up in the registry again (Mesos's store does the same) unless the
// task asks for a fresh pull (Image.cached=false / Marathon's forcePullImage). Concurrent launches of one
// name share one pull; pulls run one at a time because skopeo and umoci rewrite the layout's index.json
// without locking. A pull is not cancelled when the task that started it is killed: it finishes into the
// cache for the next one.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../runtime/clock.ts';
import type { IdSource } from '../../runtime/ids.ts';
import type { Logger } from '../../runtime/log.ts';
import { writeJsonAtomic } from '../checkpoint.ts';
import { ImageRecord, readImageFromLayout, readUmociUser, type ImageConfig, type RuntimeUser } from './image-config.ts';
import { PullStats } from './pull-stats.ts';
import { dockerTransportName, parseImageReference, parseRegistryUrl, registryEndpoint, type ImageReference, type RegistryConfig } from './reference.ts';
import { lastMessage, runTool, ToolError } from './tool.ts';

export const DEFAULT_PULL_TIMEOUT_MS = 10 * 60_000;
const UNPACK_TIMEOUT_MS = 10 * 60_000;

export interface ImageStoreOptions {
  storeDir: string;
  registry: RegistryConfig;
  skopeo: string;
  umoci: string;
  clock: Clock;
  ids: IdSource;
  log: Logger;
  pullTimeoutMs?: number;
}

export interface CachedImage {
  /** Canonical name (registry/repository:tag). */
  name: string;
  /** Manifest digest in the store's layout. */
  digest: string;
  /** The read-only base root filesystem. */
  rootfs: string;
  config: ImageConfig;
  /** The image's User, resolved by umoci in the image's own /etc/passwd (root when it names none). */
  user: RuntimeUser;
  sizeBytes: number;
  layers: number;
}

/** A pull that failed: the message names the image, the registry and the registry's (or skopeo's) error. */
export class ImagePullError extends Error {}

export interface GetImageOptions {
  /** Pull even when the name is cached (Image.cached = false). */
  force?: boolean;
  /** Progress lines (pull start, each layer, unpack, done). */
  onProgress?: (line: string) => void;
  /** Stops waiting (the pull itself goes on for others and the cache). */
  signal?: AbortSignal;
}

interface Pull {
  done: Promise<CachedImage>;
  listeners: Set<(line: string) => void>;
}

const hex = (digest: string): string => digest.replace(/^sha256:/, '');
const nameHash = (name: string): string => createHash('sha256').update(name).digest('hex').slice(0, 32);
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export class ImageStore {
  readonly stats = new PullStats();
  private refs = new Map<string, string>();
  private images = new Map<string, CachedImage>();
  private pulls = new Map<string, Pull>();
  private queue: Promise<unknown> = Promise.resolve();
  private closing = new AbortController();
  private readonly layout: string;
  private readonly defaultHost: string;

  constructor(private readonly o: ImageStoreOptions) {
    this.layout = path.join(o.storeDir, 'oci');
    this.defaultHost = parseRegistryUrl(o.registry.defaultRegistry).host;
  }

  /** Creates the store's directories, drops unfinished unpacks and loads what is cached. */
  init(): void {
    for (const d of ['rootfs', 'refs']) fs.mkdirSync(path.join(this.o.storeDir, d), { recursive: true });
    fs.rmSync(path.join(this.o.storeDir, 'tmp'), { recursive: true, force: true });
    fs.mkdirSync(path.join(this.o.storeDir, 'tmp'));
    for (const h of fs.readdirSync(path.join(this.o.storeDir, 'rootfs'))) {
      const dir = path.join(this.o.storeDir, 'rootfs', h);
      try {
        const rec = ImageRecord.parse(JSON.parse(fs.readFileSync(path.join(dir, 'image.json'), 'utf8')));
        this.images.set(rec.digest, this.toImage(rec, dir));
      } catch {
        this.o.log.warn('removing an incomplete image from the store', { dir });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    for (const f of fs.readdirSync(path.join(this.o.storeDir, 'refs'))) {
      try {
        const r = JSON.parse(fs.readFileSync(path.join(this.o.storeDir, 'refs', f), 'utf8')) as { name?: unknown; digest?: unknown };
        if (typeof r.name === 'string' && typeof r.digest === 'string' && this.images.has(r.digest)) this.refs.set(r.name, r.digest);
      } catch {
        // a torn write: that name is pulled again
      }
    }
    if (this.images.size) this.o.log.info('image store', { dir: this.o.storeDir, images: this.images.size });
  }

  /** Parses a name against this store's default registry (throws ValidationError). */
  reference(name: string): ImageReference {
    return parseImageReference(name, this.defaultHost);
  }

  /** Where a name is pulled from (for messages). */
  registryUrl(ref: ImageReference): string {
    return registryEndpoint(ref, this.o.registry).url;
  }

  /** The image, from the cache or pulled (shared with concurrent callers). Rejects with ImagePullError. */
  get(name: string, o: GetImageOptions = {}): Promise<CachedImage> {
    const ref = this.reference(name);
    const cached = !o.force ? this.cached(ref) : undefined;
    if (cached) {
      this.stats.cacheHits++;
      o.onProgress?.(`Using the cached image '${ref.canonical}' (${cached.digest})`);
      return Promise.resolve(cached);
    }
    let pull = this.pulls.get(ref.canonical);
    if (!pull) {
      const listeners = new Set<(line: string) => void>();
      const done = this.pull(ref, (line) => {
        for (const l of listeners) l(line);
      }).finally(() => this.pulls.delete(ref.canonical));
      pull = { done, listeners };
      this.pulls.set(ref.canonical, pull);
    } else {
      o.onProgress?.(`Waiting for the pull of '${ref.canonical}' that is already in progress`);
    }
    const listener = o.onProgress;
    if (listener) pull.listeners.add(listener);
    const p = pull;
    const done = p.done.finally(() => listener && p.listeners.delete(listener));
    return o.signal ? abortable(done, o.signal) : done;
  }

  private cached(ref: ImageReference): CachedImage | undefined {
    const digest = this.refs.get(ref.canonical);
    return digest ? this.images.get(digest) : undefined;
  }

  private pull(ref: ImageReference, say: (line: string) => void): Promise<CachedImage> {
    // One at a time (see the header); a failed pull does not stop the queue.
    const run = this.queue.then(() => this.pullNow(ref, say));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async pullNow(ref: ImageReference, say: (line: string) => void): Promise<CachedImage> {
    const ep = registryEndpoint(ref, this.o.registry);
    const started = this.o.clock.now();
    const log = this.o.log;
    say(`Pulling image '${ref.canonical}' from ${ep.url}`);
    log.info('pulling image', { image: ref.canonical, registry: ep.url });
    const layoutRef = `r${nameHash(ref.canonical)}`;
    const digestFile = path.join(this.o.storeDir, 'tmp', `${this.o.ids.uuid()}.digest`);
    let digest: string;
    try {
      await runTool(
        this.o.skopeo,
        ['copy', `--src-tls-verify=${ep.tlsVerify}`, '--digestfile', digestFile, dockerTransportName(ref), `oci:${this.layout}:${layoutRef}`],
        {
          timeoutMs: this.o.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS,
          signal: this.closing.signal,
          onLine: (line, stream) => {
            if (stream !== 'stdout' || !line.trim()) return;
            say(line.trim());
            log.info('image pull progress', { image: ref.canonical, step: line.trim() });
          },
        },
      );
      digest = fs.readFileSync(digestFile, 'utf8').trim();
      if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new Error(`skopeo reported no manifest digest (got '${digest}')`);
    } catch (e) {
      this.stats.errors++;
      const why = e instanceof ToolError ? skopeoReason(e) : (e as Error).message;
      log.warn('image pull failed', { image: ref.canonical, registry: ep.url, error: why });
      throw new ImagePullError(`Failed to pull image '${ref.canonical}' from ${ep.url}: ${why}`);
    } finally {
      fs.rmSync(digestFile, { force: true });
    }
    let image = this.images.get(digest);
    if (!image) {
      try {
        image = await this.unpack(ref, digest, layoutRef, say);
      } catch (e) {
        this.stats.errors++;
        const why = e instanceof ToolError ? lastMessage(e.stderr) || e.message : (e as Error).message;
        log.warn('image unpack failed', { image: ref.canonical, digest, error: why });
        throw new ImagePullError(`Failed to unpack image '${ref.canonical}' (${digest}): ${why}`);
      }
    }
    await writeJsonAtomic(path.join(this.o.storeDir, 'refs', `${nameHash(ref.canonical)}.json`), { name: ref.canonical, digest });
    this.refs.set(ref.canonical, digest);
    const ms = this.o.clock.now() - started;
    this.stats.pulled(ms);
    say(`Pulled image '${ref.canonical}' (${digest}, ${image.layers} layer(s), ${mb(image.sizeBytes)}) in ${ms} ms`);
    log.info('pulled image', { image: ref.canonical, digest, layers: image.layers, bytes: image.sizeBytes, ms });
    return image;
  }

  private async unpack(ref: ImageReference, digest: string, layoutRef: string, say: (line: string) => void): Promise<CachedImage> {
    const info = readImageFromLayout(this.layout, digest);
    say(`Unpacking image ${digest} (${info.layers} layer(s), ${mb(info.sizeBytes)})`);
    const tmp = path.join(this.o.storeDir, 'tmp', this.o.ids.uuid());
    try {
      await runTool(this.o.umoci, ['unpack', '--image', `${this.layout}:${layoutRef}`, tmp], { timeoutMs: UNPACK_TIMEOUT_MS, signal: this.closing.signal });
      const rec: ImageRecord = { name: ref.canonical, digest, config: info.config, user: readUmociUser(tmp), size_bytes: info.sizeBytes, layers: info.layers };
      await writeJsonAtomic(path.join(tmp, 'image.json'), rec);
      const dir = path.join(this.o.storeDir, 'rootfs', hex(digest));
      fs.renameSync(tmp, dir);
      const image = this.toImage(rec, dir);
      this.images.set(digest, image);
      return image;
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  private toImage(rec: ImageRecord, dir: string): CachedImage {
    return { name: rec.name, digest: rec.digest, rootfs: path.join(dir, 'rootfs'), config: rec.config, user: rec.user, sizeBytes: rec.size_bytes, layers: rec.layers };
  }

  metrics(): Record<string, number> {
    return this.stats.snapshot(this.images.size);
  }

  /** Stops pulls in flight (their tasks fail; nothing half-written is kept). */
  close(): void {
    this.closing.abort();
  }
}

/** skopeo's reason without its "initializing source docker://…:" preamble (the message names the image already). */
function skopeoReason(e: ToolError): string {
  const msg = lastMessage(e.stderr) || e.message;
  return msg.replace(/^initializing source docker:\/\/\S+?: /, '');
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('cancelled'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
