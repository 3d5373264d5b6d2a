// SchedulerClient and OperatorClient against tiny real HTTP servers that
// stream RecordIO split at awkward boundaries.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { storeMasterLocator } from '../../src/client/master-locator.ts';
import { OperatorClient, agentUrlOf } from '../../src/client/operator-client.ts';
import { MASTER_ELECTION } from '../../src/coordination/leader.ts';
import { createMemoryStore, type Store } from '../../src/store/index.ts';
import { SchedulerClient, subscribe, type SchedulerEvent } from '../../src/client/scheduler-client.ts';
import { CorralError, UnavailableError } from '../../src/protocol/errors.ts';
import { encodeRecord } from '../../src/protocol/recordio.ts';

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

type StreamScript = (res: http.ServerResponse, call: any) => Promise<void> | void;

interface FakeMaster {
  url: string;
  port: number;
  calls: Recorded[];
  /** GET /master/redirect probes (the master locator's), kept out of `calls`. */
  probes: number;
  /** Open SUBSCRIBE responses. */
  streams: http.ServerResponse[];
  onSubscribe: StreamScript;
  onCall: (call: any, req: http.IncomingMessage, res: http.ServerResponse) => void;
  onGet: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  close(): Promise<void>;
}

const servers: FakeMaster[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const tick = (ms = 3) => new Promise((r) => setTimeout(r, ms));

/** Writes bytes in pieces, pausing between them so that the client sees separate reads. */
async function writeSplit(res: http.ServerResponse, bytes: Buffer, cuts: number[]): Promise<void> {
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut <= at) continue;
    res.write(bytes.subarray(at, cut));
    at = cut;
    await tick();
  }
}

async function fakeMaster(): Promise<FakeMaster> {
  const fm: FakeMaster = {
    url: '',
    port: 0,
    calls: [],
    probes: 0,
    streams: [],
    onSubscribe: () => {},
    onCall: (_call, _req, res) => {
      res.writeHead(202, { 'content-length': '0' });
      res.end();
    },
    onGet: (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('nope');
    },
    close: async () => {},
  };
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: any = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        /* keep text */
      }
      if (req.method === 'GET' && req.url === '/master/redirect') {
        fm.probes++;
        // A fake master answers as the leader unless its onGet redirects (and says 'false').
        res.setHeader('corral-leading', 'true');
        return fm.onGet(req, res);
      }
      fm.calls.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.method === 'GET') return fm.onGet(req, res);
      if (body?.type === 'SUBSCRIBE') {
        fm.streams.push(res);
        void fm.onSubscribe(res, body);
        return;
      }
      fm.onCall(body, req, res);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fm.port = (server.address() as AddressInfo).port;
  fm.url = `http://127.0.0.1:${fm.port}`;
  fm.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      for (const s of sockets) s.destroy();
    });
  servers.push(fm);
  return fm;
}

const subscribedEvent = (fid = 'fw-1', hb = 15) => ({
  type: 'SUBSCRIBED',
  subscribed: { framework_id: { value: fid }, heartbeat_interval_seconds: hb },
});

const offer = (id: string) => ({
  id: { value: id },
  framework_id: { value: 'fw-1' },
  agent_id: { value: 'a-1' },
  hostname: 'h',
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }],
});

function startStream(res: http.ServerResponse, streamId = 'stream-1'): void {
  res.writeHead(200, { 'content-type': 'application/json', 'mesos-stream-id': streamId });
  res.flushHeaders();
}

const fi = { user: 'tester', name: 'unit' };

/** Puts a master's election record, as a candidate does (the oldest key leads). */
async function campaign(store: Store, fm: FakeMaster): Promise<string> {
  const key = `${MASTER_ELECTION}m-${fm.port}`;
  await store.put(key, JSON.stringify({ id: `m-${fm.port}`, url: fm.url }));
  return key;
}

/** A fake master that accepts SUBSCRIBE with the framework id it is given (or fw-new). */
async function subscribingMaster(): Promise<FakeMaster> {
  const fm = await fakeMaster();
  fm.onSubscribe = (res, call) => {
    startStream(res, `stream-${fm.port}`);
    res.write(encodeRecord(subscribedEvent(call.subscribe.framework_info.id?.value ?? 'fw-new')));
  };
  return fm;
}

