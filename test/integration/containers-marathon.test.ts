// Marathon apps with container.docker.image through the Marathon v2 API on a real in-process cluster (master,
// agent, orchestrator): type MESOS with a cmd, and type DOCKER with args (which go after the image's
// entrypoint, as with `docker run`) both run in the image from the local registry; a missing image shows in
// lastTaskFailure in Mesos's words.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startOrchestratorServer, type OrchestratorServer } from '../../src/orchestrator/api/server.ts';
import { startOrchestrator } from '../../src/orchestrator/index.ts';
import type { OrchestratorService } from '../../src/orchestrator/service.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore, type Store } from '../../src/store/index.ts';
import { eventually, startInProcessCluster, testPortRange, type InProcessCluster } from '../support/cluster.ts';
import { containersUnsupported, IMAGE_MARKER, startTestRegistry, type TestRegistry } from './containers-registry.ts';

describe('Marathon container.docker.image on a real cluster', { timeout: 60_000, skip: containersUnsupported() }, () => {
  let cluster: InProcessCluster;
  let store: Store;
  let service: OrchestratorService;
  let api: OrchestratorServer;
  let registry: TestRegistry;
  let image: string;

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(api.url + path, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };

  /** The sandbox of the app's running task (from the agent's /state). */
  const sandboxOfApp = async (appId: string): Promise<string | undefined> => {
    const { json } = await call('GET', `/v2/apps${appId}`);
    const taskId = json.app.tasks?.find((t: any) => t.state === 'TASK_RUNNING')?.id;
    if (!taskId) return undefined;
    const state = (await (await fetch(cluster.agentUrls[0] + '/state')).json()) as any;
    for (const fw of state.frameworks) for (const ex of fw.executors) if (ex.id === taskId) return ex.directory as string;
    return undefined;
  };
  const fileIn = (dir: string, name: string, until: string) =>
    eventually(() => fs.existsSync(`${dir}/${name}`) && fs.readFileSync(`${dir}/${name}`, 'utf8').includes(until) && fs.readFileSync(`${dir}/${name}`, 'utf8'), 15_000, `${name} in ${dir}`);

  before(async () => {
    registry = await startTestRegistry();
    image = registry.push('web', '2');
    cluster = await startInProcessCluster({ agents: 1, agent: { resources: `cpus:2;mem:2048;disk:1000;ports:[${testPortRange()}]` } });
    store = createMemoryStore();
    service = await startOrchestrator({ masterUrl: cluster.masterUrl, store, tickIntervalMs: 200, log: silentLogger });
    api = await startOrchestratorServer({ service, port: 0 });
  });
  after(async () => {
    await api?.close();
    await service?.close();
    await store?.close();
    await cluster?.stop();
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
