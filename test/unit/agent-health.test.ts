// Mesos-level health checks on the agent: the pure state machine, HealthCheck validation, the check loop on a
// manual clock, the probes against real sockets and processes, and the status update manager's flush.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseHealthCheck, type HealthCheckConfig } from '../../src/agent/health-check.ts';
import { HealthChecker } from '../../src/agent/health-checker.ts';
import { commandProbe, httpProbe, probeFor, tcpProbe, type ProbeResult } from '../../src/agent/health-probes.ts';
import { applyCheckResult, initialHealthState, type HealthPolicy, type HealthState } from '../../src/agent/health-state.ts';
import { StatusUpdateManager } from '../../src/agent/status-updates.ts';
import { validateTaskForLaunch } from '../../src/agent/task-validation.ts';
import type { TaskInfo, TaskStatus } from '../../src/protocol/mesos.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { isAlive, waitUntil } from '../support/fake-master.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('health state machine', () => {
  const policy: HealthPolicy = { gracePeriodMs: 1000, consecutiveFailures: 3 };

  it('reports the first success and then only flips', () => {
    let s = initialHealthState();
    let d = applyCheckResult(s, policy, true, 10);
    assert.equal(d.report, true);
    assert.equal(d.kill, false);
    s = d.state;
    d = applyCheckResult(s, policy, true, 20);
    assert.equal(d.report, undefined, 'no change, no report');
    s = d.state;
    d = applyCheckResult(s, policy, false, 30);
    assert.equal(d.report, false, 'a flip to unhealthy is reported, even inside the grace period once a check passed');
    assert.equal(d.state.consecutiveFailures, 1);
    s = d.state;
    d = applyCheckResult(s, policy, false, 40);
    assert.equal(d.report, undefined);
    assert.equal(d.state.consecutiveFailures, 2);
    s = d.state;
    d = applyCheckResult(s, policy, true, 50);
    assert.equal(d.report, true);
    assert.equal(d.state.consecutiveFailures, 0);
  });

  it('ignores failures inside the grace period until the first success', () => {
    let s: HealthState = initialHealthState();
    for (const at of [0, 500, 1000]) {
      const d = applyCheckResult(s, policy, false, at);
      assert.deepEqual([d.ignored, d.report, d.kill], [true, undefined, false], `failure at ${at} ms is ignored`);
      s = d.state;
    }
    const d = applyCheckResult(s, policy, false, 1001);
    assert.deepEqual([d.ignored, d.report, d.kill, d.state.consecutiveFailures], [false, false, false, 1], 'first failure past the grace period counts and is reported');
  });

  it('counts failures at once with no grace period, and kills after consecutive_failures in a row', () => {
    let s = initialHealthState();
    const d1 = applyCheckResult(s, { gracePeriodMs: 0, consecutiveFailures: 3 }, false, 0);
    assert.equal(d1.report, false);
    assert.equal(d1.kill, false);
    s = d1.state;
    const d2 = applyCheckResult(s, { gracePeriodMs: 0, consecutiveFailures: 3 }, false, 1);
    assert.equal(d2.kill, false);
    const d3 = applyCheckResult(d2.state, { gracePeriodMs: 0, consecutiveFailures: 3 }, false, 2);
    assert.equal(d3.kill, true);
    assert.equal(d3.report, undefined, 'already reported unhealthy');
  });

  it('kills on the first counted failure when consecutive_failures is 0 or 1', () => {
    for (const n of [0, 1]) {
      const d = applyCheckResult(initialHealthState(), { gracePeriodMs: 0, consecutiveFailures: n }, false, 0);
      assert.deepEqual([d.report, d.kill], [false, true]);
    }
  });

  it('starts from the health reported before a restart', () => {
    const healthy = initialHealthState(true);
    assert.equal(applyCheckResult(healthy, policy, true, 0).report, undefined, 'still healthy: nothing new to say');
    const d = applyCheckResult(healthy, policy, false, 0);
    assert.equal(d.report, false);
    assert.equal(d.ignored, false, 'past initialising: the grace period no longer applies');
    assert.equal(applyCheckResult(initialHealthState(false), policy, true, 0).report, true);
  });

  it('property: reports alternate, and a kill needs N counted failures in a row', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ok: fc.boolean(), dt: fc.integer({ min: 0, max: 400 }) }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 5 }),
        (results, grace, n) => {
          const p = { gracePeriodMs: grace, consecutiveFailures: n };
          let s = initialHealthState();
          let at = 0;
          let lastReport: boolean | undefined;
          let run = 0;
          let seenSuccess = false;
          for (const r of results) {
            at += r.dt;
            const d = applyCheckResult(s, p, r.ok, at);
            if (d.report !== undefined) {
              assert.notEqual(d.report, lastReport);
              assert.equal(d.report, r.ok);
              lastReport = d.report;
            }
            const counted: boolean = !r.ok && !(grace > 0 && at <= grace && !seenSuccess);
            assert.equal(d.ignored, !r.ok && !counted);
            run = r.ok ? 0 : counted ? run + 1 : run;
            if (r.ok) seenSuccess = true;
            assert.equal(d.kill, run >= Math.max(1, n) && counted);
            assert.equal(d.state.consecutiveFailures, run);
            if (d.kill) break;
            s = d.state;
          }
        },
      ),
    );
  });
});

