// The agent finds the leading master and follows it: with the election in a (shared, in-memory)
// store, a change of leader makes it re-register with the new one (same agent id, its tasks) and
// send its status updates there; with a URL, a follower's 307 is followed. Agents run in this
// process; the masters are fake ones over real HTTP (test/support/fake-master.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { startAgent, type AgentHandle, type AgentOptions } from '../../src/agent/index.ts';
import { storeMasterLocator } from '../../src/client/master-locator.ts';
import { MASTER_ELECTION } from '../../src/coordination/leader.ts';
import { AGENT_MESSAGE_PATH } from '../../src/protocol/internal.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore, type Store } from '../../src/store/index.ts';
import { commandTask, FakeMaster } from '../support/fake-master.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function master(id: string): Promise<FakeMaster> {
  const m = await FakeMaster.start({ autoAck: true, masterId: id });
  cleanups.push(() => m.close());
  return m;
}

async function agent(opts: Partial<AgentOptions>): Promise<AgentHandle> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-agent-leader-'));
  cleanups.push(() => fs.rmSync(workDir, { recursive: true, force: true, maxRetries: 5 }));
  const a = await startAgent({ workDir, port: 0, log: silentLogger, registrationBackoffMs: 20, resources: 'cpus:2;mem:256;disk:100', ...opts });
  cleanups.push(() => a.close({ killTasks: true }));
  return a;
}

/** A candidate's election record (the oldest key leads), as src/coordination/election.ts writes it. */
async function campaign(store: Store, m: FakeMaster): Promise<string> {
  const key = `${MASTER_ELECTION}${m.masterId}`;
  await store.put(key, JSON.stringify({ id: m.masterId, url: m.url }));
  return key;
}

describe('agent follows the leading master', () => {
  it('re-registers with a new leader (same id, its tasks) and sends it its status updates', async () => {
    const store = createMemoryStore();
    cleanups.push(() => store.close());
    const a = await master('master-A');
    const b = await master('master-B');
    const keyA = await campaign(store, a);
    await campaign(store, b);
    const locator = storeMasterLocator(store, { leaderWaitMs: 5000 });
    cleanups.push(() => locator.close());

    const ag = await agent({ masterLocator: locator });
    const id = await ag.registered();
    assert.equal(a.registrations[0]!.type, 'REGISTER_AGENT');
    await a.runTask(commandTask('long', 'sleep 1000'));
    await a.waitForState('long', 'TASK_RUNNING');

    // A's lease expires: B leads. The agent learns it from the election, not from a PING.
    await store.delete(keyA);
    const rereg = await b.waitForRegistrations(1, 5000);
    assert.equal(rereg.type, 'REREGISTER_AGENT');
    assert.ok(rereg.type === 'REREGISTER_AGENT');
    assert.equal(rereg.agent_info.id.value, id);
    assert.equal(rereg.endpoint, ag.url);
    const task = rereg.tasks.find((t) => t.task_id.value === 'long');
    assert.equal(task?.state, 'TASK_RUNNING');
    assert.equal(a.registrations.length, 1, 'nothing more went to the old leader');
    assert.equal(await ag.registered(), id);

    // Commands from the new leader are obeyed, and the updates they cause go to it.
    const kill = await b.killTask('long');
    assert.equal(kill.status, 200);
    await b.waitForState('long', 'TASK_KILLED');
    assert.equal(a.statusesOf('long').some((s) => s.state === 'TASK_KILLED'), false);
    // The deposed leader's commands are refused.
    const stale = await a.runTask(commandTask('stale', 'true')).then(
      () => 'accepted',
      (e: Error) => e.message,
    );
    assert.match(stale, /RUN_TASK refused: 409/);
  });

  it("follows a follower's 307 for registration and status updates", async () => {
    const leader = await master('master-L');
    // A follower that redirects the agent API to the leader, and has no /master/redirect (404).
    const follower = http.createServer((req, res) => {
      if (req.method === 'POST' && req.url === AGENT_MESSAGE_PATH) {
        req.resume();
        res.writeHead(307, { location: `${leader.url}${AGENT_MESSAGE_PATH}`, 'content-length': '0' }).end();
      } else res.writeHead(404, { 'content-length': '0' }).end();
    });
    await new Promise<void>((r) => follower.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => follower.close(r)));
    follower.on('connection', (s) => cleanups.push(() => s.destroy()));
    const followerUrl = `http://127.0.0.1:${(follower.address() as AddressInfo).port}`;

    const ag = await agent({ masterUrl: followerUrl });
    const id = await ag.registered();
    assert.equal(leader.agentId, id);
    await leader.runTask(commandTask('quick', 'true'));
    await leader.waitForState('quick', 'TASK_FINISHED');
  });

  it('a comma list: registers with the first master that answers', async () => {
    const dead = await master('master-dead');
    const deadUrl = dead.url;
    await dead.close();
    const live = await master('master-live');
    const ag = await agent({ masterUrl: `${deadUrl},${live.url}` });
    assert.equal(await ag.registered(), live.agentId);
  });
});
