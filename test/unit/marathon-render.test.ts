// Marathon response renderers: exact key sets (clients parse strictly), embeds, tasks,
// deployments, groups, queue, error bodies and SSE events (marathon.md §2–§5, §8, §10).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CorralError, NotFoundError } from '../../src/protocol/errors.ts';
import * as M from '../../src/protocol/marathon/index.ts';

const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const V1 = '2020-01-01T00:00:00.000Z';
const V2 = '2020-02-01T00:00:00.000Z';

function keysWithin(obj: object, known: readonly string[], what: string): void {
  const extra = Object.keys(obj).filter((k) => !known.includes(k));
  assert.deepEqual(extra, [], `${what} has unknown keys ${extra.join(', ')}`);
}

const apps: M.AppDefinition[] = [
  M.parseAppDefinition({ id: 'simple', cmd: 'sleep 1' }),
  M.parseAppDefinition({
    id: '/g/full',
    args: ['a'],
    user: 'u',
    role: 'r',
    tty: true,
    check: { http: { portIndex: 0 } },
    resourceLimits: { cpus: 'unlimited' },
    executorResources: { cpus: 0.5 },
    acceptedResourceRoles: ['*'],
    storeUrls: ['http://s'],
    container: { type: 'DOCKER', docker: { image: 'x', network: 'BRIDGE', portMappings: [{ containerPort: 80, name: 'web' }] } },
    healthChecks: [{ protocol: 'MESOS_HTTP' }],
    readinessChecks: [{ portName: 'web' }],
    taskKillGracePeriodSeconds: 5,
    version: V2,
    versionInfo: { lastScalingAt: V2, lastConfigChangeAt: V1 },
  }),
  M.parseAppDefinition({ id: 'resident', cmd: 'x', container: { type: 'MESOS', volumes: [{ containerPath: 'd', persistent: { size: 1 } }] } }),
];

const instanceId = M.newInstanceId('/simple', 'u-1');
const task: M.TaskInput = {
  taskId: M.taskIdOf(instanceId),
  appId: '/simple',
  host: 'agent1',
  agentId: 'S1',
  ports: [31000],
  state: 'TASK_RUNNING',
  stagedAt: Date.parse(V1),
  startedAt: '2020-01-01T00:00:05Z',
  version: V1,
  healthCheckResults: [{ alive: true, consecutiveFailures: 0, firstSuccess: V1, lastSuccess: V1, lastFailure: null, lastFailureCause: null }],
};

