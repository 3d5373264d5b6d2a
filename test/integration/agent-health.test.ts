// Mesos-level health checks (TaskInfo.health_check) run by a real agent (in this process) on real task
// processes, reported to a fake master over real HTTP; and close({killTasks}) delivering TASK_KILLED.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startAgent, type AgentHandle, type AgentOptions } from '../../src/agent/index.ts';
import type { FrameworkInfo, TaskInfo, TaskStatus } from '../../src/protocol/mesos.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, DEFAULT_FRAMEWORK, FakeMaster, isAlive, waitUntil } from '../support/fake-master.ts';

const NODE = JSON.stringify(process.execPath);
/** Short timings for tests (seconds). */
const FAST = { delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 0.5 };

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function task(id: string, command: string, healthCheck: unknown, port?: number, extra: Partial<TaskInfo> = {}): TaskInfo {
  return commandTask(id, command, {
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
      ...(port ? [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: port, end: port }] } }] : []),
    ],
    health_check: healthCheck,
    ...extra,
  } as Partial<TaskInfo>);
}

/** A node HTTP server on $PORT0 in the sandbox that logs each request path to ./requests. */
const httpServer = (statusExpr: string): string =>
  `exec ${NODE} -e 'let n = 0; require("http").createServer((q, r) => { require("fs").appendFileSync("requests", q.url + "\\n"); r.statusCode = ${statusExpr}; n++; r.end(); }).listen(Number(process.env.PORT0), "127.0.0.1")'`;

/** The health updates of a task (TASK_RUNNING with `healthy`), retries collapsed by uuid. */
function healthUpdates(master: FakeMaster, taskId: string): TaskStatus[] {
  const seen = new Set<string>();
  return master.statusesOf(taskId).filter((s) => {
    if (s.healthy === undefined || s.state !== 'TASK_RUNNING') return false;
    if (seen.has(s.uuid!)) return false;
    seen.add(s.uuid!);
    return true;
  });
}

function waitForHealth(master: FakeMaster, taskId: string, n: number, timeoutMs = 10_000): Promise<TaskStatus[]> {
  return master.waitFor(() => healthUpdates(master, taskId).length >= n && healthUpdates(master, taskId), `${n} health update(s) of ${taskId}`, timeoutMs);
}

async function sandboxOf(agentUrl: string, taskId: string): Promise<string> {
  const state = (await (await fetch(agentUrl + '/state')).json()) as any;
  for (const fw of [...state.frameworks, ...state.completed_frameworks])
    for (const ex of [...fw.executors, ...fw.completed_executors]) if (ex.id === taskId) return ex.directory as string;
  throw new Error(`no executor for ${taskId} in /state`);
}

const lines = (file: string): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