describe('HealthCheck validation', () => {
  it('fills in Mesos defaults and resolves the target', () => {
    const r = parseHealthCheck({ type: 'HTTP', http: { port: 8080 } });
    assert.ok('config' in r);
    assert.deepEqual(r.config, {
      target: { type: 'HTTP', scheme: 'http', host: '127.0.0.1', port: 8080, path: '/' },
      delayMs: 15_000,
      intervalMs: 10_000,
      timeoutMs: 20_000,
      consecutiveFailures: 3,
      gracePeriodMs: 10_000,
    });
    const t = parseHealthCheck({ type: 'TCP', tcp: { port: '9000', protocol: 'IPv6' }, interval_seconds: 0.2, timeout_seconds: '0.5' });
    assert.ok('config' in t);
    assert.deepEqual(t.config.target, { type: 'TCP', host: '::1', port: 9000 });
    assert.equal(t.config.intervalMs, 200);
    assert.equal(t.config.timeoutMs, 500);
    const c = parseHealthCheck({ type: 'COMMAND', command: { value: 'true', environment: { variables: [{ name: 'A', value: 'b' }] } }, consecutive_failures: 0 });
    assert.ok('config' in c);
    assert.deepEqual(c.config.target, { type: 'COMMAND', shell: true, value: 'true', arguments: [], environment: { A: 'b' } });
    assert.equal(c.config.consecutiveFailures, 0);
  });

  it('names the offending field', () => {
    const cases: [unknown, RegExp][] = [
      [{ http: { port: 80 } }, /^health_check\.type: HealthCheck must specify 'type'/],
      [{ type: 'UNKNOWN' }, /^health_check\.type: /],
      [{ type: 'GRPC' }, /^health_check\.type: /],
      [{ type: 'HTTP' }, /^health_check\.http: Expecting 'http'/],
      [{ type: 'HTTP', http: {} }, /^health_check\.http\.port: /],
      [{ type: 'HTTP', http: { port: 70000 } }, /^health_check\.http\.port: must be a port number/],
      [{ type: 'HTTP', http: { port: 80, scheme: 'ftp' } }, /^health_check\.http\.scheme: Unsupported HTTP health check scheme: 'ftp'/],
      [{ type: 'HTTP', http: { port: 80, path: 'health' } }, /^health_check\.http\.path: The path 'health' .* must start with '\/'/],
      [{ type: 'HTTP', http: { port: 80, statuses: [200, 42] } }, /^health_check\.http\.statuses\[1\]: /],
      [{ type: 'TCP' }, /^health_check\.tcp: /],
      [{ type: 'COMMAND' }, /^health_check\.command: /],
      [{ type: 'COMMAND', command: { shell: false } }, /^health_check\.command\.value: Command health check must contain 'executable path'/],
      [{ type: 'COMMAND', command: { value: 'x', environment: { variables: [{ name: 'A' }] } } }, /^health_check\.command\.environment\.variables\[0\]\.value: /],
      [{ type: 'TCP', tcp: { port: 1 }, interval_seconds: -1 }, /^health_check\.interval_seconds: must not be negative/],
      [{ type: 'TCP', tcp: { port: 1 }, consecutive_failures: 1.5 }, /^health_check\.consecutive_failures: /],
      [{ type: 'TCP', tcp: { port: 1 }, timeout_seconds: 'soon' }, /^health_check\.timeout_seconds: /],
    ];
    for (const [hc, re] of cases) {
      const r = parseHealthCheck(hc);
      assert.ok('error' in r, `${JSON.stringify(hc)} should be rejected`);
      assert.match(r.error, re);
    }
  });

  it('makes a task with a bad health check invalid at launch', () => {
    const task = { name: 't', task_id: { value: 't' }, agent_id: { value: 'a' }, resources: [], command: { value: 'true' }, health_check: { type: 'HTTP', http: { port: 0 } } } as unknown as TaskInfo;
    assert.match(validateTaskForLaunch(task) ?? '', /^Task uses an invalid health check: health_check\.http\.port: /);
    assert.equal(validateTaskForLaunch({ ...task, health_check: { type: 'HTTP', http: { port: 80 } } }), undefined);
  });
});

