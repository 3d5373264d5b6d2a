// Marathon app definitions: defaults, every validation rule's message and path, all errors
// at once, partial updates and merge semantics, render → parse round trips (marathon.md §2, §3, §6).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AppMessages,
  errorResponse,
  invalidJsonError,
  isRollback,
  MarathonValidationError,
  mergeAppUpdate,
  parseAppDefinition,
  parseAppUpdate,
  parseAppUpdateList,
  parseJsonBody,
  renderApp,
  renderAppDefinition,
  segmentPatternMessage,
  type AppDefinition,
} from '../../src/protocol/marathon/index.ts';

type Details = Record<string, string[]>;

function violations(f: () => unknown): Details {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof MarathonValidationError, `expected MarathonValidationError, got ${String(err)}`);
    assert.equal(err.status, 422);
    assert.equal(err.code, 'UNPROCESSABLE');
    assert.equal(err.body.message, 'Object is not valid');
    return Object.fromEntries(err.violations.map((v) => [v.path, v.errors]));
  }
  assert.fail('expected a validation error');
}

const base = { id: '/app', cmd: 'sleep 100' };
const invalid = (body: Record<string, unknown>) => violations(() => parseAppDefinition({ ...base, ...body }));

/** Marathon's normalized output for `{"id":"foo","cmd":"sleep 100"}` (minus server-set version fields). */
const MINIMAL_NORMALIZED: AppDefinition = {
  id: '/foo',
  cmd: 'sleep 100',
  env: {},
  instances: 1,
  cpus: 1,
  mem: 128,
  disk: 0,
  gpus: 0,
  executor: '',
  constraints: [],
  labels: {},
  fetch: [],
  portDefinitions: [{ port: 0, protocol: 'tcp', name: 'default' }],
  requirePorts: false,
  backoffSeconds: 1,
  backoffFactor: 1.15,
  maxLaunchDelaySeconds: 300,
  networks: [{ mode: 'host' }],
  healthChecks: [],
  readinessChecks: [],
  dependencies: [],
  upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
  killSelection: 'YOUNGEST_FIRST',
  unreachableStrategy: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 },
  secrets: {},
};

