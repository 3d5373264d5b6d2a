// End-to-end kernel fault tolerance with real processes: a real master (in this process, embedded SQLite
// store in a temp dir), the agent as a separate OS process (`corral agent`, or test/support/run-agent.ts
// where a flag the CLI lacks is needed), and a framework on SchedulerClient that records and acknowledges
// every update. Covers an agent crash (SIGKILL) with tasks finishing while it is down, an unacknowledged
// terminal update surviving an agent restart, and a master restart on the same store and port. The last
// test reproduces a fixed master bug (duplicate completed_tasks entry after a late acknowledgement).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  Cleanup,
  RecordingFramework,
  checkTaskHistory,
  eventually,
  executorPidOf,
  getJson,
  killGroup,
  processAlive,
  readSandboxFile,
  runsOf,
  sandboxOf,
  startAgentProc,
  startKernelMaster,
  tempDir,
} from '../support/kernel-harness.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Leftover task processes are killed by process group (the wrapper pid leads the task's group). */
function trackTaskGroups(pgids: Iterable<number>): void {
  const list = [...pgids];
  cleanup.add('kill leftover tasks', () => list.forEach((p) => killGroup(p)));
}

/** A long task: records its start and pid in its sandbox, then becomes `sleep` (same pid). */
const LONG = 'echo start >> starts; echo $$ > pid; exec sleep 120';
/** A short task: same bookkeeping, then finishes (exit 0) once a `go` file appears in its sandbox. */
const SHORT = 'echo start >> starts; echo $$ > pid; while [ ! -e go ]; do sleep 0.05; done; echo done';

const masterTask = (state: any, fwId: string, taskId: string): any => {
  const fw = state.frameworks.find((f: any) => f.id === fwId);
  return fw?.tasks.find((t: any) => t.id === taskId);
};