// ------------------------------------------------------------------ the check loop on a manual clock

function config(o: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return { target: { type: 'TCP', host: '127.0.0.1', port: 1 }, delayMs: 1000, intervalMs: 500, timeoutMs: 200, consecutiveFailures: 3, gracePeriodMs: 0, ...o };
}

function loop(cfg: HealthCheckConfig, lastReported?: boolean) {
  const clock = new ManualClock(0);
  const calls: { at: number; signal: AbortSignal; resolve: (r: ProbeResult) => void }[] = [];
  const changes: boolean[] = [];
  const kills: string[] = [];
  const checker = new HealthChecker({
    clock,
    log: silentLogger,
    taskId: 't',
    config: cfg,
    startedAt: 0,
    lastReported,
    probe: (signal) =>
      new Promise<ProbeResult>((resolve) => {
        calls.push({ at: clock.now(), signal, resolve });
        signal.addEventListener('abort', () => resolve({ healthy: false, message: 'timed out' }));
      }),
    onChange: (h) => changes.push(h),
    onKill: (m) => kills.push(m),
  });
  return { clock, calls, changes, kills, checker };
}

describe('HealthChecker loop', () => {
  it('waits delay, then one interval after each attempt ends; attempts never overlap', async () => {
    const { clock, calls, changes, checker } = loop(config());
    checker.start();
    clock.advance(999);
    assert.equal(calls.length, 0);
    clock.advance(1);
    assert.deepEqual(calls.map((c) => c.at), [1000]);
    clock.advance(150); // the probe is still running: nothing else starts
    assert.equal(calls.length, 1);
    calls[0]!.resolve({ healthy: true, message: 'ok' });
    await tick();
    assert.deepEqual(changes, [true]);
    clock.advance(499);
    assert.equal(calls.length, 1);
    clock.advance(1);
    assert.deepEqual(calls.map((c) => c.at), [1000, 1650], 'the interval runs from the end of the previous attempt');
    calls[1]!.resolve({ healthy: true, message: 'ok' });
    await tick();
    assert.deepEqual(changes, [true], 'no change, no report');
    checker.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('times an attempt out (abort) and counts it as a failure; kills after N and stops', async () => {
    const { clock, calls, changes, kills, checker } = loop(config({ delayMs: 0, consecutiveFailures: 2 }));
    checker.start();
    clock.advance(0);
    assert.equal(calls.length, 1);
    clock.advance(200);
    assert.equal(calls[0]!.signal.aborted, true, 'aborted at the timeout');
    await tick();
    assert.deepEqual(changes, [false]);
    clock.advance(500);
    assert.equal(calls.length, 2);
    calls[1]!.resolve({ healthy: false, message: 'HTTP 500' });
    await tick();
    assert.deepEqual(kills, ['HTTP 500']);
    assert.equal(checker.running, false);
    clock.advance(10_000);
    assert.equal(calls.length, 2, 'no attempt after the kill decision');
    assert.equal(clock.pendingTimers(), 0);
  });

  it('stop() aborts the attempt under way, ignores its result and leaves no timer', async () => {
    const { clock, calls, changes, checker } = loop(config({ delayMs: 0, timeoutMs: 0 }));
    checker.start();
    clock.advance(0);
    assert.equal(clock.pendingTimers(), 0, 'timeout 0: no timeout timer');
    checker.stop();
    assert.equal(calls[0]!.signal.aborted, true);
    await tick();
    assert.deepEqual(changes, []);
    assert.equal(clock.pendingTimers(), 0);
    checker.start();
    assert.equal(clock.pendingTimers(), 0, 'a stopped checker does not restart');
  });

  it('after a restart: the delay runs from the task start, and an unchanged health is not re-reported', async () => {
    const { clock, calls, changes, checker } = loop(config({ delayMs: 1000 }), true);
    clock.advance(5000);
    checker.start();
    clock.advance(0);
    assert.equal(calls.length, 1, 'the delay has long passed');
    calls[0]!.resolve({ healthy: true, message: 'ok' });
    await tick();
    assert.deepEqual(changes, []);
    checker.stop();
  });
});

// ------------------------------------------------------------------ probes on real sockets and processes

async function server(handler: http.RequestListener): Promise<{ port: number; close: () => Promise<void> }> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r()))),
  };
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const never = () => new AbortController().signal;

