// Tasks with a container image on a real agent (in this process) against a fake master: the image comes from
// a real registry on 127.0.0.1 (docker-registry) and runs with runc in the image's root filesystem, the
// sandbox mounted at /mnt/mesos/sandbox; pulls are shared and cached; a missing image fails the task in
// Mesos's words; kills, OOM kills and the image's own command behave as with Mesos's containerizer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentHandle } from '../../src/agent/index.ts';
import type { TaskInfo } from '../../src/protocol/mesos.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, FakeMaster, waitUntil } from '../support/fake-master.ts';
import { serveArtifacts, type ArtifactServer } from './fetcher-artifacts.ts';
import { containersUnsupported, IMAGE_MARKER, mountsUnder, runcList, startTestRegistry, type TestRegistry } from './containers-registry.ts';

let master: FakeMaster;
let agent: AgentHandle;
let workDir: string;
let registry: TestRegistry;
let files: ArtifactServer;
let image: string;

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST'];
const terminal = (id: string, timeoutMs = 15_000) =>
  master.waitFor(() => master.statusesOf(id).find((s) => TERMINAL.includes(s.state)), `${id} to end`, timeoutMs);

async function sandboxOf(taskId: string): Promise<string> {
  const state = (await (await fetch(agent.url + '/state')).json()) as any;
  for (const fw of [...state.frameworks, ...state.completed_frameworks])
    for (const ex of [...fw.executors, ...fw.completed_executors]) if (ex.id === taskId) return ex.directory as string;
  throw new Error(`no executor for ${taskId} in /state`);
}
const read = async (taskId: string, file: string) => fs.readFileSync(path.join(await sandboxOf(taskId), file), 'utf8');
const metrics = async () => (await (await fetch(agent.url + '/metrics/snapshot')).json()) as Record<string, number>;

function imageTask(id: string, name: string, command: Parameters<typeof commandTask>[1], extra: Partial<TaskInfo> = {}): TaskInfo {
  const t = commandTask(id, command, { container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name } } } }, ...extra });
  t.resources = [
    { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
    { name: 'mem', type: 'SCALAR', scalar: { value: 64 } },
  ] as TaskInfo['resources'];
  return t;
}

