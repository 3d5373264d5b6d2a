// Reservations end to end over real HTTP: a real master (in this process, SQLite store), the agent as
// its own OS process (`corral agent`), schedulers in roles `ops` and `web`.
//  - a static reservation (`--resources 'cpus(ops):1;…'`) is offered to ops only;
//  - RESERVE in an ACCEPT makes a dynamic reservation offered to ops only; UNRESERVE gives it back to all;
//  - /master/reserve and /master/unreserve (form-encoded, as Mesos) and the v1 RESERVE_RESOURCES call;
//  - a dynamic reservation survives an agent restart and a master restart (the agent checkpoints it and
//    reports it on re-registration; the new master adopts it).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Cleanup, eventually, getJson, startAgentProc, startKernelMaster, tempDir } from '../support/kernel-harness.ts';
import { RoleFramework, isReserved, offered, postForm, postV1, scalar } from './reservations-support.ts';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

function framework(url: string, role: string, extra: Record<string, unknown> = {}): RoleFramework {
  const fw = new RoleFramework(url, { role, ...extra });
  cleanup.add(`close framework ${role}`, () => fw.close());
  return fw;
}

const slave = async (masterUrl: string, id: string) => (await getJson(`${masterUrl}/master/slaves`)).slaves.find((s: any) => s.id === id);