describe('health probes', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-health-probe-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('HTTP: 200-399 healthy, others not; `statuses` overrides; GETs the path', async () => {
    const paths: string[] = [];
    const s = await server((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      res.statusCode = Number(req.url!.slice(1).split('?')[0]);
      res.end();
    });
    try {
      const probe = (p: string, statuses?: number[]) => httpProbe({ scheme: 'http', host: '127.0.0.1', port: s.port, path: p, statuses }, never());
      assert.equal((await probe('/200')).healthy, true);
      assert.equal((await probe('/302')).healthy, true);
      assert.equal((await probe('/399')).healthy, true);
      const bad = await probe('/500');
      assert.equal(bad.healthy, false);
      assert.match(bad.message, /500/);
      assert.equal((await probe('/404')).healthy, false);
      assert.equal((await probe('/204', [200])).healthy, false);
      assert.equal((await probe('/503', [503])).healthy, true);
      assert.deepEqual(paths.slice(0, 2), ['GET /200', 'GET /302']);
    } finally {
      await s.close();
    }
  });

  it('HTTP: connection refused and a server that never answers (aborted) are failures', async () => {
    const refused = await httpProbe({ scheme: 'http', host: '127.0.0.1', port: await closedPort(), path: '/' }, never());
    assert.equal(refused.healthy, false);
    assert.match(refused.message, /ECONNREFUSED/);
    const s = await server(() => undefined);
    try {
      const ac = new AbortController();
      const p = httpProbe({ scheme: 'http', host: '127.0.0.1', port: s.port, path: '/' }, ac.signal);
      setTimeout(() => ac.abort(), 50);
      const r = await p;
      assert.equal(r.healthy, false);
      assert.match(r.message, /did not respond in time/);
    } finally {
      await s.close();
    }
  });

  it('TCP: a listening port is healthy, a closed one is not', async () => {
    const s = await server((_q, r) => r.end());
    try {
      assert.equal((await tcpProbe({ host: '127.0.0.1', port: s.port }, never())).healthy, true);
    } finally {
      await s.close();
    }
    const r = await tcpProbe({ host: '127.0.0.1', port: await closedPort() }, never());
    assert.equal(r.healthy, false);
    assert.match(r.message, /ECONNREFUSED/);
  });

  it('COMMAND: exit 0 is healthy, runs in the sandbox with the task environment merged with its own', async () => {
    fs.writeFileSync(path.join(tmp, 'ok'), '');
    const probe = probeFor(
      { type: 'COMMAND', shell: true, value: 'test -f ok && test "$TASK_VAR" = task && test "$CHECK_VAR" = check', arguments: [], environment: { CHECK_VAR: 'check' } },
      { cwd: tmp, env: { PATH: process.env.PATH!, TASK_VAR: 'task', CHECK_VAR: 'overridden' } },
    );
    assert.equal((await probe(never())).healthy, true);
    fs.rmSync(path.join(tmp, 'ok'));
    const r = await probe(never());
    assert.equal(r.healthy, false);
    assert.match(r.message, /command returned 1/);
    const exec = probeFor({ type: 'COMMAND', shell: false, value: '/bin/sh', arguments: ['sh', '-c', 'exit 0'], environment: {} }, { cwd: tmp, env: {} });
    assert.equal((await exec(never())).healthy, true);
    const missing = await commandProbe({ argv: ['/nonexistent/check'], cwd: tmp, env: {} }, never());
    assert.equal(missing.healthy, false);
  });

  it('COMMAND: aborting kills the command and what it started', async () => {
    const pidFile = path.join(tmp, 'child.pid');
    const ac = new AbortController();
    const p = commandProbe({ argv: ['/bin/sh', '-c', `sleep 60 & echo $! > ${pidFile}; wait`], cwd: tmp, env: { PATH: process.env.PATH! } }, ac.signal);
    const child = await waitUntil(() => {
      const t = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : '';
      return t ? Number(t) : undefined;
    }, 'the check command to start its child');
    ac.abort();
    const r = await p;
    assert.equal(r.healthy, false);
    assert.match(r.message, /did not return in time/);
    await waitUntil(() => !isAlive(child), 'the check command\'s child to die', 5000);
  });
});

