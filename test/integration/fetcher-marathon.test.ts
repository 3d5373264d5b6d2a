// Marathon `fetch` (and legacy `uris`) through the Marathon v2 API against a real in-process cluster (master,
// agent, orchestrator, API server): the artifacts come from a local HTTP server on 127.0.0.1, the instance runs
// with them in its sandbox, a missing artifact shows up in lastTaskFailure in Mesos's words, and a fetch entry
// without a uri is a 422 in Marathon's shape.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/cluster.ts';
import { startMarathonCluster, type MarathonCluster } from '../support/marathon-cluster.ts';
import { buildArtifacts, serveArtifacts, type ArtifactServer, type Artifacts } from './fetcher-artifacts.ts';

describe('Marathon fetch on a real cluster', { timeout: 60_000 }, () => {
  let mc: MarathonCluster;
  let art: Artifacts;
  let srv: ArtifactServer;

  const call = (method: string, path: string, body?: unknown) => mc.call(method, path, body);
  const sandboxOfApp = (appId: string) => mc.sandboxOfApp(appId);

  before(async () => {
    art = buildArtifacts();
    srv = await serveArtifacts(art.files);
    mc = await startMarathonCluster();
  });
  after(async () => {
    await mc?.stop();
    await srv?.close();
    art?.remove();
  });

  test('a fetch entry without a uri is refused with 422 in Marathon shape', async () => {
    const r = await call('POST', '/v2/apps', { id: '/fetcher/bad', cmd: 'true', fetch: [{ executable: true }] });
    assert.equal(r.status, 422);
    assert.deepEqual(r.json.details, [{ path: '/fetch(0)/uri', errors: ['error.path.missing'] }]);
  });

  test('an app with fetch (and one with legacy uris) runs with its artifacts in the sandbox', async () => {
    const fetchApp = {
      id: '/fetcher/web',
      cmd: './run.sh marathon > out.txt && cat app/data.txt tools/settings.txt >> out.txt && exec sleep 600',
      instances: 1,
      cpus: 0.1,
      mem: 32,
      portDefinitions: [],
      fetch: [
        { uri: `${srv.url}/run.sh`, executable: true },
        { uri: `${srv.url}/app.tar.gz`, cache: true },
        { uri: `${srv.url}/conf.zip`, extract: false, outputFile: 'tools/conf.zip' },
        { uri: `${srv.url}/conf.zip`, destPath: 'x.zip' },
      ],
    };
    // conf.zip kept whole under tools/, extracted from x.zip: settings come from the extraction into the sandbox.
    fetchApp.cmd = fetchApp.cmd.replace('tools/settings.txt', 'conf/settings.txt');
    const legacyApp = { id: '/fetcher/legacy', cmd: 'cat app/data.txt > out.txt && exec sleep 600', instances: 1, cpus: 0.1, mem: 32, portDefinitions: [], uris: [`${srv.url}/app.tar.gz`] };
    assert.equal((await call('POST', '/v2/apps', fetchApp)).status, 201);
    assert.equal((await call('POST', '/v2/apps', legacyApp)).status, 201);

    const got = (await call('GET', '/v2/apps/fetcher/web')).json.app;
    assert.deepEqual(got.fetch, [
      { uri: `${srv.url}/run.sh`, extract: true, executable: true, cache: false },
      { uri: `${srv.url}/app.tar.gz`, extract: true, executable: false, cache: true },
      { uri: `${srv.url}/conf.zip`, extract: false, executable: false, cache: false, destPath: 'tools/conf.zip' },
      { uri: `${srv.url}/conf.zip`, extract: true, executable: false, cache: false, destPath: 'x.zip' },
    ]);

    const web = await eventually(() => sandboxOfApp('/fetcher/web'), 20_000, '/fetcher/web to run');
    const out = await eventually(() => fs.existsSync(`${web}/out.txt`) && fs.readFileSync(`${web}/out.txt`, 'utf8').includes('zip-settings') && fs.readFileSync(`${web}/out.txt`, 'utf8'), 10_000, 'the web task output');
    assert.equal(out, 'run-script-ran marathon\ndata-from-tar\nzip-settings\n');
    assert.ok(fs.statSync(`${web}/tools/conf.zip`).isFile());
    const legacy = await eventually(() => sandboxOfApp('/fetcher/legacy'), 20_000, '/fetcher/legacy to run');
    assert.equal(await eventually(() => fs.existsSync(`${legacy}/out.txt`) && fs.readFileSync(`${legacy}/out.txt`, 'utf8'), 10_000, 'the legacy task output'), 'data-from-tar\n');
    assert.equal((await call('DELETE', '/v2/apps/fetcher/web')).status, 200);
    assert.equal((await call('DELETE', '/v2/apps/fetcher/legacy')).status, 200);
  });

  test('a missing artifact shows in lastTaskFailure with the URI and the HTTP status', async () => {
    const uri = `${srv.url}/missing-artifact.tgz`;
    const app = { id: '/fetcher/missing', cmd: 'sleep 600', instances: 1, cpus: 0.1, mem: 32, portDefinitions: [], fetch: [{ uri }] };
    assert.equal((await call('POST', '/v2/apps', app)).status, 201);
    const failure = await eventually(
      async () => (await call('GET', '/v2/apps/fetcher/missing?embed=app.lastTaskFailure')).json.app.lastTaskFailure,
      20_000,
      'a lastTaskFailure',
    );
    assert.equal(failure.state, 'TASK_FAILED');
    assert.match(failure.message, /Failed to fetch all URIs for container/);
    assert.ok(failure.message.includes(`Failed to fetch '${uri}': HTTP 404 Not Found`), failure.message);
    assert.equal((await call('DELETE', '/v2/apps/fetcher/missing?force=true')).status, 200);
  });
});