describe('SchedulerClient', () => {
  test('decodes a RecordIO stream split at awkward boundaries and records the stream id', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = async (res) => {
      startStream(res, 'sid-42');
      const a = encodeRecord(subscribedEvent());
      const b = encodeRecord({ type: 'OFFERS', offers: { offers: [offer('o1'), offer('o2')] } });
      const c = encodeRecord({ type: 'HEARTBEAT' });
      const d = encodeRecord({ type: 'UPDATE', update: { status: { task_id: { value: 't1' }, state: 'TASK_RUNNING', msg: 'é✓' } } });
      // One length digit, then the rest; SUBSCRIBED+half of OFFERS in one write; a multi-byte
      // UTF-8 character cut in half; two records in one write.
      const all = Buffer.concat([a, b, c, d]);
      const utf8At = all.indexOf(Buffer.from('é')) + 1;
      await writeSplit(res, all, [1, 2, a.length + 7, a.length + b.length - 1, a.length + b.length + 1, utf8At]);
    };
    const seen: SchedulerEvent[] = [];
    const client = new SchedulerClient({ masterUrl: fm.url, onEvent: (ev) => seen.push(ev) });
    const offers: string[] = [];
    client.on('offers', (os) => offers.push(...os.map((o) => o.id.value)));
    const updateP = client.waitFor((ev) => (ev.type === 'UPDATE' ? (ev as any).update.status : undefined), 5000, 'update');
    const sub = await client.subscribe(fi);
    assert.equal(sub.frameworkId, 'fw-1');
    assert.equal(sub.streamId, 'sid-42');
    assert.equal(client.streamId, 'sid-42');
    const status = await updateP;
    assert.equal(status.state, 'TASK_RUNNING');
    assert.equal(status.msg, 'é✓');
    assert.deepEqual(offers, ['o1', 'o2']);
    assert.deepEqual(
      seen.map((e) => e.type),
      ['SUBSCRIBED', 'OFFERS', 'HEARTBEAT', 'UPDATE'],
    );
    assert.equal(fm.calls[0]!.body.type, 'SUBSCRIBE');
    assert.equal(fm.calls[0]!.body.subscribe.framework_info.name, 'unit');
    assert.equal(fm.calls[0]!.headers['mesos-stream-id'], undefined);
    client.close();
  });

  test('listeners attached after `await subscribe()` see events that came in the same chunk', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = (res) => {
      startStream(res);
      res.write(Buffer.concat([encodeRecord(subscribedEvent()), encodeRecord({ type: 'OFFERS', offers: { offers: [offer('o9')] } })]));
    };
    const client = await subscribe(fi, { masterUrl: fm.url });
    const got = await new Promise<string>((resolve) => client.on('offers', (os) => resolve(os[0]!.id.value)));
    assert.equal(got, 'o9');
    client.close();
  });

  test('calls carry the stream id and framework id; helpers build Mesos calls', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = (res) => {
      startStream(res, 'sid-7');
      res.write(encodeRecord(subscribedEvent('fw-7')));
    };
    const client = await subscribe(fi, { masterUrl: fm.url });
    await client.decline(['o1'], { refuse_seconds: 1 });
    await client.launch(['o2'], [
      { name: 't', task_id: { value: 't1' }, agent_id: { value: 'a1' }, resources: [], command: { value: 'true' } },
    ]);
    assert.equal(await client.acknowledge({ task_id: { value: 't1' }, agent_id: { value: 'a1' }, uuid: 'dXVpZA==' }), true);
    assert.equal(await client.acknowledge({ task_id: { value: 't1' }, agent_id: { value: 'a1' } }), false);
    await client.kill('t1', 'a1');
    await client.reconcile([{ taskId: 't1' }]);
    await client.suppress();
    await client.teardown();
    const calls = fm.calls.filter((c) => c.body?.type !== 'SUBSCRIBE');
    assert.deepEqual(
      calls.map((c) => c.body.type),
      ['DECLINE', 'ACCEPT', 'ACKNOWLEDGE', 'KILL', 'RECONCILE', 'SUPPRESS', 'TEARDOWN'],
    );
    for (const c of calls) {
      assert.equal(c.headers['mesos-stream-id'], 'sid-7');
      assert.deepEqual(c.body.framework_id, { value: 'fw-7' });
      assert.match(String(c.headers['content-type']), /application\/json/);
    }
    assert.deepEqual(calls[0]!.body.decline, { offer_ids: [{ value: 'o1' }], filters: { refuse_seconds: 1 } });
    assert.equal(calls[1]!.body.accept.operations[0].type, 'LAUNCH');
    assert.equal(calls[1]!.body.accept.operations[0].launch.task_infos[0].task_id.value, 't1');
    assert.deepEqual(calls[2]!.body.acknowledge, { agent_id: { value: 'a1' }, task_id: { value: 't1' }, uuid: 'dXVpZA==' });
    assert.deepEqual(calls[3]!.body.kill, { task_id: { value: 't1' }, agent_id: { value: 'a1' } });
    client.close();
  });

  test('a non-2xx call throws a CorralError with the status and body text', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = (res) => {
      startStream(res);
      res.write(encodeRecord(subscribedEvent()));
    };
    fm.onCall = (_call, _req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('Framework cannot be found');
    };
    const client = await subscribe(fi, { masterUrl: fm.url });
    await assert.rejects(client.decline(['o1']), (err: unknown) => {
      assert.ok(err instanceof CorralError);
      assert.equal(err.status, 400);
      assert.equal(err.details.status, 400);
      assert.match(err.message, /DECLINE failed: 400 Bad Request: Framework cannot be found/);
      return true;
    });
    client.close();
  });

  test('a refused SUBSCRIBE rejects with the status and body; an ERROR event rejects too', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = (res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end("Failed to validate scheduler::Call: Expecting 'framework_info' to be present");
    };
    await assert.rejects(subscribe(fi, { masterUrl: fm.url }), /SUBSCRIBE failed: 400 Bad Request: Failed to validate/);
    fm.onSubscribe = (res) => {
      startStream(res);
      res.write(encodeRecord({ type: 'ERROR', error: { message: 'Framework has been removed' } }));
    };
    await assert.rejects(subscribe(fi, { masterUrl: fm.url }), /subscription refused by the master: Framework has been removed/);
  });

  test('follows a protocol-relative 307 for SUBSCRIBE and sends calls to the new master', async () => {
    const leader = await fakeMaster();
    const follower = await fakeMaster();
    follower.onSubscribe = (res) => {
      res.writeHead(307, { location: `//127.0.0.1:${leader.port}/api/v1/scheduler`, 'content-length': '0' });
      res.end();
    };
    leader.onSubscribe = (res) => {
      startStream(res, 'leader-stream');
      res.write(encodeRecord(subscribedEvent('fw-L')));
    };
    const client = await subscribe(fi, { masterUrl: follower.url });
    assert.equal(client.masterUrl, leader.url);
    assert.equal(client.frameworkId, 'fw-L');
    await client.revive();
    assert.equal(leader.calls.at(-1)!.body.type, 'REVIVE');
    assert.equal(leader.calls.at(-1)!.headers['mesos-stream-id'], 'leader-stream');
    assert.equal(follower.calls.length, 1);
    client.close();
  });

  test("emits 'disconnected' once when the stream ends, then re-subscribes with the same framework id", async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = (res, call) => {
      startStream(res);
      res.write(encodeRecord(subscribedEvent(call.subscribe.framework_info.id?.value ?? 'fw-new')));
    };
    const client = await subscribe(fi, { masterUrl: fm.url });
    const reasons: string[] = [];
    const lost = new Promise<void>((resolve) =>
      client.on('disconnected', (info) => {
        reasons.push(info.reason);
        resolve();
      }),
    );
    fm.streams[0]!.end();
    await lost;
    assert.equal(client.isConnected, false);
    const again = await client.subscribe(fi);
    assert.equal(again.frameworkId, 'fw-new');
    const resub = fm.calls.filter((c) => c.body?.type === 'SUBSCRIBE')[1]!;
    assert.deepEqual(resub.body.framework_id, { value: 'fw-new' });
    assert.deepEqual(resub.body.subscribe.framework_info.id, { value: 'fw-new' });
    await tick(20);
    assert.equal(reasons.length, 1);
    client.close();
  });

  test('after its master goes away, subscribe() goes to the new leader with the same framework id', async () => {
    const store = createMemoryStore();
    const a = await subscribingMaster();
    const b = await subscribingMaster();
    const keyA = await campaign(store, a);
    await campaign(store, b);
    const locator = storeMasterLocator(store, { leaderWaitMs: 5000 });
    const client = new SchedulerClient({ locator });
    try {
      const first = await client.subscribe(fi);
      assert.equal(first.masterUrl, a.url);
      const lost = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
      await a.close(); // SIGKILL-like: the stream breaks, the election record lingers until its lease expires
      await lost;
      // The record still names a: that attempt fails, and tells the locator so.
      await assert.rejects(client.subscribe(fi), (e: unknown) => e instanceof UnavailableError && e.message.includes(a.url));
      // The next one waits for the record to change instead of trying a again.
      const again = client.subscribe(fi);
      await store.delete(keyA);
      const second = await again;
      assert.equal(second.masterUrl, b.url);
      assert.equal(second.frameworkId, 'fw-new');
      const resub = b.calls.find((c) => c.body?.type === 'SUBSCRIBE')!;
      assert.deepEqual(resub.body.framework_id, { value: 'fw-new' });
      assert.deepEqual(resub.body.subscribe.framework_info.id, { value: 'fw-new' });
      await client.revive();
      assert.equal(b.calls.at(-1)!.body.type, 'REVIVE');
      assert.equal(b.calls.at(-1)!.headers['mesos-stream-id'], `stream-${b.port}`);
    } finally {
      client.close();
      await locator.close();
      await store.close();
    }
  });

  test('a new leader announced by the locator ends the stream still open to the old one', async () => {
    const store = createMemoryStore();
    const a = await subscribingMaster();
    const b = await subscribingMaster();
    const keyA = await campaign(store, a);
    await campaign(store, b);
    const locator = storeMasterLocator(store);
    const client = new SchedulerClient({ locator });
    try {
      await client.subscribe(fi);
      const lost = new Promise<string>((resolve) => client.once('disconnected', (info) => resolve(info.reason)));
      // a is paused, say: its stream stays open, but its lease expired and b leads.
      await store.delete(keyA);
      assert.equal(await lost, `the leading master is now ${b.url}`);
      const again = await client.subscribe(fi);
      assert.equal(again.masterUrl, b.url);
      assert.equal(again.frameworkId, 'fw-new');
    } finally {
      client.close();
      await store.close();
    }
  });

  test('a comma list: subscribe skips a dead master and follows a follower to the leader', async () => {
    const dead = await fakeMaster();
    await dead.close();
    const leader = await subscribingMaster();
    const follower = await fakeMaster();
    follower.onGet = (_req, res) => {
      res.writeHead(307, { location: `//127.0.0.1:${leader.port}/master/redirect`, 'content-length': '0', 'corral-leading': 'false' });
      res.end();
    };
    const client = await subscribe(fi, { masterUrl: `${dead.url},${follower.url}` });
    assert.equal(client.masterUrl, leader.url);
    assert.equal(follower.calls.length, 0, 'the subscription went straight to the leader');
    client.close();
  });

  test('missed heartbeats count as a disconnection', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = (res) => {
      startStream(res);
      res.write(encodeRecord(subscribedEvent('fw-1', 0.05)));
    };
    const client = await subscribe(fi, { masterUrl: fm.url, maxMissedHeartbeats: 2 });
    const info = await new Promise<{ reason: string }>((resolve) => client.on('disconnected', resolve));
    assert.match(info.reason, /no event or heartbeat/);
    client.close();
  });

  test('a malformed stream disconnects instead of throwing', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = async (res) => {
      startStream(res);
      res.write(encodeRecord(subscribedEvent()));
      await tick(10);
      res.write('12x\n{}');
    };
    const client = await subscribe(fi, { masterUrl: fm.url });
    const info = await new Promise<{ reason: string }>((resolve) => client.on('disconnected', resolve));
    assert.match(info.reason, /malformed/);
    client.close();
  });

  test('an unreachable master is an UnavailableError naming the URL', async () => {
    const fm = await fakeMaster();
    await fm.close();
    await assert.rejects(subscribe(fi, { masterUrl: fm.url }), (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, new RegExp(`cannot reach master at ${fm.url}: .*ECONNREFUSED`));
      return true;
    });
  });

  test('waitFor rejects on disconnection and on timeout', async () => {
    const fm = await fakeMaster();
    fm.onSubscribe = (res) => {
      startStream(res);
      res.write(encodeRecord(subscribedEvent()));
    };
    const client = await subscribe(fi, { masterUrl: fm.url });
    await assert.rejects(client.waitFor(() => undefined, 30, 'nothing'), /timed out after 30 ms waiting for nothing/);
    const p = client.waitFor(() => undefined, 5000, 'an offer');
    fm.streams[0]!.destroy();
    await assert.rejects(p, /disconnected from master .* while waiting for an offer/);
    client.close();
  });
});