// ------------------------------------------------------------------ close({killTasks}): flushing to the master

describe('status update manager flush', () => {
  const status = (task: string, state: string, uuid: string): TaskStatus => ({ task_id: { value: task }, state, uuid }) as TaskStatus;

  function harness(reply: (uuid: string, attempt: number) => boolean | Promise<boolean>) {
    const clock = new ManualClock(0);
    const sent: string[] = [];
    const attempts = new Map<string, number>();
    const sum = new StatusUpdateManager({
      clock,
      log: silentLogger,
      send: async (_fw, s) => {
        sent.push(s.uuid!);
        const n = (attempts.get(s.uuid!) ?? 0) + 1;
        attempts.set(s.uuid!, n);
        return reply(s.uuid!, n);
      },
      latestState: () => 'TASK_KILLED',
      onDrained: () => undefined,
      retryMs: 60_000,
      maxRetryMs: 60_000,
    });
    return { clock, sent, sum };
  }

  it('sends queued updates in order without waiting for acknowledgements, and keeps them queued', async () => {
    const { sent, sum } = harness(() => true);
    sum.setConnected(true);
    await sum.update('fw', 't', [status('t', 'TASK_RUNNING', 'a'), status('t', 'TASK_KILLED', 'b')]);
    await sum.update('fw', 'u', [status('u', 'TASK_KILLED', 'c')]);
    assert.deepEqual(sent, ['a', 'c'], 'normally only heads go out');
    await sum.flush(2000);
    assert.deepEqual(sent, ['a', 'c', 'b'], 'heads already accepted are not re-sent; the rest follow in order');
    assert.equal(sum.pendingCount(), 3, 'still waiting for acknowledgements');
    sum.stop();
  });

  it('retries refused sends until accepted, within the time bound', async () => {
    const { clock, sent, sum } = harness((uuid, n) => uuid !== 'b' || n >= 3);
    sum.setConnected(true);
    await sum.update('fw', 't', [status('t', 'TASK_RUNNING', 'a'), status('t', 'TASK_KILLED', 'b')]);
    const flushed = sum.flush(2000);
    await tick();
    assert.deepEqual(sent, ['a', 'b']);
    clock.advance(100);
    await tick();
    clock.advance(100);
    await tick();
    await flushed;
    assert.deepEqual(sent, ['a', 'b', 'b', 'b']);
    sum.stop();
  });

  it('gives up at the deadline when the master does not answer', async () => {
    const { clock, sent, sum } = harness(() => new Promise<boolean>(() => undefined));
    sum.setConnected(true);
    await sum.update('fw', 't', [status('t', 'TASK_KILLED', 'a')]);
    let done = false;
    const flushed = sum.flush(2000).then(() => (done = true));
    await tick();
    clock.advance(1999);
    await tick();
    assert.equal(done, false);
    clock.advance(1);
    await flushed;
    assert.deepEqual(sent, ['a']);
    sum.stop();
  });

  it('does nothing while disconnected or stopped', async () => {
    const { sent, sum } = harness(() => true);
    await sum.update('fw', 't', [status('t', 'TASK_KILLED', 'a')]);
    await sum.flush(2000);
    assert.deepEqual(sent, []);
    sum.stop();
    sum.setConnected(true);
    await sum.flush(2000);
    assert.deepEqual(sent, []);
  });
});

