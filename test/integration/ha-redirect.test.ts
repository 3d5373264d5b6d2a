// A just-elected master must not send agents back to the leader it replaces (issue 5, bench/failover.ts
// seed 3001830795). Around a failover an agent can hear of the new leader a few ms before that master
// does; its REREGISTER then reached a master that still believed the old leader led, got 307 to the
// paused old leader, hung for the transport's 5 s, and its locator then suspected the *new* leader and
// waited out its 10 s leader wait. Here the lag is made long and deterministic: master B's store
// holds back its watch events ("deaf") while the old leader's lease expires, and the old leader's
// address is a black hole (accepts connections, never answers), as a SIGSTOPped process would.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import { storeMasterLocator } from '../../src/client/master-locator.ts';
import { currentLeader, MASTER_ELECTION } from '../../src/coordination/leader.ts';
import { startMaster, type LeadershipEvent } from '../../src/master/index.ts';
import { AGENT_MESSAGE_PATH } from '../../src/protocol/internal.ts';
import { NO_REDIRECT_HEADER } from '../../src/protocol/leader-header.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { httpTransport, type Transport } from '../../src/runtime/transport.ts';
import { createMemoryStore } from '../../src/store/index.ts';
import { eventually } from '../support/fake-agent.ts';
import { DeafStore } from '../support/deaf-store.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});


/** A TCP server that accepts and never answers: a SIGSTOPped leader. Counts connections. */
async function blackHole(): Promise<{ url: string; connections: () => number }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, connections: () => n };
}

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

describe('a just-elected master does not send agents back to the leader it replaces', () => {
  test('its agent answers are 503 (never 307 to the old leader) until it knows; the agent registers with it promptly', async () => {
    const store = createMemoryStore({ logger: silentLogger });
    cleanups.push(() => store.close());
    const old = await blackHole();
    // The old leader: a candidate record first in line, at an address that never answers.
    const oldLease = await store.grantLease(60_000);
    await store.commit([], [{ type: 'put', key: `${MASTER_ELECTION}${oldLease.id}`, value: JSON.stringify({ id: 'old-master', url: old.url }), lease: oldLease.id }]);

    const deaf = new DeafStore(store);
    const events: LeadershipEvent[] = [];
    const b = await startMaster({ store: deaf, port: 0, log: silentLogger, allocationIntervalMs: 50, ha: { electionTtlMs: 60_000, onLeadership: (e) => events.push(e) } });
    cleanups.push(() => b.close());
    // B stands behind the old leader and redirects to it (everything as before the failover).
    await eventually(async () => (await fetch(b.url + '/api/v1', { method: 'POST', redirect: 'manual', body: '{}' })).status === 307, 'B following the old leader');
    assert.equal((await currentLeader(store, MASTER_ELECTION))?.id, 'old-master');

    // The old leader's lease expires; B does not hear of it (its view lags), the store says B leads.
    deaf.deaf = true;
    await store.expireLease(oldLease.id);
    const record = await currentLeader(store, MASTER_ELECTION);
    assert.equal(record?.url, b.url);
    assert.equal(b.isLeading(), false);

    // Master side: an agent message that asks not to be redirected gets 503; one that does not ask
    // (a URL-form agent) is redirected only to a leader a fresh read confirms: none here, so 503 too.
    const msg = { type: 'PONG', agent_id: { value: 'x' } };
    const noRedirect = await post(b.url + AGENT_MESSAGE_PATH, msg, { [NO_REDIRECT_HEADER]: '1' });
    assert.equal(noRedirect.status, 503, await noRedirect.text());
    const confirmed = await post(b.url + AGENT_MESSAGE_PATH, msg);
    assert.equal(confirmed.status, 503, `${confirmed.status} ${confirmed.headers.get('location')}`);
    assert.equal(old.connections(), 0);

    // Agent side: its locator reads the election (it names B); it keeps asking B, never the old leader.
    const replies: { url: string; status: number }[] = [];
    const transport: Transport = {
      async post(url, body, opts) {
        const r = await httpTransport.post(url, body, opts);
        if (url.endsWith(AGENT_MESSAGE_PATH)) replies.push({ url, status: r.status });
        return r;
      },
    };
    const locator = storeMasterLocator(store, { leaderWaitMs: 10_000 });
    cleanups.push(() => locator.close());
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-ha-redirect-'));
    cleanups.push(() => fs.rmSync(workDir, { recursive: true, force: true, maxRetries: 5 }));
    const agent = await startAgent({ workDir, port: 0, log: silentLogger, masterLocator: locator, transport, registrationBackoffMs: 20, resources: 'cpus:1;mem:128;disk:100' });
    cleanups.push(() => agent.close({ killTasks: true }));
    await eventually(async () => replies.filter((r) => r.status === 503).length >= 2, 'the agent refused twice by B, which does not know it leads', 4000);
    assert.ok(replies.every((r) => r.url.startsWith(b.url)), JSON.stringify(replies));
    assert.equal(old.connections(), 0, 'the agent never went to the old leader');

    // B hears of its election: it leads, and the agent registers with it within its short backoff.
    const heardAt = Date.now();
    deaf.hear();
    const id = await Promise.race([agent.registered(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('agent not registered within 3 s')), 3000).unref())]);
    assert.ok(id);
    assert.ok(Date.now() - heardAt < 3000);
    assert.ok(b.isLeading());
    assert.equal(events[0]?.event, 'elected');
    assert.equal(old.connections(), 0);
  });
});

