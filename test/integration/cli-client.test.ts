// SchedulerClient and OperatorClient against a real master and agent running
// in this process (startInProcessCluster): the full offer → launch → update →
// acknowledge → teardown cycle, and the operator endpoints the CLI reads.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { OperatorClient, agentUrlOf } from '../../src/client/operator-client.ts';
import { SchedulerClient } from '../../src/client/scheduler-client.ts';
import { isTerminalState, type TaskStatus } from '../../src/protocol/mesos.ts';
import { eventually, startInProcessCluster, type InProcessCluster } from '../support/cluster.ts';

describe('clients against an in-process cluster', () => {
  let cluster: InProcessCluster;
  before(async () => {
    cluster = await startInProcessCluster({ agents: 1, store: 'embedded' });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('subscribe, launch on an offer, acknowledge updates, read the sandbox, tear down', async () => {
    const client = new SchedulerClient({ masterUrl: cluster.masterUrl });
    const op = new OperatorClient(cluster.masterUrl);
    try {
      const statuses: TaskStatus[] = [];
      const finished = client.waitFor(
        (ev) => {
          if (ev.type !== 'UPDATE') return undefined;
          const s = (ev as { update: { status: TaskStatus } }).update.status;
          return isTerminalState(s.state) ? s : undefined;
        },
        20_000,
        'a terminal update',
      );
      client.on('update', (s) => {
        statuses.push(s);
        void client.acknowledge(s);
      });
      const firstOffer = client.waitFor((ev) => (ev.type === 'OFFERS' ? (ev as any).offers.offers[0] : undefined), 10_000, 'an offer');
      const sub = await client.subscribe({
        user: os.userInfo().username,
        name: 'client-it',
        failover_timeout: 0,
        capabilities: [{ type: 'PARTITION_AWARE' }],
      });
      assert.ok(sub.frameworkId);
      assert.ok(sub.streamId);
      const offer = await firstOffer;
      await client.launch(
        [offer.id],
        [
          {
            name: 'greet',
            task_id: { value: 'greet-1' },
            agent_id: offer.agent_id,
            resources: [
              { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
              { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
            ],
            command: { value: 'printf "hi from corral\\n"' },
          },
        ],
      );
      const last = await finished;
      assert.equal(last.state, 'TASK_FINISHED');
      assert.ok(statuses.every((s) => s.task_id.value === 'greet-1'));

      // The operator view the CLI relies on.
      const state = await op.state();
      const slave = state.slaves!.find((s) => s.id === offer.agent_id.value)!;
      assert.equal(agentUrlOf(slave), cluster.agentUrls[0]);
      const fw = state.frameworks!.find((f) => f.id === sub.frameworkId)!;
      assert.equal(fw.name, 'client-it');
      const agentState = await op.agentState(agentUrlOf(slave));
      const executors = [...(agentState.frameworks ?? []), ...(agentState.completed_frameworks ?? [])]
        .filter((f) => f.id === sub.frameworkId)
        .flatMap((f) => [...(f.executors ?? []), ...(f.completed_executors ?? [])]);
      const dir = executors.find((e) => [...(e.tasks ?? []), ...(e.completed_tasks ?? [])].some((t) => t.id === 'greet-1'))?.directory;
      assert.ok(dir, JSON.stringify(agentState.frameworks));
      const size = await op.readFile(agentUrlOf(slave), `${dir}/stdout`);
      assert.equal(size.offset, 'hi from corral\n'.length);
      const chunk = await op.readFile(agentUrlOf(slave), `${dir}/stdout`, 0, 1000);
      assert.equal(chunk.data, 'hi from corral\n');
      const metrics = await op.metrics();
      assert.ok((metrics['master/tasks_finished'] ?? 0) >= 1);

      await client.teardown();
      await eventually(
        async () => !(await op.frameworks()).frameworks.some((f) => f.id === sub.frameworkId),
        5000,
        'the framework to be removed',
      );
    } finally {
      client.close();
      op.close();
    }
  });

  test('calls with a wrong stream id are refused with the status and body', async () => {
    const client = new SchedulerClient({ masterUrl: cluster.masterUrl });
    try {
      await client.subscribe({ user: os.userInfo().username, name: 'client-it-2' });
      (client as unknown as { _streamId: string })._streamId = 'not-the-stream';
      await assert.rejects(client.revive(), (err: any) => {
        assert.equal(err.status, 400);
        assert.match(err.message, /^REVIVE failed: 400 Bad Request/);
        return true;
      });
    } finally {
      client.close();
    }
  });
});
