// Container tasks outlive their agent: the agent (its own process) is SIGKILLed while two container tasks
// run; a new agent on the same work dir re-attaches to both (they stay TASK_RUNNING, runc still lists them),
// then one finishes on its own and the other is killed, and both containers are deleted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { TaskInfo } from '../../src/protocol/mesos.ts';
import { commandTask, FakeMaster, spawnAgentProcess, waitUntil, type AgentProcess } from '../support/fake-master.ts';
import { containersUnsupported, mountsUnder, runcList, startTestRegistry } from './containers-registry.ts';

const imageTask = (id: string, name: string, cmd: string): TaskInfo =>
  commandTask(id, cmd, {
    container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name } } } },
    resources: [{ name: 'mem', type: 'SCALAR', scalar: { value: 64 } }] as TaskInfo['resources'],
  });

describe('container tasks across an agent crash', { timeout: 60_000, skip: containersUnsupported() }, () => {
  it('re-attaches to running containers after a SIGKILL and restart, then sees them finish and be killed', async () => {
    const registry = await startTestRegistry();
    const master = await FakeMaster.start({ autoAck: true });
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-containers-recovery-'));
    const args = { master: master.url, work_dir: workDir, registration_backoff_ms: 20, process_poll_ms: 50 };
    let agent: AgentProcess | undefined;
    const agentLogs: (() => string)[] = [];
    try {
      const image = registry.push('busybox', 'r1');
      agent = await spawnAgentProcess(args);
      agentLogs.push(agent.stderr);
      await agent.registered;
      // Waits (bounded: 30 s) for the test to drop a file into its sandbox.
      const waitForGo = 'echo up; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; cat go';
      await master.runTask(imageTask('survivor', image, waitForGo));
      await master.runTask(imageTask('victim', image, "trap 'exit 0' TERM; echo up; sleep 600 & wait"));
      const sandbox = (id: string) => path.join(workDir, 'slaves', master.agentId!, 'frameworks', 'fw-1', 'executors', id, 'runs', 'latest');
      for (const id of ['survivor', 'victim']) {
        await master.waitForState(id, 'TASK_RUNNING', 15_000);
        await waitUntil(() => fs.existsSync(path.join(sandbox(id), 'stdout')) && fs.readFileSync(path.join(sandbox(id), 'stdout'), 'utf8') === 'up\n', `${id} to start`, 15_000);
      }

      agent.child.kill('SIGKILL');
      await agent.exited;
      assert.deepEqual(
        runcList(workDir).map((c) => c.status),
        ['running', 'running'],
        'the containers keep running while no agent is there',
      );

      const updatesBefore = master.updates.length;
      agent = await spawnAgentProcess(args);
      agentLogs.push(agent.stderr);
      const rereg = await master.waitFor(() => master.registrations.slice(1).find((r) => r.type === 'REREGISTER_AGENT'), 'the restarted agent to re-register', 15_000);
      assert.equal(rereg.type, 'REREGISTER_AGENT');
      const reported = Object.fromEntries(((rereg as any).tasks as any[]).map((t) => [t.task_id.value, t.state]));
      assert.deepEqual(reported, { survivor: 'TASK_RUNNING', victim: 'TASK_RUNNING' });

      fs.writeFileSync(path.join(sandbox('survivor'), 'go'), 'finished after the restart\n');
      const done = await master.waitFor(() => master.statusesOf('survivor').find((s) => ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST', 'TASK_KILLED'].includes(s.state)), 'survivor to end', 15_000);
      assert.equal(done.state, 'TASK_FINISHED', done.message);
      assert.equal(fs.readFileSync(path.join(sandbox('survivor'), 'stdout'), 'utf8'), 'up\nfinished after the restart\n');

      await master.killTask('victim', { gracePeriodMs: 5000 });
      const killed = await master.waitFor(() => master.statusesOf('victim').find((s) => ['TASK_FINISHED', 'TASK_FAILED', 'TASK_LOST', 'TASK_KILLED'].includes(s.state)), 'victim to end', 15_000);
      assert.equal(killed.state, 'TASK_KILLED', killed.message);
      const after = master.updates.slice(updatesBefore).map((u) => u.update.status.state);
      assert.ok(!after.some((s) => s === 'TASK_LOST' || s === 'TASK_FAILED'), `no task was lost or failed: ${after}`);

      await waitUntil(() => runcList(workDir).length === 0 && mountsUnder(workDir).length === 0, 'both containers to be deleted', 10_000);
    } catch (e) {
      // The agent's own account helps when something above fails.
      (e as Error).message += agentLogs.map((log, i) => `\nagent ${i + 1} stderr:\n${log().slice(-3000)}`).join('');
      throw e;
    } finally {
      if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
        agent.child.kill('SIGTERM');
        await agent.exited;
      }
      await master.close();
      await registry.close();
      if (!mountsUnder(workDir).length) fs.rmSync(workDir, { recursive: true, force: true });
    }
  });
});
