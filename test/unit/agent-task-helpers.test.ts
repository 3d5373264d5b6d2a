import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { ExitWatcher } from '../../src/agent/exit-watcher.ts';
import { GpuPool } from '../../src/agent/gpu-pool.ts';
import { processStartTime } from '../../src/agent/proc.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { describeExit, normalizeExit, parseExitStatusFile, terminalOutcome } from '../../src/agent/exit-status.ts';
import { parseProcStat } from '../../src/agent/proc.ts';
import { agentResources, defaultResources, diskAfterReserve, gpuIndices, memAfterReserve } from '../../src/agent/resources.ts';
import { buildTaskEnv, taskArgv, taskGpuCount, taskPorts } from '../../src/agent/task-env.ts';
import { validateTaskForLaunch } from '../../src/agent/task-validation.ts';
import { newUpdateUuid } from '../../src/agent/tasks.ts';
import { parsePasswd } from '../../src/agent/users.ts';
import type { TaskInfo } from '../../src/protocol/mesos.ts';
import { seededIds } from '../../src/runtime/ids.ts';

const task = (extra: Partial<TaskInfo>): TaskInfo => ({ name: 't', task_id: { value: 't' }, agent_id: { value: 'a' }, resources: [], ...extra }) as TaskInfo;

describe('exit status', () => {
  it('words exits like the command executor', () => {
    assert.equal(describeExit({ code: 3 }), 'Command exited with status 3');
    assert.equal(describeExit({ code: 137 }), 'Command terminated with signal SIGKILL');
    assert.equal(describeExit({ code: 143 }), 'Command terminated with signal SIGTERM');
    assert.equal(describeExit({ signal: 'SIGKILL' }), 'Command terminated with signal SIGKILL');
    assert.deepEqual(normalizeExit({ code: 128 }), { code: 128 });
    assert.deepEqual(normalizeExit({ code: 255 }), { code: 255 });
  });

  it('maps exits to terminal states', () => {
    assert.equal(terminalOutcome({ code: 0 }).state, 'TASK_FINISHED');
    assert.deepEqual(terminalOutcome({ code: 1 }), { state: 'TASK_FAILED', message: 'Command exited with status 1', reason: 'REASON_COMMAND_EXECUTOR_FAILED' });
    assert.equal(terminalOutcome({ code: 0 }, 'kill').state, 'TASK_KILLED');
    assert.equal(terminalOutcome({ code: 143 }, 'shutdown').state, 'TASK_KILLED');
    assert.equal(terminalOutcome({ code: 143 }, 'max_completion_time').reason, 'REASON_MAX_COMPLETION_TIME_REACHED');
    assert.equal(terminalOutcome(undefined).reason, 'REASON_EXECUTOR_TERMINATED');
  });

  it('accepts only complete exit status files', () => {
    assert.deepEqual(parseExitStatusFile('7\n'), { code: 7 });
    assert.equal(parseExitStatusFile(''), undefined);
    assert.equal(parseExitStatusFile('7'), undefined);
    assert.equal(parseExitStatusFile('x\n'), undefined);
  });
});

describe('task validation', () => {
  it('accepts a plain command', () => {
    assert.equal(validateTaskForLaunch(task({ command: { value: 'true' } })), undefined);
    assert.equal(validateTaskForLaunch(task({ command: { shell: false, value: '/bin/true', arguments: ['true'] } })), undefined);
  });
  it('rejects what it cannot run', () => {
    assert.match(validateTaskForLaunch(task({}))!, /CommandInfo or ExecutorInfo/);
    assert.match(validateTaskForLaunch(task({ command: { value: 'x' }, executor: { executor_id: { value: 'e' } } }))!, /not both/);
    assert.match(validateTaskForLaunch(task({ executor: { executor_id: { value: 'e' } } }))!, /executors/);
    assert.match(validateTaskForLaunch(task({ command: {} }))!, /Shell command/);
    assert.match(validateTaskForLaunch(task({ command: { shell: false, arguments: ['a'] } }))!, /Executable/);
    assert.equal(validateTaskForLaunch(task({ command: { value: 'x', uris: [{ value: 'http://x/y' }] } })), undefined, 'URIs are fetched (src/agent/fetcher)');
    // A DOCKER container runs its image with runc (no Docker engine); other container types are refused.
    assert.equal(validateTaskForLaunch(task({ command: { value: 'x' }, container: { type: 'DOCKER', docker: { image: 'x' } } })), undefined);
    assert.match(validateTaskForLaunch(task({ command: { value: 'x' }, container: { type: 'DOCKER', docker: {} } } as any))!, /docker\.image is required/);
    assert.match(validateTaskForLaunch(task({ command: { value: 'x' }, container: { type: 'APPC' } } as any))!, /not supported/);
    assert.match(validateTaskForLaunch(task({ command: { value: 'x', environment: { variables: [{ name: 'A', type: 'SECRET' }] } } }))!, /secret/);
  });
});

