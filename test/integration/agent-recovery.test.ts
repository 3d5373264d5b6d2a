// Crash recovery: the agent runs as its own process and is SIGKILLed; its tasks must survive, and a
// restarted agent re-attaches to them (or reports how they ended while it was down).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { commandTask, FakeMaster, isAlive, spawnAgentProcess, waitUntil, type AgentProcess } from '../support/fake-master.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A task that runs until a file named `go` appears in its sandbox, then exits with `code`. */
const waitForGo = (code: number) => `while [ ! -f go ]; do sleep 0.02; done; exit ${code}`;

async function setup(autoAck = true) {
  const master = await FakeMaster.start({ autoAck });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-recovery-'));
  const pids: number[] = [];
  const agents: AgentProcess[] = [];
  cleanups.push(async () => {
    for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    for (const p of pids) {
      try {
        process.kill(-p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await master.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });
  const start = async (extra: Record<string, string | number> = {}) => {
    const a = await spawnAgentProcess({ master: master.url, work_dir: workDir, registration_backoff_ms: 20, process_poll_ms: 50, ...extra });
    agents.push(a);
    return a;
  };
  const crash = async (a: AgentProcess) => {
    a.child.kill('SIGKILL');
    await a.exited;
  };
  return { master, workDir, start, crash, trackPid: (p: number) => pids.push(p) };
}

const pidOf = (s: { container_status?: unknown }): number => (s.container_status as { executor_pid: number }).executor_pid;

describe('agent recovery after a crash', () => {
  it('re-attaches to a running task (same pid, no second launch) and reports its end', async () => {
    const { master, start, crash, trackPid } = await setup();
    const a1 = await start();
    const id = await a1.registered;
    await master.runTask(commandTask('longrun', waitForGo(0)));
    const running = await master.waitForState('longrun', 'TASK_RUNNING');
    const pid = pidOf(running);
    trackPid(pid);
    const state1 = (await (await fetch(a1.url + '/state')).json()) as any;
    const sandbox = state1.frameworks[0].executors[0].directory as string;

    await crash(a1);
    assert.ok(isAlive(pid), 'the task survives the agent crash');
    const a2 = await start();
    assert.equal(await a2.registered, id);
    const rereg = master.registrations.at(-1)!;
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    assert.equal(rereg.agent_info.id.value, id);
    const reported = rereg.tasks.find((t) => t.task_id.value === 'longrun')!;
    assert.equal(reported.state, 'TASK_RUNNING');

    const state2 = (await (await fetch(a2.url + '/state')).json()) as any;
    const task = state2.frameworks[0].executors[0].tasks[0];
    assert.equal(task.state, 'TASK_RUNNING');
    assert.equal(task.statuses.at(-1).container_status.executor_pid, pid);
    assert.equal(state2.frameworks[0].executors[0].directory, sandbox);
    const metrics = (await (await fetch(a2.url + '/metrics/snapshot')).json()) as Record<string, number>;
    assert.equal(metrics['slave/tasks_running'], 1);
    assert.equal(metrics['slave/recovery_errors'], 0);

    fs.writeFileSync(path.join(sandbox, 'go'), '');
    const fin = await master.waitForState('longrun', 'TASK_FINISHED');
    assert.equal(fin.message, 'Command exited with status 0');
    assert.deepEqual(master.statesOf('longrun'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
  });

  it('reports a task that exited while the agent was down with its real exit status', async () => {
    const { master, start, crash, trackPid } = await setup();
    const a1 = await start();
    await a1.registered;
    await master.runTask(commandTask('diedwhiledown', waitForGo(7)));
    const running = await master.waitForState('diedwhiledown', 'TASK_RUNNING');
    const pid = pidOf(running);
    trackPid(pid);
    const state = (await (await fetch(a1.url + '/state')).json()) as any;
    const sandbox = state.frameworks[0].executors[0].directory as string;
    await crash(a1);
    fs.writeFileSync(path.join(sandbox, 'go'), '');
    await waitUntil(() => !isAlive(pid), 'the task to exit while the agent is down');

    const a2 = await start();
    await a2.registered;
    const failed = await master.waitForState('diedwhiledown', 'TASK_FAILED');
    assert.equal(failed.message, 'Command exited with status 7');
    assert.equal(failed.reason, 'REASON_COMMAND_EXECUTOR_FAILED');
    assert.deepEqual(master.statesOf('diedwhiledown'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
  });

  it('re-sends unacknowledged updates after a restart, with the same uuid, and reports them in re-registration', async () => {
    const { master, start, crash, trackPid } = await setup(false);
    const a1 = await start({ status_update_retry_ms: 60_000 });
    await a1.registered;
    await master.runTask(commandTask('unacked', 'sleep 1000'));
    const starting = await master.waitForState('unacked', 'TASK_STARTING');
    const before = (await (await fetch(a1.url + '/state')).json()) as any;
    const pid = before.frameworks[0].executors[0].tasks[0].statuses.at(-1).container_status.executor_pid as number;
    trackPid(pid);
    await crash(a1);
    const a2 = await start({ status_update_retry_ms: 60_000 });
    await a2.registered;
    const rereg = master.registrations.at(-1)!;
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    const t = rereg.tasks.find((x) => x.task_id.value === 'unacked')!;
    assert.equal(t.state, 'TASK_RUNNING');
    assert.equal(t.status_update_state, 'TASK_STARTING');
    assert.equal(t.status_update_uuid, starting.uuid);
    await master.waitFor(() => master.statusesOf('unacked').length >= 2, 'the head to be re-sent after re-registration');
    assert.equal(master.statusesOf('unacked')[1]!.uuid, starting.uuid);
    await master.ack('fw-1', starting);
    const running = await master.waitForState('unacked', 'TASK_RUNNING');
    assert.equal(pidOf(running), pid);
    assert.ok(isAlive(pid));
  });

  it('finishes a kill that was in progress when the agent crashed', async () => {
    const { master, start, crash, trackPid } = await setup();
    const a1 = await start();
    await a1.registered;
    await master.runTask(commandTask('hardkill', "trap '' TERM; while :; do sleep 0.05; done"));
    const running = await master.waitForState('hardkill', 'TASK_RUNNING');
    const pid = pidOf(running);
    trackPid(pid);
    const res = await master.killTask('hardkill', { gracePeriodMs: 800 });
    assert.equal(res.status, 200);
    await crash(a1);
    assert.ok(isAlive(pid), 'the TERM-ignoring task outlives SIGTERM and the agent');
    const a2 = await start();
    await a2.registered;
    const killed = await master.waitForState('hardkill', 'TASK_KILLED');
    assert.equal(killed.message, 'Command terminated with signal SIGKILL');
    assert.ok(!isAlive(pid));
  });

  it('tolerates a torn journal tail and stray temp files', async () => {
    const { master, workDir, start, crash, trackPid } = await setup();
    const a1 = await start();
    const id = await a1.registered;
    await master.runTask(commandTask('torn', 'sleep 1000'));
    const running = await master.waitForState('torn', 'TASK_RUNNING');
    trackPid(pidOf(running));
    await crash(a1);
    const runs = path.join(workDir, 'meta', 'slaves', id, 'frameworks', 'fw-1', 'runs');
    const runDir = path.join(runs, fs.readdirSync(runs)[0]!);
    fs.appendFileSync(path.join(runDir, 'updates'), '{"type":"UPDATE","status":{"task_id":{"val');
    fs.writeFileSync(path.join(runDir, 'task.json.tmp.1.1'), '{"partial":');
    fs.writeFileSync(path.join(workDir, 'meta', 'agent.json.tmp.1.2'), '');
    const a2 = await start();
    assert.equal(await a2.registered, id);
    const rereg = master.registrations.at(-1)!;
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    assert.equal(rereg.tasks.find((t) => t.task_id.value === 'torn')?.state, 'TASK_RUNNING');
    assert.equal(fs.existsSync(path.join(runDir, 'task.json.tmp.1.1')), false);
    assert.ok(fs.readFileSync(path.join(runDir, 'updates'), 'utf8').endsWith('\n'));
    await master.killTask('torn');
    await master.waitForState('torn', 'TASK_KILLED');
  });
});