describe('app definition defaults', () => {
  test('a minimal app gets every documented default', () => {
    assert.deepEqual(parseAppDefinition({ id: 'foo', cmd: 'sleep 100' }), MINIMAL_NORMALIZED);
  });

  test('relative ids resolve against the base group; unknown top-level fields are ignored', () => {
    const app = parseAppDefinition({ id: 'web', cmd: 'x', foo: 1, tasksRunning: 3, deployments: [] }, { base: '/prod' });
    assert.equal(app.id, '/prod/web');
    assert.ok(!('foo' in app) && !('tasksRunning' in app) && !('deployments' in app));
  });

  test('health check defaults per protocol', () => {
    const app = parseAppDefinition({
      ...base,
      portDefinitions: [{ port: 0 }, { port: 0 }],
      healthChecks: [{}, { protocol: 'TCP', portIndex: 1 }, { protocol: 'HTTPS', port: 8443, path: '/health' }],
    });
    assert.deepEqual(app.healthChecks, [
      { protocol: 'HTTP', gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15, portIndex: 0, path: '/', ignoreHttp1xx: false },
      { protocol: 'TCP', gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15, portIndex: 1 },
      { protocol: 'HTTPS', gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15, port: 8443, path: '/health', ignoreHttp1xx: false },
    ]);
    const mesos = parseAppDefinition({ ...base, healthChecks: [{ protocol: 'MESOS_HTTP' }] });
    assert.deepEqual(mesos.healthChecks[0], {
      protocol: 'MESOS_HTTP', gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15, portIndex: 0, path: '/', ipProtocol: 'IPv4',
    });
    const cmd = parseAppDefinition({ ...base, healthChecks: [{ protocol: 'COMMAND', command: { value: 'true' } }] });
    assert.deepEqual(cmd.healthChecks[0], {
      protocol: 'COMMAND', gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15, command: { value: 'true' },
    });
  });

  test('readiness check defaults', () => {
    const app = parseAppDefinition({ ...base, portDefinitions: [{ port: 0, name: 'http-api' }], readinessChecks: [{}] });
    assert.deepEqual(app.readinessChecks, [
      { name: 'readinessCheck', protocol: 'HTTP', path: '/', portName: 'http-api', intervalSeconds: 30, timeoutSeconds: 10, httpStatusCodesForReady: [200], preserveLastResponse: false },
    ]);
  });

  test('ports → portDefinitions; [] means no ports; portDefinitions items get defaults', () => {
    assert.deepEqual(parseAppDefinition({ ...base, ports: [0, 8080] }).portDefinitions, [
      { port: 0, protocol: 'tcp' },
      { port: 8080, protocol: 'tcp' },
    ]);
    assert.deepEqual(parseAppDefinition({ ...base, ports: [] }).portDefinitions, []);
    assert.deepEqual(parseAppDefinition({ ...base, portDefinitions: [] }).portDefinitions, []);
    assert.deepEqual(parseAppDefinition({ ...base, portDefinitions: [{ name: 'http', labels: { VIP_0: '/x:80' } }, { port: 53, protocol: 'udp,tcp' }] }).portDefinitions, [
      { port: 0, protocol: 'tcp', name: 'http', labels: { VIP_0: '/x:80' } },
      { port: 53, protocol: 'udp,tcp' },
    ]);
    // equivalent ports + portDefinitions (what old clients send back) are accepted
    assert.equal(parseAppDefinition({ ...base, ports: [10000], portDefinitions: [{ port: 10000, name: 'default' }] }).portDefinitions?.[0]?.name, 'default');
  });

  test('uris → fetch (archives extracted), fetch items default', () => {
    assert.deepEqual(parseAppDefinition({ ...base, uris: ['http://h/a.tar.gz', 'http://h/run.sh'] }).fetch, [
      { uri: 'http://h/a.tar.gz', extract: true, executable: false, cache: false },
      { uri: 'http://h/run.sh', extract: false, executable: false, cache: false },
    ]);
    assert.deepEqual(parseAppDefinition({ ...base, fetch: [{ uri: 'http://h/b', executable: true, destPath: 'bin/b' }] }).fetch, [
      { uri: 'http://h/b', extract: true, executable: true, cache: false, destPath: 'bin/b' },
    ]);
  });

  test('dependencies are made absolute relative to the app parent', () => {
    const app = parseAppDefinition({ id: '/prod/web', cmd: 'x', dependencies: ['db', '../shared/cache', '/abs', 'db'] });
    assert.deepEqual(app.dependencies, ['/prod/db', '/shared/cache', '/abs']);
  });

  test('old docker BRIDGE form migrates to networks + container.portMappings with host ports', () => {
    const app = parseAppDefinition({
      id: 'nginx',
      container: { type: 'DOCKER', docker: { image: 'nginx', network: 'BRIDGE', portMappings: [{ containerPort: 80, name: 'http' }, { containerPort: 443, hostPort: 8443 }] } },
    });
    assert.deepEqual(app.networks, [{ mode: 'container/bridge' }]);
    assert.equal(app.portDefinitions, undefined);
    assert.deepEqual(app.container, {
      type: 'DOCKER',
      volumes: [],
      docker: { image: 'nginx', privileged: false, parameters: [], forcePullImage: false },
      portMappings: [
        { containerPort: 80, servicePort: 0, protocol: 'tcp', name: 'http', hostPort: 0 },
        { containerPort: 443, hostPort: 8443, servicePort: 0, protocol: 'tcp' },
      ],
    });
  });

  test('container networking: default network name, default port mapping, implied MESOS container', () => {
    const app = parseAppDefinition({ ...base, networks: [{ mode: 'container' }] }, { defaultNetworkName: 'dcos' });
    assert.deepEqual(app.networks, [{ mode: 'container', name: 'dcos' }]);
    assert.deepEqual(app.container, { type: 'MESOS', volumes: [], portMappings: [{ containerPort: 0, servicePort: 0, protocol: 'tcp', name: 'default' }] });
    assert.equal(app.requirePorts, false);
    assert.deepEqual(invalid({ networks: [{ mode: 'container' }] }), { '/networks': [AppMessages.networkNameRequired] });
  });

  test('deprecated ipAddress migrates to a container network and port mappings', () => {
    const app = parseAppDefinition({ ...base, ipAddress: { networkName: 'blue', discovery: { ports: [{ number: 80, name: 'http', protocol: 'tcp' }] } } });
    assert.deepEqual(app.networks, [{ mode: 'container', name: 'blue' }]);
    assert.deepEqual(app.container?.portMappings, [{ containerPort: 80, servicePort: 0, protocol: 'tcp', name: 'http' }]);
  });

  test('resident apps (persistent volumes) default residency, unreachable disabled and upgrade {0.5, 0}', () => {
    const app = parseAppDefinition({ ...base, container: { type: 'MESOS', volumes: [{ containerPath: 'data', persistent: { size: 10 } }] } });
    assert.deepEqual(app.residency, { relaunchEscalationTimeoutSeconds: 3600, taskLostBehavior: 'WAIT_FOREVER' });
    assert.equal(app.unreachableStrategy, 'disabled');
    assert.deepEqual(app.upgradeStrategy, { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 });
    assert.deepEqual(app.container?.volumes, [{ containerPath: 'data', mode: 'RW', persistent: { type: 'root', size: 10 } }]);
  });

  test('defaultRole fills role; explicit values are kept', () => {
    assert.equal(parseAppDefinition(base, { defaultRole: '*' }).role, '*');
    assert.equal(parseAppDefinition({ ...base, role: 'prod' }, { defaultRole: '*' }).role, 'prod');
    const app = parseAppDefinition({ ...base, instances: 0, cpus: 0.25, mem: 64.5, killSelection: 'OLDEST_FIRST', unreachableStrategy: 'disabled', upgradeStrategy: { minimumHealthCapacity: 0 } });
    assert.deepEqual([app.instances, app.cpus, app.mem, app.killSelection, app.unreachableStrategy], [0, 0.25, 64.5, 'OLDEST_FIRST', 'disabled']);
    assert.deepEqual(app.upgradeStrategy, { minimumHealthCapacity: 0, maximumOverCapacity: 1 });
  });

  test('unreachableStrategy: a missing expungeAfterSeconds follows inactiveAfterSeconds', () => {
    assert.deepEqual(parseAppDefinition({ ...base, unreachableStrategy: { inactiveAfterSeconds: 300 } }).unreachableStrategy, { inactiveAfterSeconds: 300, expungeAfterSeconds: 300 });
    assert.deepEqual(parseAppDefinition({ ...base, unreachableStrategy: {} }).unreachableStrategy, { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 });
  });

  test('newer fields are parsed and kept (role, tty, check, resourceLimits, executorResources)', () => {
    const app = parseAppDefinition({ ...base, tty: true, check: { exec: { command: { shell: 'true' } } }, resourceLimits: { cpus: 'unlimited', mem: 256 }, executorResources: { cpus: 0.2 } });
    assert.equal(app.tty, true);
    assert.deepEqual(app.check, { exec: { command: { shell: 'true' } } });
    assert.deepEqual(app.resourceLimits, { cpus: 'unlimited', mem: 256 });
    assert.deepEqual(app.executorResources, { cpus: 0.2, mem: 32, disk: 10 });
  });

  test('JSON null means "not given"', () => {
    assert.deepEqual(parseAppDefinition({ ...base, id: 'foo', args: null, user: null, container: null, instances: null, env: null }), MINIMAL_NORMALIZED);
  });
});

