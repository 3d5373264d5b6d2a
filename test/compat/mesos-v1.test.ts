// Black-box compatibility test: Corral's master against a Mesos v1 scheduler
// client written from the Mesos docs only (see mesos-v1-client.ts / README.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MesosV1Scheduler,
  RecordIODecoder,
  encodeRecordIO,
  httpRequest,
  scalar,
  shellTask,
  SCHEDULER_PATH,
  type Json,
} from './mesos-v1-client.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WAIT_MS = 20_000;
const TASK_CPUS = 0.1;
const TASK_MEM = 32;
const ORDER = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'];
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

test('RecordIO decoder: split records, several records per chunk, multi-byte payloads', () => {
  const recs = [{ type: 'HEARTBEAT' }, { type: 'ERROR', error: { message: 'héllo ✓' } }, { type: 'SUBSCRIBED' }];
  const wire = Buffer.from(recs.map((r) => encodeRecordIO(JSON.stringify(r))).join(''), 'utf8');
  assert.equal(encodeRecordIO('{"type":"HEARTBEAT"}'), '20\n{"type":"HEARTBEAT"}');
  for (const step of [1, 2, 3, 7, wire.length]) {
    const d = new RecordIODecoder();
    const out: string[] = [];
    for (let i = 0; i < wire.length; i += step) out.push(...d.feed(wire.subarray(i, i + step)));
    assert.deepEqual(out.map((s) => JSON.parse(s)), recs, `chunk size ${step}`);
    assert.equal(d.pending, 0);
  }
  assert.throws(() => new RecordIODecoder().feed('x\n{}'), /bad length header/);
});

// ---------------------------------------------------------------- harness

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && (await isFree(p + 1))) return p;
  }
  throw new Error('could not find two consecutive free ports');
}

/** Polls an HTTP endpoint (with a deadline) until check() accepts it. */
async function pollHttp<T>(
  port: number,
  urlPath: string,
  check: (status: number, body: string) => T | undefined,
  what: string,
  diag: () => string,
  alive: () => boolean = () => true,
): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  let last = 'no answer yet';
  for (;;) {
    try {
      const r = await httpRequest({ port, method: 'GET', path: urlPath, timeoutMs: 2000 });
      last = `${r.status} ${r.body.slice(0, 300)}`;
      const v = check(r.status, r.body);
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (!alive()) throw new Error(`corral exited while waiting for ${what}; last: ${last}\n${diag()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; last: ${last}\n${diag()}`);
    await new Promise((r) => setTimeout(r, 100)); // poll interval, not synchronisation
  }
}

/** POST to the scheduler endpoint and report only the status; a (wrongly) opened stream is dropped at once. */
function postStatusOnly(headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: currentPort, method: 'POST', path: SCHEDULER_PATH, agent: false, headers },
      (res) => {
        if (res.statusCode === 200) {
          resolve({ status: 200, body: `stream opened (Mesos-Stream-Id ${res.headers['mesos-stream-id']})` });
          req.destroy();
          return;
        }
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('no response within 5000 ms')));
    req.on('error', reject);
    req.end(body);
  });
}

const statusOf = (e: Json): Json => e.update?.status;
const isReconcile = (st: Json) => st?.reason === 'REASON_RECONCILIATION';
let currentPort = 0; // master port of the running Corral