describe('AppInfo', () => {
  test('emits only keys known to clients (every app shape, every embed)', () => {
    const allEmbed: M.AppEmbed = { counts: true, deployments: true, tasks: true, readiness: true, lastTaskFailure: true, taskStats: true };
    for (const app of apps) {
      const info = M.renderApp(app, {
        tasks: [task],
        deployments: ['d1'],
        lastTaskFailure: { appId: app.id, host: 'h', message: 'boom', state: 'TASK_FAILED', taskId: 't', timestamp: V1, version: V1, slaveId: 'S1' },
        readinessCheckResults: [{ name: 'r', taskId: 't', ready: false }],
      }, { embed: allEmbed });
      keysWithin(info, M.KNOWN_APP_FIELDS, app.id);
      for (const h of info.healthChecks as object[]) keysWithin(h, M.KNOWN_HEALTH_CHECK_FIELDS, 'health check');
      for (const t of info.tasks as object[]) keysWithin(t, M.KNOWN_TASK_FIELDS, 'task');
    }
  });

  test('newerFields adds Marathon 1.9+ fields only when asked', () => {
    const full = apps[1]!;
    const info = M.renderApp(full, undefined, { newerFields: true });
    assert.equal(info.role, 'r');
    assert.equal(info.tty, true);
    assert.deepEqual(info.resourceLimits, { cpus: 'unlimited' });
    assert.ok(!('role' in M.renderApp(full)));
  });

  test('normalized app definition with status (Marathon documented AppInfo shape)', () => {
    const info = M.renderApp({ ...apps[0]!, version: V1 }, { tasksStaged: 0, tasksRunning: 0, tasksHealthy: 0, tasksUnhealthy: 0, deployments: [{ id: 'dep' }] });
    assert.deepEqual(info, {
      id: '/simple', cmd: 'sleep 1', env: {}, instances: 1, cpus: 1, mem: 128, disk: 0, gpus: 0, executor: '', constraints: [], labels: {}, fetch: [],
      backoffSeconds: 1, backoffFactor: 1.15, maxLaunchDelaySeconds: 300, healthChecks: [], readinessChecks: [], dependencies: [],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 }, version: V1, killSelection: 'YOUNGEST_FIRST',
      unreachableStrategy: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 }, networks: [{ mode: 'host' }],
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'default' }], requirePorts: false, secrets: {},
      tasksStaged: 0, tasksRunning: 0, tasksHealthy: 0, tasksUnhealthy: 0, deployments: [{ id: 'dep' }],
    });
  });

  test('loose stored definitions render with defaults; container apps have no portDefinitions', () => {
    const info = M.renderApp({ id: '/x', cmd: 'y' });
    assert.equal(info.instances, 1);
    assert.deepEqual(info.portDefinitions, []);
    const bridged = M.renderApp(apps[1]!);
    assert.ok(!('portDefinitions' in bridged));
    assert.deepEqual((bridged.container as { portMappings: unknown[] }).portMappings, [{ containerPort: 80, servicePort: 0, protocol: 'tcp', name: 'web', hostPort: 0 }]);
  });

  test('embed parsing: list and single-app defaults, prefixes, deprecated failures', () => {
    assert.deepEqual(M.parseEmbed(undefined, 'apps'), { counts: true, deployments: true, tasks: false, readiness: false, lastTaskFailure: false, taskStats: false });
    assert.deepEqual(M.parseEmbed([], 'app'), { counts: true, deployments: true, tasks: true, readiness: false, lastTaskFailure: true, taskStats: false });
    assert.deepEqual(M.parseEmbed(['apps.taskStats', 'app.readiness', 'bogus'], 'apps'), { counts: true, deployments: true, tasks: false, readiness: true, lastTaskFailure: false, taskStats: true });
    assert.equal(M.parseEmbed('apps.failures', 'apps').lastTaskFailure, true);
    assert.equal(M.parseEmbed('apps.tasks,apps.lastTaskFailure', 'apps').tasks, true);
  });

  test('embed controls exactly what is rendered; counts computed from instances (orchestrator AppStatus shape)', () => {
    const unhealthy: M.TaskInput = { ...task, taskId: 'simple.instance-u-2._app.1', healthCheckResults: [{ alive: false, consecutiveFailures: 3 }] };
    const staging: M.TaskInput = { ...task, taskId: 'simple.instance-u-3._app.1', state: 'TASK_STAGING', startedAt: undefined, healthCheckResults: [] };
    const status = { app: apps[0]!, instances: [task, unhealthy, staging], deployments: ['d9'], readinessCheckResults: [] };
    const list = M.renderApp(status.app, status, { embed: M.parseEmbed(undefined, 'apps') });
    assert.deepEqual([list.tasksStaged, list.tasksRunning, list.tasksHealthy, list.tasksUnhealthy], [1, 2, 1, 1]);
    assert.deepEqual(list.deployments, [{ id: 'd9' }]);
    assert.ok(!('tasks' in list) && !('readinessCheckResults' in list) && !('lastTaskFailure' in list));
    const single = M.renderApp(status.app, status, { embed: M.parseEmbed(undefined, 'app') });
    assert.equal((single.tasks as unknown[]).length, 3);
    assert.ok(!('lastTaskFailure' in single), 'no failure recorded → omitted');
    const bare = M.renderApp(status.app, {}, { embed: M.parseEmbed(undefined, 'apps') });
    assert.deepEqual([bare.tasksStaged, bare.deployments], [0, []]);
  });

  test('taskStats: categories by version info, lifetimes', () => {
    const app = { id: '/simple', versionInfo: { lastScalingAt: V2, lastConfigChangeAt: V1 } };
    const old: M.TaskInput = { ...task, stagedAt: V1, startedAt: V1, version: '2019-01-01T00:00:00.000Z' };
    const fresh: M.TaskInput = { ...task, stagedAt: V2, startedAt: V2, version: V1 };
    const now = Date.parse(V2) + 10_000;
    const stats = M.computeTaskStats(app, [old, fresh], now);
    assert.deepEqual(Object.keys(stats), ['startedAfterLastScaling', 'withLatestConfig', 'withOutdatedConfig', 'totalSummary']);
    assert.deepEqual(stats.startedAfterLastScaling, { stats: { counts: { staged: 0, running: 1, healthy: 1, unhealthy: 0 }, lifeTime: { averageSeconds: 10, medianSeconds: 10 } } });
    const total = (stats.totalSummary as { stats: { lifeTime: { averageSeconds: number; medianSeconds: number } } }).stats.lifeTime;
    const oldLife = (now - Date.parse(V1)) / 1000;
    assert.deepEqual(total, { averageSeconds: (oldLife + 10) / 2, medianSeconds: (oldLife + 10) / 2 });
    assert.deepEqual(M.computeTaskStats(app, [], now), {});
    const info = M.renderApp(app, { instances: [fresh] }, { embed: { ...M.parseEmbed(undefined, 'apps'), taskStats: true }, now });
    assert.ok('totalSummary' in (info.taskStats as object));
  });
});

