// Alerts on a real master: an agent process SIGKILLed makes master/slaves_active drop and the
// AgentsDropping alert fire within its `for` (shortened to 1 s here, evaluations every 200 ms), seen
// on GET /alerts, on the SSE stream GET /alerts/events, as master/alerts_firing and through
// `corral alerts`; the exported rules name series the master exposes; HA followers
// redirect the alert and files endpoints to the leader.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_ALERT_RULES, withFor } from '../../src/core/alerts/index.ts';
import { startMaster, type MasterHandle } from '../../src/master/index.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { createMemoryStore } from '../../src/store/index.ts';
import { promNameOf } from '../../src/cli/alerts-names.ts';
import { runCorral } from '../support/cluster.ts';
import { Cleanup, eventually, getJson, startAgentProc, startKernelMaster, tempDir, type MasterEnv } from '../support/kernel-harness.ts';

interface SseEvent {
  event: string;
  data: any;
  receivedAt: number;
}

/** Reads a Server-Sent Events stream into `events`; `waitFor` resolves on the first match. */
function openSse(url: string): Promise<{ events: SseEvent[]; waitFor(match: (e: SseEvent) => boolean, ms: number, what: string): Promise<SseEvent>; close(): void }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const waiters = new Set<() => void>();
    const req = http.get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data), receivedAt: Date.now() });
          for (const w of [...waiters]) w();
        }
      });
      resolve({
        events,
        close: () => req.destroy(),
        waitFor: (match, ms, what) =>
          new Promise<SseEvent>((ok, fail) => {
            const check = () => {
              const hit = events.find(match);
              if (!hit) return;
              clearTimeout(timer);
              waiters.delete(check);
              ok(hit);
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out after ${ms} ms waiting for ${what}; events: ${JSON.stringify(events)}`));
            }, ms);
            waiters.add(check);
            check();
          }),
      });
    });
    req.on('error', reject);
  });
}

describe('alerts on a real master', () => {
  const cleanup = new Cleanup();
  let m: MasterEnv;

  before(async () => {
    const dir = tempDir(cleanup, 'corral-alerts-');
    m = await startKernelMaster(cleanup, `${dir}/master`, {
      agentPingTimeoutMs: 200,
      maxAgentPingTimeouts: 2,
      // The rules read the master's metrics history: sampled every 200 ms here, evaluated as often.
      metrics: { history: { intervalMs: 200, retentionMs: 5 * 60_000 } },
      alerts: { intervalMs: 200, rules: withFor(DEFAULT_ALERT_RULES, { AgentsDropping: '1s' }) },
    });
  });
  after(() => cleanup.run());

  it('an agent killed fires AgentsDropping within its for window', async () => {
    const rules = await getJson(`${m.url}/alerts/rules`);
    assert.equal(rules.rules.find((r: any) => r.name === 'AgentsDropping').for, '1s');
    const sse = await openSse(`${m.url}/alerts/events`);
    cleanup.add('close the alert stream', () => sse.close());
    assert.equal(sse.events[0]?.event ?? (await sse.waitFor((e) => e.event === 'snapshot', 2000, 'the snapshot')).event, 'snapshot');

    const agent = await startAgentProc(cleanup, { master: m.url, workDir: tempDir(cleanup, 'corral-alerts-agent-') });
    // The history must have seen the agent active before it goes.
    await eventually(async () => (await getJson(`${m.url}/metrics/snapshot`))['master/slaves_active'] === 1, 5000, 'the agent to be active');
    const evaluatedAfter = Date.now() / 1000;
    await eventually(async () => (await getJson(`${m.url}/alerts`)).evaluated_at > evaluatedAfter + 0.2, 5000, 'an evaluation with the agent active');
    assert.equal((await getJson(`${m.url}/alerts`)).alerts.some((a: any) => a.name === 'AgentsDropping'), false);

    const killedAt = Date.now();
    await agent.proc.crash();
    const pending = await sse.waitFor((e) => e.event === 'alert' && e.data.name === 'AgentsDropping' && e.data.to === 'pending', 10_000, 'AgentsDropping pending');
    const firing = await sse.waitFor((e) => e.event === 'alert' && e.data.name === 'AgentsDropping' && e.data.to === 'firing', 5000, 'AgentsDropping firing');
    assert.equal(pending.data.value, 1, 'one agent fewer');
    assert.ok(firing.data.at - pending.data.at >= 1, `firing ${firing.data.at - pending.data.at} s after pending: not before its for`);
    // Exact timing is the unit tests' (ManualClock); here, generous bounds for a loaded machine.
    assert.ok(firing.data.at - pending.data.at <= 5, `firing ${firing.data.at - pending.data.at} s after pending`);
    assert.ok(firing.receivedAt - killedAt < 10_000, `fired ${firing.receivedAt - killedAt} ms after the kill`);

    const body = await getJson(`${m.url}/alerts`);
    const alert = body.alerts.find((a: any) => a.name === 'AgentsDropping');
    assert.equal(alert.state, 'firing');
    assert.equal(alert.severity, 'warning');
    assert.equal(alert.value, 1);
    assert.equal(alert.for, '1s');
    assert.match(alert.summary, /agents are having trouble connecting/i);
    assert.ok(alert.since >= alert.active_at);
    const firingNow = body.alerts.filter((a: any) => a.state === 'firing').length;
    assert.ok(firingNow >= 2, 'AgentsDropping and MasterRestarted (the master is seconds old)');
    assert.equal((await getJson(`${m.url}/metrics/snapshot`))['master/alerts_firing'], firingNow);

    const r = await runCorral(['alerts', '--master', m.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME +STATE +SEVERITY +SINCE +VALUE +SUMMARY$/m);
    assert.match(r.stdout, /^AgentsDropping +firing +warning +\d+s ago +1 +Fewer agents are active/m);
    const j = await runCorral(['alerts', '--json', '--master', m.url]);
    assert.equal(JSON.parse(j.stdout).alerts.find((a: any) => a.name === 'AgentsDropping').state, 'firing');
  });

  it('the exported rules name metrics the master exposes to Prometheus', async () => {
    const exposition = await (await fetch(`${m.url}/metrics`)).text();
    for (const rule of DEFAULT_ALERT_RULES) {
      // Mesos creates per-reason counters at their first occurrence: no OOM kill here, no series yet.
      if (rule.parsed.key.startsWith('master/task_failed/')) continue;
      const name = promNameOf(rule.parsed.key).replace(/\{.*$/, '');
      assert.match(exposition, new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'), `${rule.name}: ${name} in GET /metrics`);
    }
  });
});

describe('alerts with HA masters', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('a follower redirects /alerts, /alerts/events and /files/* to the leader; corral alerts follows', async () => {
    const store = createMemoryStore({ logger: silentLogger });
    cleanup.add('close the store', () => store.close());
    const masters: MasterHandle[] = [];
    for (let i = 0; i < 2; i++) {
      const m = await startMaster({ store, port: 0, log: silentLogger, ha: { electionTtlMs: 3000 } });
      cleanup.add('stop a master', () => m.close());
      masters.push(m);
    }
    const leader = await eventually(() => masters.find((m) => m.isLeading()), 5000, 'a leader');
    const follower = masters.find((m) => m !== leader)!;
    for (const path of ['/alerts', '/alerts/rules', '/alerts/events', '/files/read?task_id=x&path=stdout']) {
      const res = await fetch(follower.url + path, { redirect: 'manual' });
      assert.equal(res.status, 307, path);
      assert.equal(res.headers.get('location'), leader.url + path);
    }
    const r = await runCorral(['alerts', '--json', '--master', follower.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Array.isArray(JSON.parse(r.stdout).alerts));
  });
});