describe('reservations', () => {
  it('static and dynamic reservations are offered only to their role; UNRESERVE gives them back to all', async () => {
    const dir = tempDir(cleanup);
    const m = await startKernelMaster(cleanup, path.join(dir, 'master'));
    const agent = await startAgentProc(cleanup, { master: m.url, workDir: path.join(dir, 'agent'), resources: 'cpus(ops):1;mem(ops):256;cpus:1;mem:256;disk:100' });
    const ops = framework(m.url, 'ops');
    const web = framework(m.url, 'web');
    await ops.subscribe();
    await web.subscribe();

    // Equal shares: role ops sorts first and gets everything it may have, its static reservation included.
    const first = await ops.takeOffer((o) => offered(o, 'cpus', 'ops') > 0, 'ops to be offered its static reservation');
    assert.equal(offered(first, 'cpus', 'ops', 'STATIC'), 1);
    assert.equal(offered(first, 'mem', 'ops', 'STATIC'), 256);
    assert.equal(offered(first, 'cpus'), 1);
    const staticCpus = first.resources.find((r) => r.name === 'cpus' && r.role === 'ops')!;
    assert.deepEqual((staticCpus as any).reservations, [{ type: 'STATIC', role: 'ops' }]);
    assert.deepEqual(staticCpus.allocation_info, { role: 'ops' });

    // RESERVE half of the unreserved cpus for ops (dynamic), keep nothing else from this offer.
    await ops.accept(first, [{ type: 'RESERVE', reserve: { resources: [scalar('cpus', 0.5, { role: 'ops', alloc: 'ops' })] } } as any]);
    const second = await ops.takeOffer((o) => offered(o, 'cpus', 'ops', 'DYNAMIC') > 0, 'ops to be offered its dynamic reservation');
    assert.equal(offered(second, 'cpus', 'ops', 'DYNAMIC'), 0.5);
    assert.equal(offered(second, 'cpus', 'ops', 'STATIC'), 1);
    assert.equal(offered(second, 'cpus'), 0.5);
    const agentView = await slave(m.url, agent.agentId);
    assert.deepEqual(agentView.reserved_resources.ops, { cpus: 1.5, gpus: 0, mem: 256, disk: 0 });
    assert.deepEqual(agentView.unreserved_resources, { cpus: 0.5, gpus: 0, mem: 256, disk: 100, ports: '[31000-32000]' });
    assert.deepEqual(
      agentView.reserved_resources_full.ops.filter((r: any) => r.name === 'cpus').map((r: any) => [r.reservations[0].type, r.scalar.value]).sort(),
      [['DYNAMIC', 0.5], ['STATIC', 1]],
    );
    // The agent's own /state breaks its resources down the same way once it has the checkpoint.
    await eventually(async () => {
      const own = (await (await fetch(`${agent.url}/state`)).json()) as any;
      return own.reserved_resources?.ops?.cpus === 1.5 && own.unreserved_resources.cpus === 0.5;
    }, 5000, "the agent's /state to show the reservation");

    // ops steps aside (long refusal): web now gets the unreserved part, and nothing reserved.
    await ops.decline(second, 3600);
    const webOffer = await web.takeOffer(() => true, 'web to get an offer');
    assert.equal(offered(webOffer, 'cpus'), 0.5);
    assert.equal(offered(webOffer, 'mem'), 256);
    assert.equal(offered(webOffer, 'disk'), 100);
    await web.decline(webOffer, 3600);

    // UNRESERVE: ops (revived) returns the dynamic reservation; after ops steps aside again web gets 1 cpu.
    await ops.client.revive();
    const third = await ops.takeOffer((o) => offered(o, 'cpus', 'ops', 'DYNAMIC') > 0, 'ops to be offered its reservation again');
    const dynamicCpus = third.resources.find((r) => r.name === 'cpus' && (r as any).reservations?.[0]?.type === 'DYNAMIC')!;
    await ops.accept(third, [{ type: 'UNRESERVE', unreserve: { resources: [dynamicCpus] } } as any], 3600);
    await eventually(async () => (await slave(m.url, agent.agentId)).unreserved_resources.cpus === 1, 5000, 'the master to unreserve');
    await web.client.revive();
    const webAgain = await web.takeOffer((o) => offered(o, 'cpus') === 1, 'web to be offered the unreserved cpu');
    assert.equal(offered(webAgain, 'cpus', 'ops'), 0);

    // web cannot reserve for role ops: the operation is dropped and the offer comes back unchanged.
    await web.accept(webAgain, [{ type: 'RESERVE', reserve: { resources: [scalar('cpus', 0.5, { role: 'ops', alloc: 'web' })] } } as any], 0);
    const webThird = await web.takeOffer(() => true, 'web to be offered the same resources again');
    assert.equal(offered(webThird, 'cpus'), 1);

    // Every offer web ever saw: no reserved resource in any of them.
    for (const o of web.received) for (const r of o.resources) assert.ok(!isReserved(r), `web was offered reserved ${JSON.stringify(r)}`);
  });

  it('/master/reserve and v1 RESERVE_RESOURCES; the reservation survives an agent restart and a master restart', async () => {
    const dir = tempDir(cleanup);
    const storeDir = path.join(dir, 'master');
    const workDir = path.join(dir, 'agent');
    const timers = { agentPingTimeoutMs: 500, maxAgentPingTimeouts: 10 };
    const m1 = await startKernelMaster(cleanup, storeDir, timers);
    const a1 = await startAgentProc(cleanup, { master: m1.url, workDir, resources: 'cpus:2;mem:512;disk:200' });

    // Bad requests first: 400 with Mesos's messages, 409 when the resources are not there.
    assert.equal((await postForm(`${m1.url}/master/reserve`, { resources: '[]' })).status, 400);
    assert.match((await postForm(`${m1.url}/master/reserve`, { slaveId: a1.agentId, resources: 'not json' })).text, /resources/);
    assert.equal((await postForm(`${m1.url}/master/reserve`, { slaveId: 'nope', resources: JSON.stringify([scalar('cpus', 1, { role: 'ops' })]) })).status, 400);
    assert.equal((await postForm(`${m1.url}/master/reserve`, { slaveId: a1.agentId, resources: JSON.stringify([scalar('cpus', 1)]) })).status, 400);
    assert.equal((await postForm(`${m1.url}/master/reserve`, { slaveId: a1.agentId, resources: JSON.stringify([scalar('cpus', 5, { role: 'ops' })]) })).status, 409);

    const reserve = await postForm(`${m1.url}/master/reserve`, {
      slaveId: a1.agentId,
      resources: JSON.stringify([scalar('cpus', 1, { role: 'ops', principal: 'admin' }), scalar('mem', 128, { role: 'ops', principal: 'admin' })]),
    });
    assert.equal(reserve.status, 202, reserve.text);
    const checkpointFile = path.join(workDir, 'resources', 'resources.json');
    const checkpointed = () => (fs.existsSync(checkpointFile) ? JSON.parse(fs.readFileSync(checkpointFile, 'utf8')).resources.length : 0);
    await eventually(() => checkpointed() === 2, 5000, 'the agent to checkpoint the reservation');

    // A reservation made while the agent is down reaches it when it re-registers (the master's view wins).
    await a1.proc.crash();
    const v1 = await postV1(m1.url, { type: 'RESERVE_RESOURCES', reserve_resources: { agent_id: { value: a1.agentId }, resources: [scalar('disk', 50, { role: 'ops' })] } });
    assert.equal(v1.status, 202, v1.text);
    const a2 = await startAgentProc(cleanup, { master: m1.url, workDir, resources: 'cpus:2;mem:512;disk:200' });
    assert.equal(a2.agentId, a1.agentId);
    await eventually(() => checkpointed() === 3, 5000, 'the re-registered agent to checkpoint the reservation made while it was down');

    const expected = { cpus: 1, gpus: 0, mem: 128, disk: 50 };
    assert.deepEqual((await slave(m1.url, a1.agentId)).reserved_resources.ops, expected);
    const agents = JSON.parse((await postV1(m1.url, { type: 'GET_AGENTS' })).text);
    const total = agents.get_agents.agents[0].total_resources;
    assert.ok(total.some((r: any) => r.name === 'cpus' && r.reservations?.[0]?.principal === 'admin' && r.reservations[0].role === 'ops' && r.scalar.value === 1));

    // Crash the agent and stop the master; start both again (same store, port and work dir): the new
    // master knows nothing of the reservations but what the agent reports.
    await a2.proc.crash();
    await m1.stop();
    const m2 = await startKernelMaster(cleanup, storeDir, { ...timers, port: m1.port });
    const a3 = await startAgentProc(cleanup, { master: m2.url, workDir, resources: 'cpus:2;mem:512;disk:200' });
    assert.equal(a3.agentId, a1.agentId);
    const after = await eventually(async () => (await slave(m2.url, a1.agentId))?.reserved_resources?.ops, 10_000, 'the new master to learn the reservation');
    assert.deepEqual(after, expected);

    // Offered to ops (with its principal), not to web.
    const ops = framework(m2.url, 'ops');
    const web = framework(m2.url, 'web');
    await web.subscribe();
    const webOffer = await web.takeOffer(() => true, 'web to be offered the unreserved resources');
    assert.equal(offered(webOffer, 'cpus'), 1);
    assert.equal(offered(webOffer, 'cpus', 'ops'), 0);
    await ops.subscribe();
    const opsOffer = await ops.takeOffer((o) => offered(o, 'cpus', 'ops') > 0, 'ops to be offered the reservation');
    assert.equal(offered(opsOffer, 'cpus', 'ops', 'DYNAMIC'), 1);
    assert.ok(opsOffer.resources.some((r: any) => r.name === 'cpus' && r.reservations?.[0]?.principal === 'admin' && r.reservation?.principal === 'admin'));

    // Unreserve everything by the operator endpoint: the outstanding offer is rescinded to free it.
    const unreserve = await postForm(`${m2.url}/master/unreserve`, {
      slaveId: a1.agentId,
      resources: JSON.stringify([scalar('cpus', 1, { role: 'ops', principal: 'admin' }), scalar('mem', 128, { role: 'ops', principal: 'admin' }), scalar('disk', 50, { role: 'ops' })]),
    });
    assert.equal(unreserve.status, 202, unreserve.text);
    assert.deepEqual((await slave(m2.url, a1.agentId)).reserved_resources, {});
    await eventually(() => checkpointed() === 0, 5000, 'the agent to drop the checkpointed reservation');
  });
});