describe('OperatorClient', () => {
  test('GETs JSON, follows redirects, and reports errors with status and body', async () => {
    const leader = await fakeMaster();
    const other = await fakeMaster();
    leader.onGet = (req, res) => {
      if (req.url === '/master/state') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'm1', slaves: [{ id: 'a1', hostname: 'h', pid: 'slave(1)@127.0.0.1:5051' }] }));
      } else if (req.url?.startsWith('/files/read')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ offset: 3, data: 'abc', echo: req.url }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'NOT_FOUND', message: 'no such endpoint: /x' }));
      }
    };
    other.onGet = (req, res) => {
      res.writeHead(307, { location: `//127.0.0.1:${leader.port}${req.url}`, 'content-length': '0', 'corral-leading': 'false' });
      res.end();
    };
    const op = new OperatorClient(other.url + '/');
    const state = await op.state();
    assert.equal(state.id, 'm1');
    assert.equal(agentUrlOf(state.slaves![0]!), 'http://127.0.0.1:5051');
    assert.equal(agentUrlOf({ hostname: 'box', port: 5052 }), 'http://box:5052');
    const chunk = (await op.readFile(leader.url, '/tmp/sand box/stdout', 0, 10)) as any;
    assert.equal(chunk.data, 'abc');
    assert.match(chunk.echo, /path=%2Ftmp%2Fsand\+box%2Fstdout&offset=0&length=10/);
    await assert.rejects(op.master('/x'), /GET \/x failed: 404 Not Found: no such endpoint: \/x/);
    op.close();
    const dead = await fakeMaster();
    await dead.close();
    await assert.rejects(new OperatorClient(dead.url).state(), /cannot reach master at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });

  test('a leader that cannot be reached is looked up once more (failover under way)', async () => {
    const store = createMemoryStore();
    const a = await fakeMaster();
    const b = await fakeMaster();
    b.onGet = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'b' }));
    };
    const keyA = await campaign(store, a);
    await campaign(store, b);
    const locator = storeMasterLocator(store, { leaderWaitMs: 5000 });
    const op = new OperatorClient(locator);
    // a is dying: it drops every request (its election record lingers until its lease expires).
    const hit = new Promise<void>((resolve) => {
      a.onGet = (req) => {
        req.socket.destroy();
        resolve();
      };
    });
    try {
      const state = op.state();
      await hit;
      // The failed request marks a as suspect; the retry waits for the election to move on.
      await store.delete(keyA);
      assert.equal((await state).id, 'b');
      assert.equal(op.masterUrl, b.url);
    } finally {
      op.close();
      await locator.close();
      await store.close();
    }
  });
});
