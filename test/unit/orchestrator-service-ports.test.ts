// Service port assignment (marathon.md §3.1: port 0 → a service port from [10000, 20000), unique
// across apps, stable across updates; declared ports kept, never another app's), the ports in
// the TaskInfo (PORTn / PORT_<service port> env, DiscoveryInfo), and the 422 shape of conflicts
// and dependency cycles as the API answers them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorResponse } from '../../src/orchestrator/api/http.ts';
import { assignServicePorts, portViolationError, servicePortsOf } from '../../src/orchestrator/service-ports.ts';
import type { AppDefinition } from '../../src/orchestrator/service.ts';
import { buildTaskInfo } from '../../src/orchestrator/task-builder.ts';
import { CorralError } from '../../src/protocol/errors.ts';

const app = (id: string, ports: number[], extra: Partial<AppDefinition> = {}): AppDefinition => ({
  id,
  cmd: 'serve',
  portDefinitions: ports.map((port, i) => ({ port, protocol: 'tcp', name: `p${i}` })),
  ...extra,
});
const map = (...apps: AppDefinition[]) => new Map(apps.map((a) => [a.id, a]));
const ports = (m: Map<string, AppDefinition>, id: string) => servicePortsOf(m.get(id));

describe('service ports', () => {
  it('port 0 gets the lowest free port of [10000, 20000), unique across apps; declared ports are kept', () => {
    const r = assignServicePorts(new Map(), map(app('/a', [0, 0]), app('/b', [0, 8080]), app('/c', [])));
    assert.equal(r.violations.size, 0);
    assert.deepEqual(ports(r.apps, '/a'), [10000, 10001]);
    assert.deepEqual(ports(r.apps, '/b'), [10002, 8080]);
    assert.deepEqual(ports(r.apps, '/c'), []);
    // Unchanged objects stay the same objects; assigned ones are copies.
    const c = app('/c', []);
    const again = assignServicePorts(new Map(), map(c));
    assert.equal(again.apps.get('/c'), c);
  });

  it('an app keeps its service ports across updates, whatever order the apps are handled in', () => {
    const current = map({ ...app('/z', [10000, 10001]) }, app('/other', [10002]));
    // /z is re-sent with port 0 (a redeploy of the same file) next to a new app /a that sorts first.
    const r = assignServicePorts(current, map(app('/z', [0, 0], { env: { X: '1' } }), app('/other', [10002]), app('/a', [0])));
    assert.equal(r.violations.size, 0);
    assert.deepEqual(ports(r.apps, '/z'), [10000, 10001]);
    assert.deepEqual(ports(r.apps, '/a'), [10003]);
    // One more definition: the old ones are kept, the new one is fresh.
    const more = assignServicePorts(current, map(app('/z', [0, 0, 0]), app('/other', [10002])));
    assert.deepEqual(ports(more.apps, '/z'), [10000, 10001, 10003]);
    // Ports of an app removed in the same change are not handed out in it.
    const rm = assignServicePorts(current, map(app('/z', [10000, 10001]), app('/new', [0])));
    assert.deepEqual(ports(rm.apps, '/new'), [10003]);
  });

  it('a declared port another app holds is a violation at /portDefinitions(i)/port; an old conflict is not the change\'s fault', () => {
    const current = map(app('/a', [10000]), app('/b', [9000]));
    const r = assignServicePorts(current, map(app('/a', [10000]), app('/b', [9000]), app('/c', [0, 10000])));
    assert.deepEqual([...r.violations.keys()], ['/c']);
    assert.deepEqual(r.violations.get('/c'), [{ path: '/portDefinitions(1)/port', errors: ['Requested service port 10000 conflicts with a service port of app /a'] }]);
    // Two apps claiming the same port in one change: both reported.
    const both = assignServicePorts(new Map(), map(app('/x', [9100]), app('/y', [9100])));
    assert.deepEqual([...both.violations.keys()].sort(), ['/x', '/y']);
    // Apps whose ports did not change are not reported, and a revert (trusted) never is.
    const legacy = map(app('/p', [9200]), app('/q', [9200]));
    assert.equal(assignServicePorts(legacy, legacy).violations.size, 0);
    assert.equal(assignServicePorts(new Map(), map(app('/x', [9100]), app('/y', [9100])), { trusted: true }).violations.size, 0);
  });

  it('the 422 has Marathon\'s shape', () => {
    const r = assignServicePorts(map(app('/a', [10000])), map(app('/a', [10000]), app('/c', [10000])));
    const { status, body } = errorResponse(portViolationError(r.violations));
    assert.equal(status, 422);
    assert.deepEqual(body, {
      message: 'Object is not valid',
      details: [{ path: '/portDefinitions(0)/port', errors: ['Requested service port 10000 conflicts with a service port of app /a'] }],
    });
    // A dependency cycle found by the service answers the same way.
    const msg = 'Dependency graph has cyclic dependencies: /a -> /b -> /a';
    const cyc = errorResponse(new CorralError('UNPROCESSABLE', msg, { cycle: ['/a', '/b', '/a'], details: [{ path: '/dependencies', errors: [msg] }] }));
    assert.equal(cyc.status, 422);
    assert.deepEqual(cyc.body, { message: 'Object is not valid', details: [{ path: '/dependencies', errors: [msg] }] });
  });

  it('the TaskInfo: PORTn and PORT_<service port> = host ports; DiscoveryInfo per definition and protocol', () => {
    const a: AppDefinition = {
      id: '/web',
      cmd: 'serve',
      version: '2024-01-01T00:00:00.000Z',
      portDefinitions: [
        { port: 10005, protocol: 'tcp', name: 'http', labels: { VIP_0: '/web:80' } },
        { port: 10006, protocol: 'udp,tcp' },
      ],
    };
    const t = buildTaskInfo({ app: a, taskId: 't', agentId: 'A', hostPorts: [31002, 31001] });
    const env = Object.fromEntries((t.command?.environment?.variables ?? []).map((v) => [v.name, v.value]));
    assert.equal(env.PORT0, '31002');
    assert.equal(env.PORT1, '31001');
    assert.equal(env.PORT, '31002');
    assert.equal(env.PORTS, '31002,31001');
    assert.equal(env.PORT_10005, '31002');
    assert.equal(env.PORT_10006, '31001');
    assert.equal(env.PORT_HTTP, '31002');
    assert.deepEqual(t.discovery, {
      visibility: 'FRAMEWORK',
      name: 'web',
      ports: {
        ports: [
          { number: 31002, protocol: 'tcp', name: 'http', labels: { labels: [{ key: 'VIP_0', value: '/web:80' }, { key: 'network-scope', value: 'host' }] } },
          { number: 31001, protocol: 'udp', labels: { labels: [{ key: 'network-scope', value: 'host' }] } },
          { number: 31001, protocol: 'tcp', labels: { labels: [{ key: 'network-scope', value: 'host' }] } },
        ],
      },
    });
  });
});