describe('app definition validation (message and path per rule)', () => {
  const secretApp = { secrets: { s1: { source: 'x' } } };
  const cases: [name: string, body: Record<string, unknown>, path: string, message: string][] = [
    ['negative cpus', { cpus: -1 }, '/cpus', 'got -1.0, expected 0.0 or more'],
    ['negative mem', { mem: -0.5 }, '/mem', 'got -0.5, expected 0.0 or more'],
    ['negative disk', { disk: -2 }, '/disk', 'got -2.0, expected 0.0 or more'],
    ['negative instances', { instances: -3 }, '/instances', 'got -3, expected 0 or more'],
    ['fractional instances', { instances: 1.5 }, '/instances', 'error.expected.int'],
    ['negative gpus', { gpus: -1 }, '/gpus', 'got -1, expected 0 or more'],
    ['backoffFactor < 1', { backoffFactor: 0.5 }, '/backoffFactor', 'got 0.5, expected 1.0 or more'],
    ['negative backoffSeconds', { backoffSeconds: -1 }, '/backoffSeconds', 'got -1, expected 0 or more'],
    ['negative maxLaunchDelaySeconds', { maxLaunchDelaySeconds: -1 }, '/maxLaunchDelaySeconds', 'got -1, expected 0 or more'],
    ['minimumHealthCapacity > 1', { upgradeStrategy: { minimumHealthCapacity: 1.2 } }, '/upgradeStrategy/minimumHealthCapacity', 'got 1.2, expected 1.0 or less'],
    ['maximumOverCapacity < 0', { upgradeStrategy: { maximumOverCapacity: -0.1 } }, '/upgradeStrategy/maximumOverCapacity', 'got -0.1, expected 0.0 or more'],
    ['string where a number is expected', { cpus: '1' }, '/cpus', 'error.expected.jsnumber'],
    ['NaN resources (programmatic input)', { mem: Number.NaN }, '/mem', 'error.expected.jsnumber'],
    ['infinite resources (programmatic input)', { disk: Number.POSITIVE_INFINITY }, '/disk', 'error.expected.jsnumber'],
    ['null inside a string array', { args: ['a', null] }, '/args(1)', 'error.expected.jsstring'],
    ['null inside an object array', { healthChecks: [null] }, '/healthChecks(0)', 'error.expected.jsobject'],
    ['number where a string is expected', { cmd: 5 }, '/cmd', 'error.expected.jsstring'],
    ['array expected', { args: 'a b' }, '/args', 'error.expected.jsarray'],
    ['object expected', { labels: [] }, '/labels', 'error.expected.jsobject'],
    ['boolean expected', { requirePorts: 'yes' }, '/requirePorts', 'error.expected.jsboolean'],
    ['label value not a string', { labels: { a: 1 } }, '/labels/a', 'error.expected.jsstring'],
    ['env value not a string', { env: { A: 1 } }, '/env/A', 'error.expected.jsstring'],
    ['upper-case id', { id: '/Foo' }, '/id', segmentPatternMessage],
    ['reserved last segment', { id: '/a/versions' }, '/id', 'must not end with any of the following reserved keywords: restart, tasks, versions, ., ..'],
    ['empty cmd', { cmd: '' }, '/cmd', 'must not be empty'],
    ['cmd and args', { args: ['a'] }, '/', AppMessages.cmdArgsOrContainer],
    ['duplicate port names', { portDefinitions: [{ name: 'a' }, { name: 'a' }] }, '/portDefinitions', 'Port names must be unique.'],
    ['duplicate non-zero ports', { portDefinitions: [{ port: 80 }, { port: 80 }] }, '/portDefinitions', 'Ports must be unique.'],
    ['duplicate ports (deprecated)', { ports: [80, 80] }, '/', 'ports must be unique'],
    ['ports and portDefinitions', { ports: [80], portDefinitions: [{ port: 81 }] }, '/', 'cannot specify both ports and port definitions'],
    ['port out of range', { portDefinitions: [{ port: 70000 }] }, '/portDefinitions(0)/port', 'got 70000, expected 65535 or less'],
    ['invalid port name', { portDefinitions: [{ name: 'Http' }] }, '/portDefinitions(0)/name', "must fully match regular expression '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"],
    ['invalid protocol', { portDefinitions: [{ protocol: 'sctp' }] }, '/portDefinitions(0)/protocol', 'got sctp, expected one of: [tcp, udp, udp,tcp]'],
    ['portMappings with host networking', { networks: [{ mode: 'host' }], container: { type: 'DOCKER', docker: { image: 'x' }, portMappings: [{ containerPort: 80 }] } }, '/', 'portMappings are not allowed with host-networking'],
    ['portDefinitions with container networking', { networks: [{ mode: 'container/bridge' }], portDefinitions: [{ port: 0 }] }, '/', 'portDefinitions are only allowed with host-networking'],
    ['health check port index out of range', { healthChecks: [{ portIndex: 1 }] }, '/healthChecks(0)', AppMessages.healthPortIndex],
    ['health check without any port', { portDefinitions: [], healthChecks: [{ protocol: 'TCP' }] }, '/healthChecks(0)', AppMessages.healthPortIndex],
    ['two Mesos health checks', { healthChecks: [{ protocol: 'MESOS_HTTP' }, { protocol: 'MESOS_TCP' }] }, '/', 'AppDefinition can contain at most one Mesos health check'],
    ['two COMMAND checks', { healthChecks: [{ protocol: 'COMMAND', command: { value: 'a' } }, { protocol: 'COMMAND', command: { value: 'b' } }] }, '/', 'AppDefinition can contain at most one Mesos health check'],
    ['mixed Mesos and Marathon checks', { healthChecks: [{ protocol: 'MESOS_TCP' }, { protocol: 'HTTP' }] }, '/', AppMessages.mixedHealthChecks],
    ['COMMAND check without command', { healthChecks: [{ protocol: 'COMMAND' }] }, '/healthChecks(0)/command', 'not defined'],
    ['unknown health protocol', { healthChecks: [{ protocol: 'UDP' }] }, '/healthChecks(0)/protocol', 'got UDP, expected one of: [HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP]'],
    ['negative gracePeriodSeconds', { healthChecks: [{ gracePeriodSeconds: -1 }] }, '/healthChecks(0)/gracePeriodSeconds', 'got -1, expected 0 or more'],
    ['IPv6 on a Marathon check', { healthChecks: [{ ipProtocol: 'IPv6' }] }, '/healthChecks(0)', AppMessages.healthIpv6],
    ['readiness portName not a port', { readinessChecks: [{ portName: 'nope' }] }, '/readinessChecks(0)/portName', 'No port definition reference for portName nope'],
    ['readiness timeout >= interval', { portDefinitions: [{ name: 'http-api' }], readinessChecks: [{ timeoutSeconds: 30 }] }, '/readinessChecks(0)/timeoutSeconds', 'got 30, expected less than 30'],
    ['two readiness checks', { portDefinitions: [{ name: 'http-api' }], readinessChecks: [{}, {}] }, '/readinessChecks', 'got 2, expected 1 or less'],
    ['gpus with Docker', { gpus: 1, container: { type: 'DOCKER', docker: { image: 'x' } } }, '/', AppMessages.gpusMesosOnly],
    ['invalid killSelection', { killSelection: 'FOO' }, '/killSelection', 'got FOO, expected one of: [YOUNGEST_FIRST, OLDEST_FIRST]'],
    ['inactiveAfter > expungeAfter', { unreachableStrategy: { inactiveAfterSeconds: 600, expungeAfterSeconds: 300 } }, '/unreachableStrategy/inactiveAfterSeconds', 'got 600, expected 300 or less'],
    ['unreachableStrategy string', { unreachableStrategy: 'off' }, '/unreachableStrategy', 'got off, expected one of: [disabled]'],
    ['uris with fetch', { uris: ['http://a'], fetch: [{ uri: 'http://b' }] }, '/uris', 'may not be set in conjunction with fetch'],
    ['fetch without uri', { fetch: [{ extract: false }] }, '/fetch(0)/uri', 'error.path.missing'],
    ['fetch uri with spaces', { fetch: [{ uri: 'http://a b' }] }, '/fetch(0)/uri', 'URI has invalid syntax.'],
    ['docker image empty', { container: { type: 'DOCKER', docker: { image: '' } } }, '/container/docker/image', 'must not be empty'],
    ['DOCKER container without docker', { container: { type: 'DOCKER' } }, '/container/docker', 'not defined'],
    ['container type', { container: { type: 'RKT' } }, '/container/type', 'got RKT, expected one of: [DOCKER, MESOS]'],
    ['env secret undefined', { env: { A: { secret: 'nope' } }, ...secretApp }, '/env/A/secret', 'references an undefined secret'],
    ['secret without source', { secrets: { s: {} } }, '/secrets/s/source', 'error.path.missing'],
    ['invalid executor', { executor: 'a//b' }, '/executor', "must fully match regular expression '^(//cmd)|(/?[^/]+(/[^/]+)*)|$'"],
    ['empty acceptedResourceRoles', { acceptedResourceRoles: [] }, '/acceptedResourceRoles', 'must not be empty'],
    ['invalid version', { version: 'yesterday' }, '/version', 'error.expected.date.isoformat'],
    ['invalid dependency', { dependencies: ['Bad'] }, '/dependencies(0)', segmentPatternMessage],
    ['self dependency', { dependencies: ['/app'] }, '/dependencies(0)', 'an app must not depend on itself'],
    ['single-instance app with 2 instances', { instances: 2, labels: { MARATHON_SINGLE_INSTANCE_APP: 'true' }, upgradeStrategy: { minimumHealthCapacity: 0, maximumOverCapacity: 0 } }, '/', AppMessages.singleInstance],
    ['resident app with unreachable enabled', { container: { type: 'MESOS', volumes: [{ containerPath: 'd', persistent: { size: 1 } }] }, unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 2 } }, '/', AppMessages.unreachableResident],
    ['resident app over capacity', { container: { type: 'MESOS', volumes: [{ containerPath: 'd', persistent: { size: 1 } }] }, upgradeStrategy: { maximumOverCapacity: 0.5 } }, '/upgradeStrategy/maximumOverCapacity', 'got 0.5, expected 0.0'],
    ['persistent size 0', { container: { type: 'MESOS', volumes: [{ containerPath: 'd', persistent: { size: 0 } }] } }, '/container/volumes(0)/persistent/size', 'got 0, expected more than 0'],
    ['residency without volumes', { residency: {} }, '/', AppMessages.residency],
    ['two networks modes', { networks: [{ mode: 'host' }, { mode: 'container/bridge' }] }, '/networks', AppMessages.networkModes],
    ['named bridge network', { networks: [{ mode: 'container/bridge', name: 'x' }] }, '/networks', AppMessages.bridgeNetworkNamed],
    ['docker with two container networks', { networks: [{ mode: 'container', name: 'a' }, { mode: 'container', name: 'b' }], container: { type: 'DOCKER', docker: { image: 'x' } } }, '/', AppMessages.dockerSingleNetwork],
    ['resourceLimits below request', { cpus: 2, resourceLimits: { cpus: 1 } }, '/resourceLimits/cpus', 'got 1.0, expected 2.0 or more'],
    ['pullConfig with Docker containerizer', { container: { type: 'DOCKER', docker: { image: 'x', pullConfig: { secret: 's1' } } }, ...secretApp }, '/container/docker/pullConfig', AppMessages.pullConfigDocker],
  ];
  for (const [name, body, path, message] of cases) {
    test(name, () => {
      const d = invalid(body);
      assert.ok(d[path]?.includes(message), `expected ${JSON.stringify(message)} at ${path}, got ${JSON.stringify(d)}`);
    });
  }

  test('a missing id and the root id', () => {
    assert.deepEqual(violations(() => parseAppDefinition({ cmd: 'x' })), { '/id': ['error.path.missing'] });
    assert.deepEqual(violations(() => parseAppDefinition({ id: '/', cmd: 'x' })), {
      '/id': ['Path must contain at least one path element'],
      '/': ['must not be root'],
    });
  });

  test('no cmd, args or container', () => {
    assert.deepEqual(violations(() => parseAppDefinition({ id: 'x' })), { '/': [AppMessages.cmdArgsOrContainer] });
    assert.doesNotThrow(() => parseAppDefinition({ id: 'x', args: ['a'] }));
    assert.doesNotThrow(() => parseAppDefinition({ id: 'x', container: { docker: { image: 'nginx' } } }));
    assert.doesNotThrow(() => parseAppDefinition({ id: 'x', args: ['a'], container: { docker: { image: 'nginx' } } }));
  });

  test('a non-object body', () => {
    assert.deepEqual(violations(() => parseAppDefinition([])), { '/': ['error.expected.jsobject'] });
    assert.deepEqual(violations(() => parseAppDefinition(null)), { '/': ['error.expected.jsobject'] });
  });

  test('ALL errors are reported at once, grouped by path, with the documented body', () => {
    try {
      parseAppDefinition({ id: 'Bad_Id', cpus: -1, mem: 'lots', instances: -1, healthChecks: [{ portIndex: 7 }], constraints: [['host', 'UNIQUE', 'x']], killSelection: 'X' });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof MarathonValidationError);
      const { status, body } = errorResponse(err);
      assert.equal(status, 422);
      assert.equal(body.message, 'Object is not valid');
      const details = body.details as { path: string; errors: string[] }[];
      assert.deepEqual(new Set(details.map((d) => d.path)), new Set(['/id', '/cpus', '/mem', '/instances', '/healthChecks(0)', '/constraints(0)', '/killSelection', '/']));
      for (const d of details) assert.ok(Array.isArray(d.errors) && d.errors.every((e) => typeof e === 'string'));
      assert.deepEqual(Object.keys(body), ['message', 'details']);
    }
  });

  test('invalid items do not cascade into cross-field errors', () => {
    // The broken port definition must not additionally produce a health check port-index error.
    const d = invalid({ portDefinitions: [{ port: 'x' }], healthChecks: [{ portIndex: 0 }] });
    assert.deepEqual(d, { '/portDefinitions(0)/port': ['error.expected.jsnumber'] });
  });

  test('unparsable JSON is the 400 Invalid JSON shape with a string detail', () => {
    const e = invalidJsonError('Unexpected token } in JSON at position 5');
    assert.equal(e.status, 400);
    assert.deepEqual(e.body, { message: 'Invalid JSON', details: 'Unexpected token } in JSON at position 5' });
    assert.deepEqual(parseJsonBody('{"a":1}'), { a: 1 });
    assert.throws(() => parseJsonBody('{"a":'), (err: unknown) => errorResponse(err).status === 400 && errorResponse(err).body.message === 'Invalid JSON' && typeof errorResponse(err).body.details === 'string');
    assert.throws(() => parseJsonBody(''), (err: unknown) => errorResponse(err).status === 400);
  });
});