describe('container images: tasks run in an image pulled from a local registry', { timeout: 60_000, skip: containersUnsupported() }, () => {
  before(async () => {
    registry = await startTestRegistry();
    image = registry.push('busybox', '1');
    files = await serveArtifacts(new Map([['/input.txt', Buffer.from('fetched into the sandbox\n')]]));
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-containers-'));
    agent = await startAgent({ masterUrl: master.url, workDir, port: 0, log: silentLogger, resources: 'cpus:4;mem:4096;disk:1000' });
    await agent.registered();
  });
  after(async () => {
    await agent?.close({ killTasks: true });
    await master?.close();
    await files?.close();
    await registry?.close();
    if (workDir) {
      // Deletions run in the background after the last tasks ended.
      await waitUntil(() => runcList(workDir).length === 0 && mountsUnder(workDir).length === 0, 'containers to be deleted', 10_000).catch(() => undefined);
      if (!mountsUnder(workDir).length) fs.rmSync(workDir, { recursive: true, force: true });
    }
    assert.deepEqual(master.invalid, [], 'the agent sent messages the master schema rejects');
  });

  it("runs two tasks launched together in the image's root filesystem with one pull, sandbox mounted", async () => {
    const cmd = 'cat /etc/corral-image && cat input.txt && echo "sandbox=$MESOS_SANDBOX pwd=$(pwd) var=$IMAGE_VAR uid=$(id -u)" && test ! -e /etc/debian_version';
    const uris = [{ value: `${files.url}/input.txt` }];
    await master.runTask(imageTask('c-1', image, { value: cmd, uris } as any));
    await master.runTask(imageTask('c-2', image, { value: cmd, uris } as any));
    for (const id of ['c-1', 'c-2']) {
      const end = await terminal(id);
      assert.equal(end.state, 'TASK_FINISHED', `${id}: ${end.message} / stderr: ${await read(id, 'stderr')}`);
      assert.deepEqual(master.statesOf(id), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
      assert.equal(await read(id, 'stdout'), `${IMAGE_MARKER}\nfetched into the sandbox\nsandbox=/mnt/mesos/sandbox pwd=/mnt/mesos/sandbox var=from-image uid=0\n`);
    }
    assert.equal(registry.manifestGets('busybox'), 1, 'two concurrent launches, one pull');
    const stderr = (await read('c-1', 'stderr')) + (await read('c-2', 'stderr'));
    assert.match(stderr, new RegExp(`provisioner: Pulling image '${image.replace(/[.]/g, '\\.')}' from ${registry.url.replace(/[.]/g, '\\.')}`));
    assert.match(stderr, /provisioner: Pulled image .* \(sha256:[0-9a-f]{64}, 1 layer\(s\), [0-9.]+ MB\) in \d+ ms/);
    const m = await metrics();
    assert.equal(m['slave/image_pulls'], 1);
    assert.ok(m['slave/image_pull_ms']! > 0);
    assert.equal(m['slave/images_cached'], 1);
  });

  it('starts a later task from the cache (no registry request) and runs the image cmd when the task gives none', async () => {
    const before = registry.manifestGets('busybox');
    await master.runTask(imageTask('c-cached', image, { shell: false }));
    const end = await terminal('c-cached');
    assert.equal(end.state, 'TASK_FINISHED', end.message);
    assert.equal(await read('c-cached', 'stdout'), 'hello from the image cmd\n');
    assert.match(await read('c-cached', 'stderr'), /provisioner: Using the cached image/);
    assert.equal(registry.manifestGets('busybox'), before, 'the cached image is not looked up again');
    const m = await metrics();
    assert.equal(m['slave/image_pulls'], 1);
    assert.ok(m['slave/image_cache_hits']! >= 1);
  });

  it('fails a task whose image is not in the registry: TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED naming it', async () => {
    const missing = `${registry.host}/no-such-image:7`;
    await master.runTask(imageTask('c-missing', missing, 'echo should-not-run'));
    const failed = await master.waitForState('c-missing', 'TASK_FAILED', 15_000);
    assert.equal(failed.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.equal(failed.source, 'SOURCE_AGENT');
    assert.ok(failed.message!.startsWith(`Failed to launch container: Failed to pull image '${missing}' from ${registry.url}: `), failed.message);
    assert.match(failed.message!, /manifest unknown/);
    assert.deepEqual(master.statesOf('c-missing'), ['TASK_STARTING', 'TASK_FAILED']);
    const m = await metrics();
    assert.ok(m['slave/image_pull_errors']! >= 1);
    assert.ok(m['slave/container_launch_errors']! >= 1);
  });

  it('refuses an invalid image name and an APPC image as TASK_ERROR', async () => {
    await master.runTask(imageTask('c-badname', 'Not A Name', 'true'));
    const bad = await master.waitForState('c-badname', 'TASK_ERROR');
    assert.match(bad.message!, /invalid image name 'Not A Name'/);
    const appc = commandTask('c-appc', 'true', { container: { type: 'MESOS', mesos: { image: { type: 'APPC', appc: { name: 'x' } } } } });
    await master.runTask(appc);
    assert.match((await master.waitForState('c-appc', 'TASK_ERROR')).message!, /APPC images are not supported/);
  });

  it('kills a container task (TASK_KILLED) and deletes its container and root filesystem', async () => {
    await master.runTask(imageTask('c-kill', image, "trap 'echo got-term; exit 0' TERM; echo started; sleep 600 & wait"));
    await master.waitForState('c-kill', 'TASK_RUNNING');
    const dir = await sandboxOf('c-kill');
    await waitUntil(() => fs.existsSync(path.join(dir, 'stdout')) && fs.readFileSync(path.join(dir, 'stdout'), 'utf8').includes('started'), 'the container to start');
    const id = master.statusesOf('c-kill').at(-1)!.container_status!.container_id as { value: string };
    assert.deepEqual(
      runcList(workDir).filter((c) => c.id === id.value).map((c) => c.status),
      ['running'],
    );
    await master.killTask('c-kill', { gracePeriodMs: 5000 });
    const killed = await terminal('c-kill');
    assert.equal(killed.state, 'TASK_KILLED', killed.message);
    assert.equal(fs.readFileSync(path.join(dir, 'stdout'), 'utf8'), 'started\ngot-term\n', 'SIGTERM reached the container');
    await waitUntil(() => !runcList(workDir).some((c) => c.id === id.value), 'runc to forget the container');
    await waitUntil(() => !fs.existsSync(path.join(workDir, 'provisioner', 'containers', id.value)) && !mountsUnder(path.join(workDir, 'provisioner')).length, 'the root filesystem to be removed');
  });

  it('reports an OOM kill inside the container as REASON_CONTAINER_LIMITATION_MEMORY', async () => {
    const t = imageTask('c-oom', image, 'head -c 200000000 /dev/zero | tail > /dev/null');
    t.resources = [{ name: 'mem', type: 'SCALAR', scalar: { value: 32 } }] as TaskInfo['resources'];
    await master.runTask(t);
    const failed = await terminal('c-oom');
    assert.equal(failed.state, 'TASK_FAILED', failed.message);
    assert.equal(failed.reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
    assert.match(failed.message!, /Memory limit exceeded/);
  });
});
