// Persistent volumes end to end over real HTTP, with a real master and agent process: one ACCEPT
// reserves disk, creates a volume on it and launches a task that writes into the volume; the volume
// outlives the task and is offered back to its role with disk.persistence; a second task on the
// re-offered volume reads the data; DESTROY is refused while a task uses the volume and removes the
// directory once none does. Also: container_path traversal is refused at the boundary.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Offer } from '../../src/protocol/mesos.ts';
import { Cleanup, eventually, executorPidOf, getJson, killGroup, readSandboxFile, startAgentProc, startKernelMaster, tempDir } from '../support/kernel-harness.ts';
import { RoleFramework, postForm, scalar, task } from './reservations-support.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const VOLUME = { id: 'vol1', path: 'data' };
const volumeIn = (o: Offer) => o.resources.find((r: any) => r.disk?.persistence?.id === VOLUME.id);

describe('persistent volumes', () => {
  it('CREATE → task writes → volume offered back → task 2 reads the data → DESTROY', async () => {
    const dir = tempDir(cleanup);
    const workDir = path.join(dir, 'agent');
    const m = await startKernelMaster(cleanup, path.join(dir, 'master'));
    const agent = await startAgentProc(cleanup, { master: m.url, workDir, resources: 'cpus:2;mem:512;disk:200' });
    const ops = new RoleFramework(m.url, { role: 'ops' });
    cleanup.add('close framework', () => ops.close());
    await ops.subscribe();

    // RESERVE + CREATE + LAUNCH in one ACCEPT: the task uses the volume made just before it.
    const first = await ops.takeOffer(() => true, 'a first offer');
    const alloc = { alloc: 'ops' };
    const vol = scalar('disk', 64, { role: 'ops', ...alloc, volume: VOLUME });
    await ops.accept(first, [
      { type: 'RESERVE', reserve: { resources: [scalar('disk', 64, { role: 'ops', ...alloc })] } } as any,
      { type: 'CREATE', create: { volumes: [vol] } } as any,
      { type: 'LAUNCH', launch: { task_infos: [task('writer', agent.agentId, 'echo hello-from-writer > data/greeting', [scalar('cpus', 0.1, alloc), scalar('mem', 32, alloc), vol])] } },
    ]);
    await ops.waitForState('writer', 'TASK_FINISHED');
    const volumeDir = path.join(workDir, 'volumes', 'roles', 'ops', VOLUME.id);
    assert.equal(fs.readFileSync(path.join(volumeDir, 'greeting'), 'utf8'), 'hello-from-writer\n');

    // The volume is offered back to ops, whole, with its persistence id and container path.
    const again = await ops.takeOffer((o) => volumeIn(o) !== undefined, 'the volume to be offered back');
    const offeredVolume: any = volumeIn(again);
    assert.deepEqual(offeredVolume.disk, { persistence: { id: VOLUME.id }, volume: { container_path: 'data', mode: 'RW' } });
    assert.deepEqual(offeredVolume.reservations, [{ type: 'DYNAMIC', role: 'ops' }]);
    assert.equal(offeredVolume.scalar.value, 64);
    const slaves = await getJson(`${m.url}/master/slaves`);
    assert.equal(slaves.slaves[0].reserved_resources_full.ops[0].disk.persistence.id, VOLUME.id);

    // A second task on the re-offered volume reads what the first wrote, then stays up.
    await ops.accept(again, [
      { type: 'LAUNCH', launch: { task_infos: [task('reader', agent.agentId, 'cat data/greeting; exec sleep 60', [scalar('cpus', 0.1, alloc), scalar('mem', 32, alloc), offeredVolume])] } },
    ]);
    const running = await ops.waitForState('reader', 'TASK_RUNNING');
    cleanup.add('kill reader', () => killGroup(executorPidOf(running)!));
    const out = await eventually(async () => (await readSandboxFile(agent.url, ops.frameworkId!, 'reader', 'stdout')) || undefined, 5000, 'the reader output');
    assert.equal(out, 'hello-from-writer\n');

    // DESTROY while the reader uses the volume: 409; after it is killed: accepted, the directory goes.
    const destroy = () => postForm(`${m.url}/master/destroy-volumes`, { slaveId: agent.agentId, volumes: JSON.stringify([scalar('disk', 64, { role: 'ops', volume: VOLUME })]) });
    assert.equal((await destroy()).status, 409);
    await ops.client.kill('reader', agent.agentId);
    await ops.waitForState('reader', 'TASK_KILLED');
    const destroyed = await destroy();
    assert.equal(destroyed.status, 202, destroyed.text);
    await eventually(() => !fs.existsSync(volumeDir), 5000, 'the volume directory to be removed');
    const after = (await getJson(`${m.url}/master/slaves`)).slaves[0];
    assert.deepEqual(after.reserved_resources.ops, { cpus: 0, gpus: 0, mem: 0, disk: 64 });
    assert.ok(!after.reserved_resources_full.ops.some((r: any) => r.disk?.persistence), 'no volume left');
  });

  it('create-volumes refuses container paths that leave the sandbox, and volumes on unreserved disk', async () => {
    const dir = tempDir(cleanup);
    const m = await startKernelMaster(cleanup, path.join(dir, 'master'));
    const agent = await startAgentProc(cleanup, { master: m.url, workDir: path.join(dir, 'agent'), resources: 'cpus:1;mem:256;disk(ops):100;disk:100' });
    const create = (v: unknown) => postForm(`${m.url}/master/create-volumes`, { slaveId: agent.agentId, volumes: JSON.stringify([v]) });
    const staticVolume = (p: string) => ({ ...scalar('disk', 10), role: 'ops', disk: { persistence: { id: 'v' }, volume: { container_path: p, mode: 'RW' } } });
    for (const bad of ['../escape', '/etc', 'a/../../b', '.']) {
      const res = await create(staticVolume(bad));
      assert.equal(res.status, 400, `${bad}: ${res.text}`);
    }
    assert.equal((await create(scalar('disk', 10, { volume: { id: 'v', path: 'd' } }))).status, 400);
    // A good one on the static reservation (pre-refinement `role` format) works.
    const ok = await create(staticVolume('state/db'));
    assert.equal(ok.status, 202, ok.text);
    assert.equal((await create(staticVolume('other'))).status, 400, 'the persistence id is taken');
  });
});
