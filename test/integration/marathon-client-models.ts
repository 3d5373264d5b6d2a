// Strict checkers for Marathon's response models, as the python `marathon`
// client parses them (marathon.md §3.1, §4, §5, §10): every key must be one
// the client's model knows (an unknown key raises TypeError in
// marathon-python's from_json), required keys must be present, timestamps
// must be `%Y-%m-%dT%H:%M:%S.%fZ`. Each checker throws with the JSON path.
import assert from 'node:assert/strict';

export const APP_KEYS = new Set([
  'acceptedResourceRoles', 'args', 'backoffFactor', 'backoffSeconds', 'cmd', 'constraints', 'container', 'cpus',
  'dependencies', 'deployments', 'disk', 'env', 'executor', 'healthChecks', 'id', 'instances', 'killSelection', 'labels',
  'lastTaskFailure', 'maxLaunchDelaySeconds', 'mem', 'ports', 'requirePorts', 'storeUrls', 'taskRateLimit', 'tasks',
  'tasksRunning', 'tasksStaged', 'tasksHealthy', 'taskKillGracePeriodSeconds', 'tasksUnhealthy', 'upgradeStrategy',
  'unreachableStrategy', 'uris', 'user', 'version', 'versionInfo', 'ipAddress', 'fetch', 'taskStats', 'readinessChecks',
  'readinessCheckResults', 'secrets', 'portDefinitions', 'residency', 'gpus', 'networks',
]);
export const TASK_KEYS = new Set([
  'appId', 'healthCheckResults', 'host', 'id', 'ports', 'servicePorts', 'slaveId', 'stagedAt', 'startedAt', 'version',
  'ipAddresses', 'state', 'localVolumes', 'region', 'zone', 'role',
]);
export const HEALTH_RESULT_KEYS = new Set(['alive', 'consecutiveFailures', 'firstSuccess', 'lastFailure', 'lastSuccess', 'taskId', 'lastFailureCause', 'instanceId']);
export const DEPLOYMENT_KEYS = new Set(['affectedApps', 'affectedPods', 'currentActions', 'currentStep', 'id', 'steps', 'totalSteps', 'version']);
export const ACTION_KEYS = new Set(['action', 'app', 'apps', 'type', 'readinessCheckResults', 'pod']);
export const QUEUE_ITEM_KEYS = new Set(['app', 'overdue', 'count', 'delay', 'since', 'processedOffersSummary', 'lastUnusedOffers']);
export const DELAY_KEYS = new Set(['timeLeftSeconds', 'overdue']);
export const HEALTH_CHECK_KEYS = new Set([
  'protocol', 'gracePeriodSeconds', 'intervalSeconds', 'timeoutSeconds', 'maxConsecutiveFailures', 'delaySeconds', 'portIndex',
  'port', 'path', 'ignoreHttp1xx', 'command', 'ipProtocol',
]);
export const LAST_FAILURE_KEYS = new Set(['appId', 'host', 'message', 'state', 'taskId', 'timestamp', 'version', 'slaveId']);
export const GROUP_KEYS = new Set(['id', 'apps', 'pods', 'groups', 'dependencies', 'version', 'enforceRole']);
export const DEPLOYMENT_RESULT_KEYS = new Set(['version', 'deploymentId']);

export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TASK_STATES = new Set([
  'TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR',
  'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_DROPPED', 'TASK_UNKNOWN', 'TASK_LOST', 'TASK_GONE_BY_OPERATOR',
]);

function obj(x: unknown, path: string): Record<string, any> {
  assert.ok(typeof x === 'object' && x !== null && !Array.isArray(x), `${path}: expected an object, got ${JSON.stringify(x)}`);
  return x as Record<string, any>;
}
function onlyKeys(o: Record<string, unknown>, keys: Set<string>, path: string): void {
  const unknown = Object.keys(o).filter((k) => !keys.has(k));
  assert.deepEqual(unknown, [], `${path}: keys the python marathon client does not know: ${unknown.join(', ')}`);
}
function ts(x: unknown, path: string): void {
  assert.ok(typeof x === 'string' && TIMESTAMP.test(x), `${path}: not a Marathon timestamp: ${JSON.stringify(x)}`);
}
function str(x: unknown, path: string): void {
  assert.equal(typeof x, 'string', `${path}: expected a string, got ${JSON.stringify(x)}`);
}
function num(x: unknown, path: string): void {
  assert.ok(typeof x === 'number' && Number.isFinite(x), `${path}: expected a number, got ${JSON.stringify(x)}`);
}
function arr(x: unknown, path: string): unknown[] {
  assert.ok(Array.isArray(x), `${path}: expected an array, got ${JSON.stringify(x)}`);
  return x as unknown[];
}

