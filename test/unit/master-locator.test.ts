// The --master forms and the master locators: parsing errors that name the bad part, URL locators
// against fake masters over real HTTP (a follower that 307s to the leader, a list with a dead
// member, 503 until a leader is known, a leader change), and the election locator over a shared
// in-memory store (waiting for a leader, announcing changes, invalidate while the record lags).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { createMasterLocator, parseMasterSpec, storeMasterLocator, type LeaderInfo } from '../../src/client/master-locator.ts';
import { parseMasterArg } from '../../src/cli/common.ts';
import { MASTER_ELECTION } from '../../src/coordination/leader.ts';
import { UnavailableError, ValidationError } from '../../src/protocol/errors.ts';
import { createMemoryStore, type Store } from '../../src/store/index.ts';

describe('parseMasterSpec', () => {
  test('a single URL, with or without scheme and trailing slash', () => {
    assert.deepEqual(parseMasterSpec('http://127.0.0.1:5050/'), { kind: 'url', text: 'http://127.0.0.1:5050/', urls: ['http://127.0.0.1:5050'] });
    const s = parseMasterSpec(' 127.0.0.1:5050 ');
    assert.deepEqual(s.kind === 'url' && s.urls, ['http://127.0.0.1:5050']);
  });

  test('a comma list of URLs (duplicates dropped)', () => {
    const s = parseMasterSpec('http://a:5050, b:5051,http://a:5050');
    assert.equal(s.kind, 'list');
    assert.deepEqual(s.kind === 'list' && s.urls, ['http://a:5050', 'http://b:5051']);
  });

  test('etcd:// with one or several endpoints', () => {
    assert.deepEqual(parseMasterSpec('etcd://127.0.0.1:2379'), {
      kind: 'etcd',
      text: 'etcd://127.0.0.1:2379',
      url: 'etcd://127.0.0.1:2379',
      endpoints: ['127.0.0.1:2379'],
    });
    const s = parseMasterSpec('ETCD://10.0.0.1:2379, 10.0.0.2:2379,[::1]:2379/');
    assert.equal(s.kind, 'etcd');
    assert.deepEqual(s.kind === 'etcd' && s.endpoints, ['10.0.0.1:2379', '10.0.0.2:2379', '[::1]:2379']);
    assert.equal(s.kind === 'etcd' && s.url, 'etcd://10.0.0.1:2379,10.0.0.2:2379,[::1]:2379');
  });

  const bad: [string, RegExp][] = [
    ['', /--master: is empty/],
    ['   ', /--master: is empty/],
    ['etcd://', /names no etcd endpoint/],
    ['etcd://127.0.0.1', /etcd endpoint of "etcd:\/\/127.0.0.1" \("127.0.0.1"\) is not host:port: it has no port/],
    ['etcd://a:2379,b:23x9', /etcd endpoint 2 of "etcd:\/\/a:2379,b:23x9" \("b:23x9"\): port "23x9" is not a number/],
    ['etcd://a:2379,,b:2379', /etcd endpoint 2 of .* is empty/],
    ['etcd://a:99999', /port "99999" is not a number between 1 and 65535/],
    ['etcd://:2379', /\(":2379"\) is not host:port/],
    ['etcd://a:2379/corral', /has a path/],
    ['http://a:5050,,http://b:5050', /item 2 of "http:\/\/a:5050,,http:\/\/b:5050" is empty/],
    ['http://a:5050,etcd://e:2379', /item 2 .*etcd:\/\/ cannot be mixed/],
    ['https://a:5050', /unsupported scheme https:\/\//],
    ['http://a:5050,b:50x50', /item 2 of .*\("b:50x50"\) is not a valid master URL/],
    ['zk://z:2181/mesos', /ZooKeeper \(zk:\/\/\) is not supported/],
  ];
  for (const [input, re] of bad) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseMasterSpec(input),
        (e: unknown) => e instanceof ValidationError && re.test(e.message),
      );
    });
  }

  test('the CLI option parser turns errors into usage errors and keeps the text', () => {
    assert.equal(parseMasterArg(' etcd://a:2379 '), 'etcd://a:2379');
    assert.throws(
      () => parseMasterArg('etcd://a:2379,b'),
      (e: unknown) => e instanceof InvalidArgumentError && /etcd endpoint 2 .*\("b"\).*no port/.test(e.message),
    );
  });
});

