// /files/browse|read|download on the master, proxied to the agent that holds the sandbox: by task id,
// by a sandbox path naming its agent, or with agent_id; `..` refused (400) before anything is
// forwarded; and `corral task log --follow` reading a live task's output through the master alone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster, type CorralProcess } from '../support/cluster.ts';

describe('files through the master', () => {
  let cluster: Cluster;
  let run: CorralProcess;
  let taskId: string;
  const get = (path: string) => fetch(cluster.master + path);
  const json = async (path: string, status = 200) => {
    const res = await get(path);
    const body = await res.text();
    assert.equal(res.status, status, `GET ${path}: ${res.status} ${body}`);
    return JSON.parse(body);
  };

  before(async () => {
    cluster = await startCluster({ args: ['--allocation-interval-ms', '100', '--no-orchestrator'] });
    // Three lines a few hundred ms apart, then a pause (so that --follow starts while it runs), then an exit.
    run = cluster.spawn(['task', 'run', '--json', '--name', 'ticker', '--', 'for i in 1 2 3; do echo line$i; sleep 0.3; done; echo oops >&2; sleep 0.5']);
    taskId = (await run.waitForJson((o) => o.event === 'launched', 15_000, 'the task to launch')).task_id;
  });
  after(async () => {
    run?.kill('SIGKILL');
    await cluster?.stop();
  });

  it('corral task log --follow prints the output as it comes and exits when the task ends', async () => {
    const follow = cluster.spawn(['task', 'log', taskId, '--follow']);
    const r = await follow.waitForExit(15_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'line1\nline2\nline3\n');
    const err = await cluster.cli(['task', 'log', taskId, '--stderr']);
    assert.equal(err.stdout, 'oops\n', err.stderr);
    const last = await cluster.cli(['task', 'log', taskId, '-n', '1']);
    assert.equal(last.stdout, 'line3\n', last.stderr);
    assert.equal((await run.waitForExit(10_000)).code, 0);
  });

  it('reads, browses and downloads by task id, by sandbox path and by agent id', async () => {
    const chunk = await json(`/files/read?task_id=${taskId}&path=stdout&offset=0`);
    assert.deepEqual(chunk, { offset: 0, data: 'line1\nline2\nline3\n' });
    assert.deepEqual(await json(`/files/read?task_id=${taskId}&path=stdout&offset=6&length=5`), { offset: 6, data: 'line2' });
    assert.deepEqual(await json(`/files/read?task_id=${taskId}&path=stdout`), { offset: 18, data: '' }, 'no offset: the size');

    const listing = (await json(`/files/browse?task_id=${taskId}`)) as { path: string; size: number; mode: string }[];
    const stdout = listing.find((e) => e.path.endsWith('/stdout'))!;
    assert.ok(stdout, JSON.stringify(listing));
    assert.equal(stdout.size, 18);
    assert.match(stdout.path, new RegExp(`^/slaves/${cluster.agentIds[0]}/frameworks/[^/]+/executors/${taskId.replace(/\./g, '\\.')}/runs/latest/stdout$`));
    // The listing's paths name their agent: they work as they are, and with agent_id.
    assert.equal((await json(`/files/read?path=${encodeURIComponent(stdout.path)}&offset=0`)).data, 'line1\nline2\nline3\n');
    const rel = stdout.path.replace(`/slaves/${cluster.agentIds[0]}`, '');
    assert.equal((await json(`/files/read?agent_id=${cluster.agentIds[0]}&path=${encodeURIComponent(rel)}&offset=0`)).data.length, 18);

    const dl = await get(`/files/download?task_id=${taskId}&path=stderr`);
    assert.equal(dl.status, 200);
    assert.equal(dl.headers.get('content-type'), 'application/octet-stream');
    assert.match(dl.headers.get('content-disposition') ?? '', /filename="stderr"/);
    assert.equal(await dl.text(), 'oops\n');
  });

  it('refuses traversal and says what is missing', async () => {
    const sandbox = `/slaves/${cluster.agentIds[0]}/frameworks/x/executors/y/runs/latest`;
    for (const path of [`/files/read?path=${encodeURIComponent(`${sandbox}/../../../../../etc/passwd`)}`, `/files/read?task_id=${taskId}&path=..%2F..%2Fstdout`, `/files/download?task_id=${taskId}&path=a/../../b`]) {
      const body = await json(path, 400);
      assert.match(body.message, /may not contain '\.\.'/, path);
    }
    assert.match((await json('/files/read?path=/etc/passwd', 400)).message, /say which agent/);
    assert.match((await json('/files/read', 400)).message, /missing 'path'/);
    assert.match((await json('/files/read?agent_id=nope&path=/x', 404)).message, /no agent nope/);
    assert.match((await json('/files/read?task_id=nope&path=stdout', 404)).message, /no task nope/);
    assert.equal((await get(`/files/read?task_id=${taskId}&path=nothing-here`)).status, 404, "the agent's 404 passes through");
  });
});