describe('an agent hearing of a new leader while its registration hangs on the old one', () => {
  test('abandons the attempt in flight and registers with the new leader at once (not after the 5 s timeout)', async () => {
    const store = createMemoryStore({ logger: silentLogger });
    cleanups.push(() => store.close());
    const old = await blackHole();
    const oldLease = await store.grantLease(60_000);
    await store.commit([], [{ type: 'put', key: `${MASTER_ELECTION}${oldLease.id}`, value: JSON.stringify({ id: 'old-master', url: old.url }), lease: oldLease.id }]);
    const b = await startMaster({ store, port: 0, log: silentLogger, allocationIntervalMs: 50, ha: { electionTtlMs: 60_000 } });
    cleanups.push(() => b.close());

    const locator = storeMasterLocator(store, { leaderWaitMs: 10_000 });
    cleanups.push(() => locator.close());
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-ha-redirect-'));
    cleanups.push(() => fs.rmSync(workDir, { recursive: true, force: true, maxRetries: 5 }));
    const agent = await startAgent({ workDir, port: 0, log: silentLogger, masterLocator: locator, registrationBackoffMs: 20, resources: 'cpus:1;mem:128;disk:100' });
    cleanups.push(() => agent.close({ killTasks: true }));
    // Its first registration hangs on the old leader (the agent's watch lagged; the lease not yet expired).
    await eventually(async () => old.connections() > 0, 'the registration in flight to the old leader', 3000);

    const t0 = Date.now();
    await store.expireLease(oldLease.id);
    const id = await Promise.race([agent.registered(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('agent not registered within 3 s')), 3000).unref())]);
    assert.ok(id);
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    assert.ok(b.isLeading());
  });
});

describe('the election locator: invalidate() and a new term of the same master', () => {
  test('a failure under an older record does not make current() wait for the new leader at the same URL', async () => {
    const store = createMemoryStore({ logger: silentLogger });
    cleanups.push(() => store.close());
    const url = 'http://127.0.0.1:1';
    await store.put(`${MASTER_ELECTION}a`, JSON.stringify({ id: 'term-1', url }));
    const locator = storeMasterLocator(store, { leaderWaitMs: 10_000 });
    cleanups.push(() => locator.close());
    const seen: (string | undefined)[] = [];
    locator.onChange((l) => seen.push(l?.id));
    assert.equal(await locator.current(), url);

    // The same master is elected again (a new key): the caller given term 1's URL then reports failure.
    await store.delete(`${MASTER_ELECTION}a`);
    await store.put(`${MASTER_ELECTION}b`, JSON.stringify({ id: 'term-2', url }));
    await eventually(async () => seen.includes('term-2'), 'the locator sees term 2');
    locator.invalidate(url, 'unreachable');
    const t0 = Date.now();
    assert.equal(await locator.current(), url);
    assert.ok(Date.now() - t0 < 500, `current() waited ${Date.now() - t0} ms`);

    // Term 2 handed out and then unreachable: suspected, current() waits for a change (bounded).
    locator.invalidate(url, 'unreachable');
    const waiting = locator.current();
    await store.delete(`${MASTER_ELECTION}b`);
    await store.put(`${MASTER_ELECTION}c`, JSON.stringify({ id: 'term-3', url: 'http://127.0.0.1:2' }));
    assert.equal(await waiting, 'http://127.0.0.1:2');
  });
});
