// The lab itself: isolation (nothing reaches or leaves through the machine's own namespace), the faults
// it injects (partition both ways, heal, host crash, random loss, netem or a plain "unsupported"), and
// cleanup in every way a test can end (destroy, process exit, SIGTERM, SIGKILL + sweep).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { faultSuiteSkip } from '../harness/fault-env.ts';
import { poll } from '../harness/http.ts';
import { createLab, LabUnsupportedError, netemSupported, type Lab } from '../harness/lab.ts';
import { isAlive, labIdOf, labStateDir, listNamespaces, nftUnsupportedReason, run, sweepStaleLabs } from '../harness/netns.ts';
import { REPO_ROOT } from '../support/cluster.ts';

/** A node one-liner: an HTTP server on ADDR:PORT answering its host name; prints a ready line. */
const server = (addr: string, port: number, name: string) => [
  process.execPath,
  '-e',
  `require('http').createServer((q,s)=>s.end(${JSON.stringify(name)})).listen(${port},${JSON.stringify(addr)},()=>console.log(JSON.stringify({event:'ready'})))`,
];
/** A node one-liner that tries a TCP connection and prints {"event":"result","ok":…,"error":…}. */
const probe = (addr: string, port: number) => [
  process.execPath,
  '-e',
  `const s=require('net').connect({host:${JSON.stringify(addr)},port:${port},timeout:1500});` +
    `const out=(ok,error)=>{console.log(JSON.stringify({event:'result',ok,error}));process.exit(0)};` +
    `s.on('connect',()=>out(true));s.on('timeout',()=>out(false,'timeout'));s.on('error',e=>out(false,e.code))`,
];

/** A node one-liner: a UDP echo server on ADDR:PORT; prints a ready line. */
const udpEcho = (addr: string, port: number) => [
  process.execPath,
  '-e',
  `const d=require('dgram').createSocket('udp4');d.on('message',(m,r)=>d.send(m,r.port,r.address));` +
    `d.bind(${port},${JSON.stringify(addr)},()=>console.log(JSON.stringify({event:'ready'})))`,
];
/**
 * A node one-liner: sends N numbered datagrams to ADDR:PORT, one per millisecond, and counts the distinct
 * echoes. A datagram is lost when its echo has not come back 500 ms after the last one that did (on a
 * bridge the round trip is well under a millisecond): loss is only ever observable as a timeout.
 * Prints {"event":"result","sent":N,"received":K}.
 */
const udpProbe = (addr: string, port: number, n: number) => [
  process.execPath,
  '-e',
  `const d=require('dgram').createSocket('udp4');const got=new Set();let sent=0,last=Date.now();` +
    `d.on('message',(m)=>{got.add(m.toString());last=Date.now()});` +
    `const t=setInterval(()=>{if(sent<${n}){d.send(String(sent++),${port},${JSON.stringify(addr)});last=Date.now();return}` +
    `if(got.size===${n}||Date.now()-last>500){clearInterval(t);console.log(JSON.stringify({event:'result',sent,received:got.size}));process.exit(0)}},1)`,
];

const labNamespaces = (id: string) => listNamespaces().filter((n) => labIdOf(n) === id);

