// The agent's isolators on real cgroups, real pid namespaces and real processes (root only): memory OOM kill
// reason, CPU shares and CFS quota, pids.max against a fork bomb, pid namespaces, unprivileged task users,
// disk quota, and the agent-side ports check. One agent runs every isolator, tasks as `nobody`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentHandle } from '../../src/agent/index.ts';
import { destroyCgroups, detectLayout, sweepEmptyCgroups } from '../../src/agent/isolation/cgroups.ts';
import { CgroupsV2 } from '../../src/agent/isolation/cgroups-v2.ts';
import { parseMountinfo } from '../../src/agent/isolation/mountinfo.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { launchProcess } from '../../src/agent/launcher.ts';
import type { TaskInfo, TaskStatus } from '../../src/protocol/mesos.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { commandTask, DEFAULT_FRAMEWORK, FakeMaster, isAlive, waitUntil } from '../support/fake-master.ts';

const layout = process.getuid?.() === 0 ? detectLayout() : undefined;
const skip = !layout ? 'needs root and a cgroup hierarchy with cpu, memory and pids' : false;
const ROOT = `corral-test-${process.pid}`;
const PIDS_MAX = 32;

/** The task's cgroup directory for a controller (v1) or its unified directory (v2). */
function cgroupDir(controller: 'cpu' | 'memory' | 'pids', containerId: string): string {
  if (layout!.version === 2) return path.join(layout!.mount, ROOT, containerId);
  return path.join(layout!.mounts[controller]!, ROOT, containerId);
}

const read = (dir: string, file: string): string => fs.readFileSync(path.join(dir, file), 'utf8').trim();
const containerOf = (s: TaskStatus): string => (s.container_status as any).container_id.value as string;
const res = (cpus: number, mem: number, extra: object[] = []): Partial<TaskInfo> =>
  ({
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: cpus } }, { name: 'mem', type: 'SCALAR', scalar: { value: mem } }, ...extra],
  }) as Partial<TaskInfo>;
const ports = (begin: number, end: number) => ({ name: 'ports', type: 'RANGES', ranges: { range: [{ begin, end }] } });