describe('partial updates and merge', () => {
  const existing = parseAppDefinition({
    id: '/prod/web',
    cmd: 'serve',
    instances: 2,
    env: { A: '1', B: '2' },
    labels: { tier: 'web' },
    portDefinitions: [{ port: 10001, name: 'http' }],
    healthChecks: [{ portIndex: 0 }],
    version: '2020-01-01T00:00:00.000Z',
    versionInfo: { lastScalingAt: '2020-01-01T00:00:00.000Z', lastConfigChangeAt: '2020-01-01T00:00:00.000Z' },
  });

  test('parseAppUpdate keeps only given fields and migrates deprecated ones', () => {
    assert.deepEqual(parseAppUpdate({ instances: 3 }), { instances: 3 });
    assert.deepEqual(parseAppUpdate({ ports: [0], uris: ['http://h/x.zip'], cpus: null }), {
      portDefinitions: [{ port: 0, protocol: 'tcp' }],
      fetch: [{ uri: 'http://h/x.zip', extract: true, executable: false, cache: false }],
    });
    assert.deepEqual(parseAppUpdate({ healthChecks: [{ protocol: 'TCP' }] }).healthChecks?.[0]?.portIndex, 0);
    assert.deepEqual(parseAppDefinition({ instances: 3 }, { partial: true }), { instances: 3 });
    assert.deepEqual(parseAppUpdate({ id: 'web', dependencies: ['db'] }, { base: '/prod' }), { id: '/prod/web', dependencies: ['/prod/db'] });
  });

  test('version may only be combined with id; a version-only body is a rollback', () => {
    const u = parseAppUpdate({ id: '/prod/web', version: '2020-01-01T00:00:00Z' });
    assert.ok(isRollback(u));
    assert.equal(u.version, '2020-01-01T00:00:00.000Z');
    assert.ok(!isRollback(parseAppUpdate({ instances: 1 })));
    assert.deepEqual(violations(() => parseAppUpdate({ version: '2020-01-01T00:00:00Z', instances: 3 })), { '/': [AppMessages.versionOnlyWithId] });
  });

  test('partial bodies are type- and range-checked', () => {
    assert.deepEqual(violations(() => parseAppUpdate({ cpus: -1, instances: 'two', id: 'Bad' })), {
      '/cpus': ['got -1.0, expected 0.0 or more'],
      '/instances': ['error.expected.jsnumber'],
      '/id': [segmentPatternMessage],
    });
    assert.deepEqual(violations(() => parseAppUpdate({ networks: [{ mode: 'container/bridge' }], portDefinitions: [{ port: 0 }] })), {
      '/': [AppMessages.portDefinitionsNotHost],
    });
  });

  test('merge: a scale keeps everything else', () => {
    const merged = mergeAppUpdate(existing, { instances: 5 });
    assert.deepEqual(merged, { ...existing, instances: 5 });
  });

  test('merge: top-level objects are replaced, not deep-merged; nulls ignored; patch id ignored', () => {
    const merged = mergeAppUpdate(existing, { env: { C: '3' }, labels: null, id: '/other', cpus: 0.5 });
    assert.equal(merged.id, '/prod/web');
    assert.deepEqual(merged.env, { C: '3' });
    assert.deepEqual(merged.labels, { tier: 'web' });
    assert.equal(merged.cpus, 0.5);
  });

  test('merge: cmd ↔ args switch, ports replace portDefinitions', () => {
    const m1 = mergeAppUpdate(existing, { args: ['run'] });
    assert.equal(m1.cmd, undefined);
    assert.deepEqual(m1.args, ['run']);
    const m2 = mergeAppUpdate(m1, { cmd: 'again' });
    assert.equal(m2.args, undefined);
    const m3 = mergeAppUpdate(existing, { ports: [0, 0], healthChecks: [] });
    assert.deepEqual(m3.portDefinitions, [{ port: 0, protocol: 'tcp' }, { port: 0, protocol: 'tcp' }]);
  });

  test('merge: switching to bridge networking drops port definitions and adds port mappings', () => {
    const merged = mergeAppUpdate(existing, { networks: [{ mode: 'container/bridge' }], healthChecks: [] });
    assert.equal(merged.portDefinitions, undefined);
    assert.deepEqual(merged.networks, [{ mode: 'container/bridge' }]);
    assert.deepEqual(merged.container?.portMappings, [{ containerPort: 0, servicePort: 0, protocol: 'tcp', name: 'default', hostPort: 0 }]);
    const back = mergeAppUpdate(merged, { networks: [{ mode: 'host' }] });
    assert.equal(back.container?.portMappings, undefined);
    assert.deepEqual(back.portDefinitions, [{ port: 0, protocol: 'tcp', name: 'default' }]);
  });

  test('merge: the merged result is validated as a whole', () => {
    assert.deepEqual(violations(() => mergeAppUpdate(existing, { healthChecks: [{ portIndex: 4 }] })), { '/healthChecks(0)': [AppMessages.healthPortIndex] });
    assert.deepEqual(violations(() => mergeAppUpdate(existing, { instances: -1 })), { '/instances': ['got -1, expected 0 or more'] });
  });

  test('merge accepts loosely typed stored definitions', () => {
    const merged = mergeAppUpdate({ id: '/loose', cmd: 'x' }, { instances: 2 });
    assert.deepEqual(merged, { ...MINIMAL_NORMALIZED, id: '/loose', cmd: 'x', instances: 2 });
  });

  test('bulk update lists', () => {
    assert.deepEqual(parseAppUpdateList([{ id: 'a', instances: 1 }, { id: '/b', cmd: 'x' }]), [
      { id: '/a', instances: 1 },
      { id: '/b', cmd: 'x' },
    ]);
    assert.deepEqual(violations(() => parseAppUpdateList([{ instances: 1 }, { id: 'b', cpus: -1 }])), {
      '/(0)/id': ['error.path.missing'],
      '/(1)/cpus': ['got -1.0, expected 0.0 or more'],
    });
    assert.deepEqual(violations(() => parseAppUpdateList({})), { '/': ['error.expected.jsarray'] });
  });
});

