// Isolation across an agent crash, through the real CLI (`corral agent` flags): the agent is SIGKILLed, its
// tasks stay in their cgroups, and the restarted agent still reports an OOM kill as a memory limitation,
// whether the task died while the agent was down or after it came back. Also: the agent refuses to start
// when an isolator asked for cannot work.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { detectLayout } from '../../src/agent/isolation/cgroups.ts';
import type { TaskStatus } from '../../src/protocol/mesos.ts';
import { commandTask, FakeMaster, isAlive, waitUntil } from '../support/fake-master.ts';
import { CORRAL_BIN, spawnCorral, type CorralProcess } from '../support/cluster.ts';
import { spawn } from 'node:child_process';

const layout = process.getuid?.() === 0 ? detectLayout() : undefined;
const skip = !layout ? 'needs root and a cgroup hierarchy with cpu, memory and pids' : false;
const ROOT = `corral-test-rec-${process.pid}`;

const memoryDir = (containerId: string): string =>
  layout!.version === 2 ? path.join(layout!.mount, ROOT, containerId) : path.join(layout!.mounts.memory!, ROOT, containerId);
const containerOf = (s: TaskStatus): string => (s.container_status as any).container_id.value as string;
const procsOf = (dir: string): number[] =>
  fs
    .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
/** OOMs once a `go` file appears in its sandbox. */
const OOM_ON_GO = 'while [ ! -e go ]; do sleep 0.02; done; head -c 200m /dev/zero | tail';

describe('agent isolation across an agent crash', { skip }, () => {
  let master: FakeMaster;
  let workDir: string;
  const agents: CorralProcess[] = [];

  async function startAgentProcess(): Promise<CorralProcess> {
    const a = spawnCorral([
      'agent',
      '--master', master.url,
      '--port', '0',
      '--work-dir', workDir,
      '--resources', 'cpus:2;mem:1024;disk:100',
      '--isolation', 'cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid',
      '--cgroups-root', ROOT,
      '--json',
      '--log-level', 'warn',
    ]);
    agents.push(a);
    await a.waitForJson((o) => o.event === 'registered', 20_000, 'the agent to register');
    return a;
  }

  async function sandboxOf(agentUrl: string, taskId: string): Promise<string> {
    const state = (await (await fetch(agentUrl + '/state')).json()) as any;
    for (const fw of state.frameworks) for (const ex of fw.executors) if (ex.id === taskId) return ex.directory as string;
    throw new Error(`no executor for ${taskId}`);
  }

  before(async () => {
    master = await FakeMaster.start({ autoAck: true });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-isolation-rec-'));
  });

  after(async () => {
    for (const a of agents) a.kill('SIGKILL');
    await master?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
    const roots = layout!.version === 2 ? [path.join(layout!.mount, ROOT)] : ['cpu', 'cpuacct', 'memory', 'pids'].map((c) => path.join((layout!.mounts as any)[c], ROOT));
    for (const r of roots) if (fs.existsSync(r)) fs.rmdirSync(r);
  });

  it('keeps tasks in their cgroups while the agent is down, and reports their OOM kills after a restart', async () => {
    const first = await startAgentProcess();
    const url = jsonUrl(first);
    const task = (id: string) => commandTask(id, OOM_ON_GO, { resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }, { name: 'mem', type: 'SCALAR', scalar: { value: 32 } }] } as any);
    await master.runTask(task('down'));
    await master.runTask(task('after'));
    const down = await master.waitForState('down', 'TASK_RUNNING');
    const afterRunning = await master.waitForState('after', 'TASK_RUNNING');
    const sandboxes = { down: await sandboxOf(url, 'down'), after: await sandboxOf(url, 'after') };
    const wrapper = (s: TaskStatus) => (s.container_status as any).executor_pid as number;

    first.kill('SIGKILL');
    await first.waitForExit(10_000);
    // Still confined with no agent around: the wrapper is in the task's memory cgroup.
    assert.ok(procsOf(memoryDir(containerOf(down))).includes(wrapper(down)), 'the task stays in its cgroup');
    fs.writeFileSync(path.join(sandboxes.down, 'go'), '');
    await waitUntil(() => !isAlive(wrapper(down)), 'the task to be OOM-killed while the agent is down', 10_000);

    const mark = master.updates.length;
    const second = await startAgentProcess();
    const failedDown = await master.waitFor(
      () => master.updates.slice(mark).map((u) => u.update.status).find((s) => s.task_id.value === 'down' && s.state === 'TASK_FAILED'),
      'down to be reported failed after the restart',
      10_000,
    );
    assert.equal(failedDown.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', failedDown.message);
    assert.match(failedDown.message!, /more than its 32 MB limit/);
    await waitUntil(() => !fs.existsSync(memoryDir(containerOf(down))), 'the cgroup of the ended task to be removed', 5000);

    // Re-attached, not our child any more: its exit is noticed by polling, and its cgroup still tells why.
    assert.ok(isAlive(wrapper(afterRunning)));
    fs.writeFileSync(path.join(sandboxes.after, 'go'), '');
    const failedAfter = await master.waitFor(
      () => master.updates.slice(mark).map((u) => u.update.status).find((s) => s.task_id.value === 'after' && s.state === 'TASK_FAILED'),
      'after to be reported failed',
      10_000,
    );
    assert.equal(failedAfter.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', failedAfter.message);
    assert.equal(failedAfter.source, 'SOURCE_AGENT');
    await waitUntil(() => !fs.existsSync(memoryDir(containerOf(afterRunning))), 'its cgroup to be removed', 5000);
    second.kill('SIGINT');
    await second.waitForExit(10_000);
  });

  it('refuses to start when an isolator asked for cannot work (cgroups as a non-root user), and on unknown names', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-isolation-nobody-'));
    fs.chownSync(dir, 65534, 65534);
    try {
      const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CORRAL_BIN, 'agent', '--master', master.url, '--port', '0', '--work-dir', path.join(dir, 'w'), '--isolation', 'cgroups/mem'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_TEST_CONTEXT: '' },
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      assert.equal(code, 1, stderr);
      assert.match(stderr, /error: isolator cgroups\/mem cannot run on this machine: cgroups need the agent to run as root/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const bad = spawnCorral(['agent', '--master', master.url, '--work-dir', path.join(workDir, 'x'), '--isolation', 'cgroups/cpu,cgroups/gpu']);
    const r = await bad.waitForExit(20_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unknown isolator 'cgroups\/gpu'/);
  });
});

function jsonUrl(p: CorralProcess): string {
  const ready = p.stdout
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return undefined;
      }
    })
    .find((o) => o?.event === 'ready');
  return ready.agent as string;
}