describe('tasks', () => {
  test('Task JSON shape, timestamps and health results', () => {
    const t = M.renderTask(task, { app: { id: '/simple', portDefinitions: [{ port: 10000 }] } });
    assert.deepEqual(t, {
      id: `${instanceId}._app.1`, slaveId: 'S1', host: 'agent1', state: 'TASK_RUNNING', startedAt: '2020-01-01T00:00:05.000Z', stagedAt: V1,
      ports: [31000], version: V1, appId: '/simple', servicePorts: [10000],
      healthCheckResults: [{ alive: true, consecutiveFailures: 0, firstSuccess: V1, lastFailure: null, lastSuccess: V1, lastFailureCause: null, instanceId }],
      role: '*',
    });
    keysWithin(t, M.KNOWN_TASK_FIELDS, 'task');
    for (const h of t.healthCheckResults as object[]) keysWithin(h, M.KNOWN_HEALTH_RESULT_FIELDS, 'health result');
  });

  test('staging tasks have no startedAt; no health checks → no healthCheckResults; Mesos health synthesized', () => {
    const staging = M.renderTask({ taskId: 'a.instance-1._app.1', appId: '/a', host: 'h', state: 'TASK_STAGING', stagedAt: 0 });
    assert.ok(!('startedAt' in staging) && !('healthCheckResults' in staging));
    assert.equal(staging.stagedAt, '1970-01-01T00:00:00.000Z');
    assert.ok(!('slaveId' in staging));
    const mesos = M.renderTask({ taskId: 'a.instance-1._app.1', appId: '/a', host: 'h', state: 'TASK_RUNNING', mesosHealthy: false, role: 'prod' });
    assert.deepEqual(mesos.healthCheckResults, [{ alive: false, consecutiveFailures: 1, firstSuccess: null, lastFailure: null, lastSuccess: null, lastFailureCause: null, instanceId: 'a.instance-1' }]);
    assert.equal(mesos.role, 'prod');
  });

  test('service ports come from port mappings with container networking', () => {
    assert.deepEqual(M.appServicePorts({ id: '/a', container: { portMappings: [{ servicePort: 10005 }, {}] } }), [10005, 0]);
    assert.deepEqual(M.appServicePorts({ id: '/a' }), []);
  });

  test('task counts', () => {
    assert.deepEqual(M.countTasks([
      { ...task, state: 'TASK_STARTING' },
      { ...task, healthCheckResults: [] },
      { ...task, healthCheckResults: [], mesosHealthy: true },
      { ...task, state: 'TASK_KILLING' },
    ]), { staged: 1, running: 2, healthy: 1, unhealthy: 0 });
  });
});