describe('agent: health checks', () => {
  let master: FakeMaster;
  let agent: AgentHandle;
  let workDir: string;

  before(async () => {
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-health-'));
    agent = await startAgent({ masterUrl: master.url, workDir, port: 0, log: silentLogger, resources: 'cpus:4;mem:4096;disk:1000' });
    await agent.registered();
  });
  after(async () => {
    await agent.close({ killTasks: true });
    await master.close();
    fs.rmSync(workDir, { recursive: true, force: true });
    assert.deepEqual(master.invalid, [], 'the agent sent messages the master schema rejects');
  });

  it('HTTP: a task serving 200 on $PORT0 is reported healthy', async () => {
    const port = await freePort();
    await master.runTask(task('http-ok', httpServer('200'), { type: 'HTTP', http: { port, path: '/health' }, ...FAST, grace_period_seconds: 10 }, port));
    const [h] = await waitForHealth(master, 'http-ok', 1);
    assert.equal(h!.state, 'TASK_RUNNING');
    assert.equal(h!.healthy, true);
    assert.equal(h!.reason, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
    assert.equal(h!.source, 'SOURCE_EXECUTOR');
    assert.equal(Buffer.from(h!.uuid!, 'base64').length, 16);
    const dir = await sandboxOf(agent.url, 'http-ok');
    assert.equal(lines(path.join(dir, 'requests'))[0], '/health');
    const state = (await (await fetch(agent.url + '/state')).json()) as any;
    const t = state.frameworks[0].executors.find((e: any) => e.id === 'http-ok').tasks[0];
    assert.equal(t.statuses.at(-1).healthy, true);
    assert.equal(t.health_check.type, 'HTTP');
    await master.killTask('http-ok');
    const killed = await master.waitForState('http-ok', 'TASK_KILLED');
    assert.equal(killed.healthy, undefined, 'an ordinary kill does not speak of health');
    assert.deepEqual(
      master.statesOf('http-ok').map((s, i) => (i === 2 ? `${s}(healthy)` : s)),
      ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING(healthy)', 'TASK_KILLED'],
    );
  });

  it('HTTP: a server that starts answering 500 is reported unhealthy, then killed after consecutive_failures', async () => {
    const port = await freePort();
    const fw: FrameworkInfo & { id: { value: string } } = { ...DEFAULT_FRAMEWORK, id: { value: 'fw-killing' }, capabilities: [{ type: 'TASK_KILLING_STATE' }] };
    await master.runTask(
      task('http-500', httpServer('n === 0 ? 200 : 500'), { type: 'HTTP', http: { port }, ...FAST, consecutive_failures: 3, grace_period_seconds: 10 }, port, {
        kill_policy: { grace_period: { nanoseconds: 2e9 } },
      }),
      fw,
    );
    const killed = await master.waitForState('http-500', 'TASK_KILLED');
    assert.equal(killed.healthy, false);
    assert.equal(killed.message, 'Task was killed since health check failed');
    assert.equal(killed.reason, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
    assert.deepEqual(master.statesOf('http-500'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    const health = healthUpdates(master, 'http-500');
    assert.deepEqual(health.map((s) => s.healthy), [true, false]);
    assert.match(health[1]!.message ?? '', /500/);
    const dir = await sandboxOf(agent.url, 'http-500');
    assert.equal(lines(path.join(dir, 'requests')).length, 4, 'one success, three failures, then no more checks');
  });

  it('TCP: a task listening on $PORT0 is reported healthy', async () => {
    const port = await freePort();
    const cmd = `exec ${NODE} -e 'require("net").createServer((c) => c.end()).listen(Number(process.env.PORT0), "127.0.0.1")'`;
    await master.runTask(task('tcp-ok', cmd, { type: 'TCP', tcp: { port }, ...FAST }, port));
    const [h] = await waitForHealth(master, 'tcp-ok', 1);
    assert.equal(h!.healthy, true);
    await master.killTask('tcp-ok');
    await master.waitForState('tcp-ok', 'TASK_KILLED');
  });

  it('COMMAND: runs in the sandbox with the task environment; health flips follow a file', async () => {
    await master.runTask(
      task('cmd-flip', 'sleep 60', {
        type: 'COMMAND',
        command: { value: 'test -f ok && test "$MESOS_TASK_ID" = cmd-flip && test "$PWD" = "$MESOS_SANDBOX"' },
        ...FAST,
        interval_seconds: 0.1,
        grace_period_seconds: 0,
        consecutive_failures: 1000,
      }),
    );
    const first = await waitForHealth(master, 'cmd-flip', 1);
    assert.equal(first[0]!.healthy, false, 'the first result is reported, unhealthy too');
    const dir = await sandboxOf(agent.url, 'cmd-flip');
    fs.writeFileSync(path.join(dir, 'ok'), '');
    assert.equal((await waitForHealth(master, 'cmd-flip', 2))[1]!.healthy, true);
    fs.rmSync(path.join(dir, 'ok'));
    assert.equal((await waitForHealth(master, 'cmd-flip', 3))[2]!.healthy, false);
    fs.writeFileSync(path.join(dir, 'ok'), '');
    assert.deepEqual((await waitForHealth(master, 'cmd-flip', 4)).map((s) => s.healthy), [false, true, false, true]);
    await master.killTask('cmd-flip');
    await master.waitForState('cmd-flip', 'TASK_KILLED');
  });

  it('grace period: failures are ignored until the first success; afterwards they count', async () => {
    await master.runTask(
      task('grace', 'sleep 60', {
        type: 'COMMAND',
        command: { value: 'echo x >> attempts; test -f ok' },
        delay_seconds: 0,
        interval_seconds: 0.05,
        timeout_seconds: 1,
        grace_period_seconds: 60,
        consecutive_failures: 1,
      }),
    );
    await master.waitForState('grace', 'TASK_RUNNING');
    const dir = await sandboxOf(agent.url, 'grace');
    await waitUntil(() => lines(path.join(dir, 'attempts')).length >= 5, 'five failed checks');
    assert.deepEqual(master.statesOf('grace'), ['TASK_STARTING', 'TASK_RUNNING'], 'no health update, no kill during the grace period');
    fs.writeFileSync(path.join(dir, 'ok'), '');
    assert.equal((await waitForHealth(master, 'grace', 1))[0]!.healthy, true);
    fs.rmSync(path.join(dir, 'ok'));
    const killed = await master.waitForState('grace', 'TASK_KILLED');
    assert.equal(killed.healthy, false);
    assert.equal(killed.message, 'Task was killed since health check failed');
    assert.deepEqual(healthUpdates(master, 'grace').map((s) => s.healthy), [true, false]);
  });

  it('COMMAND: a check that outlives timeout_seconds fails and is killed', async () => {
    await master.runTask(
      task('cmd-timeout', 'sleep 60', {
        type: 'COMMAND',
        command: { value: 'echo $$ > check.pid; exec sleep 30' },
        delay_seconds: 0,
        interval_seconds: 0.2,
        timeout_seconds: 0.3,
        grace_period_seconds: 0,
        consecutive_failures: 1,
      }),
    );
    const killed = await master.waitForState('cmd-timeout', 'TASK_KILLED');
    assert.equal(killed.healthy, false);
    const [h] = healthUpdates(master, 'cmd-timeout');
    assert.match(h!.message ?? '', /did not return in time/);
    const checkPid = Number(fs.readFileSync(path.join(await sandboxOf(agent.url, 'cmd-timeout'), 'check.pid'), 'utf8'));
    await waitUntil(() => !isAlive(checkPid), 'the timed-out check process to be killed', 5000);
  });

  it('rejects an invalid health check with TASK_ERROR naming the field', async () => {
    await master.runTask(task('bad-hc', 'sleep 60', { type: 'HTTP', http: { port: 80, scheme: 'gopher' } }));
    const err = await master.waitForState('bad-hc', 'TASK_ERROR');
    assert.equal(err.reason, 'REASON_TASK_INVALID');
    assert.match(err.message ?? '', /health_check\.http\.scheme/);
    await master.runTask(task('bad-hc2', 'sleep 60', { type: 'TCP' }));
    assert.match((await master.waitForState('bad-hc2', 'TASK_ERROR')).message ?? '', /health_check\.tcp/);
  });
});

describe('agent: health checks across restarts and shutdown', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(masterOpts: Parameters<typeof FakeMaster.start>[0] = { autoAck: true }) {
    const master = await FakeMaster.start(masterOpts);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-health-'));
    cleanups.push(async () => {
      await master.close();
      fs.rmSync(workDir, { recursive: true, force: true });
    });
    const start = async (extra: Partial<AgentOptions> = {}): Promise<AgentHandle> => {
      const agent = await startAgent({ masterUrl: master.url, workDir, port: 0, log: silentLogger, registrationBackoffMs: 20, ...extra });
      cleanups.push(() => agent.close({ killTasks: true }));
      return agent;
    };
    return { master, start };
  }

  it('re-starts health checks for a re-attached task, from the health last reported', async () => {
    const { master, start } = await setup();
    const a1 = await start();
    await a1.registered();
    await master.runTask(
      task('survivor', 'sleep 60', {
        type: 'COMMAND',
        command: { value: 'echo x >> attempts; test -f ok && test "$MESOS_TASK_ID" = survivor' },
        ...FAST,
        interval_seconds: 0.05,
        grace_period_seconds: 0,
        consecutive_failures: 1000,
      }),
    );
    await master.waitForState('survivor', 'TASK_RUNNING');
    const dir = await sandboxOf(a1.url, 'survivor');
    fs.writeFileSync(path.join(dir, 'ok'), '');
    await master.waitFor(() => healthUpdates(master, 'survivor').find((s) => s.healthy === true), 'healthy');
    await a1.close({ killTasks: false });
    const before = lines(path.join(dir, 'attempts')).length;

    const a2 = await start();
    await a2.registered();
    await waitUntil(() => lines(path.join(dir, 'attempts')).length >= before + 3, 'checks by the restarted agent');
    assert.equal(healthUpdates(master, 'survivor').at(-1)!.healthy, true, 'still healthy: not re-reported');
    const n = healthUpdates(master, 'survivor').length;
    fs.rmSync(path.join(dir, 'ok'));
    await waitForHealth(master, 'survivor', n + 1);
    assert.equal(healthUpdates(master, 'survivor').at(-1)!.healthy, false);
  });

  it('close({killTasks: true}) resolves only after the master accepted TASK_KILLED, without acknowledgements', async () => {
    const { master, start } = await setup({ autoAck: false });
    const agent = await start();
    await agent.registered();
    await master.runTask(task('victim', 'sleep 60', { type: 'COMMAND', command: { value: 'true' }, ...FAST }));
    await master.runTask(commandTask('victim2', 'sleep 60'));
    await master.waitForState('victim', 'TASK_STARTING');
    await master.waitForState('victim2', 'TASK_STARTING');
    // Nothing is acknowledged: normally only each task's first update (TASK_STARTING) has been sent.
    await agent.close({ killTasks: true });
    for (const id of ['victim', 'victim2']) {
      const states = master.statesOf(id);
      assert.equal(states[0], 'TASK_STARTING');
      assert.equal(states.at(-1), 'TASK_KILLED', `${id}: ${JSON.stringify(states)}`);
      assert.ok(master.statesOf(id).includes('TASK_RUNNING'), 'sent in order, RUNNING before KILLED');
    }
  });

  it('close({killTasks: true}) gives up after closeFlushMs when the master refuses updates', async () => {
    const { master, start } = await setup({ autoAck: false });
    const agent = await start({ closeFlushMs: 300 });
    await agent.registered();
    await master.runTask(commandTask('refused', 'sleep 60'));
    await master.waitForState('refused', 'TASK_STARTING');
    master.replyHook = (msg) => (msg.type === 'STATUS_UPDATE' ? { status: 503, body: { code: 'UNAVAILABLE', message: 'busy' } } : undefined);
    const t0 = Date.now();
    await agent.close({ killTasks: true });
    const took = Date.now() - t0;
    assert.ok(took < 3000, `close took ${took} ms`);
    assert.ok(master.statusesOf('refused').filter((s) => s.state !== 'TASK_STARTING').length >= 2, 'it kept trying until the deadline');
  });
});
