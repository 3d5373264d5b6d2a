// Registration, re-registration, pings and shutdown, with the agent in this process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { startAgent, type AgentHandle, type AgentOptions } from '../../src/agent/index.ts';
import { WRAPPER_NAME, WRAPPER_SCRIPT } from '../../src/agent/launcher.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, FakeMaster, isAlive, waitUntil } from '../support/fake-master.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(masterOpts: Parameters<typeof FakeMaster.start>[0] = { autoAck: true }) {
  const master = await FakeMaster.start(masterOpts);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-reg-'));
  cleanups.push(async () => {
    await master.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });
  const start = async (extra: Partial<AgentOptions> = {}): Promise<AgentHandle> => {
    const agent = await startAgent({ masterUrl: master.url, workDir, port: 0, log: silentLogger, registrationBackoffMs: 20, ...extra });
    cleanups.push(() => agent.close({ killTasks: true }));
    return agent;
  };
  return { master, workDir, start };
}

describe('agent registration', () => {
  it('registers with its resources and attributes, and checkpoints the id', async () => {
    const { master, workDir, start } = await setup();
    const agent = await start({ resources: 'cpus:3;mem:1000;disk:500;ports:[40000-40010]', attributes: 'rack:r1;zone:a;level:3' });
    const id = await agent.registered();
    assert.equal(agent.agentId(), id);
    const reg = master.registrations[0]!;
    assert.equal(reg.type, 'REGISTER_AGENT');
    assert.equal(reg.endpoint, agent.url);
    assert.equal(reg.agent_info.port, agent.port);
    const byName = Object.fromEntries(reg.agent_info.resources.map((r) => [r.name, r]));
    assert.equal(byName.cpus!.scalar!.value, 3);
    assert.equal(byName.mem!.scalar!.value, 1000);
    assert.deepEqual(byName.ports!.ranges!.range, [{ begin: 40000, end: 40010 }]);
    assert.deepEqual(
      reg.agent_info.attributes.map((a) => [a.name, a.type]),
      [['rack', 'TEXT'], ['zone', 'TEXT'], ['level', 'SCALAR']],
    );
    const cp = JSON.parse(fs.readFileSync(path.join(workDir, 'meta', 'agent.json'), 'utf8'));
    assert.equal(cp.agent_id, id);
    assert.deepEqual(fs.readdirSync(path.join(workDir, 'meta')).filter((n) => n.includes('.tmp')), []);
  });

  it('retries with backoff until the master accepts', async () => {
    const { master, start } = await setup();
    let refusals = 3;
    master.replyHook = (msg) => (msg.type === 'REGISTER_AGENT' && refusals-- > 0 ? { status: 503, body: { code: 'UNAVAILABLE', message: 'not yet' } } : undefined);
    const agent = await start();
    await agent.registered();
    assert.equal(master.registrations.length, 4);
  });

  it('re-registers with the same id after a restart and reports its running task', async () => {
    const { master, start } = await setup();
    const a1 = await start();
    const id = await a1.registered();
    await master.runTask(commandTask('survivor', 'sleep 1000'));
    const running = await master.waitForState('survivor', 'TASK_RUNNING');
    const pid = (running.container_status as any).executor_pid as number;
    await a1.close({ killTasks: false });
    assert.ok(isAlive(pid), 'closing without killTasks leaves the task running');

    const a2 = await start();
    assert.equal(await a2.registered(), id);
    const rereg = master.registrations[1]!;
    assert.equal(rereg.type, 'REREGISTER_AGENT');
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    assert.equal(rereg.agent_info.id.value, id);
    const task = rereg.tasks.find((t) => t.task_id.value === 'survivor')!;
    assert.equal(task.state, 'TASK_RUNNING');
    assert.equal(task.framework_id.value, 'fw-1');
    assert.equal(task.agent_id.value, id);
    assert.deepEqual(rereg.frameworks.map((f) => f.id?.value), ['fw-1']);
    const state = (await (await fetch(a2.url + '/state')).json()) as any;
    const ex = state.frameworks[0].executors[0];
    assert.equal(ex.tasks[0].state, 'TASK_RUNNING');
    assert.equal(ex.tasks[0].statuses.at(-1).container_status.executor_pid, pid);
    await master.killTask('survivor');
    await master.waitForState('survivor', 'TASK_KILLED');
    await waitUntil(() => !isAlive(pid), 'the re-attached task to die');
    assert.deepEqual(master.statesOf('survivor'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED']);
  });

  it('re-registers when the master answers REREGISTER_REQUIRED, then re-sends the update', async () => {
    const { master, start } = await setup({ autoAck: false });
    const agent = await start({ statusUpdateRetryMs: 60_000 });
    await agent.registered();
    let required = 1;
    master.replyHook = (msg) => (msg.type === 'STATUS_UPDATE' && required-- > 0 ? { body: { type: 'REREGISTER_REQUIRED', message: 'who are you?' } } : undefined);
    await master.runTask(commandTask('rr', 'sleep 1000'));
    await master.waitForRegistrations(2);
    assert.equal(master.registrations[1]!.type, 'REREGISTER_AGENT');
    // The head is re-sent right after re-registration, not after the (one minute) retry interval.
    await master.waitFor(() => master.statusesOf('rr').length >= 2, 'STARTING to be re-sent');
    const [first, second] = master.statusesOf('rr');
    assert.equal(first!.uuid, second!.uuid);
    const rereg = master.registrations[1]!;
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    const t = rereg.tasks.find((x) => x.task_id.value === 'rr')!;
    assert.equal(t.status_update_state, 'TASK_STARTING');
    assert.equal(t.status_update_uuid, first!.uuid);
    assert.equal(t.state, 'TASK_RUNNING');
  });

  it('answers PING with PONG, an unknown agent id with UNKNOWN_AGENT, and re-registers when pings stop', async () => {
    const { master, start } = await setup({ autoAck: true, pingIntervalSeconds: 0.1 });
    const agent = await start();
    const id = await agent.registered();
    const pong = await master.ping();
    assert.deepEqual(pong.body, { type: 'PONG', agent_id: { value: id } });
    const unknown = await master.send({ type: 'PING', agent_id: { value: 'nobody' } });
    assert.deepEqual(unknown.body, { type: 'UNKNOWN_AGENT' });
    // No more pings: after ~3 intervals the agent re-registers (same id).
    const rereg = await master.waitForRegistrations(2, 5000);
    assert.equal(rereg.type, 'REREGISTER_AGENT');
    assert.ok(rereg.type === 'REREGISTER_AGENT' && rereg.agent_info.id.value === id);
  });

  it('refuses commands from a master it is not registered with, and re-registers', async () => {
    const { master, start } = await setup();
    const agent = await start();
    await agent.registered();
    const res = await master.send({ type: 'KILL_TASK', master_id: 'some-other-master', framework_id: { value: 'fw-1' }, task_id: { value: 'x' } });
    assert.equal(res.status, 409);
    await master.waitForRegistrations(2);
  });

  it('SHUTDOWN_AGENT kills its tasks, removes the checkpoint and stops', async () => {
    const { master, workDir, start } = await setup();
    let shutdownMessage: string | undefined;
    let onShutdown!: () => void;
    const stopped = new Promise<void>((r) => (onShutdown = r));
    const agent = await start({
      onShutdown: (m) => {
        shutdownMessage = m;
        onShutdown();
      },
    });
    await agent.registered();
    await master.runTask(commandTask('victim', 'sleep 1000'));
    const r = await master.waitForState('victim', 'TASK_RUNNING');
    const pid = (r.container_status as any).executor_pid as number;
    const res = await master.send({ type: 'SHUTDOWN_AGENT', message: 'removed by operator' });
    assert.equal(res.status, 200);
    await stopped;
    assert.equal(shutdownMessage, 'removed by operator');
    assert.ok(!isAlive(pid));
    assert.equal(fs.existsSync(path.join(workDir, 'meta')), false);
    await assert.rejects(fetch(agent.url + '/health'));
  });

  it('a SHUTDOWN reply to re-registration makes the agent stop', async () => {
    const { master, start } = await setup();
    const a1 = await start();
    await a1.registered();
    await a1.close();
    master.replyHook = (msg) => (msg.type === 'REREGISTER_AGENT' ? { body: { type: 'SHUTDOWN', message: 'agent is gone' } } : undefined);
    let onShutdown!: (m: string) => void;
    const stopped = new Promise<string>((r) => (onShutdown = r));
    await start({ onShutdown });
    assert.equal(await stopped, 'agent is gone');
  });

  it('recover=cleanup kills leftover tasks and registers as a new agent', async () => {
    const { master, start } = await setup();
    const a1 = await start();
    const oldId = await a1.registered();
    await master.runTask(commandTask('leftover', 'sleep 1000'));
    const r = await master.waitForState('leftover', 'TASK_RUNNING');
    const pid = (r.container_status as any).executor_pid as number;
    await a1.close({ killTasks: false });
    assert.ok(isAlive(pid));
    const a2 = await start({ recover: 'cleanup' });
    const newId = await a2.registered();
    assert.notEqual(newId, oldId);
    assert.equal(master.registrations.at(-1)!.type, 'REGISTER_AGENT');
    await waitUntil(() => !isAlive(pid), 'the leftover task to be killed');
  });

  it('kills an orphaned task process that no checkpoint accounts for, and reports it', async () => {
    const { workDir, start } = await setup();
    const a1 = await start();
    const id = await a1.registered();
    await a1.close();
    // A wrapper whose launch crashed before its task.json landed.
    const exitPath = path.join(fs.realpathSync(workDir), 'meta', 'slaves', id, 'frameworks', 'fw-x', 'runs', 'c-1', 'exit_status');
    fs.mkdirSync(path.dirname(exitPath), { recursive: true });
    const orphan = spawn('/bin/sh', ['-c', WRAPPER_SCRIPT, WRAPPER_NAME, exitPath, 'sleep', '1000'], { detached: true, stdio: 'ignore' });
    cleanups.push(() => void orphan.kill('SIGKILL'));
    await new Promise((r) => orphan.once('spawn', r));
    const a2 = await start();
    assert.equal(await a2.registered(), id);
    await waitUntil(() => !isAlive(orphan.pid!), 'the orphan to be killed');
    const metrics = (await (await fetch(a2.url + '/metrics/snapshot')).json()) as Record<string, number>;
    assert.equal(metrics['slave/recovery_errors'], 1);
  });

  it('kills and forgets the old tasks when the master answers re-registration with a new id', async () => {
    const { master, workDir, start } = await setup();
    const a1 = await start();
    const oldId = await a1.registered();
    await master.runTask(commandTask('old-life', 'sleep 1000'));
    const r = await master.waitForState('old-life', 'TASK_RUNNING');
    const pid = (r.container_status as any).executor_pid as number;
    await a1.close();
    master.replyHook = (msg) =>
      msg.type === 'REREGISTER_AGENT' ? { body: { type: 'REGISTERED', agent_id: { value: 'agent-reborn' }, master_id: master.masterId, ping_interval_seconds: 60 } } : undefined;
    const a2 = await start();
    assert.equal(await a2.registered(), 'agent-reborn');
    await waitUntil(() => !isAlive(pid), 'the old task to be killed');
    const state = (await (await fetch(a2.url + '/state')).json()) as any;
    assert.deepEqual(state.frameworks, []);
    assert.equal(state.id, 'agent-reborn');
    assert.equal(fs.existsSync(path.join(workDir, 'meta', 'slaves', oldId)), false);
    assert.equal(JSON.parse(fs.readFileSync(path.join(workDir, 'meta', 'agent.json'), 'utf8')).agent_id, 'agent-reborn');
  });
});