describe('deployments, groups, queue', () => {
  const dep: M.DeploymentInput = {
    id: 'd1',
    version: Date.parse(V1),
    affectedApps: ['/a'],
    steps: [{ actions: [{ action: 'StartApplication', app: '/a' }] }, { actions: [{ action: 'ScaleApplication', app: '/a' }] }],
    currentStep: 2,
    totalSteps: 2,
    currentActions: [{ action: 'ScaleApplication', app: '/a', readinessCheckResults: [{ taskId: 't', name: 'r', ready: false, lastResponse: { status: 500, contentType: 'application/json', body: '{}' } }] }],
  };

  test('deployment JSON (§5.1)', () => {
    const d = M.renderDeployment(dep);
    assert.deepEqual(d, {
      id: 'd1', version: V1, affectedApps: ['/a'], affectedPods: [],
      steps: [{ actions: [{ action: 'StartApplication', app: '/a' }] }, { actions: [{ action: 'ScaleApplication', app: '/a' }] }],
      currentActions: [{ action: 'ScaleApplication', app: '/a', readinessCheckResults: [{ name: 'r', taskId: 't', ready: false, lastResponse: { status: 500, contentType: 'application/json', body: '{}' } }] }],
      currentStep: 2, totalSteps: 2,
    });
    keysWithin(d, M.KNOWN_DEPLOYMENT_FIELDS, 'deployment');
    for (const a of d.currentActions as object[]) keysWithin(a, M.KNOWN_DEPLOYMENT_ACTION_FIELDS, 'action');
    const noCurrent = M.renderDeployment({ ...dep, currentActions: undefined, currentStep: 1, totalSteps: undefined });
    assert.deepEqual(noCurrent.currentActions, [{ action: 'StartApplication', app: '/a', readinessCheckResults: [] }]);
    assert.equal(noCurrent.totalSteps, 2);
  });

  test('deployment result and header', () => {
    assert.deepEqual(M.deploymentResult('d1', Date.parse(V1)), { version: V1, deploymentId: 'd1' });
    assert.equal(M.DEPLOYMENT_ID_HEADER, 'Marathon-Deployment-Id');
  });

  test('groups: nested rendering and embeds', () => {
    const tree: M.GroupInput = {
      id: '/',
      apps: [],
      groups: [{ id: '/prod', apps: [{ app: apps[0]!, counts: { staged: 0, running: 1, healthy: 0, unhealthy: 0 }, deployments: [] }], groups: [], dependencies: ['/db'], version: V1 }],
      version: V1,
    };
    const g = M.renderGroup(tree);
    assert.deepEqual(Object.keys(g), ['id', 'apps', 'pods', 'groups', 'dependencies', 'version', 'enforceRole']);
    keysWithin(g, M.KNOWN_GROUP_FIELDS, 'group');
    const prod = (g.groups as Record<string, unknown>[])[0]!;
    assert.equal(prod.id, '/prod');
    assert.deepEqual(prod.dependencies, ['/db']);
    const app = (prod.apps as Record<string, unknown>[])[0]!;
    assert.equal(app.tasksRunning, 1);
    assert.deepEqual(app.deployments, []);
    const onlyApps = M.renderGroup(tree, { embed: M.parseGroupEmbed('group.apps') });
    assert.deepEqual(Object.keys(onlyApps), ['id', 'apps', 'dependencies', 'version', 'enforceRole']);
    const withTasks = M.parseGroupEmbed(['group.groups', 'group.apps.tasks']);
    assert.deepEqual([withTasks.groups, withTasks.apps, withTasks.pods, withTasks.app.tasks], [true, true, false, true]);
  });

  test('groupTreeFromApps nests apps into their groups', () => {
    const tree = M.groupTreeFromApps([{ id: '/a/b/x' }, { id: '/top' }, { id: '/a/y' }], '/', V1);
    assert.deepEqual(tree.apps.map((a) => a.id), ['/top']);
    assert.deepEqual(tree.groups.map((g) => g.id), ['/a']);
    assert.deepEqual(tree.groups[0]!.apps.map((a) => a.id), ['/a/y']);
    assert.deepEqual(tree.groups[0]!.groups.map((g) => [g.id, g.apps.map((a) => a.id)]), [['/a/b', ['/a/b/x']]]);
    assert.deepEqual(M.groupTreeFromApps([{ id: '/a/x' }, { id: '/b/y' }], '/a').apps.map((a) => a.id), ['/a/x']);
    const plan = M.renderDeploymentPlan({ id: 'd', version: V1, original: [], target: { '/a/x': { id: '/a/x', cmd: 'c' } }, steps: dep.steps });
    assert.deepEqual(Object.keys(plan), ['id', 'version', 'original', 'target', 'steps']);
    assert.equal(((plan.target as { groups: { apps: { id: string }[] }[] }).groups[0]!.apps[0]!).id, '/a/x');
  });

  test('queue item: known keys, delay, reject summary funnel, lastUnusedOffers embed', () => {
    const item: M.QueueItemInput = {
      app: apps[0]!,
      count: 2,
      delay: { timeLeftSeconds: 3, overdue: false },
      since: Date.parse(V1),
      processedOffersSummary: {
        processedOffersCount: 10,
        unusedOffersCount: 7,
        lastUnusedOfferAt: V2,
        rejectSummaryLastOffers: M.rejectSummary(10, { UnfulfilledRole: 2, InsufficientCpus: 5 }),
      },
      lastUnusedOffers: [{ offer: { id: 'o1', agentId: 'S1', hostname: 'h' }, timestamp: V2, reason: ['InsufficientCpus'] }],
    };
    const q = M.renderQueueItem(item);
    keysWithin(q, M.KNOWN_QUEUE_ITEM_FIELDS, 'queue item');
    assert.deepEqual(Object.keys(q.delay as object), ['timeLeftSeconds', 'overdue']);
    assert.equal(q.since, V1);
    const summary = q.processedOffersSummary as { rejectSummaryLastOffers: M.RejectSummaryEntry[]; rejectSummaryLaunchAttempt: M.RejectSummaryEntry[] };
    const byReason = Object.fromEntries(summary.rejectSummaryLastOffers.map((e) => [e.reason, [e.declined, e.processed]]));
    assert.deepEqual(byReason.UnfulfilledRole, [2, 10]);
    assert.deepEqual(byReason.UnfulfilledConstraint, [0, 8]);
    assert.deepEqual(byReason.InsufficientCpus, [5, 8]);
    assert.deepEqual(byReason.InsufficientMemory, [0, 3]);
    assert.equal(summary.rejectSummaryLastOffers.length, M.REJECT_REASONS.length);
    assert.equal(summary.rejectSummaryLaunchAttempt.length, M.REJECT_REASONS.length);
    assert.ok(!('lastUnusedOffers' in q) && !('role' in q));
    const embedded = M.renderQueueItem(item, { lastUnusedOffers: true, includeRole: true });
    assert.deepEqual(embedded.lastUnusedOffers, [{ offer: { id: 'o1', agentId: 'S1', hostname: 'h' }, timestamp: V2, reason: ['InsufficientCpus'] }]);
    assert.equal(embedded.role, '*');
    assert.deepEqual(Object.keys(M.renderQueue([item])), ['queue']);
    assert.equal(M.firstRejectReason(['InsufficientMemory', 'UnfulfilledRole']), 'UnfulfilledRole');
  });
});