describe('task wrapper', () => {
  it('never runs a task it could not put into its cgroups', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-wrapper-'));
    try {
      const p = await launchProcess({
        argv: ['/bin/sh', '-c', 'touch ran'],
        env: { PATH: process.env.PATH! },
        cwd: dir,
        stdoutPath: path.join(dir, 'stdout'),
        stderrPath: path.join(dir, 'stderr'),
        exitStatusPath: path.join(dir, 'exit_status'),
        cgroupProcs: [path.join(dir, 'no-such-cgroup', 'cgroup.procs')],
      });
      // The wrapper is unref'd (tasks outlive the agent): wait on its status file, which keeps this loop busy.
      await waitUntil(() => fs.existsSync(path.join(dir, 'exit_status')) && fs.readFileSync(path.join(dir, 'exit_status'), 'utf8') === '125\n', 'the wrapper to give up', 5000);
      const keepAlive = setInterval(() => undefined, 1000);
      try {
        assert.deepEqual(await p.exited, { code: 125 });
      } finally {
        clearInterval(keepAlive);
      }
      assert.equal(fs.existsSync(path.join(dir, 'ran')), false);
      assert.match(fs.readFileSync(path.join(dir, 'stderr'), 'utf8'), /corral: cannot join cgroup .*no-such-cgroup.*; the task was not started/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The v2 driver's mechanics (create, join before exec, kill, remove, sweep) on a real cgroup2 mount. On these
// v1-hybrid machines that is the controller-less /sys/fs/cgroup/unified, so no limits: those need a v2 host.
const cgroup2 = process.getuid?.() === 0 ? parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).find((m) => m.fsType === 'cgroup2') : undefined;
describe('cgroup v2 driver', { skip: cgroup2 ? false : 'needs root and a cgroup2 mount' }, () => {
  it('puts a task in its unified cgroup before it runs, kills what it left, removes the cgroup, and sweeps leftovers', async () => {
    const root = `corral-test-v2-${process.pid}`;
    const driver = new CgroupsV2(cgroup2!.mountPoint, root, new Set());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-v2-'));
    // The wrapper and the clean-up's retry timers are unref'd (an agent's server keeps its loop alive).
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      driver.init();
      const cg = driver.plan('c1');
      driver.create(cg, { cfs: false });
      const p = await launchProcess({
        argv: ['/bin/sh', '-c', 'cat /proc/self/cgroup > cg; setsid sleep 1000 & echo ready > ready; wait'],
        env: { PATH: process.env.PATH! },
        cwd: dir,
        stdoutPath: path.join(dir, 'stdout'),
        stderrPath: path.join(dir, 'stderr'),
        exitStatusPath: path.join(dir, 'exit_status'),
        cgroupProcs: driver.procsFiles(cg),
      });
      await waitUntil(() => fs.existsSync(path.join(dir, 'ready')), 'the task to start', 5000);
      assert.match(fs.readFileSync(path.join(dir, 'cg'), 'utf8'), new RegExp(`^0::.*/${root}/c1$`, 'm'));
      assert.ok(driver.pids(cg).includes(p.pid), 'the wrapper is in the cgroup');
      assert.ok(driver.pids(cg).length >= 3, 'and so is everything it started, setsid included');
      assert.equal(await destroyCgroups(driver, cg, systemClock), true);
      assert.equal(driver.exists(cg), false);
      await waitUntil(() => !isAlive(p.pid), 'the task to be killed with its cgroup', 5000);
      // A leftover: empty, and old enough.
      const left = driver.plan('c2');
      driver.create(left, { cfs: false });
      assert.equal(sweepEmptyCgroups(driver, Date.now(), 60_000), 0, 'too young to be a leftover');
      assert.equal(sweepEmptyCgroups(driver, Date.now() + 120_000, 60_000), 1);
      assert.equal(driver.exists(left), false);
    } finally {
      clearInterval(keepAlive);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmdirSync(path.join(cgroup2!.mountPoint, root));
    }
  });
});

describe('agent isolation', { skip }, () => {
  let master: FakeMaster;
  let agent: AgentHandle;
  let workDir: string;

  async function sandboxOf(taskId: string): Promise<string> {
    const state = (await (await fetch(agent.url + '/state')).json()) as any;
    for (const fw of [...state.frameworks, ...state.completed_frameworks])
      for (const ex of [...fw.executors, ...fw.completed_executors]) if (ex.id === taskId) return ex.directory as string;
    throw new Error(`no executor for ${taskId}`);
  }

  async function statisticsOf(taskId: string): Promise<any> {
    const list = (await (await fetch(agent.url + '/monitor/statistics')).json()) as any[];
    return list.find((e) => e.executor_id === taskId)?.statistics;
  }

  before(async () => {
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-isolation-'));
    agent = await startAgent({
      masterUrl: master.url,
      workDir,
      port: 0,
      log: silentLogger,
      resources: 'cpus:4;mem:4096;disk:1000;ports:[31000-31009]',
      isolation: 'cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,disk/du',
      cgroupsRoot: ROOT,
      cgroupsEnableCfs: true,
      cgroupsPidsMax: PIDS_MAX,
      enforceContainerDiskQuota: true,
      containerDiskWatchIntervalMs: 100,
      switchUser: true,
      processPollMs: 50,
    });
    await agent.registered();
  });

  after(async () => {
    await agent?.close({ killTasks: true });
    await master?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
    const roots = layout!.version === 2 ? [path.join(layout!.mount, ROOT)] : ['cpu', 'cpuacct', 'memory', 'pids'].map((c) => path.join((layout!.mounts as any)[c], ROOT));
    for (const r of roots) {
      const left = fs.existsSync(r) ? fs.readdirSync(r, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : [];
      assert.deepEqual(left, [], `task cgroups left under ${r}`);
      if (fs.existsSync(r)) fs.rmdirSync(r);
    }
    assert.deepEqual(master.invalid, [], 'the agent sent messages the master schema rejects');
  });

  it('reports an OOM kill as TASK_FAILED / REASON_CONTAINER_LIMITATION_MEMORY with the limit, and removes the cgroup', async () => {
    await master.runTask(commandTask('oom', 'head -c 200m /dev/zero | tail', res(0.1, 32)));
    const f = await master.waitForState('oom', 'TASK_FAILED', 15_000);
    assert.equal(f.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', f.message);
    assert.equal(f.source, 'SOURCE_AGENT');
    assert.match(f.message!, /^Memory limit exceeded: the task used more than its 32 MB limit \(/);
    assert.deepEqual((f as any).limitation, { resources: [{ name: 'mem', type: 'SCALAR', scalar: { value: 32 } }] });
    const dir = cgroupDir('memory', containerOf(f));
    await waitUntil(() => !fs.existsSync(dir), 'the memory cgroup to be removed', 5000);

    // A task that would outlive the OOM kill of one of its processes is ended by the agent (Mesos destroys the container).
    await master.runTask(commandTask('oom-child', '(head -c 200m /dev/zero | tail); exec sleep 1000', res(0.1, 32)));
    const child = await master.waitForState('oom-child', 'TASK_FAILED', 15_000);
    assert.equal(child.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', child.message);
  });

  it('writes cpu shares and a CFS quota, and the quota throttles a busy loop to its cpus', async () => {
    await master.runTask(commandTask('spin', 'while :; do :; done', res(0.25, 32)));
    const running = await master.waitForState('spin', 'TASK_RUNNING');
    const cpu = cgroupDir('cpu', containerOf(running));
    if (layout!.version === 1) {
      assert.equal(read(cpu, 'cpu.shares'), '256');
      assert.equal(read(cpu, 'cpu.cfs_period_us'), '100000');
      assert.equal(read(cpu, 'cpu.cfs_quota_us'), '25000');
      assert.equal(read(cgroupDir('memory', containerOf(running)), 'memory.limit_in_bytes'), String(32 * 1024 * 1024));
      assert.equal(read(cgroupDir('pids', containerOf(running)), 'pids.max'), String(PIDS_MAX));
    } else {
      assert.equal(read(cpu, 'cpu.max'), '25000 100000');
      assert.equal(read(cpu, 'memory.max'), String(32 * 1024 * 1024));
    }
    // Over at least 8 CFS periods (0.8 s of a runnable loop), the loop gets about a quarter of a CPU.
    const first = await waitUntil(async () => (await statisticsOf('spin'))?.cpus_nr_periods !== undefined && statisticsOf('spin'), 'cpu statistics', 5000);
    const later = await waitUntil(
      async () => {
        const s = await statisticsOf('spin');
        return s && s.cpus_nr_periods >= first.cpus_nr_periods + 8 && s.disk_used_bytes !== undefined && s;
      },
      'eight CFS periods and a disk measurement',
      10_000,
      50,
    );
    const used = later.cpus_user_time_secs + later.cpus_system_time_secs - (first.cpus_user_time_secs + first.cpus_system_time_secs);
    const window = (later.cpus_nr_periods - first.cpus_nr_periods) * 0.1;
    assert.ok(later.cpus_nr_throttled > first.cpus_nr_throttled, `throttled in ${later.cpus_nr_throttled - first.cpus_nr_throttled} periods`);
    assert.ok(used / window < 0.25 * 1.6, `used ${used.toFixed(2)} s of CPU in ${window.toFixed(1)} s under a 0.25 cpu quota`);
    assert.equal(later.cpus_limit, 0.25);
    assert.equal(later.mem_limit_bytes, 32 * 1024 * 1024);
    assert.ok(later.disk_used_bytes >= 0);
    await master.killTask('spin', { gracePeriodMs: 200 });
    await master.waitForState('spin', 'TASK_KILLED');
  });

  it('bounds a fork bomb by pids.max and leaves nothing behind, even processes that left the group', async () => {
    const mark = `${4000 + (process.pid % 1000)}.25`;
    const cmd = `i=0; while [ $i -lt 200 ]; do setsid sleep ${mark} & echo $! >> started; i=$((i+1)); done; wait`;
    await master.runTask(commandTask('bomb', cmd, res(0.1, 64)));
    const f = await master.waitForState('bomb', 'TASK_FAILED', 15_000);
    const dir = await sandboxOf('bomb');
    const started = fs.readFileSync(path.join(dir, 'started'), 'utf8').trim().split('\n').length;
    assert.ok(started < PIDS_MAX, `${started} children started under pids.max ${PIDS_MAX}`);
    assert.match(fs.readFileSync(path.join(dir, 'stderr'), 'utf8'), /fork/i);
    assert.notEqual(f.reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
    const survivors = () =>
      fs.readdirSync('/proc').filter((p) => {
        try {
          return /^\d+$/.test(p) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${mark}\0`;
        } catch {
          return false;
        }
      });
    await waitUntil(() => survivors().length === 0, 'every sleeper of the bomb to be gone', 5000);
    await waitUntil(() => !fs.existsSync(cgroupDir('pids', containerOf(f))), 'the pids cgroup to be removed', 5000);
  });

  it('runs each task in its own pid namespace: it cannot see or signal a neighbour', async () => {
    await master.runTask(commandTask('neighbour', 'sleep 1000', res(0.1, 32)));
    const n = await master.waitForState('neighbour', 'TASK_RUNNING');
    const neighbourPid = (n.container_status as any).executor_pid as number;
    assert.ok(isAlive(neighbourPid));
    const script = `echo "me $$"; echo "procs $(ls /proc | grep -c '^[0-9]')"; if kill -0 ${neighbourPid} 2>/dev/null; then echo "reached neighbour"; else echo "no neighbour"; fi; tr '\\0' ' ' < /proc/1/cmdline; echo`;
    await master.runTask(commandTask('peek', script, res(0.1, 32)));
    await master.waitForState('peek', 'TASK_FINISHED');
    const out = fs.readFileSync(path.join(await sandboxOf('peek'), 'stdout'), 'utf8');
    const me = Number(/me (\d+)/.exec(out)?.[1]);
    assert.ok(me >= 1 && me <= 3, `the task's own pid is ${me} in its namespace:\n${out}`);
    assert.ok(Number(/procs (\d+)/.exec(out)?.[1]) <= 6, `it sees only its own processes:\n${out}`);
    assert.match(out, /no neighbour/);
    assert.match(out, /corral-init/, 'pid 1 is the namespace init');
    assert.ok(isAlive(neighbourPid), 'the neighbour is untouched');
    await master.killTask('neighbour');
    const k = await master.waitForState('neighbour', 'TASK_KILLED');
    assert.equal(k.message, 'Command terminated with signal SIGTERM', 'SIGTERM reaches a command under the namespace init');
  });

  it('runs tasks as an unprivileged user, confined to their own sandbox, and refuses root', async () => {
    const anonymous = { ...DEFAULT_FRAMEWORK, id: { value: 'fw-anon' }, user: '' };
    await master.runTask(commandTask('who', 'id -un; id -u; touch mine', res(0.1, 32)), anonymous);
    await master.waitForState('who', 'TASK_FINISHED');
    const dir = await sandboxOf('who');
    assert.deepEqual(fs.readFileSync(path.join(dir, 'stdout'), 'utf8').split('\n').slice(0, 2), ['nobody', '65534']);
    const st = fs.statSync(dir);
    assert.equal(st.uid, 65534);
    assert.equal(st.mode & 0o777, 0o750);
    assert.equal(fs.statSync(path.join(dir, 'mine')).uid, 65534);

    const rootFw = { ...DEFAULT_FRAMEWORK, id: { value: 'fw-root' }, user: 'root' };
    await master.runTask(commandTask('as-root', 'id -u', res(0.1, 32)), rootFw);
    const refused = await master.waitForState('as-root', 'TASK_FAILED');
    assert.equal(refused.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(refused.message!, /Refusing to run the task as 'root' \(uid 0\).*--allow-root-tasks/);
    await master.runTask(commandTask('cmd-root', { value: 'id -u', user: 'root' }, res(0.1, 32)));
    assert.match((await master.waitForState('cmd-root', 'TASK_FAILED')).message!, /Refusing to run the task as 'root'/);
  });

  it('kills a task whose sandbox outgrows its disk: TASK_FAILED / REASON_CONTAINER_LIMITATION_DISK', async () => {
    const disk = { name: 'disk', type: 'SCALAR', scalar: { value: 1 } };
    await master.runTask(commandTask('hog', 'head -c 3000000 /dev/zero > blob; sleep 1000', res(0.1, 32, [disk])));
    const f = await master.waitForState('hog', 'TASK_FAILED', 10_000);
    assert.equal(f.reason, 'REASON_CONTAINER_LIMITATION_DISK', f.message);
    assert.equal(f.source, 'SOURCE_AGENT');
    assert.match(f.message!, /^Disk usage \(2\.\d MB\) exceeds the task's disk limit \(1 MB\)/);
    assert.deepEqual((f as any).limitation, { resources: [{ name: 'disk', type: 'SCALAR', scalar: { value: 1 } }] });
  });

  it('refuses a task whose ports another live task holds', async () => {
    await master.runTask(commandTask('p1', 'sleep 1000', res(0.1, 32, [ports(31000, 31001)])));
    await master.waitForState('p1', 'TASK_RUNNING');
    await master.runTask(commandTask('p2', 'sleep 1000', res(0.1, 32, [ports(31001, 31002)])));
    const clash = await master.waitForState('p2', 'TASK_ERROR');
    assert.equal(clash.reason, 'REASON_TASK_INVALID');
    assert.equal(clash.message, "Task uses ports [31001] that task 'p1' already uses on this agent");
    await master.killTask('p1');
    await master.waitForState('p1', 'TASK_KILLED');
    // Freed with the task: the port can be used again.
    await master.runTask(commandTask('p4', 'true', res(0.1, 32, [ports(31001, 31001)])));
    await master.waitForState('p4', 'TASK_FINISHED');
  });
});
