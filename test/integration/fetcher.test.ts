// The fetcher on a real agent (in this process, and as its own process for the restart case) against a fake
// master, fetching from a real HTTP server on 127.0.0.1: archives extracted, scripts made executable, failures
// reported as Mesos reports them, the agent-wide cache, unsafe archives refused, kills and restarts mid-fetch.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentHandle } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, FakeMaster, spawnAgentProcess, waitUntil } from '../support/fake-master.ts';
import { buildArtifacts, serveArtifacts, type ArtifactServer, type Artifacts } from './fetcher-artifacts.ts';

let master: FakeMaster;
let agent: AgentHandle;
let workDir: string;
let art: Artifacts;
let srv: ArtifactServer;

async function sandboxOf(taskId: string): Promise<string> {
  const state = (await (await fetch(agent.url + '/state')).json()) as any;
  for (const fw of [...state.frameworks, ...state.completed_frameworks])
    for (const ex of [...fw.executors, ...fw.completed_executors]) if (ex.id === taskId) return ex.directory as string;
  throw new Error(`no executor for ${taskId} in /state`);
}

/** The task's terminal update (whichever it is), so a failure shows its message. */
const terminal = (m: FakeMaster, id: string, timeoutMs = 10_000) =>
  m.waitFor(() => m.statusesOf(id).find((s) => ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST'].includes(s.state)), `${id} to end`, timeoutMs);
const finished = async (m: FakeMaster, id: string) => {
  const s = await terminal(m, id);
  assert.equal(s.state, 'TASK_FINISHED', `${id}: ${s.state} ${s.message ?? ''}`);
};

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
const withUris = (id: string, cmd: string, uris: Record<string, unknown>[]) => commandTask(id, { value: cmd, uris } as any);

describe('fetcher: command.uris on a real agent', { timeout: 60_000 }, () => {
  before(async () => {
    art = buildArtifacts();
    srv = await serveArtifacts(art.files);
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-fetcher-'));
    agent = await startAgent({ masterUrl: master.url, workDir, port: 0, log: silentLogger, resources: 'cpus:4;mem:4096;disk:1000' });
    await agent.registered();
  });
  after(async () => {
    await agent?.close({ killTasks: true });
    await master?.close();
    await srv?.close();
    art?.remove();
    fs.rmSync(workDir, { recursive: true, force: true });
    assert.deepEqual(master.invalid, [], 'the agent sent messages the master schema rejects');
  });

  it('extracts a tar.gz and a zip, makes a script executable, then runs the command that uses them', async () => {
    await master.runTask(
      withUris('uses-fetched', './run.sh arg && cat app/data.txt conf/settings.txt && app/hello.sh && cat bin/renamed', [
        { value: `${srv.url}/app.tar.gz` },
        { value: `${srv.url}/conf.zip` },
        { value: `${srv.url}/redirect/run.sh`, executable: true },
        { value: `${srv.url}/run.sh`, output_file: 'bin/renamed', extract: false },
      ]),
    );
    await finished(master, 'uses-fetched');
    assert.deepEqual(master.statesOf('uses-fetched'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    const dir = await sandboxOf('uses-fetched');
    assert.equal(read(dir, 'stdout'), 'run-script-ran arg\ndata-from-tar\nzip-settings\nhello from the tarball\n#!/bin/sh\necho run-script-ran "$@"\n');
    assert.ok(fs.existsSync(path.join(dir, 'app.tar.gz')), 'the archive stays in the sandbox, as with Mesos');
    assert.equal(fs.statSync(path.join(dir, 'run.sh')).mode & 0o777, 0o755);
    const log = read(dir, 'stderr');
    assert.match(log, new RegExp(`fetcher: Fetching URI '${srv.url}/app.tar.gz'`));
    assert.match(log, /fetcher: Extracting 'conf.zip' \(zip\) into the sandbox/);
    assert.match(log, /fetcher: Fetched 4 URI\(s\) into the sandbox/);
  });

  it('runs a fetched executable with shell=false, given relative to the sandbox', async () => {
    const task = commandTask('exec-fetched', { shell: false, value: './run.sh', arguments: ['./run.sh', 'no', 'shell'] });
    task.command!.uris = [{ value: `${srv.url}/run.sh`, executable: true }];
    await master.runTask(task);
    await finished(master, 'exec-fetched');
    assert.equal(read(await sandboxOf('exec-fetched'), 'stdout'), 'run-script-ran no shell\n');
  });

  it('reports a 404 as TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED naming the URI and the HTTP status', async () => {
    const uri = `${srv.url}/missing.tgz`;
    await master.runTask(withUris('not-found', 'echo should-not-run', [{ value: uri }]));
    const failed = await master.waitForState('not-found', 'TASK_FAILED');
    assert.equal(failed.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.equal(failed.source, 'SOURCE_AGENT');
    assert.match(failed.message!, /^Failed to launch container: Failed to fetch all URIs for container '[0-9a-f-]{36}': /);
    assert.ok(failed.message!.includes(`Failed to fetch '${uri}': HTTP 404 Not Found`), failed.message);
    assert.deepEqual(master.statesOf('not-found'), ['TASK_STARTING', 'TASK_FAILED']);
    const dir = await sandboxOf('not-found');
    assert.equal(fs.existsSync(path.join(dir, 'missing.tgz')), false, 'no partial file is left');
    assert.equal(fs.existsSync(path.join(dir, 'stdout')) ? read(dir, 'stdout') : '', '');
    const metrics = (await (await fetch(agent.url + '/metrics/snapshot')).json()) as Record<string, number>;
    assert.ok(metrics['containerizer/fetcher/task_fetches_failed']! >= 1);
    assert.ok(metrics['slave/container_launch_errors']! >= 1);
  });

  it('fetches a cached URI once for concurrent and later tasks', async () => {
    srv.hold('/app.tar.gz');
    const before = srv.requests.get('/app.tar.gz') ?? 0;
    const cached = [{ value: `${srv.url}/app.tar.gz`, cache: true }];
    await master.runTask(withUris('cached-1', 'app/hello.sh', cached));
    await master.runTask(withUris('cached-2', 'app/hello.sh', cached));
    await master.waitForState('cached-1', 'TASK_STARTING');
    await master.waitForState('cached-2', 'TASK_STARTING');
    await waitUntil(() => srv.requests.get('/app.tar.gz') === before + 1, 'the shared download to start');
    srv.release('/app.tar.gz');
    await finished(master, 'cached-1');
    await finished(master, 'cached-2');
    await master.runTask(withUris('cached-3', 'app/hello.sh', cached));
    await finished(master, 'cached-3');
    assert.equal(srv.requests.get('/app.tar.gz'), before + 1, 'three tasks, one download');
    for (const t of ['cached-1', 'cached-2', 'cached-3']) assert.equal(read(await sandboxOf(t), 'stdout'), 'hello from the tarball\n');
    assert.match(read(await sandboxOf('cached-3'), 'stderr'), /Using the cached copy of/);
    const metrics = (await (await fetch(agent.url + '/metrics/snapshot')).json()) as Record<string, number>;
    assert.equal(metrics['containerizer/fetcher/cache_size_used_bytes'], art.files.get('/app.tar.gz')!.length);
    assert.equal(metrics['containerizer/fetcher/cache_size_total_bytes'], 2 * 1024 ** 3);
    assert.equal(fs.readdirSync(path.join(workDir, 'fetcher-cache')).length, 1);
    const { flags } = (await (await fetch(agent.url + '/flags')).json()) as { flags: Record<string, string> };
    assert.equal(flags.fetcher_cache_dir, path.join(fs.realpathSync(workDir), 'fetcher-cache'));
    assert.equal(flags.fetcher_cache_size, '2GB');
  });

  it('refuses archives that would write outside the sandbox, and writes nothing there', async () => {
    for (const [id, file, why] of [
      ['evil-tar', 'evil.tar.gz', /unsafe archive: member '\.\.\/corral-evil-[^']+' contains '\.\.'/],
      ['evil-zip', 'evil.zip', /unsafe archive: member '\.\.\/corral-evil-[^']+' contains '\.\.'/],
      ['evil-link', 'evil-link.tar', /unsafe archive: symlink 'escape' points to the absolute path/],
    ] as const) {
      await master.runTask(withUris(id, 'echo should-not-run', [{ value: `${srv.url}/${file}` }]));
      const failed = await master.waitForState(id, 'TASK_FAILED');
      assert.equal(failed.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
      assert.match(failed.message!, why);
      const dir = await sandboxOf(id);
      for (let up = dir, i = 0; i < 4; i++, up = path.dirname(up)) assert.equal(fs.existsSync(path.join(path.dirname(up), art.evilName)), false);
      assert.equal(fs.existsSync(path.join(dir, 'escape')), false);
    }
    assert.deepEqual(fs.readdirSync(art.outside), []);
    assert.equal(fs.existsSync(path.join(os.tmpdir(), art.evilName)), false);
  });

  it('refuses an output_file that leaves the sandbox', async () => {
    await master.runTask(withUris('escape-out', 'true', [{ value: `${srv.url}/run.sh`, output_file: '../../outside.sh' }]));
    const failed = await master.waitForState('escape-out', 'TASK_FAILED');
    assert.match(failed.message!, /output_file '\.\.\/\.\.\/outside\.sh' must stay inside the sandbox/);
  });

  it('a kill during the fetch cancels the download and ends the task TASK_KILLED', async () => {
    await master.runTask(withUris('killed-mid-fetch', 'echo ran > ran.txt', [{ value: `${srv.url}/stall/big.bin` }]));
    await master.waitForState('killed-mid-fetch', 'TASK_STARTING');
    await waitUntil(() => srv.requests.get('/stall/big.bin'), 'the download to start');
    await master.killTask('killed-mid-fetch');
    const killed = await master.waitForState('killed-mid-fetch', 'TASK_KILLED');
    assert.equal(killed.reason, 'REASON_TASK_KILLED_DURING_LAUNCH');
    assert.equal(killed.source, 'SOURCE_AGENT');
    await waitUntil(() => srv.aborted.get('/stall/big.bin'), 'the agent to drop the connection');
    const dir = await sandboxOf('killed-mid-fetch');
    assert.equal(fs.existsSync(path.join(dir, 'ran.txt')), false);
    assert.equal(fs.existsSync(path.join(dir, 'big.bin')), false, 'the partial download is removed');
  });
});

describe('fetcher: the agent restarts during a fetch', { timeout: 60_000 }, () => {
  it('reports the task TASK_LOST / REASON_AGENT_RESTARTED (it never ran), without running its command', async () => {
    const files = new Map<string, Buffer>();
    const server = await serveArtifacts(files);
    const m = await FakeMaster.start({ autoAck: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-fetcher-restart-'));
    const args = { master: m.url, work_dir: dir, registration_backoff_ms: 20, process_poll_ms: 50 };
    let a = await spawnAgentProcess(args);
    try {
      await a.registered;
      await m.runTask(withUris('restart-mid-fetch', 'echo ran > ran.txt', [{ value: `${server.url}/stall/big.bin` }]));
      await m.waitForState('restart-mid-fetch', 'TASK_STARTING');
      await waitUntil(() => server.requests.get('/stall/big.bin'), 'the download to start');
      a.child.kill('SIGKILL');
      await a.exited;
      a = await spawnAgentProcess(args);
      const lost = await m.waitForState('restart-mid-fetch', 'TASK_LOST', 20_000);
      assert.equal(lost.reason, 'REASON_AGENT_RESTARTED');
      assert.match(lost.message!, /never ran/);
      const runs = path.join(dir, 'slaves', m.agentId!, 'frameworks', 'fw-1', 'executors', 'restart-mid-fetch', 'runs');
      const [run] = fs.readdirSync(runs).filter((r) => r !== 'latest');
      assert.equal(fs.existsSync(path.join(runs, run!, 'ran.txt')), false, 'the command never ran');
      assert.equal(server.requests.get('/stall/big.bin'), 1, 'the restarted agent does not fetch again');
    } finally {
      a.child.kill('SIGTERM');
      await a.exited;
      await m.close();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