export function checkHealthResult(x: unknown, path = 'healthCheckResult'): void {
  const o = obj(x, path);
  onlyKeys(o, HEALTH_RESULT_KEYS, path);
  assert.equal(typeof o.alive, 'boolean', `${path}.alive`);
  num(o.consecutiveFailures, `${path}.consecutiveFailures`);
  for (const k of ['firstSuccess', 'lastSuccess', 'lastFailure']) if (o[k] !== null && o[k] !== undefined) ts(o[k], `${path}.${k}`);
}

export function checkTask(x: unknown, path = 'task'): Record<string, any> {
  const o = obj(x, path);
  onlyKeys(o, TASK_KEYS, path);
  str(o.id, `${path}.id`);
  str(o.appId, `${path}.appId`);
  assert.ok(o.appId.startsWith('/'), `${path}.appId must be absolute`);
  str(o.host, `${path}.host`);
  assert.ok(TASK_STATES.has(o.state), `${path}.state: ${o.state}`);
  if (o.stagedAt !== undefined) ts(o.stagedAt, `${path}.stagedAt`);
  if (o.startedAt !== undefined && o.startedAt !== null) ts(o.startedAt, `${path}.startedAt`);
  if (o.version !== undefined) ts(o.version, `${path}.version`);
  if (o.ports !== undefined) arr(o.ports, `${path}.ports`).forEach((p, i) => num(p, `${path}.ports[${i}]`));
  if (o.servicePorts !== undefined) arr(o.servicePorts, `${path}.servicePorts`).forEach((p, i) => num(p, `${path}.servicePorts[${i}]`));
  if (o.healthCheckResults !== undefined) arr(o.healthCheckResults, `${path}.healthCheckResults`).forEach((h, i) => checkHealthResult(h, `${path}.healthCheckResults[${i}]`));
  if (o.ipAddresses !== undefined)
    arr(o.ipAddresses, `${path}.ipAddresses`).forEach((a, i) => {
      const ip = obj(a, `${path}.ipAddresses[${i}]`);
      onlyKeys(ip, new Set(['ipAddress', 'protocol']), `${path}.ipAddresses[${i}]`);
    });
  return o;
}

/** An AppInfo (or a bare app definition when `definitionOnly`). */
export function checkApp(x: unknown, path = 'app', opts: { definitionOnly?: boolean } = {}): Record<string, any> {
  const o = obj(x, path);
  onlyKeys(o, APP_KEYS, path);
  str(o.id, `${path}.id`);
  assert.ok(o.id.startsWith('/'), `${path}.id must be absolute: ${o.id}`);
  for (const k of ['instances', 'cpus', 'mem', 'disk']) num(o[k], `${path}.${k}`);
  if (o.version !== undefined) ts(o.version, `${path}.version`);
  if (o.versionInfo !== undefined) {
    const vi = obj(o.versionInfo, `${path}.versionInfo`);
    onlyKeys(vi, new Set(['lastScalingAt', 'lastConfigChangeAt']), `${path}.versionInfo`);
    ts(vi.lastScalingAt, `${path}.versionInfo.lastScalingAt`);
    ts(vi.lastConfigChangeAt, `${path}.versionInfo.lastConfigChangeAt`);
  }
  if (o.healthChecks !== undefined)
    arr(o.healthChecks, `${path}.healthChecks`).forEach((h, i) => onlyKeys(obj(h, `${path}.healthChecks[${i}]`), HEALTH_CHECK_KEYS, `${path}.healthChecks[${i}]`));
  if (o.upgradeStrategy !== undefined) onlyKeys(obj(o.upgradeStrategy, `${path}.upgradeStrategy`), new Set(['minimumHealthCapacity', 'maximumOverCapacity']), `${path}.upgradeStrategy`);
  if (opts.definitionOnly) {
    for (const k of ['tasks', 'tasksRunning', 'tasksStaged', 'tasksHealthy', 'tasksUnhealthy', 'deployments', 'lastTaskFailure'])
      assert.equal(o[k], undefined, `${path}.${k} must not be in a bare definition`);
  }
  for (const k of ['tasksRunning', 'tasksStaged', 'tasksHealthy', 'tasksUnhealthy']) if (o[k] !== undefined) num(o[k], `${path}.${k}`);
  if (o.deployments !== undefined)
    arr(o.deployments, `${path}.deployments`).forEach((d, i) => {
      const dd = obj(d, `${path}.deployments[${i}]`);
      onlyKeys(dd, new Set(['id']), `${path}.deployments[${i}]`);
      str(dd.id, `${path}.deployments[${i}].id`);
    });
  if (o.tasks !== undefined) arr(o.tasks, `${path}.tasks`).forEach((t, i) => checkTask(t, `${path}.tasks[${i}]`));
  if (o.lastTaskFailure !== undefined) {
    const f = obj(o.lastTaskFailure, `${path}.lastTaskFailure`);
    onlyKeys(f, LAST_FAILURE_KEYS, `${path}.lastTaskFailure`);
    ts(f.timestamp, `${path}.lastTaskFailure.timestamp`);
  }
  return o;
}

