// The pure parts of container images: image names and registries, what runs in a container (Mesos's command
// rules over the image config), its environment and OCI config, which image a TaskInfo asks for, and how
// Marathon's container becomes a ContainerInfo.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerArgs, containerEnv, DEFAULT_PATH } from '../../src/agent/containerizer/command.ts';
import { runtimeSpec } from '../../src/agent/containerizer/oci-spec.ts';
import { taskImage } from '../../src/agent/containerizer/task-image.ts';
import { dockerTransportName, parseImageReference, parseInsecureRegistries, registryEndpoint } from '../../src/agent/images/reference.ts';
import { lastMessage } from '../../src/agent/images/tool.ts';
import { validateTaskForLaunch } from '../../src/agent/task-validation.ts';
import { buildTaskInfo } from '../../src/orchestrator/task-builder.ts';
import type { TaskInfo } from '../../src/protocol/mesos.ts';

const HUB = 'registry-1.docker.io';
const task = (command: TaskInfo['command'], container?: Record<string, unknown>): TaskInfo =>
  ({ name: 't', task_id: { value: 't' }, agent_id: { value: 'a' }, resources: [], command, ...(container ? { container } : {}) }) as TaskInfo;
const dockerImage = (name: string) => ({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name } } } });

describe('image names', () => {
  it('fills in the default registry, library/ and latest as Docker does', () => {
    assert.deepEqual(parseImageReference('busybox', HUB), { registry: HUB, repository: 'library/busybox', tag: 'latest', canonical: `${HUB}/library/busybox:latest` });
    assert.equal(parseImageReference('org/app:1.2', HUB).canonical, `${HUB}/org/app:1.2`);
    const local = parseImageReference('127.0.0.1:5000/team/app:v1', HUB);
    assert.deepEqual([local.registry, local.repository, local.tag], ['127.0.0.1:5000', 'team/app', 'v1']);
    const digest = `sha256:${'a'.repeat(64)}`;
    const byDigest = parseImageReference(`localhost/app@${digest}`, HUB);
    assert.deepEqual([byDigest.registry, byDigest.tag, byDigest.digest], ['localhost', undefined, digest]);
    assert.equal(dockerTransportName(byDigest), `docker://localhost/app@${digest}`);
    assert.equal(dockerTransportName(local), 'docker://127.0.0.1:5000/team/app:v1');
  });

  it('refuses names Docker would refuse, saying why', () => {
    assert.throws(() => parseImageReference('Busybox', HUB), /invalid image name 'Busybox': 'Busybox' is not a valid repository name component/);
    assert.throws(() => parseImageReference('app:bad tag', HUB), /without spaces/);
    assert.throws(() => parseImageReference('app@sha256:xyz', HUB), /not a sha256 digest/);
    assert.throws(() => parseImageReference('', HUB), /non-empty/);
  });

  it('speaks plain HTTP only to loopback, listed or http:// default registries', () => {
    const cfg = (defaultRegistry: string, insecure: string[] = []) => ({ defaultRegistry, insecure: new Set(insecure) });
    const ep = (name: string, c = cfg('https://registry-1.docker.io')) => registryEndpoint(parseImageReference(name, new URL(c.defaultRegistry).host), c);
    assert.deepEqual(ep('busybox'), { host: HUB, url: 'https://registry-1.docker.io', tlsVerify: true });
    assert.equal(ep('127.0.0.1:5000/app').tlsVerify, false);
    assert.equal(ep('localhost:5000/app').url, 'http://localhost:5000');
    assert.equal(ep('registry.lan:5000/app').tlsVerify, true);
    assert.equal(ep('registry.lan:5000/app', cfg('https://registry-1.docker.io', ['registry.lan:5000'])).tlsVerify, false);
    assert.deepEqual(ep('app', cfg('http://10.0.0.5:5000')), { host: '10.0.0.5:5000', url: 'http://10.0.0.5:5000', tlsVerify: false });
    assert.deepEqual(parseInsecureRegistries('a.lan:5000, b'), ['a.lan:5000', 'b']);
    assert.throws(() => parseInsecureRegistries('http://x'), /not a registry host/);
  });
});