describe('render → parse round trip', () => {
  const arbApp = fc.record(
    {
      id: fc.constantFrom('a', '/g/b', 'c-d.e'),
      cmd: fc.constantFrom('sleep 1', 'echo $PORT0'),
      instances: fc.integer({ min: 0, max: 20 }),
      cpus: fc.double({ min: 0, max: 8, noNaN: true }).map((x) => x + 0), // no -0 (JSON has none)
      mem: fc.integer({ min: 0, max: 4096 }),
      labels: fc.dictionary(fc.constantFrom('a', 'b', 'HAPROXY_GROUP'), fc.string({ maxLength: 5 })),
      env: fc.dictionary(fc.constantFrom('A', 'B'), fc.string({ maxLength: 5 })),
      ports: fc.constantFrom([], [0], [0, 0], [8080, 0]),
      constraints: fc.constantFrom([], [['hostname', 'UNIQUE']], [['rack', 'GROUP_BY', '3'], ['zone', 'LIKE', 'us-.*']]),
      healthChecks: fc.constantFrom([], [{ protocol: 'COMMAND', command: { value: 'true' } }], [{ protocol: 'MESOS_TCP', portIndex: 0 }]),
      upgradeStrategy: fc.record({ minimumHealthCapacity: fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x + 0), maximumOverCapacity: fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x + 0) }),
      killSelection: fc.constantFrom('YOUNGEST_FIRST', 'OLDEST_FIRST'),
      uris: fc.constantFrom([], ['http://h/a.tgz']),
      dependencies: fc.constantFrom([], ['x'], ['../y']),
    },
    { requiredKeys: ['id', 'cmd'] },
  );

  test('property: parse(render(parse(x))) equals parse(x)', () => {
    fc.assert(
      fc.property(arbApp, (body) => {
        // the MESOS_TCP check needs a port
        const b = { ...body } as Record<string, unknown>;
        if ((b.healthChecks as unknown[] | undefined)?.length && Array.isArray(b.ports) && (b.ports as number[]).length === 0) delete b.healthChecks;
        let app: AppDefinition;
        try {
          app = parseAppDefinition(b);
        } catch (err) {
          if (err instanceof MarathonValidationError) return; // e.g. duplicate explicit ports
          throw err;
        }
        const rendered = JSON.parse(JSON.stringify(renderApp(app, { tasksStaged: 0, tasksRunning: 1, tasksHealthy: 0, tasksUnhealthy: 0, deployments: [{ id: 'x' }] })));
        assert.deepEqual(parseAppDefinition(rendered), app);
        assert.deepEqual(parseAppDefinition(JSON.parse(JSON.stringify(renderAppDefinition(app)))), app);
      }),
      { numRuns: 150 },
    );
  });

  test('complex definitions round-trip (container, volumes, readiness, secrets)', () => {
    const app = parseAppDefinition({
      id: '/svc/api',
      args: ['--port', '8080'],
      user: 'nobody',
      container: {
        type: 'DOCKER',
        docker: { image: 'api:1', forcePullImage: true, parameters: [{ key: 'label', value: 'x=y' }] },
        volumes: [{ containerPath: '/etc/x', hostPath: '/etc/x', mode: 'RO' }],
        portMappings: [{ containerPort: 8080, name: 'http-api', labels: { VIP_0: '1.2.3.4:80' } }],
      },
      networks: [{ mode: 'container/bridge' }],
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/ping' }],
      readinessChecks: [{ portName: 'http-api', path: '/ready', httpStatusCodesForReady: [200, 204] }],
      secrets: { db: { source: '/db/pw' } },
      env: { DB_PW: { secret: 'db' }, PLAIN: 'x' },
      taskKillGracePeriodSeconds: 30,
      acceptedResourceRoles: ['*'],
      fetch: [{ uri: 'https://h/c.json', extract: false, cache: true }],
      unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
    });
    assert.deepEqual(parseAppDefinition(JSON.parse(JSON.stringify(renderApp(app)))), app);
  });
});