/** A ManualClock whose now() can run ahead of its timers, as a stalled event loop makes timers fire late. */
class StallingClock extends ManualClock {
  stall = 0;
  override now(): number {
    return super.now() + this.stall;
  }
}

describe('HealthChecker timeout under a stalled event loop', () => {
  function stalled(cfg: HealthCheckConfig) {
    const clock = new StallingClock(0);
    const calls: { signal: AbortSignal; resolve: (r: ProbeResult) => void }[] = [];
    const changes: boolean[] = [];
    const checker = new HealthChecker({
      clock,
      log: silentLogger,
      taskId: 't',
      config: cfg,
      startedAt: 0,
      probe: (signal) =>
        new Promise<ProbeResult>((resolve) => {
          calls.push({ signal, resolve });
          signal.addEventListener('abort', () => resolve({ healthy: false, message: 'timed out' }));
        }),
      onChange: (h) => changes.push(h),
      onKill: () => {},
    });
    return { clock, calls, changes, checker };
  }

  it('a timer that fires on time aborts the probe', () => {
    const { clock, calls, checker } = stalled(config({ delayMs: 0, timeoutMs: 200 }));
    checker.start();
    clock.advance(0);
    assert.equal(calls.length, 1);
    clock.advance(200);
    assert.equal(calls[0]!.signal.aborted, true);
  });

  it('a timer that fires late gives the probe one more window as long as the stall, then aborts', async () => {
    const { clock, calls, changes, checker } = stalled(config({ delayMs: 0, timeoutMs: 200 }));
    checker.start();
    clock.advance(0);
    clock.stall = 150; // the loop was blocked: the timeout timer runs 150 ms late
    clock.advance(200);
    assert.equal(calls[0]!.signal.aborted, false, 'a late timer must not abort at once');
    calls[0]!.resolve({ healthy: true, message: 'ok' }); // the reply that was already there is read
    await tick();
    assert.deepEqual(changes, [true]);

    clock.stall = 0;
    clock.advance(500); // next attempt
    assert.equal(calls.length, 2);
    clock.stall = 150;
    clock.advance(200);
    assert.equal(calls[1]!.signal.aborted, false);
    clock.advance(150); // the extra window passes without a reply: aborted
    assert.equal(calls[1]!.signal.aborted, true);
    checker.stop();
  });
});
