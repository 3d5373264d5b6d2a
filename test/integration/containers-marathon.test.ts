// Marathon apps with container.docker.image through the Marathon v2 API on a real in-process cluster (master,
// agent, orchestrator): type MESOS with a cmd, and type DOCKER with args (which go after the image's
// entrypoint, as with `docker run`) both run in the image from the local registry; a missing image shows in
// lastTaskFailure in Mesos's words.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/cluster.ts';
import { startMarathonCluster, type MarathonCluster } from '../support/marathon-cluster.ts';
import { containersUnsupported, IMAGE_MARKER, startTestRegistry, type TestRegistry } from './containers-registry.ts';

describe('Marathon container.docker.image on a real cluster', { timeout: 60_000, skip: containersUnsupported() }, () => {
  let mc: MarathonCluster;
  let registry: TestRegistry;
  let image: string;

  const call = (method: string, path: string, body?: unknown) => mc.call(method, path, body);
  const sandboxOfApp = (appId: string) => mc.sandboxOfApp(appId);
  const fileIn = (dir: string, name: string, until: string) =>
    eventually(() => fs.existsSync(`${dir}/${name}`) && fs.readFileSync(`${dir}/${name}`, 'utf8').includes(until) && fs.readFileSync(`${dir}/${name}`, 'utf8'), 15_000, `${name} in ${dir}`);

  before(async () => {
    registry = await startTestRegistry();
    image = registry.push('web', '2');
    mc = await startMarathonCluster();
  });
  after(async () => {
    await mc?.stop();
    await registry?.close();
  });

  test('MESOS and DOCKER containers with an image run in it', async () => {
    const mesosApp = {
      id: '/images/mesos',
      cmd: 'cat /etc/corral-image > out.txt && echo "port=$PORT0" >> out.txt && exec sleep 600',
      instances: 1,
      cpus: 0.1,
      mem: 64,
      container: { type: 'MESOS', docker: { image } },
    };
    const dockerApp = {
      id: '/images/docker',
      args: ['sh', '-c', 'cat /etc/corral-image > out.txt && exec sleep 600'],
      instances: 1,
      cpus: 0.1,
      mem: 64,
      portDefinitions: [],
      container: { type: 'DOCKER', docker: { image } },
    };
    assert.equal((await call('POST', '/v2/apps', mesosApp)).status, 201);
    assert.equal((await call('POST', '/v2/apps', dockerApp)).status, 201);
    const mesosDir = await eventually(() => sandboxOfApp('/images/mesos'), 20_000, '/images/mesos to run');
    assert.match(await fileIn(mesosDir, 'out.txt', 'port='), new RegExp(`^${IMAGE_MARKER}\\nport=\\d+\\n$`));
    const dockerDir = await eventually(() => sandboxOfApp('/images/docker'), 20_000, '/images/docker to run');
    assert.equal(await fileIn(dockerDir, 'out.txt', IMAGE_MARKER), `${IMAGE_MARKER}\n`);
    assert.equal(registry.manifestGets('web'), 1, 'both apps share one pull');
    assert.equal((await call('DELETE', '/v2/apps/images/mesos')).status, 200);
    assert.equal((await call('DELETE', '/v2/apps/images/docker')).status, 200);
  });

  test('a missing image shows in lastTaskFailure with the image and the registry', async () => {
    const missing = `${registry.host}/absent:1`;
    const app = { id: '/images/missing', cmd: 'sleep 600', instances: 1, cpus: 0.1, mem: 64, portDefinitions: [], container: { type: 'MESOS', docker: { image: missing } } };
    assert.equal((await call('POST', '/v2/apps', app)).status, 201);
    const failure = await eventually(async () => (await call('GET', '/v2/apps/images/missing?embed=app.lastTaskFailure')).json.app.lastTaskFailure, 20_000, 'a lastTaskFailure');
    assert.equal(failure.state, 'TASK_FAILED');
    assert.ok(failure.message.includes(`Failed to pull image '${missing}' from ${registry.url}`), failure.message);
    assert.equal((await call('DELETE', '/v2/apps/images/missing?force=true')).status, 200);
  });
});