describe('what runs in a container', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['--default'], Env: ['PATH=/opt/bin:/bin', 'A=image'], WorkingDir: '/app', User: undefined, StopSignal: undefined };
  it("follows Mesos's rules over the image's entrypoint and cmd", () => {
    assert.deepEqual(containerArgs(task({ value: 'echo hi' }), image), { args: ['/bin/sh', '-c', 'echo hi'], cwd: '/mnt/mesos/sandbox' });
    assert.deepEqual(containerArgs(task({ shell: false, value: '/bin/ls', arguments: ['ls', '-l'] }), image), { args: ['/bin/ls', '-l'], cwd: '/mnt/mesos/sandbox' });
    assert.deepEqual(containerArgs(task({ shell: false }), image), { args: ['/entry', '--default'], cwd: '/app' });
    assert.deepEqual(containerArgs(task({ shell: false, arguments: ['--x'] }), image), { args: ['/entry', '--x'], cwd: '/app' });
    assert.deepEqual(containerArgs(task({ shell: false }), { ...image, Entrypoint: undefined, WorkingDir: undefined }), { args: ['--default'], cwd: '/mnt/mesos/sandbox' });
    assert.match((containerArgs(task({ shell: false }), { ...image, Entrypoint: undefined, Cmd: undefined }) as { error: string }).error, /neither an entrypoint nor a cmd/);
  });

  it("puts the task's variables over the image's, keeps the image's PATH, and the sandbox as seen inside", () => {
    const t = task({ value: 'x', environment: { variables: [{ name: 'A', value: 'task' }] } });
    const env = containerEnv(image.Env, { PATH: '/host/bin', HOME: '/home/x', A: 'task', MESOS_SANDBOX: '/var/lib/x', PORT0: '31000' }, t);
    assert.deepEqual(env.sort(), ['A=task', 'MESOS_SANDBOX=/mnt/mesos/sandbox', 'PATH=/opt/bin:/bin', 'PORT0=31000'].sort());
    assert.ok(containerEnv([], {}, task({ value: 'x' })).includes(`PATH=${DEFAULT_PATH}`));
    const explicit = task({ value: 'x', environment: { variables: [{ name: 'PATH', value: '/mine' }] } });
    assert.ok(containerEnv(image.Env, { PATH: '/mine' }, explicit).includes('PATH=/mine'));
  });

  it('builds an OCI config with host networking, the sandbox mount, and the cgroup limits', () => {
    const spec = runtimeSpec({
      args: ['/bin/sh', '-c', 'true'],
      env: ['A=1'],
      cwd: '/mnt/mesos/sandbox',
      user: { uid: 65534, gid: 65534 },
      sandbox: '/work/s',
      cgroupsPath: '/corral/c1',
      limits: { cpus: 0.5, memBytes: 64 * 1024 * 1024, memMb: 64, pidsMax: 100, cfs: true },
      hostFiles: ['/etc/resolv.conf'],
    }) as any;
    assert.equal(spec.process.terminal, false);
    assert.deepEqual(spec.process.user, { uid: 65534, gid: 65534 });
    assert.deepEqual(spec.process.capabilities.effective, [], 'a non-root user gets no capabilities');
    assert.deepEqual(spec.linux.namespaces.map((n: any) => n.type), ['pid', 'ipc', 'mount']);
    assert.equal(spec.linux.cgroupsPath, '/corral/c1');
    assert.deepEqual(spec.linux.resources.memory, { limit: 64 * 1024 * 1024 });
    assert.deepEqual(spec.linux.resources.cpu, { shares: 512, quota: 50_000, period: 100_000 });
    assert.deepEqual(spec.linux.resources.pids, { limit: 100 });
    assert.deepEqual(spec.mounts.find((m: any) => m.destination === '/mnt/mesos/sandbox'), { destination: '/mnt/mesos/sandbox', type: 'bind', source: '/work/s', options: ['rbind', 'rw'] });
    assert.ok(spec.mounts.some((m: any) => m.destination === '/etc/resolv.conf' && m.options.includes('ro')));
  });
});