describe('Corral as a Mesos v1 master (scheduler HTTP API)', () => {
  let proc: ChildProcess | undefined;
  let port = 0;
  let dataDir = '';
  let agentId = '';
  let output = '';
  const clients: MesosV1Scheduler[] = [];
  const alive = () => !!proc && proc.exitCode === null && proc.signalCode === null;
  const diag = () =>
    `corral exit=${proc?.exitCode ?? 'running'} signal=${proc?.signalCode ?? '-'}; last output:\n${output.slice(-3000)}`;

  before(async () => {
    port = await freePortPair();
    currentPort = port;
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'corral-compat-'));
    proc = spawn(
      process.execPath,
      ['bin/corral.js', 'dev', '--port', String(port), '--data-dir', dataDir, '--agents', '1', '--orchestrator-port', '0'],
      // Own process group, so agents / task processes it forks can be signalled with it.
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    const keep = (b: Buffer) => {
      output = (output + b.toString('utf8')).slice(-20_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.on('error', (e) => keep(Buffer.from(`spawn error: ${e.message}\n`)));
    await pollHttp(port, '/health', (s) => (s === 200 ? true : undefined), `GET /health = 200 on port ${port}`, diag, alive);
    agentId = await pollHttp(
      port,
      '/master/slaves',
      (s, body) => {
        if (s !== 200) return undefined;
        const slaves = JSON.parse(body).slaves ?? [];
        if (slaves.length === 0) return undefined;
        assert.equal(slaves.length, 1, `expected exactly 1 slave, got ${body}`);
        return String(slaves[0].id);
      },
      '/master/slaves to list 1 slave',
      diag,
      alive,
    );
  });

  after(async () => {
    for (const c of clients) c.close();
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const p = proc;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      const signal = (sig: NodeJS.Signals) => {
        try {
          process.kill(-p.pid!, sig); // the group we created (detached: true)
        } catch {
          p.kill(sig);
        }
      };
      signal('SIGINT');
      const timer = setTimeout(() => signal('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function subscribe(name: string, partitionAware: boolean): Promise<{ c: MesosV1Scheduler; sub: Json }> {
    const c = new MesosV1Scheduler(port);
    clients.push(c);
    const sub = await c.subscribe({
      user: os.userInfo().username,
      name,
      failover_timeout: 30,
      ...(partitionAware ? { capabilities: [{ type: 'PARTITION_AWARE' }] } : {}),
    });
    const res = c.subscribeResponse!;
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/, 'SUBSCRIBE Content-Type');
    assert.equal(res.headers['transfer-encoding'], 'chunked', 'SUBSCRIBE must be a chunked stream');
    assert.equal(res.headers['content-length'], undefined, 'SUBSCRIBE stream must not have Content-Length');
    assert.ok(c.streamId && Buffer.byteLength(c.streamId) <= 128, `Mesos-Stream-Id header: ${c.streamId}`);
    assert.equal(sub.type, 'SUBSCRIBED');
    assert.equal(typeof sub.subscribed?.framework_id?.value, 'string', JSON.stringify(sub));
    assert.ok(sub.subscribed.framework_id.value.length > 0);
    const hb = sub.subscribed.heartbeat_interval_seconds;
    assert.ok(typeof hb === 'number' && hb > 0, `heartbeat_interval_seconds: ${hb}`);
    return { c, sub };
  }

  /** Full scheduler life cycle: decline, launch, ack, reconcile, teardown. */
  async function lifecycle(partitionAware: boolean, nTasks: number): Promise<void> {
    const { c } = await subscribe(`compat-${partitionAware ? 'pa' : 'nonpa'}-${randomUUID().slice(0, 8)}`, partitionAware);
    const fid = c.frameworkId!;
    const offerIds = new Set<string>();
    const checkOffers = (ev: Json) => {
      const offers: Json[] = ev.offers?.offers ?? [];
      assert.ok(offers.length > 0, `OFFERS event without offers: ${JSON.stringify(ev)}`);
      for (const o of offers) {
        assert.equal(typeof o.id?.value, 'string', `offer id: ${JSON.stringify(o)}`);
        assert.ok(!offerIds.has(o.id.value), `offer id ${o.id.value} reused`);
        offerIds.add(o.id.value);
        assert.equal(o.framework_id?.value, fid, 'offer.framework_id');
        assert.equal(o.agent_id?.value, agentId, 'offer.agent_id is the only agent');
        assert.equal(typeof o.hostname, 'string', 'offer.hostname');
      }
      return offers;
    };

    // First offer: DECLINE with a short filter.
    const first = await c.waitForEvent((e) => e.type === 'OFFERS', { what: 'first OFFERS event' });
    const firstOffers = checkOffers(first.event);
    const dec = await c.decline(firstOffers.map((o) => o.id.value), 0.1);
    assert.equal(dec.status, 202, `DECLINE: ${dec.status} ${dec.body}`);
    assert.equal(dec.body, '', 'DECLINE 202 has an empty body');

    // Launch nTasks echo tasks plus one long-running task across the following offers.
    const echoIds = Array.from({ length: nTasks }, (_, i) => `task-${i}`);
    const sleeper = 'sleeper';
    const pending = [...echoIds.map((id, i) => ({ id, cmd: `echo task-${i}` })), { id: sleeper, cmd: 'sleep 60' }];
    const launched = new Set<string>();
    let cursor = first.index + 1;
    while (pending.length > 0) {
      const { event, index } = await c.waitForEvent((e) => e.type === 'OFFERS', {
        from: cursor,
        what: () => `an OFFERS event re-offering resources (launched ${launched.size}/${nTasks + 1})`,
      });
      cursor = index + 1;
      for (const o of checkOffers(event)) {
        if (c.rescinded.has(o.id.value)) continue;
        const fit = Math.min(Math.floor(scalar(o.resources, 'cpus') / TASK_CPUS + 1e-6), Math.floor(scalar(o.resources, 'mem') / TASK_MEM + 1e-6));
        const take = pending.splice(0, Math.max(0, fit));
        if (take.length === 0) {
          const r = await c.decline([o.id.value], 0.1);
          assert.equal(r.status, 202, `DECLINE: ${r.status} ${r.body}`);
          continue;
        }
        const infos = take.map((t) => shellTask({ id: t.id, agentId: o.agent_id.value, cmd: t.cmd, cpus: TASK_CPUS, mem: TASK_MEM }));
        const r = await c.launch([o.id.value], infos, 0.1);
        assert.equal(r.status, 202, `ACCEPT/LAUNCH: ${r.status} ${r.body}`);
        take.forEach((t) => launched.add(t.id));
      }
    }

    // Per-task updates (not reconciliation answers), in arrival order.
    const history = () => {
      const h = new Map<string, Json[]>();
      for (const e of c.events) {
        const st = statusOf(e);
        if (e.type !== 'UPDATE' || isReconcile(st)) continue;
        const id = st?.task_id?.value;
        if (!h.has(id)) h.set(id, []);
        h.get(id)!.push(st);
      }
      return h;
    };
    const latest = (id: string) => history().get(id)?.at(-1)?.state;
    await c.waitUntil(
      () => {
        for (const [id, sts] of history()) {
          for (const st of sts)
            if (!ORDER.includes(st.state))
              throw new Error(`task ${id} reached ${st.state} (${st.reason ?? ''}: ${st.message ?? ''})`);
        }
        return echoIds.every((id) => latest(id) === 'TASK_FINISHED') && latest(sleeper) === 'TASK_RUNNING';
      },
      {
        what: () =>
          `all ${nTasks} tasks TASK_FINISHED and '${sleeper}' TASK_RUNNING; now: ` +
          JSON.stringify(Object.fromEntries([...echoIds, sleeper].map((id) => [id, latest(id) ?? '-']))),
      },
    );
    await c.settleAcks();

    // Every update with a uuid was acknowledged (uuid echoed as-is) and got 202.
    const withUuid = [...history().values()].flat().filter((st) => st.uuid !== undefined);
    assert.deepEqual(c.acks.filter((a) => a.status !== 202), [], 'ACKNOWLEDGE calls not answered 202');
    assert.equal(c.acks.length, withUuid.length, 'one ACKNOWLEDGE per update carrying a uuid');
    for (const st of withUuid) assert.match(st.uuid, BASE64, `TaskStatus.uuid is base64: ${st.uuid}`);

    // Implicit reconciliation: the running task must be reported (no uuid, REASON_RECONCILIATION).
    let mark = c.events.length;
    const imp = await c.reconcile([]);
    assert.equal(imp.status, 202, `implicit RECONCILE: ${imp.status} ${imp.body}`);
    const impRunning = await c.waitForEvent((e) => e.type === 'UPDATE' && isReconcile(statusOf(e)) && statusOf(e).task_id?.value === sleeper, {
      from: mark,
      what: `implicit reconciliation UPDATE for non-terminal task '${sleeper}'`,
    });
    assert.equal(statusOf(impRunning.event).state, 'TASK_RUNNING');

    // Explicit reconciliation: known task, unknown task on the known agent, unknown agent.
    mark = c.events.length;
    const ghost = `ghost-${randomUUID()}`;
    const ghost2 = `ghost-${randomUUID()}`;
    const exp = await c.reconcile([
      { taskId: sleeper, agentId },
      { taskId: ghost, agentId },
      { taskId: ghost2, agentId: `no-such-agent-${randomUUID()}` },
    ]);
    assert.equal(exp.status, 202, `explicit RECONCILE: ${exp.status} ${exp.body}`);
    const answer = async (id: string) =>
      statusOf(
        (
          await c.waitForEvent((e) => e.type === 'UPDATE' && statusOf(e).task_id?.value === id, {
            from: mark,
            what: `explicit reconciliation UPDATE for task '${id}'`,
          })
        ).event,
      );
    const [aSleeper, aGhost, aGhost2] = [await answer(sleeper), await answer(ghost), await answer(ghost2)];
    assert.equal(aSleeper.state, 'TASK_RUNNING', `explicit reconcile of a running task: ${JSON.stringify(aSleeper)}`);
    assert.equal(
      aGhost.state,
      partitionAware ? 'TASK_GONE' : 'TASK_LOST',
      `unknown task on a registered agent: ${JSON.stringify(aGhost)}`,
    );
    assert.equal(
      aGhost2.state,
      partitionAware ? 'TASK_UNKNOWN' : 'TASK_LOST',
      `unknown task on an unknown agent: ${JSON.stringify(aGhost2)}`,
    );

    // All reconciliation answers: no uuid, SOURCE_MASTER, and consistent with what we know.
    for (const e of c.events.filter((e) => e.type === 'UPDATE' && isReconcile(statusOf(e)))) {
      const st = statusOf(e);
      const id = st.task_id?.value;
      assert.equal(st.uuid, undefined, `reconciliation answer for ${id} must not carry a uuid`);
      assert.equal(st.source, 'SOURCE_MASTER', `reconciliation answer source for ${id}`);
      if (echoIds.includes(id)) assert.equal(st.state, 'TASK_FINISHED', `reconciled state of finished ${id}`);
    }
    // Master-originated updates must be reconciliation answers here; all others were sequence-checked.
    for (const e of c.events.filter((e) => e.type === 'UPDATE' && !isReconcile(statusOf(e))))
      assert.notEqual(statusOf(e).uuid, undefined, `non-reconciliation update without uuid: ${JSON.stringify(e)}`);

    // Per-task state sequences: strictly increasing subsequence of STAGING<STARTING<RUNNING<FINISHED.
    const h = history();
    for (const id of [...echoIds, sleeper]) {
      const sts = h.get(id) ?? [];
      const states = sts.map((s) => s.state);
      const ranks = states.map((s) => ORDER.indexOf(s));
      assert.ok(ranks.every((r, i) => r >= 0 && (i === 0 || r > ranks[i - 1])), `task ${id} state sequence ${states.join(' -> ')}`);
      assert.equal(states.at(-1), id === sleeper ? 'TASK_RUNNING' : 'TASK_FINISHED', `task ${id} final state`);
      for (const st of sts) {
        assert.equal(st.agent_id?.value, agentId, `task ${id} update agent_id`);
        assert.equal(typeof st.timestamp, 'number', `task ${id} update timestamp`);
      }
    }
    assert.deepEqual(c.errors, [], 'no ERROR events');
    assert.deepEqual(c.protocolErrors, [], 'no protocol errors on the stream');

    // TEARDOWN: 202, then the framework leaves /master/frameworks' active list.
    const td = await c.teardown();
    assert.equal(td.status, 202, `TEARDOWN: ${td.status} ${td.body}`);
    await pollHttp(
      port,
      '/master/frameworks',
      (s, body) => {
        if (s !== 200) return undefined;
        const j = JSON.parse(body);
        return (j.frameworks ?? []).some((f: Json) => f.id === fid) ? undefined : true;
      },
      `framework ${fid} to disappear from /master/frameworks 'frameworks'`,
      diag,
    );
    c.close();
  }

  test('partition-aware framework: decline, launch 20 tasks, ack, reconcile (TASK_GONE), teardown', async () => {
    await lifecycle(true, 20);
  });

  test('non-partition-aware framework: launch, reconcile (TASK_LOST), teardown', async () => {
    await lifecycle(false, 3);
  });

  test('protocol errors on /api/v1/scheduler', async (t) => {
    const { c } = await subscribe(`compat-proto-${randomUUID().slice(0, 8)}`, false);
    const reconcile = { framework_id: { value: c.frameworkId }, type: 'RECONCILE', reconcile: { tasks: [] } };

    await t.test('control: a valid call with the right stream id -> 202', async () => {
      const r = await c.call(reconcile);
      assert.equal(r.status, 202, r.body);
    });
    await t.test('call without Mesos-Stream-Id -> 400', async () => {
      const r = await c.call(reconcile, { streamId: null });
      assert.equal(r.status, 400, r.body);
    });
    await t.test('call with a wrong Mesos-Stream-Id -> 400', async () => {
      const r = await c.call(reconcile, { streamId: randomUUID() });
      assert.equal(r.status, 400, r.body);
    });
    await t.test('malformed JSON -> 400', async () => {
      const r = await c.call('{"type": "RECONCILE", "framework_id": {', {});
      assert.equal(r.status, 400, r.body);
    });
    await t.test('GET -> 405 (Allow: POST)', async () => {
      const r = await httpRequest({ port, method: 'GET', path: SCHEDULER_PATH, headers: { Accept: 'application/json' } });
      assert.equal(r.status, 405, r.body);
      assert.match(String(r.headers['allow'] ?? ''), /POST/, `Allow header: ${r.headers['allow']}`);
    });
    const badSubscribe = JSON.stringify({
      type: 'SUBSCRIBE',
      subscribe: { framework_info: { user: os.userInfo().username, name: 'compat-bad-subscribe' } },
    });
    const json = { 'Content-Type': 'application/json', Accept: 'application/json' };
    await t.test('SUBSCRIBE carrying Mesos-Stream-Id -> 400', async () => {
      const r = await postStatusOnly({ ...json, 'Mesos-Stream-Id': randomUUID() }, badSubscribe);
      assert.equal(r.status, 400, r.body);
    });
    await t.test('missing Content-Type -> 400', async () => {
      const r = await postStatusOnly({ Accept: 'application/json' }, badSubscribe);
      assert.equal(r.status, 400, r.body);
    });
    await t.test('unsupported Content-Type -> 415', async () => {
      const r = await postStatusOnly({ 'Content-Type': 'text/plain', Accept: 'application/json' }, badSubscribe);
      assert.equal(r.status, 415, r.body);
    });
    await t.test('SUBSCRIBE whose Accept allows neither JSON nor protobuf -> 406', async () => {
      const r = await postStatusOnly({ 'Content-Type': 'application/json', Accept: 'text/html' }, badSubscribe);
      assert.equal(r.status, 406, r.body);
    });
    await t.test('type UNKNOWN -> 501', async () => {
      const r = await c.call({ framework_id: { value: c.frameworkId }, type: 'UNKNOWN' });
      assert.equal(r.status, 501, r.body);
    });

    const td = await c.teardown();
    assert.equal(td.status, 202, `TEARDOWN: ${td.status} ${td.body}`);
    c.close();
  });
});