describe('error bodies', () => {
  test('404 messages', () => {
    assert.deepEqual(M.appNotFound('/x').body, { message: "App '/x' does not exist" });
    assert.deepEqual(M.appNotFound('/x', V1).body, { message: `App '/x' does not exist in version ${V1}` });
    assert.deepEqual(M.groupNotFound('/g').body, { message: "Group '/g' does not exist" });
    assert.deepEqual(M.podNotFound('/p').body, { message: "Pod '/p' does not exist" });
    assert.deepEqual(M.taskNotFound('t1').body, { message: "Task 't1' does not exist" });
    assert.deepEqual(M.deploymentNotFound('d').body, { message: 'DeploymentPlan d does not exist' });
    assert.deepEqual(M.queueAppNotFound('/x').body, { message: 'Application /x not found in tasks queue.' });
    assert.equal(M.appNotFound('/x').status, 404);
  });

  test('409 bodies', () => {
    const locked = M.lockedByDeployments(['d1', 'd2']);
    assert.equal(locked.status, 409);
    assert.deepEqual(locked.body, {
      message: "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/d1'.",
      deployments: [{ id: 'd1' }, { id: 'd2' }],
    });
    assert.deepEqual(M.appAlreadyExists('/x').body, { message: 'An app with id [/x] already exists.' });
    assert.deepEqual(M.groupAlreadyExists('/g').body, { message: 'Group /g is already created. Use PUT to change this group.' });
    assert.deepEqual(M.appPathExists('/g').body, { message: 'An app with the path /g already exists.' });
  });

  test('errorResponse maps any error to status + Marathon body', () => {
    assert.deepEqual(M.errorResponse(M.scaleAndWipe()), { status: 400, body: { message: 'You cannot use scale and wipe at the same time.' } });
    assert.deepEqual(M.errorResponse(new NotFoundError('nope')), { status: 404, body: { message: 'nope' } });
    assert.deepEqual(M.errorResponse(new CorralError('CONFLICT', 'locked', { deployments: [{ id: 'd' }] })), { status: 409, body: { message: 'locked', deployments: [{ id: 'd' }] } });
    assert.deepEqual(M.errorResponse(new Error('boom')), { status: 500, body: { message: 'boom' } });
    assert.deepEqual(M.errorResponse(M.uriNotFound()), { status: 500, body: { message: 'URI not found' } });
    assert.equal(M.tooManyDeployments(2).status, 403);
    assert.match(M.invalidTaskId('x').body.message, /^Invalid task id 'x'\. \[/);
    assert.ok(M.appNotFound('/x') instanceof CorralError);
  });

  test('violation path rendering', () => {
    assert.equal(M.renderViolationPath([]), '/');
    assert.equal(M.renderViolationPath(['healthChecks', 0, 'portIndex']), '/healthChecks(0)/portIndex');
    assert.equal(M.renderViolationPath(['apps', 0, 'id']), '/apps(0)/id');
    assert.equal(M.renderViolationPath(['constraints', 1, 2]), '/constraints(1)(2)');
    assert.equal(M.renderViolationPath([3, 'id']), '/(3)/id');
    assert.equal(M.javaDouble(1), '1.0');
    assert.equal(M.javaDouble(0.0001), '1.0E-4');
    assert.equal(M.javaDouble(12345678), '1.2345678E7');
    assert.equal(M.javaDouble(-0.5), '-0.5');
  });
});

describe('events', () => {
  const at = Date.parse(V1);
  const plan = M.renderDeploymentPlan({ id: 'd', version: V1, original: [], target: [{ id: '/a', cmd: 'x' }], steps: [] });
  const step = { actions: [{ action: 'StartApplication', app: '/a' }] };
  const built = [
    M.eventStreamAttached({ remoteAddress: '1.2.3.4' }, at),
    M.eventStreamDetached({ remoteAddress: '1.2.3.4' }, at),
    M.apiPostEvent({ clientIp: '1.2.3.4', uri: '/v2/apps', appDefinition: { id: '/a', cmd: 'x', bogus: 1 } }, at),
    M.podCreatedEvent({ clientIp: 'c', uri: '/v2/pods' }, at),
    M.podUpdatedEvent({ clientIp: 'c', uri: '/v2/pods/p' }, at),
    M.podDeletedEvent({ clientIp: 'c', uri: '/v2/pods/p' }, at),
    M.statusUpdateEvent({ slaveId: 'S1', taskId: 't', taskStatus: 'TASK_RUNNING', message: '', appId: '/a', host: 'h', ipAddresses: [{ ipAddress: '10.0.0.1', protocol: 'IPv4' }], ports: [31000], version: V1 }, at),
    M.instanceChangedEvent({ instanceId: 'a.instance-1', condition: 'Running', runSpecId: '/a', agentId: 'S1', host: 'h', runSpecVersion: V1, goal: 'Running' }, at),
    M.unknownInstanceTerminatedEvent({ instanceId: 'i', runSpecId: '/a', condition: 'Killed' }, at),
    M.instanceHealthChangedEvent({ instanceId: 'i', runSpecId: '/a', runSpecVersion: V1, healthy: null }, at),
    M.appTerminatedEvent({ appId: '/a' }, at),
    M.frameworkMessageEvent({ executorId: 'e', slaveId: 'S1', message: new Uint8Array([104, 105]) }, at),
    M.schedulerRegisteredEvent({ frameworkId: 'f', master: 'm:5050' }, at),
    M.schedulerReregisteredEvent({ master: 'm:5050' }, at),
    M.schedulerDisconnectedEvent(at),
    M.subscribeEvent({ clientIp: 'c', callbackUrl: 'http://cb' }, at),
    M.unsubscribeEvent({ clientIp: 'c', callbackUrl: 'http://cb' }, at),
    M.addHealthCheckEvent({ appId: '/a', version: V1, healthCheck: { protocol: 'HTTP', portIndex: 0 } }, at),
    M.removeHealthCheckEvent({ appId: '/a' }, at),
    M.failedHealthCheckEvent({ appId: '/a', taskId: 'a.instance-1', healthCheck: { protocol: 'TCP' }, instanceId: 'a.instance-1' }, at),
    M.healthStatusChangedEvent({ appId: '/a', instanceId: 'i', version: V1, alive: true }, at),
    M.unhealthyInstanceKillEvent({ appId: '/a', taskId: 't', instanceId: 'i', version: V1, reason: '500 Internal Server Error', host: 'h', slaveId: 'S1' }, at),
    M.groupChangeSuccess({ groupId: '/', version: V1 }, at),
    M.groupChangeFailed({ groupId: '/', version: V1, reason: 'x' }, at),
    M.deploymentInfo({ plan, currentStep: step }, at),
    M.deploymentStepSuccess({ plan, currentStep: step }, at),
    M.deploymentStepFailure({ plan, currentStep: step }, at),
    M.deploymentSuccess({ id: 'd', plan }, at),
    M.deploymentFailed({ id: 'd', plan, reason: 'cancelled' }, at),
  ];

  test('a builder for every event type, each with eventType and an ISO ms timestamp', () => {
    assert.deepEqual(new Set(built.map((e) => e.eventType)), new Set(M.EVENT_TYPES));
    for (const e of built) {
      assert.match(e.timestamp, TS);
      assert.equal(e.timestamp, V1);
    }
    assert.match(M.appTerminatedEvent({ appId: '/a' }).timestamp, TS, 'defaults to now');
  });

  test('event fields', () => {
    const byType = Object.fromEntries(built.map((e) => [e.eventType, e as Record<string, unknown>]));
    assert.deepEqual(byType.status_update_event, {
      eventType: 'status_update_event', timestamp: V1, slaveId: 'S1', taskId: 't', taskStatus: 'TASK_RUNNING', message: '', appId: '/a', host: 'h',
      ipAddresses: [{ ipAddress: '10.0.0.1', protocol: 'IPv4' }], ports: [31000], version: V1,
    });
    const post = byType.api_post_event!.appDefinition as Record<string, unknown>;
    assert.equal(post.id, '/a');
    assert.ok(!('bogus' in post), 'appDefinition rendered with known fields only');
    assert.equal(byType.framework_message_event!.message, 'aGk=');
    assert.deepEqual(Object.keys(byType.deployment_success!), ['eventType', 'timestamp', 'id', 'plan']);
    assert.ok(!('reason' in M.deploymentFailed({ id: 'd', plan }, at)));
    assert.deepEqual((byType.add_health_check_event!.healthCheck as Record<string, unknown>).protocol, 'HTTP');
  });

  test('SSE frame and filter', () => {
    const e = M.appTerminatedEvent({ appId: '/a' }, at);
    assert.equal(M.sseFrame(e), `event: app_terminated_event\ndata: {"eventType":"app_terminated_event","timestamp":"${V1}","appId":"/a"}\n\n`);
    assert.ok(M.eventPasses(e, []));
    assert.ok(M.eventPasses(e, ['app_terminated_event']));
    assert.ok(!M.eventPasses(e, ['deployment_info']));
  });
});