describe('which image a task asks for', () => {
  it('reads MESOS and DOCKER containers, refuses APPC', () => {
    assert.equal(taskImage(task({ value: 'x' })), undefined);
    assert.equal(taskImage(task({ value: 'x' }, { type: 'MESOS' })), undefined);
    assert.deepEqual(taskImage(task({ value: 'x' }, dockerImage('busybox'))), { name: 'busybox', cached: true });
    assert.deepEqual(taskImage(task({ value: 'x' }, { type: 'DOCKER', docker: { image: 'b', force_pull_image: true } })), { name: 'b', cached: false });
    assert.match((taskImage(task({ value: 'x' }, { type: 'MESOS', mesos: { image: { type: 'APPC', appc: {} } } })) as { error: string }).error, /APPC/);
    assert.match((taskImage(task({ value: 'x' }, { type: 'DOCKER' })) as { error: string }).error, /docker.image is required/);
  });

  it('lets an image task leave its executable to the image; validates the name', () => {
    assert.equal(validateTaskForLaunch(task({ shell: false }, dockerImage('busybox'))), undefined);
    assert.match(validateTaskForLaunch(task({ shell: false }))!, /Executable of task is not specified/);
    assert.match(validateTaskForLaunch(task({ value: 'x' }, dockerImage('UPPER')))!, /^Task uses an invalid image name 'UPPER'/);
  });
});

describe("Marathon's container", () => {
  const spec = (app: Record<string, unknown>) => buildTaskInfo({ app: { id: '/a', instances: 1, cpus: 0.1, mem: 32, ...app } as any, taskId: 'a.1', agentId: 'ag', hostPorts: [] });
  it('becomes mesos.image (MESOS) or docker.image (DOCKER), with args after the entrypoint', () => {
    const m = spec({ cmd: 'echo', container: { type: 'MESOS', docker: { image: 'busybox', forcePullImage: true, privileged: false, parameters: [] }, volumes: [] } });
    assert.deepEqual(m.container, { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'busybox' }, cached: false } } });
    assert.deepEqual([m.command!.shell, m.command!.value], [true, 'echo']);
    const d = spec({ args: ['--port', '80'], container: { type: 'DOCKER', docker: { image: 'nginx', forcePullImage: false, privileged: false, parameters: [] }, volumes: [] } });
    assert.deepEqual(d.container, { type: 'DOCKER', docker: { image: 'nginx', network: 'HOST', privileged: false, force_pull_image: false } });
    assert.deepEqual([d.command!.shell, d.command!.value, d.command!.arguments], [false, undefined, ['--port', '80']]);
    const e = spec({ container: { type: 'MESOS', docker: { image: 'busybox', forcePullImage: false, privileged: false, parameters: [] }, volumes: [] } });
    assert.deepEqual([e.command!.shell, e.command!.value], [false, undefined], 'no cmd: the image runs its own');
    assert.equal(spec({ cmd: 'true' }).container, undefined);
  });
});

describe('tool errors', () => {
  it("takes the message of a Go tool's fatal log line", () => {
    const stderr = 'time="2026-01-01T00:00:00Z" level=fatal msg="initializing source docker://h/x:1: reading manifest 1 in h/x: manifest unknown: manifest unknown"\n';
    assert.equal(lastMessage(stderr), 'initializing source docker://h/x:1: reading manifest 1 in h/x: manifest unknown: manifest unknown');
    assert.equal(lastMessage('plain failure\n\n'), 'plain failure');
  });
});
