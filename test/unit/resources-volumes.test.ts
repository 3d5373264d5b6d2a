// The agent's checkpointed resources (src/agent/volumes.ts) on a real temp dir: durable updates,
// volume directories created and removed, a restart reading the same state back, refusing a
// checkpoint that no longer fits --resources, and linking volumes into a sandbox without ever
// leaving it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointedResources, resourcesCheckpointPath, volumePath } from '../../src/agent/volumes.ts';
import { parseResourceString, resourcesEqual, type MesosResource } from '../../src/core/resources.ts';
import { ValidationError } from '../../src/protocol/errors.ts';
import { silentLogger } from '../../src/runtime/log.ts';

const STATIC = parseResourceString('cpus:2;mem:512;disk:100');
const reserved = (name: string, value: number, extra: Partial<MesosResource> = {}): MesosResource => ({
  name,
  type: 'SCALAR',
  scalar: { value },
  reservations: [{ type: 'DYNAMIC', role: 'ops' }],
  ...extra,
});
const vol = (id: string, containerPath: string, value = 10): MesosResource =>
  reserved('disk', value, { disk: { persistence: { id }, volume: { container_path: containerPath, mode: 'RW' } } });

function workDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-volumes-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('updates are durable, create and remove volume directories, and survive a restart', async (t) => {
  const work = workDir(t);
  const store = new CheckpointedResources(work, STATIC, silentLogger);
  assert.ok(resourcesEqual(store.total(), STATIC));
  assert.deepEqual(store.wire(), []);

  await store.update([reserved('cpus', 1), vol('v1', 'data'), vol('v2', 'logs', 20)]);
  assert.ok(fs.statSync(volumePath(work, 'ops', 'v1')).isDirectory());
  assert.ok(fs.statSync(volumePath(work, 'ops', 'v2')).isDirectory());
  assert.equal(JSON.parse(fs.readFileSync(resourcesCheckpointPath(work), 'utf8')).resources.length, 3);
  assert.deepEqual(store.total().scalars, { cpus: 1, mem: 512, disk: 70, 'cpus@ops~': 1, 'disk@ops~#v1:data:RW': 10, 'disk@ops~#v2:logs:RW': 20 });
  fs.writeFileSync(path.join(volumePath(work, 'ops', 'v1'), 'keep'), 'data');

  // A restarted agent reads the same state back (and keeps the data).
  const restarted = new CheckpointedResources(work, STATIC, silentLogger);
  assert.ok(resourcesEqual(restarted.total(), store.total()));
  assert.equal(fs.readFileSync(path.join(volumePath(work, 'ops', 'v1'), 'keep'), 'utf8'), 'data');

  // DESTROY of v2 (the master sends the whole new set): its directory goes, v1 stays.
  await restarted.update([reserved('cpus', 1), vol('v1', 'data'), reserved('disk', 20)]);
  assert.equal(fs.existsSync(volumePath(work, 'ops', 'v2')), false);
  assert.ok(fs.existsSync(volumePath(work, 'ops', 'v1')));

  // A set that does not fit the static resources is refused and changes nothing.
  await assert.rejects(async () => restarted.update([reserved('cpus', 5)]), ValidationError);
  assert.equal(JSON.parse(fs.readFileSync(resourcesCheckpointPath(work), 'utf8')).resources.length, 3);
});

test('a checkpoint that no longer fits --resources stops the agent from starting', async (t) => {
  const work = workDir(t);
  await new CheckpointedResources(work, STATIC, silentLogger).update([reserved('cpus', 2)]);
  assert.throws(() => new CheckpointedResources(work, parseResourceString('cpus:1;mem:512;disk:100'), silentLogger), /do not fit --resources/);
});

test('volumes are linked into the sandbox at container_path, never outside it', async (t) => {
  const work = workDir(t);
  const store = new CheckpointedResources(work, STATIC, silentLogger);
  await store.update([vol('v1', 'data'), vol('v2', 'data/inner')]);
  const sandbox = path.join(work, 'sandbox');
  fs.mkdirSync(sandbox);

  assert.equal(store.linkVolumes({ resources: [vol('v1', 'data')] as never }, sandbox), undefined);
  assert.equal(fs.readlinkSync(path.join(sandbox, 'data')), volumePath(work, 'ops', 'v1'));
  fs.writeFileSync(path.join(sandbox, 'data', 'x'), 'through the link');
  assert.equal(fs.readFileSync(path.join(volumePath(work, 'ops', 'v1'), 'x'), 'utf8'), 'through the link');

  // Unknown volume, traversal in container_path, and a path through another volume's link: refused.
  assert.match(store.linkVolumes({ resources: [vol('nope', 'n')] as never }, sandbox)!, /does not exist/);
  assert.match(store.linkVolumes({ resources: [vol('v1', '../escape')] as never }, sandbox)!, /'\.\.'/);
  assert.match(store.linkVolumes({ resources: [vol('v2', 'data/inner')] as never }, sandbox)!, /leaves the sandbox/);
  assert.equal(fs.existsSync(path.join(volumePath(work, 'ops', 'v1'), 'inner')), false);
});
