// --recovery-timeout with real processes: `corral agent` runs as its own process against a fake master and is
// SIGKILLed; the work dir's watchdog process must kill the tasks it left once no agent came back in time
// (and only then), and the next agent must report them TASK_FAILED / REASON_EXECUTOR_REREGISTRATION_TIMEOUT.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import { WRAPPER_NAME, WRAPPER_SCRIPT } from '../../src/agent/launcher.ts';
import { RECOVERY_TIMEOUT_FILE, WATCHDOG_AGENT_FILE, WATCHDOG_HEARTBEAT_FILE, WATCHDOG_LOG_FILE, watchdogDir } from '../../src/agent/paths.ts';
import { findWatchdog, watchdogPids } from '../../src/agent/recovery-timeout-watchdog.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { runCorral, spawnCorral, type CorralProcess } from '../support/cluster.ts';
import { commandTask, FakeMaster, isAlive, waitUntil } from '../support/fake-master.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const killGroup = (pid: number): void => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
};

async function setup() {
  const master = await FakeMaster.start({ autoAck: true });
  // The agent resolves its work dir; the watchdog's argv carries the resolved path.
  const workDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'corral-recovery-timeout-')));
  const agents: CorralProcess[] = [];
  const taskPids: number[] = [];
  cleanups.push(async () => {
    for (const a of agents) a.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.waitForExit(10_000).catch(() => undefined)));
    for (const p of taskPids) killGroup(p);
    // Each test checks that its watchdogs exit by themselves; this only keeps a failed test from leaking one.
    for (const p of watchdogPids(workDir)) process.kill(p, 'SIGKILL');
    await master.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });
  const start = async (recoveryTimeout?: string): Promise<{ proc: CorralProcess; id: string }> => {
    const args = ['agent', '--master', master.url, '--port', '0', '--work-dir', workDir, '--json'];
    const proc = spawnCorral(recoveryTimeout ? [...args, '--recovery-timeout', recoveryTimeout] : args, { env: { CORRAL_LOG_LEVEL: 'warn' } });
    agents.push(proc);
    const ev = await proc.waitForJson<{ agent_id: string }>((e) => e.event === 'registered', 20_000, 'the agent to register');
    return { proc, id: ev.agent_id };
  };
  const crash = async (a: CorralProcess): Promise<void> => {
    a.kill('SIGKILL');
    await a.waitForExit(10_000);
  };
  const launch = async (taskId: string): Promise<number> => {
    await master.runTask(commandTask(taskId, 'sleep 1000'));
    const running = await master.waitForState(taskId, 'TASK_RUNNING');
    const pid = (running.container_status as { executor_pid: number }).executor_pid;
    taskPids.push(pid);
    return pid;
  };
  const watchdogLog = (): { msg: string; [k: string]: unknown }[] => {
    try {
      return fs.readFileSync(path.join(watchdogDir(workDir), WATCHDOG_LOG_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  };
  const runMetaDir = (agentId: string): string => {
    const runs = path.join(workDir, 'meta', 'slaves', agentId, 'frameworks', 'fw-1', 'runs');
    return path.join(runs, fs.readdirSync(runs)[0]!);
  };
  return { master, workDir, start, crash, launch, watchdogLog, runMetaDir };
}

/** Asserts that `check` stays true until `until` (epoch ms), looking every 50 ms: an observation window, not a wait for an event. */
async function holdsUntil(check: () => boolean, until: number, what: string): Promise<void> {
  for (let i = 0; Date.now() < until && i < 10_000; i++) {
    assert.ok(check(), `${what} (with ${until - Date.now()} ms of the window left)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(check(), what);
}

describe('agent --recovery-timeout', () => {
  it('kills the tasks of an agent that does not come back in time; the next agent reports them TASK_FAILED', async () => {
    const { master, workDir, start, crash, launch, watchdogLog, runMetaDir } = await setup();
    const a1 = await start('1secs');
    const watchdog = await waitUntil(() => findWatchdog(workDir), 'the watchdog to start');
    const pid = await launch('orphaned');
    const metaDir = runMetaDir(a1.id);
    // A task wrapper of another work dir (whose path starts like this one's): never the watchdog's business.
    const decoy = spawn('/bin/sh', ['-c', WRAPPER_SCRIPT, WRAPPER_NAME, path.join(`${workDir}x`, 'meta', 'exit_status'), 'sleep', '1000'], { detached: true, stdio: 'ignore' });
    cleanups.push(() => killGroup(decoy.pid!));

    await crash(a1.proc);
    const crashedAt = Date.now();
    assert.ok(isAlive(pid), 'the task outlives the agent');
    await waitUntil(() => !isAlive(pid), 'the watchdog to kill the task', 10_000);
    // Gone since its last heartbeat (every 100 ms at this timeout), so killed no sooner than ~0.9 s after the crash.
    const ranFor = Date.now() - crashedAt;
    assert.ok(ranFor >= 750, `the task was killed only ${ranFor} ms after the agent crashed`);
    assert.ok(isAlive(decoy.pid!), 'the watchdog killed a task of another work dir');
    const marker = JSON.parse(fs.readFileSync(path.join(metaDir, RECOVERY_TIMEOUT_FILE), 'utf8'));
    assert.equal(marker.by, 'watchdog');
    assert.equal(marker.timeout_ms, 1000);
    await waitUntil(() => !isAlive(watchdog), 'the watchdog to exit by itself', 5000);
    const log = watchdogLog().map((l) => l.msg);
    assert.ok(log.includes('the agent did not come back within the recovery timeout: killing its tasks'), log.join('\n'));
    assert.ok(log.includes('SIGTERM'));

    const a2 = await start('1secs');
    assert.equal(a2.id, a1.id);
    const rereg = master.registrations.at(-1)!;
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    assert.equal(rereg.tasks.find((t) => t.task_id.value === 'orphaned')?.state, 'TASK_FAILED');
    const failed = await master.waitForState('orphaned', 'TASK_FAILED');
    assert.equal(failed.reason, 'REASON_EXECUTOR_REREGISTRATION_TIMEOUT');
    assert.equal(failed.source, 'SOURCE_AGENT');
    assert.equal(failed.message, 'the agent did not recover within --recovery-timeout 1secs; the task was killed');
    assert.deepEqual(master.statesOf('orphaned'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);

    // The second agent's watchdog leaves by itself once that agent stops with no task left.
    const second = await waitUntil(() => findWatchdog(workDir), 'the second agent to start a watchdog');
    assert.notEqual(second, watchdog);
    a2.proc.kill('SIGTERM');
    await a2.proc.waitForExit(10_000);
    await waitUntil(() => !isAlive(second), 'the second watchdog to exit by itself', 5000);
  });

  it('leaves the tasks alone when the agent comes back in time: same pid, one watchdog, re-used', async () => {
    const { master, workDir, start, crash, launch, watchdogLog, runMetaDir } = await setup();
    const timeoutMs = 4000;
    const a1 = await start('4secs');
    const watchdog = await waitUntil(() => findWatchdog(workDir), 'the watchdog to start');
    const pid = await launch('kept');

    await crash(a1.proc);
    const crashedAt = Date.now();
    await waitUntil(() => watchdogLog().some((l) => l.msg.startsWith('the agent is gone')), 'the watchdog to notice the crash', 5000);
    const a2 = await start('4secs');
    assert.ok(Date.now() - crashedAt < timeoutMs, 'the agent restarted within the timeout (a very slow machine?)');
    assert.equal(a2.id, a1.id);
    assert.deepEqual(watchdogPids(workDir), [watchdog], 'the watchdog is re-used, not duplicated');
    await waitUntil(() => watchdogLog().some((l) => l.msg === 'an agent took this work dir over'), 'the watchdog to see the new agent', 5000);

    // Past the first agent's deadline the task still runs, with the same pid, and nothing was killed.
    await holdsUntil(() => isAlive(pid), crashedAt + timeoutMs + 500, 'the task keeps running');
    assert.ok(isAlive(watchdog));
    assert.ok(!watchdogLog().some((l) => l.msg.includes('killing')));
    assert.equal(fs.existsSync(path.join(runMetaDir(a1.id), RECOVERY_TIMEOUT_FILE)), false);
    assert.deepEqual(master.statesOf('kept'), ['TASK_STARTING', 'TASK_RUNNING']);
    const rereg = master.registrations.at(-1)!;
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    const reported = rereg.tasks.find((t) => t.task_id.value === 'kept')!;
    assert.equal(reported.state, 'TASK_RUNNING');
    assert.equal((reported.statuses.at(-1)!.container_status as { executor_pid: number }).executor_pid, pid);

    // Kill the task, stop the agent: with nothing left to watch, the watchdog exits by itself.
    await master.killTask('kept');
    await master.waitForState('kept', 'TASK_KILLED');
    a2.proc.kill('SIGTERM');
    await a2.proc.waitForExit(10_000);
    await waitUntil(() => !isAlive(watchdog), 'the watchdog to exit by itself', 5000);
  });

  it('kills leftovers itself when the previous agent stayed away too long and its watchdog died too', async () => {
    const { master, workDir, start, crash, launch, runMetaDir } = await setup();
    const a1 = await start(); // the default, 15mins
    const watchdog = await waitUntil(() => findWatchdog(workDir), 'the watchdog to start');
    const pid = await launch('stale');
    process.kill(watchdog, 'SIGKILL');
    await crash(a1.proc);
    await waitUntil(() => !isAlive(watchdog), 'the watchdog to die');
    // The agent has been away for 16 minutes: back-date its record and heartbeat rather than wait.
    const dir = watchdogDir(workDir);
    const then = Date.now() - 16 * 60_000;
    const rec = JSON.parse(fs.readFileSync(path.join(dir, WATCHDOG_AGENT_FILE), 'utf8'));
    fs.writeFileSync(path.join(dir, WATCHDOG_AGENT_FILE), JSON.stringify({ ...rec, started_at: then - 60_000 }));
    fs.utimesSync(path.join(dir, WATCHDOG_HEARTBEAT_FILE), then / 1000, then / 1000);
    assert.ok(isAlive(pid));

    await start('15mins');
    const failed = await master.waitForState('stale', 'TASK_FAILED');
    assert.equal(failed.reason, 'REASON_EXECUTOR_REREGISTRATION_TIMEOUT');
    assert.equal(failed.source, 'SOURCE_AGENT');
    assert.equal(failed.message, 'the agent did not recover within --recovery-timeout 15mins; the task was killed');
    assert.ok(!isAlive(pid));
    assert.equal(JSON.parse(fs.readFileSync(path.join(runMetaDir(a1.id), RECOVERY_TIMEOUT_FILE), 'utf8')).by, 'agent');
  });

  it('lets the watchdog go once the agent stops after killing its tasks', async () => {
    const master = await FakeMaster.start({ autoAck: true });
    const workDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'corral-recovery-timeout-')));
    cleanups.push(async () => {
      for (const p of watchdogPids(workDir)) process.kill(p, 'SIGKILL');
      await master.close();
      fs.rmSync(workDir, { recursive: true, force: true });
    });
    const agent = await startAgent({ masterUrl: master.url, workDir, port: 0, log: silentLogger, registrationBackoffMs: 20, recoveryTimeoutMs: 60_000 });
    cleanups.push(() => agent.close({ killTasks: true }));
    await agent.registered();
    const watchdog = await waitUntil(() => findWatchdog(workDir), 'the watchdog to start');
    await master.runTask(commandTask('short', 'sleep 1000'));
    const running = await master.waitForState('short', 'TASK_RUNNING');
    const pid = (running.container_status as { executor_pid: number }).executor_pid;
    cleanups.push(() => killGroup(pid));
    await agent.close({ killTasks: true }); // resolves once the task's end is checkpointed
    assert.ok(!isAlive(pid));
    await waitUntil(() => !isAlive(watchdog), 'the watchdog to exit by itself', 5000);
    const record = JSON.parse(fs.readFileSync(path.join(watchdogDir(workDir), WATCHDOG_AGENT_FILE), 'utf8'));
    assert.equal(record.state, 'stopped');
  });

  it('rejects a malformed --recovery-timeout with a clear error', async () => {
    const r = await runCorral(['agent', '--work-dir', os.tmpdir(), '--recovery-timeout', '15minutes'], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--recovery-timeout/);
    assert.match(r.stderr, /expected a duration such as 15mins, 30secs, 500ms/);
  });
});
