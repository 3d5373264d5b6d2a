// The agent's read-only HTTP API: /state, /health, /metrics/snapshot and /files/* (confined to sandboxes).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentHandle } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, FakeMaster, waitUntil } from '../support/fake-master.ts';

let master: FakeMaster;
let agent: AgentHandle;
let workDir: string;
let sandbox: string;
let otherSandbox: string;
const get = (p: string) => fetch(agent.url + p);
const getJson = async (p: string) => (await (await get(p)).json()) as any;
const q = encodeURIComponent;

describe('agent endpoints', () => {
  before(async () => {
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-files-'));
    fs.writeFileSync(path.join(workDir, 'secret.txt'), 'agent secret');
    agent = await startAgent({
      masterUrl: master.url,
      workDir,
      port: 0,
      log: silentLogger,
      resources: 'cpus:4;mem:2048;disk:1000;ports:[31000-31100]',
      attributes: 'rack:r1',
    });
    await agent.registered();
    await master.runTask(
      commandTask(
        'files',
        [
          'printf "0123456789abcdef" > data.txt',
          'head -c 70000 /dev/zero | tr "\\0" x > big.txt',
          'mkdir sub && echo nested > sub/n.txt',
          'ln -s /etc/passwd passwd-link',
          'ln -s .. parent-link',
          'ln -s data.txt inside-link',
          'echo hello',
          'touch ready',
          'sleep 1000',
        ].join('; '),
      ),
    );
    await master.runTask(commandTask('other', 'echo other-secret > mine.txt; sleep 1000'));
    await master.waitForState('files', 'TASK_RUNNING');
    await master.waitForState('other', 'TASK_RUNNING');
    const state = await getJson('/state');
    const dirOf = (id: string) => state.frameworks[0].executors.find((e: any) => e.id === id).directory as string;
    sandbox = dirOf('files');
    otherSandbox = dirOf('other');
    await waitUntil(() => fs.existsSync(path.join(sandbox, 'ready')) && fs.existsSync(path.join(otherSandbox, 'mine.txt')), 'the tasks to write their files');
  });
  after(async () => {
    await agent.close({ killTasks: true });
    await master.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('GET /health is 200', async () => {
    const res = await get('/health');
    assert.equal(res.status, 200);
  });

  it('GET /state has the Mesos agent keys and the running tasks', async () => {
    const s = await getJson('/state');
    for (const k of ['version', 'start_time', 'id', 'pid', 'hostname', 'resources', 'attributes', 'flags', 'frameworks', 'completed_frameworks'])
      assert.ok(k in s, `missing ${k}`);
    assert.equal(s.id, agent.agentId());
    assert.equal(s.pid, `slave(1)@127.0.0.1:${agent.port}`);
    assert.deepEqual(s.resources, { cpus: 4, gpus: 0, mem: 2048, disk: 1000, ports: '[31000-31100]' });
    assert.deepEqual(s.attributes, { rack: 'r1' });
    assert.equal(s.flags.work_dir, fs.realpathSync(workDir));
    const fw = s.frameworks[0];
    assert.equal(fw.id, 'fw-1');
    const ex = fw.executors.find((e: any) => e.id === 'files');
    assert.equal(ex.directory, sandbox);
    assert.equal(ex.tasks[0].id, 'files');
    assert.equal(ex.tasks[0].state, 'TASK_RUNNING');
    assert.equal(ex.tasks[0].slave_id, agent.agentId());
    assert.deepEqual(ex.completed_tasks, []);
    assert.equal(s.unreserved_resources_allocated.cpus, 0.2);
  });

  it('GET /metrics/snapshot computes slave/* from real state', async () => {
    const m = await getJson('/metrics/snapshot');
    assert.equal(m['slave/registered'], 1);
    assert.equal(m['slave/tasks_running'], 2);
    assert.equal(m['slave/executors_running'], 2);
    assert.equal(m['slave/frameworks_active'], 1);
    assert.equal(m['slave/cpus_total'], 4);
    assert.equal(m['slave/cpus_used'], 0.2);
    assert.equal(m['slave/cpus_percent'], 0.05);
    assert.equal(m['slave/mem_used'], 64);
    assert.equal(m['slave/gpus_total'], 0);
    assert.ok(m['slave/uptime_secs'] > 0);
    assert.equal(m['slave/recovery_errors'], 0);
    for (const k of ['slave/tasks_finished', 'slave/tasks_failed', 'slave/tasks_killed', 'slave/tasks_lost', 'slave/valid_status_updates', 'slave/invalid_status_updates', 'slave/disk_total', 'slave/mem_percent'])
      assert.equal(typeof m[k], 'number', k);
  });

  it('browses a sandbox by real and by virtual path', async () => {
    const res = await get(`/files/browse?path=${q(sandbox)}`);
    assert.equal(res.status, 200);
    const entries = (await res.json()) as any[];
    const names = entries.map((e) => path.basename(e.path));
    for (const n of ['stdout', 'stderr', 'data.txt', 'sub']) assert.ok(names.includes(n), n);
    const data = entries.find((e) => e.path === `${sandbox}/data.txt`);
    assert.equal(data.size, 16);
    assert.match(data.mode, /^-rw/);
    assert.match(entries.find((e) => e.path.endsWith('/sub')).mode, /^d/);
    for (const k of ['nlink', 'mtime', 'uid', 'gid']) assert.ok(k in data);

    const id = agent.agentId();
    for (const v of [`/frameworks/fw-1/executors/files/runs/latest`, `/slaves/${id}/frameworks/fw-1/executors/files/runs/latest`]) {
      const r = await get(`/files/browse?path=${q(v)}`);
      assert.equal(r.status, 200, v);
      const list = (await r.json()) as any[];
      assert.ok(list.some((e) => e.path === `${v}/stdout`));
    }
    assert.equal((await get(`/files/browse?path=${q(sandbox + '/sub')}`)).status, 200);
  });

  it('reads files with offsets and lengths', async () => {
    const p = q(`${sandbox}/data.txt`);
    assert.deepEqual(await getJson(`/files/read?path=${p}&offset=-1`), { data: '', offset: 16 });
    assert.deepEqual(await getJson(`/files/read?path=${p}`), { data: '', offset: 16 });
    assert.deepEqual(await getJson(`/files/read?path=${p}&offset=0`), { data: '0123456789abcdef', offset: 0 });
    assert.deepEqual(await getJson(`/files/read?path=${p}&offset=4&length=3`), { data: '456', offset: 4 });
    assert.deepEqual(await getJson(`/files/read?path=${p}&offset=10&length=100`), { data: 'abcdef', offset: 10 });
    assert.deepEqual(await getJson(`/files/read?path=${p}&offset=16`), { data: '', offset: 16 });
    assert.deepEqual(await getJson(`/files/read?path=${p}&offset=99`), { data: '', offset: 99 });
    const big = await getJson(`/files/read?path=${q(sandbox + '/big.txt')}&offset=0&length=1000000`);
    assert.equal(big.data.length, 16 * 4096, 'length is capped at 16 pages');
    assert.deepEqual(await getJson(`/files/read?path=${q('/frameworks/fw-1/executors/files/runs/latest/stdout')}&offset=0`), { data: 'hello\n', offset: 0 });
    assert.deepEqual(await getJson(`/files/read?path=${q(sandbox + '/inside-link')}&offset=0&length=4`), { data: '0123', offset: 0 });
    for (const bad of ['offset=abc', 'offset=-5', 'offset=0&length=-3', 'offset=1.5']) assert.equal((await get(`/files/read?path=${p}&${bad}`)).status, 400, bad);
    assert.equal((await get(`/files/read?path=${q(sandbox)}&offset=0`)).status, 400, 'a directory cannot be read');
    assert.equal((await get('/files/read')).status, 400, 'path is required');
    assert.equal((await get(`/files/read?path=${q(sandbox + '/nope.txt')}&offset=0`)).status, 404);
  });

  it('downloads a file', async () => {
    const res = await get(`/files/download?path=${q(sandbox + '/data.txt')}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '0123456789abcdef');
    assert.match(res.headers.get('content-disposition') ?? '', /data\.txt/);
    assert.equal((await get(`/files/download?path=${q(sandbox)}`)).status, 400);
  });

  it('never serves anything outside the sandboxes', async () => {
    const forbidden = [
      '/etc/passwd',
      `${sandbox}/../../../../../../../../etc/passwd`,
      `${sandbox}/../`,
      `${sandbox}/passwd-link`,
      `${sandbox}/parent-link`,
      `${sandbox}/parent-link/`,
      `${workDir}/secret.txt`,
      `${fs.realpathSync(workDir)}/secret.txt`,
      `${fs.realpathSync(workDir)}/meta/agent.json`,
      `/slaves/${agent.agentId()}/../secret.txt`,
      `/frameworks/fw-1/executors/files/runs/latest/../../../../../../../secret.txt`,
      '/frameworks/fw-1/executors/files',
      `/slaves/${agent.agentId()}`,
      '../secret.txt',
      'secret.txt',
      `/frameworks/fw-1/executors/files/runs/latest/passwd-link`,
    ];
    for (const p of forbidden) {
      for (const ep of ['read', 'browse', 'download']) {
        const res = await get(`/files/${ep}?path=${q(p)}&offset=0`);
        assert.ok(res.status === 403 || res.status === 404, `${ep} ${p}: got ${res.status}`);
        const body = await res.text();
        assert.ok(!body.includes('root:') && !body.includes('agent secret') && !body.includes('agent_id'), `${ep} ${p} leaked: ${body.slice(0, 100)}`);
      }
    }
    // Raw, un-normalised `..` in the URL.
    const raw = await fetch(`${agent.url}/files/read?path=${sandbox}/../../../../../../../../../etc/passwd&offset=0`);
    assert.equal(raw.status, 403);
    // Another task's sandbox is fine by its own path, but not through a path rooted in this one.
    assert.equal((await getJson(`/files/read?path=${q(otherSandbox + '/mine.txt')}&offset=0`)).data, 'other-secret\n');
    const sneaky = `${sandbox}/parent-link/../../other/runs/latest/mine.txt`;
    assert.ok([403, 404].includes((await get(`/files/read?path=${q(sneaky)}&offset=0`)).status));
  });
});
