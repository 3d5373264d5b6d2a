// Ports through the whole path (real master, real agent, a v1 scheduler over HTTP): a task gets only the
// ports it was offered (PORT0… set from them), a port held by a running task is never offered again until
// the task ends, and launching with a port that was not offered is refused by the master.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scalar, TestScheduler } from '../support/fake-agent.ts';
import { startInProcessCluster, type InProcessCluster } from '../support/cluster.ts';

const PORTS = { begin: 31500, end: 31502 };
const portsOf = (offer: any): { begin: number; end: number }[] => offer.resources.find((r: any) => r.name === 'ports')?.ranges.range ?? [];
const portList = (ranges: { begin: number; end: number }[]): number[] => ranges.flatMap((r) => Array.from({ length: r.end - r.begin + 1 }, (_, i) => r.begin + i));
const portRes = (...ports: number[]) => ({ name: 'ports', type: 'RANGES', ranges: { range: ports.map((p) => ({ begin: p, end: p })) } });

describe('ports are exclusive, end to end', () => {
  let cluster: InProcessCluster;
  let s: TestScheduler;

  before(async () => {
    cluster = await startInProcessCluster({ agent: { resources: `cpus:2;mem:1024;disk:100;ports:[${PORTS.begin}-${PORTS.end}]` } });
    s = new TestScheduler(cluster.masterUrl);
    await s.subscribe({ user: 'nobody', name: 'ports-test', failover_timeout: 0 } as any);
  });

  after(async () => {
    await Promise.all(acks);
    s?.disconnect();
    await cluster?.stop();
  });

  const acked = new Set<string>();
  const acks = new Set<Promise<unknown>>();
  /** Waits for an update of `taskId` (in `state`), acknowledging every update on the way (as a framework does). */
  function update(taskId: string, state: string | undefined, from: number): Promise<any> {
    return s
      .waitFor(
        (e) => {
          if (e.type !== 'UPDATE') return false;
          const st = e.update.status;
          if (st.uuid && !acked.has(st.uuid)) {
            acked.add(st.uuid);
            const ack = s.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: st.agent_id, task_id: st.task_id, uuid: st.uuid } }).catch(() => undefined);
            acks.add(ack);
            void ack.finally(() => acks.delete(ack));
          }
          return st.task_id.value === taskId && (!state || st.state === state);
        },
        { from, timeoutMs: 5000, what: `${taskId} ${state ?? 'update'}` },
      )
      .then((e) => e.update.status);
  }

  /** The next offer made after `from`, with the ports it carries. */
  async function nextOffer(from: number): Promise<{ offer: any; ports: number[] }> {
    const [offer] = await s.waitForOffers({ from, timeoutMs: 5000 });
    return { offer, ports: portList(portsOf(offer)) };
  }

  it('offers each port to one task at a time, and the task sees exactly its ports', async () => {
    const first = await nextOffer(0);
    assert.deepEqual(first.ports, [31500, 31501, 31502]);
    const agentId = first.offer.agent_id.value;
    let mark = s.mark();
    const launchedAt = mark;
    const task = {
      name: 'web',
      task_id: { value: 'web' },
      agent_id: { value: agentId },
      resources: [scalar('cpus', 0.1), scalar('mem', 32), portRes(31501)],
      command: { value: 'echo "$PORT0 $PORTS"; exec sleep 1000' },
    };
    assert.equal((await s.accept([first.offer.id.value], [task], 0)).status, 202);
    await update('web', 'TASK_RUNNING', mark);

    // The held port is not offered again while the task runs (the rest comes back at once: refuse_seconds 0).
    const second = await nextOffer(launchedAt);
    assert.deepEqual(second.ports, [31500, 31502]);
    const sandbox = await waitForFile(cluster.agentUrls[0]!, 'web', 'stdout');
    assert.equal(fs.readFileSync(path.join(sandbox, 'stdout'), 'utf8'), '31501 31501\n');

    // Launching with the port anyway (not in the offer) is refused by the master.
    mark = s.mark();
    const thief = { ...task, name: 'thief', task_id: { value: 'thief' } };
    await s.accept([second.offer.id.value], [thief], 0);
    const refused = await update('thief', undefined, mark);
    assert.equal(refused.state, 'TASK_ERROR');
    assert.equal(refused.reason, 'REASON_TASK_INVALID');
    assert.match(refused.message, /more resources than available/);

    // Once the task ends its port comes back.
    mark = s.mark();
    await s.call({ type: 'KILL', kill: { task_id: { value: 'web' }, agent_id: { value: agentId } } });
    await update('web', 'TASK_KILLED', mark);
    await s.waitFor((e) => e.type === 'OFFERS' && e.offers.offers.some((o: any) => portList(portsOf(o)).includes(31501)), {
      from: mark,
      timeoutMs: 5000,
      what: 'an offer with port 31501 again',
    });
  });
});

async function waitForFile(agentUrl: string, taskId: string, file: string): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const state = (await (await fetch(agentUrl + '/state')).json()) as any;
    for (const fw of state.frameworks) for (const ex of fw.executors) if (ex.id === taskId && fs.existsSync(path.join(ex.directory, file)) && fs.statSync(path.join(ex.directory, file)).size > 0) return ex.directory;
    if (Date.now() > deadline) throw new Error(`no ${file} for ${taskId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
