// The pure parts of `corral dev --ha`: the port layout and the restart policy of its supervisor.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { agentArgs, freePortsNeeded, planPorts } from '../../src/cli/dev-ha-layout.ts';
import { decideRestart, type RestartPolicy } from '../../src/cli/dev-ha-restart.ts';

describe('dev --ha port layout', () => {
  test('fixed ports: etcd pairs from 2379, masters from --port, agents from --port + 10, orchestrators from 8080', () => {
    const o = { port: 5050, agents: 2, orchestrators: 2 };
    assert.equal(freePortsNeeded(o), 0);
    assert.deepEqual(planPorts(o), { etcdBase: 2379, masters: [5050, 5051, 5052], agents: [5060, 5061], orchestrators: [8080, 8081] });
  });

  test('--port 0: every child gets a supplied free port; etcd picks its own', () => {
    const o = { port: 0, agents: 1, orchestrators: 2 };
    assert.equal(freePortsNeeded(o), 6);
    assert.deepEqual(planPorts(o, [1, 2, 3, 4, 5, 6]), { etcdBase: 0, masters: [1, 2, 3], agents: [4], orchestrators: [5, 6] });
    assert.throws(() => planPorts(o, [1, 2]), /not enough free ports/);
  });

  test('overlapping or out-of-range ports are refused, naming both users', () => {
    assert.throws(() => planPorts({ port: 2380, agents: 0, orchestrators: 0 }), /port 2380 would serve both etcd-1 and master-1/);
    assert.throws(() => planPorts({ port: 8070, agents: 11, orchestrators: 2 }), /port 8080 would serve both orchestrator-1 and agent-1/);
    assert.throws(() => planPorts({ port: 65534, agents: 0, orchestrators: 0 }), /beyond 65535/);
  });

  test('agents kill their tasks when stopped and share the task port range', () => {
    const args = agentArgs({ host: '127.0.0.1', etcdUrl: 'etcd://127.0.0.1:2379', logLevel: 'info' }, { port: 5060, workDir: '/w', resourceShare: 0.5, ports: '31000-31499' });
    assert.ok(args.includes('--kill-tasks-on-stop'));
    assert.deepEqual(args.slice(args.indexOf('--resources'), args.indexOf('--resources') + 2), ['--resources', 'ports:[31000-31499]']);
  });
});

describe('dev --ha restart policy', () => {
  const p: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 4000, maxRestarts: 3, windowMs: 60_000 };

  test('backs off exponentially up to the cap, then gives up after too many exits in the window', () => {
    assert.deepEqual(decideRestart([0], 0, p), { action: 'restart', delayMs: 500, attempt: 1 });
    assert.deepEqual(decideRestart([0, 1000], 1000, p), { action: 'restart', delayMs: 1000, attempt: 2 });
    assert.deepEqual(decideRestart([0, 1000, 3000], 3000, p), { action: 'restart', delayMs: 2000, attempt: 3 });
    assert.deepEqual(decideRestart([0, 1000, 3000, 6000], 6000, p), { action: 'give-up', exitsInWindow: 4 });
    assert.equal((decideRestart([0], 0, { ...p, initialDelayMs: 3000, maxRestarts: 10 }) as { delayMs: number }).delayMs, 3000);
    assert.equal((decideRestart([0, 1, 2, 3], 3, { ...p, maxRestarts: 10 }) as { delayMs: number }).delayMs, 4000);
  });

  test('exits older than the window are forgotten: a child that ran a long time restarts at once', () => {
    assert.deepEqual(decideRestart([0, 1000, 3000, 200_000], 200_000, p), { action: 'restart', delayMs: 500, attempt: 1 });
  });
});