describe('kernel: real master + agent process + framework', () => {
  it('agent process crash: tasks survive, updates from while it was down arrive, nothing relaunches', async () => {
    const dir = tempDir(cleanup);
    const workDir = path.join(dir, 'agent');
    const m = await startKernelMaster(cleanup, path.join(dir, 'master'));
    const a1 = await startAgentProc(cleanup, { master: m.url, workDir });
    const fw = new RecordingFramework(m.url);
    cleanup.add('close framework', () => fw.close());
    const fwId = await fw.subscribe();

    const long = ['long-1', 'long-2'];
    const short = ['short-1', 'short-2', 'short-3'];
    const all = [...long, ...short];
    await fw.launch(a1.agentId, [...long.map((id) => ({ id, command: LONG })), ...short.map((id) => ({ id, command: SHORT }))]);
    const running = new Map<string, number>();
    for (const id of all) running.set(id, executorPidOf(await fw.waitForState(id, 'TASK_RUNNING'))!);
    trackTaskGroups(running.values());
    for (const [id, pid] of running) assert.ok(pid > 0 && processAlive(pid), `${id}: executor pid ${pid} is alive`);

    // The task's own pid, as it wrote it into its sandbox (read through the agent's /files/read).
    const pidBefore = new Map<string, number>();
    for (const id of all) {
      const pid = await eventually(async () => Number((await readSandboxFile(a1.url, fwId, id, 'pid')).trim()) || undefined, 10_000, `${id} to write its pid`);
      pidBefore.set(id, pid);
    }
    await fw.acksSettled();

    // Crash the agent; the short tasks finish while it is down.
    await a1.proc.crash();
    for (const id of all) assert.ok(processAlive(pidBefore.get(id)!), `${id} survives the agent crash`);
    for (const id of short) fs.writeFileSync(path.join(sandboxOf(workDir, a1.agentId, fwId, id), 'go'), '');
    await eventually(() => short.every((id) => !processAlive(pidBefore.get(id)!) && !processAlive(running.get(id)!)), 10_000, 'the short tasks to exit');
    for (const id of short) assert.equal(fw.updatesOf(id).filter((s) => s.state === 'TASK_FINISHED').length, 0, `${id}: no FINISHED while the agent is down`);

    // Restart on the same port and work dir.
    const a2 = await startAgentProc(cleanup, { master: m.url, workDir, port: a1.port });
    assert.equal(a2.agentId, a1.agentId, 'the agent recovers its id');
    assert.equal(a2.port, a1.port);

    for (const id of short) await fw.waitForState(id, 'TASK_FINISHED');

    const slaves = (await getJson(`${m.url}/master/slaves`)).slaves as any[];
    assert.equal(slaves.length, 1, JSON.stringify(slaves));
    assert.equal(slaves[0].id, a1.agentId);
    assert.equal(slaves[0].active, true);
    assert.match(slaves[0].pid, new RegExp(`:${a1.port}$`));

    const state = await getJson(`${m.url}/master/state`);
    for (const id of long) {
      const t = masterTask(state, fwId, id);
      assert.equal(t?.state, 'TASK_RUNNING', `${id} in /master/state: ${JSON.stringify(t)}`);
      assert.equal(t.slave_id, a1.agentId);
      assert.equal(executorPidOf(t.statuses.at(-1)), running.get(id), `${id}: same executor pid in /master/state`);
      const pid = Number((await readSandboxFile(a2.url, fwId, id, 'pid')).trim());
      assert.equal(pid, pidBefore.get(id), `${id}: same task pid`);
      assert.ok(processAlive(pid), `${id}: pid ${pid} still alive`);
    }
    for (const id of all) {
      assert.equal(await readSandboxFile(a2.url, fwId, id, 'starts'), 'start\n', `${id} was started exactly once`);
      assert.equal(runsOf(workDir, a1.agentId, fwId, id).length, 1, `${id} has exactly one run`);
    }
    for (const id of short) assert.equal(await readSandboxFile(a2.url, fwId, id, 'stdout'), 'done\n');
    const metrics = await getJson(`${a2.url}/metrics/snapshot`);
    assert.equal(metrics['slave/recovery_errors'], 0);
    assert.equal(metrics['slave/tasks_running'], long.length);

    // Kill the long tasks through the framework.
    for (const id of long) await fw.client.kill(id, a1.agentId);
    for (const id of long) await fw.waitForState(id, 'TASK_KILLED');
    await eventually(() => long.every((id) => !processAlive(pidBefore.get(id)!)), 10_000, 'the long tasks to die');

    // Every terminal update acknowledged end to end: the master files all tasks as completed.
    await fw.acksSettled();
    const done = await eventually(
      async () => {
        const s = await getJson(`${m.url}/master/state`);
        const f = s.frameworks.find((x: any) => x.id === fwId);
        return f && f.tasks.length === 0 && f.completed_tasks.length === all.length ? f : undefined;
      },
      10_000,
      'all tasks to be completed in /master/state',
    );
    for (const t of done.completed_tasks) assert.equal(t.state, long.includes(t.id) ? 'TASK_KILLED' : 'TASK_FINISHED', t.id);
    await eventually(async () => (await getJson(`${a2.url}/state`)).frameworks.length === 0, 10_000, 'the agent to drain every update stream');

    const problems = [
      ...long.flatMap((id) => checkTaskHistory(fw, id, 'TASK_KILLED')),
      ...short.flatMap((id) => checkTaskHistory(fw, id, 'TASK_FINISHED')),
    ];
    assert.deepEqual(problems, [], fw.summary());
    assert.deepEqual(fw.ackErrors, []);
    assert.deepEqual(fw.masterErrors, []);
  });

  it('an unacknowledged terminal update survives an agent restart and stops once acknowledged', async () => {
    const RETRY_MS = 200;
    const dir = tempDir(cleanup);
    const workDir = path.join(dir, 'agent');
    const m = await startKernelMaster(cleanup, path.join(dir, 'master'));
    // First run: a retry interval far beyond the test, so the update is delivered exactly once before the crash.
    const a1 = await startAgentProc(cleanup, { master: m.url, workDir, via: 'run-agent', statusUpdateRetryMs: 60_000 });
    const fw = new RecordingFramework(m.url, { shouldAck: (s) => s.state !== 'TASK_FINISHED' });
    cleanup.add('close framework', () => fw.close());
    const fwId = await fw.subscribe();

    await fw.launch(a1.agentId, [{ id: 'unacked', command: 'echo start >> starts; echo done' }]);
    const fin = await fw.waitForState('unacked', 'TASK_FINISHED');
    assert.ok(fin.uuid);
    await fw.acksSettled();
    // Unacknowledged: the master still lists the task as active (terminal, not yet completed), the agent keeps it.
    const t = masterTask(await getJson(`${m.url}/master/state`), fwId, 'unacked');
    assert.equal(t?.state, 'TASK_FINISHED', 'an unacknowledged terminal task stays among the active tasks');
    const agentState = await getJson(`${a1.url}/state`);
    assert.equal(agentState.frameworks[0]?.executors[0]?.completed_tasks[0]?.id, 'unacked');

    await a1.proc.crash();
    const before = fw.updatesOf('unacked').filter((s) => s.state === 'TASK_FINISHED');
    assert.equal(before.length, 1, 'delivered once before the crash');
    const seqAtCrash = fw.deliveries.length;

    const a2 = await startAgentProc(cleanup, { master: m.url, workDir, port: a1.port, via: 'run-agent', statusUpdateRetryMs: RETRY_MS });
    assert.equal(a2.agentId, a1.agentId);
    const again = await fw.waitForState('unacked', 'TASK_FINISHED', 15_000, seqAtCrash);
    assert.equal(again.uuid, fin.uuid, 'the same update (same uuid) is re-sent after the restart');
    assert.equal(again.message, fin.message);

    await fw.ack(again);
    assert.ok(fw.ackedAt.has(fin.uuid!), `ack failed: ${fw.ackErrors.join('; ')}`);
    // The agent drops the stream once the ack arrives (the run moves to completed_executors) ...
    await eventually(
      async () => {
        const s = await getJson(`${a2.url}/state`);
        return [...s.frameworks, ...s.completed_frameworks].some(
          (f: any) => f.executors.length === 0 && f.completed_executors.some((e: any) => e.completed_tasks.some((x: any) => x.id === 'unacked')),
        );
      },
      10_000,
      'the agent to retire the acknowledged task',
    );
    // ... and the master files the task as completed.
    const completed = await eventually(
      async () => (await getJson(`${m.url}/master/state`)).frameworks.find((f: any) => f.id === fwId)?.completed_tasks.find((x: any) => x.id === 'unacked'),
      10_000,
      'the master to complete the task',
    );
    assert.equal(completed.state, 'TASK_FINISHED');
    // No more retransmissions: nothing announces an absence, so watch for several retry intervals.
    const seqAtAck = fw.ackedAt.get(fin.uuid!)!;
    await new Promise((r) => setTimeout(r, RETRY_MS * 6));
    const late = fw.deliveries.filter((d) => d.seq > seqAtAck && d.status.task_id.value === 'unacked');
    assert.deepEqual(late.map((d) => d.status.state), [], 'no update after the acknowledgement');
    assert.deepEqual(checkTaskHistory(fw, 'unacked', 'TASK_FINISHED'), [], fw.summary());
    assert.equal(await readSandboxFile(a2.url, fwId, 'unacked', 'starts'), 'start\n');
    assert.deepEqual(fw.ackErrors, []);
  });

  it('master restart on the same store and port: agent and framework come back, a kill goes through', async () => {
    const dir = tempDir(cleanup);
    const workDir = path.join(dir, 'agent');
    const storeDir = path.join(dir, 'master');
    // Fast pings: the new master pings the agents of its registry, which makes them re-register at once.
    const timers = { agentPingTimeoutMs: 500, maxAgentPingTimeouts: 10 };
    const m1 = await startKernelMaster(cleanup, storeDir, timers);
    const agent = await startAgentProc(cleanup, { master: m1.url, workDir });
    const fw = new RecordingFramework(m1.url);
    cleanup.add('close framework', () => fw.close());
    const fwId = await fw.subscribe();

    await fw.launch(agent.agentId, [
      { id: 'survivor', command: LONG },
      { id: 'finisher', command: SHORT },
    ]);
    const execPids = new Map<string, number>();
    for (const id of ['survivor', 'finisher']) execPids.set(id, executorPidOf(await fw.waitForState(id, 'TASK_RUNNING'))!);
    trackTaskGroups(execPids.values());
    const pid = await eventually(async () => Number((await readSandboxFile(agent.url, fwId, 'survivor', 'pid')).trim()) || undefined, 10_000, 'the pid file');
    await fw.acksSettled();

    // Master down; meanwhile `finisher` ends, so its update has to wait for the new master.
    await m1.stop();
    fs.writeFileSync(path.join(sandboxOf(workDir, agent.agentId, fwId, 'finisher'), 'go'), '');
    await eventually(() => !processAlive(execPids.get('finisher')!), 10_000, 'finisher to exit');
    const m2 = await startKernelMaster(cleanup, storeDir, { ...timers, port: m1.port });
    assert.equal(m2.url, m1.url);

    // The agent re-registers with the new master under the same id.
    await eventually(
      async () => (await getJson(`${m2.url}/master/slaves`)).slaves.find((s: any) => s.id === agent.agentId && s.active),
      15_000,
      'the agent to re-register with the new master',
    );
    assert.equal((await getJson(`${m2.url}/master/slaves`)).slaves.length, 1);
    assert.ok(agent.proc.running, 'the agent process kept running');

    // The framework re-subscribes with its id, finds its task, and gets the update from the downtime.
    assert.equal(await fw.resubscribe(), fwId);
    const t = await eventually(async () => masterTask(await getJson(`${m2.url}/master/state`), fwId, 'survivor'), 10_000, 'the task in /master/state');
    assert.equal(t.state, 'TASK_RUNNING');
    assert.equal(t.slave_id, agent.agentId);
    const fws = (await getJson(`${m2.url}/master/frameworks`)).frameworks as any[];
    assert.equal(fws.find((f) => f.id === fwId)?.active, true);
    await fw.waitForState('finisher', 'TASK_FINISHED');
    assert.ok(processAlive(pid));

    // Explicit reconciliation through the new master answers with the task's latest state.
    let seq = fw.deliveries.length;
    await fw.client.reconcile([{ taskId: 'survivor', agentId: agent.agentId }]);
    const rec = await fw.waitForState('survivor', 'TASK_RUNNING', 10_000, seq);
    assert.equal(rec.reason, 'REASON_RECONCILIATION');

    seq = fw.deliveries.length;
    await fw.client.kill('survivor', agent.agentId);
    const killed = await fw.waitForState('survivor', 'TASK_KILLED', 15_000, seq);
    assert.equal(killed.agent_id?.value, agent.agentId);
    await eventually(() => !processAlive(pid) && !processAlive(execPids.get('survivor')!), 10_000, 'the task process to die');
    await fw.acksSettled();
    const done = await eventually(
      async () => {
        const f = (await getJson(`${m2.url}/master/state`)).frameworks.find((x: any) => x.id === fwId);
        return f?.tasks.length === 0 && f.completed_tasks.length === 2 ? f : undefined;
      },
      10_000,
      'the master to complete both tasks',
    );
    assert.deepEqual(done.completed_tasks.map((x: any) => `${x.id}:${x.state}`).sort(), ['finisher:TASK_FINISHED', 'survivor:TASK_KILLED']);
    assert.deepEqual(
      [...checkTaskHistory(fw, 'survivor', 'TASK_KILLED'), ...checkTaskHistory(fw, 'finisher', 'TASK_FINISHED')],
      [],
      fw.summary(),
    );
    for (const id of ['survivor', 'finisher']) assert.equal(await readSandboxFile(agent.url, fwId, id, 'starts'), 'start\n');
    assert.deepEqual(fw.ackErrors, []);
    assert.deepEqual(fw.masterErrors, []);
  });

  it(
    'an acknowledgement accepted while the agent is down (not yet detected) files the task as completed once',
    async () => {
      const dir = tempDir(cleanup);
      const workDir = path.join(dir, 'agent');
      const m = await startKernelMaster(cleanup, path.join(dir, 'master'));
      const a1 = await startAgentProc(cleanup, { master: m.url, workDir });
      const fw = new RecordingFramework(m.url, { shouldAck: (s) => s.state !== 'TASK_FINISHED' });
      cleanup.add('close framework', () => fw.close());
      const fwId = await fw.subscribe();
      await fw.launch(a1.agentId, [{ id: 'late-ack', command: 'echo done' }]);
      const fin = await fw.waitForState('late-ack', 'TASK_FINISHED');
      await fw.acksSettled();
      await a1.proc.crash();
      // The master has not noticed the crash yet: it accepts the ack, retires the task, and the ack is lost.
      await fw.ack(fin);
      const seq = fw.deliveries.length;
      const a2 = await startAgentProc(cleanup, { master: m.url, workDir, port: a1.port });
      const again = await fw.waitForState('late-ack', 'TASK_FINISHED', 15_000, seq);
      assert.equal(again.uuid, fin.uuid);
      await fw.ack(again);
      await eventually(async () => (await getJson(`${a2.url}/state`)).frameworks.length === 0, 10_000, 'the agent to drain');
      const f = (await getJson(`${m.url}/master/state`)).frameworks.find((x: any) => x.id === fwId);
      assert.deepEqual(f.tasks, []);
      assert.deepEqual(
        f.completed_tasks.map((t: any) => `${t.id}:${t.state}`),
        ['late-ack:TASK_FINISHED'],
      );
    },
  );
});
