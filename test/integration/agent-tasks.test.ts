// Command tasks on a real agent (in this process) against a fake master over real HTTP.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentHandle } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, DEFAULT_FRAMEWORK, FakeMaster, isAlive, waitUntil } from '../support/fake-master.ts';

let master: FakeMaster;
let agent: AgentHandle;
let workDir: string;

async function sandboxOf(taskId: string, url = agent.url): Promise<string> {
  const state = (await (await fetch(url + '/state')).json()) as any;
  for (const fw of [...state.frameworks, ...state.completed_frameworks])
    for (const ex of [...fw.executors, ...fw.completed_executors]) if (ex.id === taskId) return ex.directory as string;
  throw new Error(`no executor for ${taskId} in /state`);
}

describe('agent: command tasks', () => {
  before(async () => {
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-tasks-'));
    agent = await startAgent({ masterUrl: master.url, workDir, port: 0, log: silentLogger, resources: 'cpus:4;mem:4096;disk:1000;ports:[31000-31009]' });
    await agent.registered();
  });
  after(async () => {
    await agent.close({ killTasks: true });
    await master.close();
    fs.rmSync(workDir, { recursive: true, force: true });
    assert.deepEqual(master.invalid, [], 'the agent sent messages the master schema rejects');
  });

  it('reports STARTING, RUNNING, then FAILED with the exit status, and keeps stdout', async () => {
    await master.runTask(commandTask('exit3', 'echo hi; echo oops >&2; exit 3'));
    const failed = await master.waitForState('exit3', 'TASK_FAILED');
    assert.deepEqual(master.statesOf('exit3'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    assert.equal(failed.message, 'Command exited with status 3');
    assert.equal(failed.reason, 'REASON_COMMAND_EXECUTOR_FAILED');
    assert.equal(failed.source, 'SOURCE_EXECUTOR');
    assert.equal(failed.agent_id?.value, agent.agentId());
    assert.equal(failed.executor_id?.value, 'exit3');
    assert.equal(Buffer.from(failed.uuid!, 'base64').length, 16);
    assert.ok(Math.abs(failed.timestamp! - Date.now() / 1000) < 60);
    const dir = await sandboxOf('exit3');
    assert.match(dir, new RegExp(`/slaves/${agent.agentId()}/frameworks/fw-1/executors/exit3/runs/[0-9a-f-]{36}$`));
    assert.equal(fs.readFileSync(path.join(dir, 'stdout'), 'utf8'), 'hi\n');
    assert.equal(fs.readFileSync(path.join(dir, 'stderr'), 'utf8'), 'oops\n');
    assert.equal(fs.realpathSync(path.join(path.dirname(dir), 'latest')), dir);
  });

  it('reports TASK_FINISHED for exit 0 and a signal death as such', async () => {
    await master.runTask(commandTask('ok', 'true'));
    const fin = await master.waitForState('ok', 'TASK_FINISHED');
    assert.equal(fin.message, 'Command exited with status 0');
    await master.runTask(commandTask('selfkill', 'kill -9 $$'));
    const f = await master.waitForState('selfkill', 'TASK_FAILED');
    assert.equal(f.message, 'Command terminated with signal SIGKILL');
  });

  it('gives the task its environment: ports, sandbox, ids and command variables', async () => {
    const task = commandTask(
      'envtask',
      { value: 'env', environment: { variables: [{ name: 'GREETING', value: 'hello world' }] } },
      {
        resources: [
          { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
          { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31002, end: 31003 }, { begin: 31007, end: 31007 }] } },
        ],
      } as any,
    );
    await master.runTask(task);
    await master.waitForState('envtask', 'TASK_FINISHED');
    const dir = await sandboxOf('envtask');
    const env = Object.fromEntries(
      fs
        .readFileSync(path.join(dir, 'stdout'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(env.PORT0, '31002');
    assert.equal(env.PORT1, '31003');
    assert.equal(env.PORT2, '31007');
    assert.equal(env.PORT, '31002');
    assert.equal(env.PORTS, '31002,31003,31007');
    assert.equal(env.PORT_31007, '31007');
    assert.equal(env.MESOS_SANDBOX, dir);
    assert.equal(env.MESOS_TASK_ID, 'envtask');
    assert.equal(env.MESOS_EXECUTOR_ID, 'envtask');
    assert.equal(env.MESOS_FRAMEWORK_ID, 'fw-1');
    assert.equal(env.MESOS_AGENT_ID, agent.agentId());
    assert.equal(env.MESOS_AGENT_ENDPOINT, `127.0.0.1:${agent.port}`);
    assert.equal(env.MESOS_CONTAINER_NAME, `mesos-${path.basename(dir)}`);
    assert.equal(env.HOST, '127.0.0.1');
    assert.equal(env.GREETING, 'hello world');
    assert.ok(env.PATH);
    assert.equal(env.NODE_OPTIONS, undefined, 'the agent environment does not leak into tasks');
  });

  it('runs shell=false commands without a shell', async () => {
    await master.runTask(commandTask('noshell', { shell: false, value: '/bin/echo', arguments: ['echo', 'a  b', '$HOME', ';', 'exit 9'] }));
    await master.waitForState('noshell', 'TASK_FINISHED');
    assert.equal(fs.readFileSync(path.join(await sandboxOf('noshell'), 'stdout'), 'utf8'), 'a  b $HOME ; exit 9\n');
    await master.runTask(commandTask('noshell-path', { shell: false, value: 'printf', arguments: ['printf', '%s-%s', 'x', 'y'] }));
    await master.waitForState('noshell-path', 'TASK_FINISHED');
    assert.equal(fs.readFileSync(path.join(await sandboxOf('noshell-path'), 'stdout'), 'utf8'), 'x-y');
  });

  it('fails a launch whose executable does not exist with REASON_CONTAINER_LAUNCH_FAILED', async () => {
    await master.runTask(commandTask('noexe', { shell: false, value: '/no/such/binary', arguments: ['x'] }));
    const f = await master.waitForState('noexe', 'TASK_FAILED');
    assert.equal(f.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.equal(f.source, 'SOURCE_AGENT');
    assert.match(f.message!, /\/no\/such\/binary/);
    assert.deepEqual(master.statesOf('noexe'), ['TASK_FAILED']);
  });

  it('answers invalid tasks with TASK_ERROR / REASON_TASK_INVALID', async () => {
    await master.runTask({ ...commandTask('nocmd', 'true'), command: undefined } as any);
    const e1 = await master.waitForState('nocmd', 'TASK_ERROR');
    assert.equal(e1.reason, 'REASON_TASK_INVALID');
    assert.match(e1.message!, /CommandInfo or ExecutorInfo/);
    await master.runTask(commandTask('novalue', { shell: false, arguments: ['x'] }));
    const e2 = await master.waitForState('novalue', 'TASK_ERROR');
    assert.match(e2.message!, /Executable/);
    await master.runTask(commandTask('secret', { value: 'true', environment: { variables: [{ name: 'S', type: 'SECRET', secret: {} } as any] } }));
    assert.equal((await master.waitForState('secret', 'TASK_ERROR')).reason, 'REASON_TASK_INVALID');
  });

  it('refuses malformed master messages with 400 and stays up', async () => {
    const post = (body: string) =>
      fetch(master.agentEndpoint + '/internal/v1/master', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const bad = [
      '',
      '{not json',
      '[]',
      '{"type":"RUN_TASK"}',
      JSON.stringify({ type: 'RUN_TASK', master_id: master.masterId, framework_info: DEFAULT_FRAMEWORK, task: { name: 'x' } }),
      JSON.stringify({
        type: 'RUN_TASK',
        master_id: master.masterId,
        framework_info: DEFAULT_FRAMEWORK,
        task: { name: 'x', task_id: { value: '../escape' }, agent_id: { value: agent.agentId() }, command: { value: 'true' } },
      }),
      JSON.stringify({ type: 'RUN_TASK', master_id: master.masterId, framework_info: { name: 'f' }, task: commandTask('nofwid', 'true') }),
      JSON.stringify({ type: 'KILL_TASK', master_id: master.masterId, framework_id: { value: 'fw-1' } }),
      JSON.stringify({ type: 'NO_SUCH_MESSAGE', master_id: master.masterId }),
      JSON.stringify({ type: 'ACKNOWLEDGE', master_id: master.masterId, framework_id: { value: 'fw-1' }, task_id: { value: 't' }, uuid: '' }),
    ];
    for (const body of bad) {
      const res = await post(body);
      assert.equal(res.status, 400, `expected 400 for ${body.slice(0, 80)}`);
      const json = (await res.json()) as { code: string; message: string };
      assert.equal(json.code, 'BAD_REQUEST');
      assert.ok(json.message.length > 0);
    }
    // A task for another agent is refused too.
    const other = await master.send({ type: 'RUN_TASK', framework_info: DEFAULT_FRAMEWORK, task: { ...commandTask('other', 'true'), agent_id: { value: 'someone-else' } } });
    assert.equal(other.status, 400);
    assert.equal((await fetch(agent.url + '/health')).status, 200);
    await master.runTask(commandTask('after-bad', 'true'));
    await master.waitForState('after-bad', 'TASK_FINISHED');
    assert.equal(master.statusesOf('../escape').length, 0);
  });

  it('ignores a duplicate RUN_TASK for a task it already runs', async () => {
    const t = commandTask('dup', 'sleep 30');
    await master.runTask(t);
    await master.runTask(t);
    await master.waitForState('dup', 'TASK_RUNNING');
    await master.runTask(t);
    await master.killTask('dup');
    await master.waitForState('dup', 'TASK_KILLED');
    assert.deepEqual(master.statesOf('dup'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
  });

  it('kills with SIGTERM; a task trapping TERM gets SIGKILL after the grace period, with its children', async () => {
    const t = commandTask('stubborn', "trap '' TERM; sleep 1000 & echo $! > child.pid; echo ready > ready; wait; wait");
    await master.runTask(t);
    const running = await master.waitForState('stubborn', 'TASK_RUNNING');
    const dir = await sandboxOf('stubborn');
    const childPid = Number(await waitUntil(() => fs.existsSync(path.join(dir, 'ready')) && fs.readFileSync(path.join(dir, 'child.pid'), 'utf8').trim(), 'the task to start its child'));
    const wrapperPid = (running.container_status as any).executor_pid as number;
    assert.ok(isAlive(childPid) && isAlive(wrapperPid));
    const t0 = Date.now();
    await master.killTask('stubborn', { gracePeriodMs: 600 });
    const killed = await master.waitForState('stubborn', 'TASK_KILLED');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 550, `SIGKILL came after ${elapsed} ms, before the 600 ms grace period`);
    assert.ok(elapsed < 3000, `kill took ${elapsed} ms`);
    assert.equal(killed.message, 'Command terminated with signal SIGKILL');
    await waitUntil(() => !isAlive(childPid), 'the child to die with its group', 2000);
  });

  it('kills a well-behaved task promptly, and cleans up its group when the command exits', async () => {
    await master.runTask(commandTask('polite', 'sleep 1000'));
    await master.waitForState('polite', 'TASK_RUNNING');
    const t0 = Date.now();
    await master.killTask('polite');
    const k = await master.waitForState('polite', 'TASK_KILLED');
    const elapsed = Date.now() - t0;
    assert.equal(k.message, 'Command terminated with signal SIGTERM');
    assert.ok(elapsed < 2900, `SIGTERM alone should end it well before the 3 s grace period; took ${elapsed} ms`);
    // A background child left behind by a finished command is killed with the container.
    await master.runTask(commandTask('orphan', 'sleep 1000 & echo $! > bg.pid'));
    await master.waitForState('orphan', 'TASK_FINISHED');
    const bg = Number(fs.readFileSync(path.join(await sandboxOf('orphan'), 'bg.pid'), 'utf8'));
    await waitUntil(() => !isAlive(bg), 'the orphaned background child to be killed', 2000);
  });

  it('answers a kill for an unknown task with TASK_LOST from the agent', async () => {
    const res = await master.killTask('never-launched');
    assert.equal(res.status, 200);
    const lost = await master.waitForState('never-launched', 'TASK_LOST');
    assert.equal(lost.source, 'SOURCE_AGENT');
    assert.ok(lost.uuid);
  });

  it('sends TASK_KILLING first to frameworks that asked for it', async () => {
    const fw = { ...DEFAULT_FRAMEWORK, id: { value: 'fw-killing' }, capabilities: [{ type: 'TASK_KILLING_STATE' as const }] };
    await master.runTask(commandTask('k1', 'sleep 1000'), fw);
    await master.waitForState('k1', 'TASK_RUNNING');
    await master.killTask('k1', { frameworkId: 'fw-killing' });
    await master.waitForState('k1', 'TASK_KILLED');
    assert.deepEqual(master.statesOf('k1'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
  });

  it('fails a task that exceeds max_completion_time', async () => {
    await master.runTask(commandTask('slow', 'sleep 1000', { max_completion_time: { nanoseconds: 300e6 } } as any));
    const f = await master.waitForState('slow', 'TASK_FAILED');
    assert.equal(f.reason, 'REASON_MAX_COMPLETION_TIME_REACHED');
  });

  it('SHUTDOWN_FRAMEWORK kills the framework\'s tasks', async () => {
    const fw = { ...DEFAULT_FRAMEWORK, id: { value: 'fw-doomed' } };
    await master.runTask(commandTask('d1', 'sleep 1000'), fw);
    const r = await master.waitForState('d1', 'TASK_RUNNING');
    const pid = (r.container_status as any).executor_pid as number;
    await master.send({ type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: 'fw-doomed' } });
    await waitUntil(() => !isAlive(pid), 'the framework\'s task to die', 5000);
  });
});

describe('agent: reliable status updates', () => {
  it('re-sends the head update until acknowledged, then the next, in order', async () => {
    const m = await FakeMaster.start({ autoAck: false });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-sum-'));
    const a = await startAgent({ masterUrl: m.url, workDir: dir, port: 0, log: silentLogger, statusUpdateRetryMs: 50, statusUpdateRetryMaxMs: 200 });
    try {
      await a.registered();
      await m.runTask(commandTask('r1', 'true'));
      await m.waitFor(() => m.statusesOf('r1').length >= 3, 'STARTING to be retried');
      const sent = m.statusesOf('r1');
      assert.ok(sent.every((s) => s.state === 'TASK_STARTING' && s.uuid === sent[0]!.uuid), 'only the head is (re-)sent');
      // The master learns the latest state while the queue waits.
      await m.waitFor(() => m.updates.find((u) => u.update.status.task_id.value === 'r1' && u.update.latest_state === 'TASK_FINISHED'), 'latest_state FINISHED');
      const wrongAck = await m.ack('fw-1', { ...sent[0]!, uuid: Buffer.alloc(16).toString('base64') });
      assert.equal(wrongAck.status, 200);
      await m.ack('fw-1', sent[0]!);
      await m.waitForState('r1', 'TASK_RUNNING');
      await m.waitFor(() => m.statusesOf('r1').filter((s) => s.state === 'TASK_RUNNING').length >= 2, 'RUNNING to be retried');
      await m.ackLatest('r1');
      const fin = await m.waitForState('r1', 'TASK_FINISHED');
      await m.ack('fw-1', fin);
      assert.deepEqual(m.statesOf('r1'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
      // After the final ack nothing is re-sent and the task is completed.
      const n = m.statusesOf('r1').length;
      const state = (await (await fetch(a.url + '/state')).json()) as any;
      const fw = state.completed_frameworks.find((f: any) => f.id === 'fw-1');
      assert.equal(fw.completed_executors[0].completed_tasks[0].state, 'TASK_FINISHED');
      // Proving an absence needs a wait: longer than the 200 ms retry cap, so a pending retry would show.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(m.statusesOf('r1').length, n);
      const metrics = (await (await fetch(a.url + '/metrics/snapshot')).json()) as Record<string, number>;
      assert.equal(metrics['slave/valid_status_updates'], 3);
      assert.equal(metrics['slave/invalid_status_updates'], 1);
    } finally {
      await a.close({ killTasks: true });
      await m.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agent: switch_user', () => {
  const asRoot = process.getuid?.() === 0;
  it('runs tasks as the given user and fails unknown users clearly', { skip: asRoot ? false : 'switching users needs root' }, async () => {
    const m = await FakeMaster.start({ autoAck: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-user-'));
    fs.chmodSync(dir, 0o755);
    const a = await startAgent({ masterUrl: m.url, workDir: dir, port: 0, log: silentLogger, switchUser: true });
    try {
      await a.registered();
      await m.runTask(commandTask('as-nobody', 'id -un; id -u > uid.txt; exit 4'), { ...DEFAULT_FRAMEWORK, user: 'nobody' });
      const f = await m.waitForState('as-nobody', 'TASK_FAILED');
      assert.equal(f.message, 'Command exited with status 4');
      const sandbox = await sandboxOf('as-nobody', a.url);
      assert.equal(fs.readFileSync(path.join(sandbox, 'stdout'), 'utf8'), 'nobody\n');
      await m.runTask(commandTask('ghost', { value: 'true', user: 'no-such-user-xyz' }));
      const g = await m.waitForState('ghost', 'TASK_FAILED');
      assert.equal(g.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
      assert.match(g.message!, /user 'no-such-user-xyz' does not exist/);
    } finally {
      await a.close({ killTasks: true });
      await m.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