// ---------------------------------------------------------------- fake masters over real HTTP

interface FakeHttpMaster {
  url: string;
  /** What GET /master/redirect answers: the leader's URL (307), 'self' (200), 'none' (503). */
  redirect: string | 'self' | 'none';
  probes: number;
  close(): Promise<void>;
}

const servers: FakeHttpMaster[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function fakeMaster(redirect: FakeHttpMaster['redirect'] = 'self'): Promise<FakeHttpMaster> {
  const sockets = new Set<import('node:net').Socket>();
  const fm: FakeHttpMaster = { url: '', redirect, probes: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    if (req.url === '/master/redirect') {
      fm.probes++;
      if (fm.redirect === 'self') res.writeHead(200, { 'corral-leading': 'true' }).end();
      else if (fm.redirect === 'none') res.writeHead(503, { 'content-type': 'text/plain' }).end('no leading master elected yet');
      // Mesos sends a protocol-relative Location.
      else res.writeHead(307, { location: fm.redirect.replace(/^http:/, '') }).end();
      return;
    }
    res.writeHead(404).end();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fm.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  fm.close = () =>
    closed
      ? Promise.resolve()
      : new Promise<void>((r) => {
          closed = true;
          server.close(() => r());
          for (const s of sockets) s.destroy();
        });
  servers.push(fm);
  return fm;
}

/** A URL nothing listens on: a master that was started, then went away. */
async function deadUrl(): Promise<string> {
  const fm = await fakeMaster();
  await fm.close();
  return fm.url;
}

describe('URL locators', () => {
  test('the leader reached through an address of ours is kept; a redirect target must answer as the leader', async () => {
    // Something else answers at the address a master advertises (as an egress proxy does for an
    // address this process cannot route to): 404, no leader header.
    const plain = http.createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    try {
      // A master redirecting to that address: the target is probed and, not answering as a leader,
      // not trusted; the master we asked keeps being used.
      const master = await fakeMaster(plainUrl);
      const loc = createMasterLocator(master.url);
      assert.equal(await loc.current(), master.url);
      await loc.close();
    } finally {
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });

  test('a single URL: a follower 307s to the leader; cached until invalidated', async () => {
    const leader = await fakeMaster('self');
    const follower = await fakeMaster(leader.url);
    const loc = createMasterLocator(follower.url);
    try {
      assert.equal(await loc.current(), leader.url);
      assert.equal(await loc.current(), leader.url);
      assert.equal(follower.probes, 1, 'cached');
      loc.invalidate('http://127.0.0.1:1'); // some other URL: the answer stands
      assert.equal(await loc.current(), leader.url);
      assert.equal(follower.probes, 1);
      loc.invalidate(leader.url);
      assert.equal(await loc.current(), leader.url);
      assert.equal(follower.probes, 2, 're-resolved after invalidate');
    } finally {
      await loc.close();
    }
  });

  test('a redirect to an unreachable or wildcard address is not trusted', async () => {
    const seed = await fakeMaster(await deadUrl());
    const loc = createMasterLocator(seed.url);
    try {
      assert.equal(await loc.current(), seed.url);
      seed.redirect = `http://0.0.0.0:${new URL(seed.url).port}`;
      loc.invalidate();
      assert.equal(await loc.current(), seed.url);
    } finally {
      await loc.close();
    }
  });

  test('a single unreachable URL keeps the "cannot reach master at" error', async () => {
    const url = await deadUrl();
    const loc = createMasterLocator(url);
    await assert.rejects(loc.current(), (e: unknown) => e instanceof UnavailableError && e.message.startsWith(`cannot reach master at ${url}`));
    await loc.close();
  });

  test('a list: a dead member is skipped; a leader change is found and announced after invalidate', async () => {
    const dead = await deadUrl();
    const a = await fakeMaster('self');
    const b = await fakeMaster(a.url);
    const loc = createMasterLocator(`${dead},${b.url},${a.url}`);
    const seen: (LeaderInfo | undefined)[] = [];
    loc.onChange((l) => seen.push(l));
    try {
      assert.equal(await loc.current(), a.url);
      // Failover: a goes away, b leads.
      await a.close();
      b.redirect = 'self';
      loc.invalidate(a.url);
      assert.equal(await loc.current(), b.url);
      assert.deepEqual(
        seen.map((l) => l?.url),
        [a.url, b.url],
      );
    } finally {
      await loc.close();
    }
  });

  test('masters that know no leader (503) are asked again until one does, within the bound', async () => {
    const a = await fakeMaster('none');
    const b = await fakeMaster('none');
    const loc = createMasterLocator(`${a.url},${b.url}`, { leaderWaitMs: 5000 });
    try {
      const found = loc.current();
      // Elect b once both have been asked at least once: the locator must be waiting by then.
      const deadline = Date.now() + 5000;
      while (b.probes < 1 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      b.redirect = 'self';
      a.redirect = b.url;
      assert.equal(await found, b.url);
      assert.ok(a.probes >= 2, 'asked again after the 503s');
    } finally {
      await loc.close();
    }
    const none = createMasterLocator(`${a.url},${await deadUrl()}`, { leaderWaitMs: 300 });
    a.redirect = 'none';
    await assert.rejects(none.current(), (e: unknown) => e instanceof UnavailableError && /no leading master after 300 ms: .*no leading master elected yet/.test(e.message));
    await none.close();
  });

  test('a list where every master is down names each', async () => {
    const [x, y] = [await deadUrl(), await deadUrl()];
    const loc = createMasterLocator(`${x},${y}`);
    await assert.rejects(loc.current(), (e: unknown) => e instanceof UnavailableError && e.message.includes(`cannot reach any master of ${x},${y}`) && e.message.includes(y));
    await loc.close();
  });
});

// ---------------------------------------------------------------- election locator

async function campaign(store: Store, id: string, url: string): Promise<string> {
  const key = `${MASTER_ELECTION}${id}`;
  await store.put(key, JSON.stringify({ id, url }));
  return key;
}

/** Resolves with the first notification satisfying `pred`; rejects after `ms`. */
function nextChange(loc: ReturnType<typeof storeMasterLocator>, pred: (l: LeaderInfo | undefined) => boolean, ms = 3000): Promise<LeaderInfo | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching leader change within ${ms} ms`));
    }, ms);
    const off = loc.onChange((l) => {
      if (!pred(l)) return;
      clearTimeout(timer);
      off();
      resolve(l);
    });
  });
}

describe('election locator', () => {
  test('waits (bounded) for a leader, then follows changes and announces them', async () => {
    const store = createMemoryStore();
    const loc = storeMasterLocator(store, { description: 'etcd://test', leaderWaitMs: 5000 });
    try {
      const pending = loc.current();
      const k1 = await campaign(store, 'm1', 'http://127.0.0.1:5051/');
      await campaign(store, 'm2', 'http://127.0.0.1:5052');
      assert.equal(await pending, 'http://127.0.0.1:5051', 'the first candidate leads; URL normalised');
      const changed = nextChange(loc, (l) => l?.id === 'm2');
      await store.delete(k1);
      assert.deepEqual(await changed, { id: 'm2', url: 'http://127.0.0.1:5052' });
      assert.equal(await loc.current(), 'http://127.0.0.1:5052');
    } finally {
      await loc.close();
      await store.close();
    }
  });

  test('no leader within the bound is an UnavailableError saying what to start', async () => {
    const store = createMemoryStore();
    const loc = storeMasterLocator(store, { description: 'etcd://127.0.0.1:2379', leaderWaitMs: 150 });
    await assert.rejects(loc.current(), (e: unknown) => e instanceof UnavailableError && /no leading master in etcd:\/\/127.0.0.1:2379 after 150 ms .*corral master --store/.test(e.message));
    await loc.close();
    await assert.rejects(loc.current(), /closed/);
    await store.close();
  });

  test('invalidate: waits for the record of an unreachable leader to change instead of returning it again', async () => {
    const store = createMemoryStore();
    const loc = storeMasterLocator(store, { leaderWaitMs: 5000 });
    try {
      const k1 = await campaign(store, 'm1', 'http://127.0.0.1:6001');
      await campaign(store, 'm2', 'http://127.0.0.1:6002');
      assert.equal(await loc.current(), 'http://127.0.0.1:6001');
      // A 503 (elected, still recovering) does not make it suspect: the record is the authority.
      loc.invalidate('http://127.0.0.1:6001', 'refused');
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<string>((r) => (timer = setTimeout(() => r('waited'), 1000)));
      assert.equal(await Promise.race([loc.current(), waited]), 'http://127.0.0.1:6001');
      clearTimeout(timer);
      loc.invalidate('http://127.0.0.1:6001/api/v1/scheduler');
      let settled = false;
      const next = loc.current().finally(() => (settled = true));
      // Nothing changed yet: the locator must not hand out 6001 again.
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false);
      await store.delete(k1); // m1's lease expired
      assert.equal(await next, 'http://127.0.0.1:6002');
    } finally {
      await loc.close();
      await store.close();
    }
    // When the record never changes, the wait ends at the bound with the same answer.
    const store2 = createMemoryStore();
    const loc2 = storeMasterLocator(store2, { leaderWaitMs: 100 });
    await campaign(store2, 'm1', 'http://127.0.0.1:6001');
    assert.equal(await loc2.current(), 'http://127.0.0.1:6001');
    loc2.invalidate();
    assert.equal(await loc2.current(), 'http://127.0.0.1:6001');
    await loc2.close();
    await store2.close();
  });

  test('close() ends a pending wait', async () => {
    const store = createMemoryStore();
    const loc = storeMasterLocator(store, { leaderWaitMs: 10_000 });
    const pending = loc.current();
    await new Promise((r) => setImmediate(r));
    await loc.close();
    await assert.rejects(pending, (e: unknown) => e instanceof UnavailableError && /closed/.test(e.message));
    await store.close();
  });

  test('an etcd:// spec opens its store lazily through openStore, once, and closes it', async () => {
    const store = createMemoryStore();
    const opened: string[] = [];
    let closed = 0;
    const wrapped = new Proxy(store, {
      get(target, prop) {
        if (prop === 'close')
          return async () => {
            closed++;
            await target.close();
          };
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const loc = createMasterLocator('etcd://10.1.1.1:2379, 10.1.1.2:2379', {
      openStore: async (url) => {
        opened.push(url);
        return wrapped;
      },
    });
    assert.deepEqual(opened, [], 'lazy');
    await campaign(store, 'm1', 'http://127.0.0.1:7001');
    assert.equal(await loc.current(), 'http://127.0.0.1:7001');
    assert.equal(await loc.current(), 'http://127.0.0.1:7001');
    assert.deepEqual(opened, ['etcd://10.1.1.1:2379,10.1.1.2:2379']);
    await loc.close();
    assert.equal(closed, 1);
  });

  test('a store that cannot be opened is an UnavailableError naming the spec; the next call tries again', async () => {
    let attempts = 0;
    const loc = createMasterLocator('etcd://127.0.0.1:1', {
      openStore: async () => {
        attempts++;
        throw new UnavailableError('cannot reach etcd at 127.0.0.1:1: ECONNREFUSED');
      },
    });
    await assert.rejects(loc.current(), (e: unknown) => e instanceof UnavailableError && /cannot read the master election from etcd:\/\/127.0.0.1:1: cannot reach etcd/.test(e.message));
    await assert.rejects(loc.current(), UnavailableError);
    assert.equal(attempts, 2);
    await loc.close();
  });
});