export function checkDeployment(x: unknown, path = 'deployment'): Record<string, any> {
  const o = obj(x, path);
  onlyKeys(o, DEPLOYMENT_KEYS, path);
  str(o.id, `${path}.id`);
  ts(o.version, `${path}.version`);
  arr(o.affectedApps, `${path}.affectedApps`).forEach((a, i) => str(a, `${path}.affectedApps[${i}]`));
  num(o.currentStep, `${path}.currentStep`);
  num(o.totalSteps, `${path}.totalSteps`);
  arr(o.steps, `${path}.steps`).forEach((s, i) => {
    const st = obj(s, `${path}.steps[${i}]`);
    onlyKeys(st, new Set(['actions']), `${path}.steps[${i}]`);
    arr(st.actions, `${path}.steps[${i}].actions`).forEach((a, j) => onlyKeys(obj(a, `${path}.steps[${i}].actions[${j}]`), ACTION_KEYS, `${path}.steps[${i}].actions[${j}]`));
  });
  arr(o.currentActions, `${path}.currentActions`).forEach((a, i) => {
    const ac = obj(a, `${path}.currentActions[${i}]`);
    onlyKeys(ac, ACTION_KEYS, `${path}.currentActions[${i}]`);
    arr(ac.readinessCheckResults, `${path}.currentActions[${i}].readinessCheckResults`);
  });
  return o;
}

export function checkDeploymentResult(x: unknown, path = 'deploymentResult'): { version: string; deploymentId: string } {
  const o = obj(x, path);
  onlyKeys(o, DEPLOYMENT_RESULT_KEYS, path);
  str(o.deploymentId, `${path}.deploymentId`);
  ts(o.version, `${path}.version`);
  return o as { version: string; deploymentId: string };
}

export function checkQueueItem(x: unknown, path = 'queueItem'): Record<string, any> {
  const o = obj(x, path);
  onlyKeys(o, QUEUE_ITEM_KEYS, path);
  checkApp(o.app, `${path}.app`);
  num(o.count, `${path}.count`);
  const d = obj(o.delay, `${path}.delay`);
  onlyKeys(d, DELAY_KEYS, `${path}.delay`);
  num(d.timeLeftSeconds, `${path}.delay.timeLeftSeconds`);
  assert.equal(typeof d.overdue, 'boolean', `${path}.delay.overdue`);
  return o;
}

export function checkGroup(x: unknown, path = 'group'): Record<string, any> {
  const o = obj(x, path);
  onlyKeys(o, GROUP_KEYS, path);
  str(o.id, `${path}.id`);
  if (o.apps !== undefined) arr(o.apps, `${path}.apps`).forEach((a, i) => checkApp(a, `${path}.apps[${i}]`));
  if (o.groups !== undefined) arr(o.groups, `${path}.groups`).forEach((g, i) => checkGroup(g, `${path}.groups[${i}]`));
  return o;
}

/** A Marathon error body: `{message, details?, deployments?}`. */
export function checkError(x: unknown, path = 'error'): { message: string; details?: any; deployments?: any } {
  const o = obj(x, path);
  onlyKeys(o, new Set(['message', 'details', 'deployments']), path);
  str(o.message, `${path}.message`);
  return o as { message: string };
}