describe('task environment', () => {
  const t = task({
    command: { value: 'x', environment: { variables: [{ name: 'PORT0', value: 'overridden' }, { name: 'A', value: '1' }] } },
    resources: [
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 5, end: 6 }, { begin: 1, end: 1 }] } },
      { name: 'gpus', type: 'SCALAR', scalar: { value: 2 } },
    ],
  });
  it('lists ports in resource order', () => {
    assert.deepEqual(taskPorts(t), [5, 6, 1]);
    assert.equal(taskGpuCount(t), 2);
  });
  it('builds MESOS_* and PORT* variables; command variables win; agent env stays private', () => {
    const env = buildTaskEnv({
      task: t,
      frameworkId: 'f',
      agentId: 'a',
      executorId: 't',
      containerId: 'c',
      sandbox: '/s',
      agentEndpoint: 'h:1',
      hostname: 'h',
      gpus: [1, 3],
      base: { PATH: '/bin', SECRET_TOKEN: 'x', LC_ALL: 'C' },
    });
    assert.equal(env.PORTS, '5,6,1');
    assert.equal(env.PORT1, '6');
    assert.equal(env.PORT_1, '1');
    assert.equal(env.PORT0, 'overridden');
    assert.equal(env.A, '1');
    assert.equal(env.MESOS_CONTAINER_NAME, 'mesos-c');
    assert.equal(env.CUDA_VISIBLE_DEVICES, '1,3');
    assert.equal(env.LC_ALL, 'C');
    assert.equal(env.SECRET_TOKEN, undefined);
  });
  it('builds argv for shell and exec commands', () => {
    assert.deepEqual(taskArgv(task({ command: { value: 'echo $X' } })), ['/bin/sh', '-c', 'echo $X']);
    assert.deepEqual(taskArgv(task({ command: { shell: false, value: '/bin/echo', arguments: ['echo', 'a b'] } })), ['/bin/echo', 'a b']);
  });
});

describe('agent resources', () => {
  const facts = { cpus: 8, memMB: 16384, diskMB: 100_000, gpus: [] };
  it('reserves memory and disk like Mesos', () => {
    assert.equal(memAfterReserve(16384), 15360);
    assert.equal(memAfterReserve(1000), 500);
    assert.equal(diskAfterReserve(100_000), 100_000 - 5120);
    assert.equal(diskAfterReserve(4000), 2000);
  });
  it('scales detected resources by the share, but not ports', () => {
    const r = defaultResources(facts, 0.25);
    assert.equal(r.scalars.cpus, 2);
    assert.equal(r.scalars.mem, 3840);
    assert.equal(r.scalars.gpus, undefined);
    assert.deepEqual(r.ranges.ports, [{ begin: 31000, end: 32000 }]);
    assert.equal(defaultResources({ ...facts, gpus: [{ index: 0, name: 'g' }, { index: 1, name: 'g' }] }, 0.5).scalars.gpus, 1);
  });
  it('takes --resources text and fills standard resources it leaves out', () => {
    const r = agentResources('cpus:2;ports:[1-2]', facts);
    assert.equal(r.scalars.cpus, 2);
    assert.equal(r.scalars.mem, 15360);
    assert.deepEqual(r.ranges.ports, [{ begin: 1, end: 2 }]);
    const none = agentResources('cpus:1;mem:0', facts);
    assert.equal(none.scalars.mem, undefined, 'an explicit mem:0 is kept');
  });
  it('hands out detected GPU indexes first', () => {
    assert.deepEqual(gpuIndices(2, [{ index: 4, name: 'g' }]), [4, 0]);
    assert.deepEqual(gpuIndices(0, []), []);
  });
});

describe('small parsers', () => {
  it('parses /proc/<pid>/stat even with odd command names', () => {
    const line = '1234 (my (weird) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 18446744073709551615';
    assert.deepEqual(parseProcStat(line), { state: 'S', ppid: 1, pgrp: 1234, startTime: '987654' });
    assert.equal(parseProcStat('garbage'), undefined);
  });
  it('parses /etc/passwd', () => {
    const users = parsePasswd('root:x:0:0:root:/root:/bin/bash\n# comment\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbad line\n');
    assert.deepEqual(users.map((u) => [u.name, u.uid, u.gid]), [['root', 0, 0], ['nobody', 65534, 65534]]);
  });
  it('makes base64 16-byte update uuids', () => {
    const u = newUpdateUuid(seededIds(1));
    assert.equal(Buffer.from(u, 'base64').length, 16);
    assert.notEqual(u, newUpdateUuid(seededIds(2)));
  });
});

describe('GpuPool', () => {
  it('hands out, reclaims and releases specific GPUs', () => {
    const pool = new GpuPool([0, 1, 2], silentLogger);
    assert.deepEqual(pool.take(2), [0, 1]);
    assert.deepEqual(pool.take(2), [2], 'never more than are free');
    pool.release([1]);
    assert.deepEqual(pool.reclaim([1, 2]), [1], 'only free ones can be reclaimed');
    pool.release([0, 1, 2, 7]);
    assert.deepEqual(pool.take(5), [0, 1, 2]);
  });
});

describe('ExitWatcher', () => {
  it('reports a vanished process on the next poll, and only it', () => {
    const clock = new ManualClock(0);
    const exited: number[] = [];
    const w = new ExitWatcher(clock, 100, (x: { pid: number; startTime?: string }) => exited.push(x.pid));
    const gone = spawnSync('/bin/sh', ['-c', 'echo $$']).stdout.toString().trim();
    w.watch({ pid: process.pid, startTime: processStartTime(process.pid) });
    w.watch({ pid: Number(gone), startTime: 'from-a-dead-process' });
    w.watch({ pid: process.pid, startTime: 'not-my-start-time' });
    assert.deepEqual(exited, []);
    clock.advance(100);
    assert.deepEqual(exited.sort(), [Number(gone), process.pid].sort());
    w.stop();
    assert.equal(clock.pendingTimers(), 0);
  });
});
