// A real image registry for the container tests: Debian's `docker-registry` (Distribution) on a free
// 127.0.0.1 port with its storage in a temp dir, holding a busybox image built here from the static busybox
// (busybox-static) with umoci, pushed with skopeo. Nothing comes from the internet. The registry's access
// log is kept so a test can count the manifest requests (pulls) per repository.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** What the image built here holds at /etc/corral-image: proof that a task sees the image, not the host. */
export const IMAGE_MARKER = 'corral-test-image busybox';
/** The image's Cmd (run when a task gives no command of its own). */
export const IMAGE_CMD = ['echo', 'hello from the image cmd'];

export interface TestRegistry {
  /** host:port */
  host: string;
  url: string;
  /** GET /v2/<repo>/manifests/... requests the registry has served so far. */
  manifestGets(repo: string): number;
  /** Pushes the test image as <repo>:<tag>; returns its name (host/repo:tag). */
  push(repo: string, tag: string): string;
  close(): Promise<void>;
}

function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

const busyboxPath = (): string => ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p)) ?? 'busybox';

/** Builds the busybox image into an OCI layout `<dir>/layout:base`. */
function buildImage(dir: string): string {
  const layout = path.join(dir, 'layout');
  const bundle = path.join(dir, 'bundle');
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:base`]);
  run('umoci', ['unpack', '--image', `${layout}:base`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'root']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  // The image has no libc: only a static busybox runs in it.
  if (fs.readFileSync(busyboxPath()).subarray(0, 4096).includes('ld-linux')) throw new Error(`${busyboxPath()} is dynamically linked: install busybox-static`);
  fs.copyFileSync(busyboxPath(), path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = spawnSync(path.join(rootfs, 'bin', 'busybox'), ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  if (!applets.includes('sh')) throw new Error('the busybox copied into the image has no sh applet (is busybox-static installed?)');
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  fs.writeFileSync(path.join(rootfs, 'etc', 'corral-image'), IMAGE_MARKER + '\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  run('umoci', ['repack', '--image', `${layout}:base`, bundle]);
  run('umoci', ['config', '--image', `${layout}:base`, ...IMAGE_CMD.flatMap((c) => ['--config.cmd', c]), '--config.env', 'IMAGE_VAR=from-image']);
  return layout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startTestRegistry(): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-registry-'));
  const layout = buildImage(dir);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  fs.mkdirSync(path.join(dir, 'storage'));
  fs.writeFileSync(
    path.join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'storage')}\nhttp:\n  addr: ${host}\n`,
  );
  let log = '';
  const child: ChildProcess = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const close = async () => {
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`docker-registry did not start on ${host}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    url: `http://${host}`,
    manifestGets: (repo) => log.split('\n').filter((l) => l.includes(`"GET /v2/${repo}/manifests/`)).length,
    push(repo, tag) {
      run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:base`, `docker://${host}/${repo}:${tag}`]);
      return `${host}/${repo}:${tag}`;
    },
    close,
  };
}

/** runc's containers under an agent's work dir (`runc --root <work>/runc list`). */
export function runcList(workDir: string): { id: string; status: string }[] {
  // `runc list` fails when a container's state directory vanishes while it reads them (a deletion racing it).
  for (let attempt = 0; ; attempt++) {
    const r = spawnSync('runc', ['--root', path.join(workDir, 'runc'), 'list', '--format', 'json'], { encoding: 'utf8' });
    if (r.status !== 0) {
      if (attempt < 5 && /no such file or directory/.test(r.stderr)) continue;
      throw new Error(`runc list failed: ${r.stderr}`);
    }
    const text = r.stdout.trim();
    return text && text !== 'null' ? (JSON.parse(text) as { id: string; status: string }[]) : [];
  }
}

/** Mounts under a directory, from this process's mountinfo (overlay root filesystems left behind). */
export function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir + '/'));
}

/** Why these tests cannot run here (runc needs root), or undefined. Missing tools are failures, not skips: scripts/install-deps.sh installs them. */
export function containersUnsupported(): string | undefined {
  return process.geteuid?.() !== 0 ? 'container images need root (runc)' : undefined;
}