describe('fault lab', { skip: faultSuiteSkip() }, () => {
  let lab: Lab | undefined;
  after(async () => lab?.destroy());

  test('hosts reach each other over the bridge and nothing else', { timeout: 30_000 }, async () => {
    lab = await createLab({ hosts: 2 });
    const [h0, h1, h2] = [lab.host(0), lab.host(1), lab.host(2)];
    assert.equal(labNamespaces(lab.id).length, 4, 'h0, h1, h2 and the bridge namespace');
    for (const h of [h0, h1, h2]) {
      const routes = run('ip', ['-n', h.ns, '-4', 'route', 'show']).stdout.trim().split('\n');
      assert.deepEqual(routes.length, 1, `${h.ns} must only have its lab subnet route: ${routes}`);
      assert.match(routes[0]!, /^10\.254\.\d+\.0\/24 dev eth0/);
      assert.doesNotMatch(routes.join('\n'), /default/);
    }
    const bridgeAddrs = run('ip', ['-n', lab.bridgeNs, '-4', 'addr', 'show']).stdout;
    assert.doesNotMatch(bridgeAddrs, /10\.254\./, 'the bridge namespace has no address: it only switches');
    const rootLinks = run('ip', ['-o', 'link', 'show']).stdout;
    assert.doesNotMatch(rootLinks, new RegExp(`${lab.id}|veth`), 'nothing of the lab appears in the root namespace');
    const rootAddrs = run('ip', ['-4', '-o', 'addr', 'show']).stdout;
    assert.ok(!rootAddrs.includes(h1.address.split('.').slice(0, 3).join('.') + '.'), 'the root namespace has no lab address');

    await lab.spawn(2, [], { command: server(h2.address, 7000, 'h2'), name: 'server' });
    const p = await lab.spawn(1, [], { command: probe(h2.address, 7000), name: 'probe', ready: (o) => o.event === 'result' });
    assert.equal((await p.waitForJson((o) => o.event === 'result', 1000, 'result')).ok, true, 'h1 → h2 over the bridge');
    // A lab host cannot reach the machine's own addresses: there is no route out.
    const rootIp = /inet (\d+\.\d+\.\d+\.\d+)\/\d+ .*scope global/.exec(rootAddrs)?.[1];
    if (rootIp) {
      const out = await lab.spawn(1, [], { command: probe(rootIp, 22), name: 'probe-out', ready: (o) => o.event === 'result' });
      const r = await out.waitForJson((o) => o.event === 'result', 1000, 'result');
      assert.equal(r.ok, false, `h1 reached the machine's address ${rootIp}`);
      assert.equal(r.error, 'ENETUNREACH');
    }
    // The test process observes through the gateway.
    const url = await lab.forward(h2.address, 7000);
    assert.equal(await (await fetch(url, { signal: AbortSignal.timeout(3000) })).text(), 'h2');
  });

  test('partition (blackhole and link down), heal, and host crash', { timeout: 30_000 }, async () => {
    assert.ok(lab);
    const h2 = lab.host(2);
    const url = await lab.forward(h2.address, 7000);
    const reach = async (ms = 1500) => {
      try {
        return (await (await fetch(url, { signal: AbortSignal.timeout(ms) })).text()) === 'h2';
      } catch {
        return false;
      }
    };
    lab.partition(2);
    assert.equal(await reach(), false, 'blackhole partition lets traffic through');
    const p = await lab.spawn(2, [], { command: probe(lab.host(1).address, 1), name: 'probe-in', ready: (o) => o.event === 'result' });
    assert.equal((await p.waitForJson((o) => o.event === 'result', 1000, 'result')).error, 'timeout', 'packets vanish (no refusal)');
    lab.heal(2);
    await poll(() => reach(), 10_000, 'h2 reachable after the heal');
    lab.partition(2, { mode: 'down' });
    assert.equal(await reach(), false, 'link-down partition lets traffic through');
    lab.heal(2);
    await poll(() => reach(), 10_000, 'h2 reachable after the second heal');

    const pids = lab.pids(2);
    assert.ok(pids.length >= 1);
    const killed = await lab.crashHost(2);
    for (const pid of pids) assert.ok(killed.includes(pid) && !isAlive(pid), `pid ${pid} survived the crash`);
    assert.deepEqual(lab.pids(2), []);
  });

  test('netem shapes a link, or says plainly that this kernel cannot', { timeout: 30_000 }, async () => {
    assert.ok(lab);
    await lab.spawn(2, [], { command: server(lab.host(2).address, 7001, 'h2'), name: 'server2' });
    const url = await lab.forward(lab.host(2).address, 7001);
    const rtt = async () => {
      const t0 = performance.now();
      const r = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { connection: 'close' } });
      await r.text();
      return performance.now() - t0;
    };
    try {
      lab.netem(2, { delayMs: 100 });
    } catch (e) {
      assert.ok(e instanceof LabUnsupportedError, `unexpected error: ${(e as Error).message}`);
      assert.match((e as Error).message, /netem is not available.*latency cannot be emulated/);
      return;
    }
    const slow = await rtt();
    assert.ok(slow >= 200, `100 ms each way should add ≥ 200 ms per request, took ${slow.toFixed(0)} ms`);
    lab.heal(2);
    assert.ok((await rtt()) < 150, 'heal removes the delay');
  });

  test('loss drops packets on a host link at random, both ways; heal removes it', { timeout: 30_000 }, async (t) => {
    assert.ok(lab);
    const why = nftUnsupportedReason();
    if (why) {
      // The same sentence the lab throws; it must name the Debian package (or the kernel's lack).
      assert.throws(() => lab!.loss(2, 50), (e: Error) => e instanceof LabUnsupportedError && e.message === why);
      assert.match(why, /nftables|nf_tables/);
      return;
    }
    const [h1, h2] = [lab.host(1), lab.host(2)];
    await lab.spawn(2, [], { command: server(h2.address, 7002, 'h2'), name: 'server3' });
    await lab.spawn(2, [], { command: udpEcho(h2.address, 7003), name: 'udp-echo' });
    let probes = 0;
    const connect = async (from: number) => {
      const p = await lab!.spawn(from, [], { command: probe(h2.address, 7002), name: `probe-loss-${++probes}`, ready: (o) => o.event === 'result' });
      return (await p.waitForJson((o) => o.event === 'result', 1000, 'result')) as { ok: boolean; error?: string };
    };
    const udp = async (from: number, n: number) => {
      const p = await lab!.spawn(from, [], { command: udpProbe(h2.address, 7003, n), name: `udp-probe-${++probes}`, ready: (o) => o.event === 'result', readyTimeoutMs: 15_000 });
      return (await p.waitForJson((o) => o.event === 'result', 1000, 'result')) as { sent: number; received: number };
    };
    const rules = () => run('ip', ['netns', 'exec', lab!.bridgeNs, 'nft', 'list', 'ruleset']).stdout;

    lab.loss(2, 100);
    assert.equal(lab.host(2).loss, 100);
    const cut = await connect(1);
    assert.equal(cut.ok, false, 'h1 → h2 with 100 % loss on h2');
    assert.equal(cut.error, 'timeout', 'packets vanish (no refusal, no unreachable)');
    // The loss is on h2's link only: h2 still talks to itself (loopback never crosses the bridge).
    assert.equal((await udp(2, 50)).received, 50, 'h2 → h2 must not be affected by loss on its link');
    lab.heal(2);
    assert.equal(lab.host(2).loss, undefined);
    assert.doesNotMatch(rules(), /crl_loss/, 'heal leaves a loss table behind');
    assert.equal((await connect(1)).ok, true, 'h1 → h2 after the heal');
    assert.equal((await udp(1, 100)).received, 100, 'no loss after the heal');

    // 30 % each way: an echo survives with probability 0.7² = 0.49. With 300 datagrams, 25…75 % is
    // more than 8 standard deviations either side; the point is "some, not all".
    const N = 300;
    lab.loss(2, 30);
    const r = await udp(1, N);
    t.diagnostic(`30 % loss each way: ${r.received}/${N} UDP echoes came back`);
    assert.equal(r.sent, N);
    assert.ok(r.received > 0.25 * N && r.received < 0.75 * N, `30 % loss each way: ${r.received}/${N} echoes came back, expected about 49 %`);
    lab.loss(2, 0);
    assert.doesNotMatch(rules(), /crl_loss/, 'loss(i, 0) leaves a loss table behind');
    assert.equal((await udp(1, 100)).received, 100, 'no loss after loss(i, 0)');

    // netem() falls back to loss() for loss alone where the kernel has no netem.
    if (!netemSupported()) {
      lab.netem(2, { lossPct: 100 });
      assert.equal(lab.host(2).loss, 100);
      assert.equal((await connect(1)).ok, false);
      lab.heal(2);
      assert.equal((await connect(1)).ok, true);
    }
    assert.throws(() => lab!.loss(2, 101), /0…100/);
  });

  test('without nft, loss says which package to install', () => {
    const why = nftUnsupportedReason('/nonexistent/nft');
    assert.ok(why);
    assert.match(why, /Debian package nftables: apt-get install -y nftables/);
  });

  test('destroy removes every namespace and the state dir; it is idempotent', { timeout: 30_000 }, async () => {
    assert.ok(lab);
    const id = lab.id;
    await lab.destroy();
    await lab.destroy();
    assert.deepEqual(labNamespaces(id), []);
    assert.equal(fs.existsSync(labStateDir(id)), false);
    lab = undefined;
  });

  /** Runs a child process that creates a lab, prints its id, then ends as `how` says. */
  async function labInChild(how: 'exit' | 'SIGTERM' | 'SIGKILL'): Promise<string> {
    const code =
      `import(${JSON.stringify(path.join(REPO_ROOT, 'test/harness/lab.ts'))}).then(async (m) => {` +
      `const lab = await m.createLab({ hosts: 1 }); console.log(JSON.stringify({ id: lab.id }));` +
      (how === 'exit' ? "process.stdin.once('data', () => process.exit(3));" : 'setInterval(() => {}, 1000);') +
      `});`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    const exited = new Promise<void>((r) => child.once('close', () => r()));
    const id = await poll(() => /"id":"([0-9a-f]{6})"/.exec(out)?.[1], 20_000, 'the child to create its lab', 50);
    assert.equal(labNamespaces(id).length, 3);
    if (how === 'exit') child.stdin.write('exit now\n');
    else child.kill(how);
    await exited;
    return id;
  }

  test('a lab is removed when its process exits or is terminated', { timeout: 40_000 }, async () => {
    for (const how of ['exit', 'SIGTERM'] as const) {
      const id = await labInChild(how);
      assert.deepEqual(labNamespaces(id), [], `${how}: namespaces left behind`);
      assert.equal(fs.existsSync(labStateDir(id)), false, `${how}: state dir left behind`);
    }
  });

  test('a lab whose process was SIGKILLed is swept by the next one', { timeout: 30_000 }, async () => {
    const id = await labInChild('SIGKILL');
    // (A lab created meanwhile by a test file running in parallel may have swept it already.)
    const left = labNamespaces(id).length;
    const swept = sweepStaleLabs();
    assert.ok(left === 0 || swept.includes(id), `SIGKILLed lab ${id} left ${left} namespaces and the sweep did not remove them`);
    assert.deepEqual(labNamespaces(id), []);
    assert.equal(fs.existsSync(labStateDir(id)), false);
  });
});
