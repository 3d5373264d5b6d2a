// Marathon path ids, safe ids, instance/task ids and timestamps (marathon.md §3.1, §4).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  ancestorsOf,
  baseName,
  canonicalPath,
  fromSafeId,
  isChildOf,
  isDescendantOf,
  isRoot,
  isSelfOrDescendantOf,
  isValidPathId,
  isValidSegment,
  marathonTimestamp,
  newInstanceId,
  parentOf,
  parseInstanceId,
  parseMarathonTimestamp,
  parseTaskId,
  parseTaskOrInstanceId,
  pathIdErrors,
  reservedKeywordMessage,
  safeId,
  segmentPatternMessage,
  taskIdOf,
  toMarathonTimestamp,
} from '../../src/protocol/marathon/index.ts';

const segment = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/).filter((s) => !['restart', 'tasks', 'versions'].includes(s));
const pathId = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/'));
const uuid = fc.uuid();

describe('marathon path ids', () => {
  test('canonicalPath makes ids absolute and resolves . and ..', () => {
    assert.equal(canonicalPath('foo'), '/foo');
    assert.equal(canonicalPath('/foo/'), '/foo');
    assert.equal(canonicalPath('//a//b/'), '/a/b');
    assert.equal(canonicalPath('web', '/prod'), '/prod/web');
    assert.equal(canonicalPath('web/api', 'prod'), '/prod/web/api');
    assert.equal(canonicalPath('../db', '/prod/web'), '/prod/db');
    assert.equal(canonicalPath('./x', '/prod'), '/prod/x');
    assert.equal(canonicalPath('/a/./b/../c', '/ignored'), '/a/c');
    assert.equal(canonicalPath('../../..', '/a'), '/');
    assert.equal(canonicalPath(''), '/');
    assert.equal(canonicalPath('/'), '/');
  });

  test('parent, root, children and ancestors', () => {
    assert.equal(parentOf('/a/b/c'), '/a/b');
    assert.equal(parentOf('/a'), '/');
    assert.equal(parentOf('/'), '/');
    assert.ok(isRoot('/') && isRoot('') && isRoot('/a/..'));
    assert.ok(!isRoot('/a'));
    assert.ok(isChildOf('/a/b', '/a'));
    assert.ok(isChildOf('/a', '/'));
    assert.ok(!isChildOf('/a/b/c', '/a'));
    assert.ok(!isChildOf('/', '/'));
    assert.ok(isDescendantOf('/a/b/c', '/a'));
    assert.ok(isDescendantOf('/a', '/'));
    assert.ok(!isDescendantOf('/a', '/a'));
    assert.ok(!isDescendantOf('/ab/c', '/a'));
    assert.ok(isSelfOrDescendantOf('/a', '/a'));
    assert.deepEqual(ancestorsOf('/a/b/c'), ['/a/b', '/a', '/']);
    assert.deepEqual(ancestorsOf('/'), []);
    assert.equal(baseName('/a/b'), 'b');
  });

  test('safeId and fromSafeId', () => {
    assert.equal(safeId('/prod/web'), 'prod_web');
    assert.equal(safeId('web'), 'web');
    assert.equal(safeId('/'), '');
    assert.equal(fromSafeId('prod_web'), '/prod/web');
    assert.equal(fromSafeId(''), '/');
  });

  test('segment validation uses Marathon regex and reserved keywords', () => {
    for (const ok of ['a', 'a1', 'a-b', 'a.b', 'a-b.c-d', '0', '.', '..']) assert.ok(isValidSegment(ok), ok);
    for (const bad of ['A', 'a_b', '-a', 'a-', 'a..b', 'a.', '.a', 'a b', '', 'ä']) assert.ok(!isValidSegment(bad), bad);
    assert.deepEqual(pathIdErrors('/Foo'), [segmentPatternMessage]);
    assert.deepEqual(pathIdErrors('/a/tasks'), [reservedKeywordMessage]);
    assert.deepEqual(pathIdErrors('/a/tasks', { reserved: false }), []);
    assert.deepEqual(pathIdErrors('/tasks/a'), []);
    assert.ok(isValidPathId('/prod/web-1.v2'));
    assert.match(segmentPatternMessage, /^must fully match regular expression '\^\(\(\[a-z0-9\]/);
    assert.equal(reservedKeywordMessage, 'must not end with any of the following reserved keywords: restart, tasks, versions, ., ..');
  });

  test('properties: canonicalPath is idempotent; safeId round-trips; children are descendants', () => {
    fc.assert(
      fc.property(pathId, fc.array(fc.constantFrom('a', '.', '..', 'b-c'), { maxLength: 5 }), (id, rel) => {
        const c = canonicalPath(rel.join('/'), id);
        assert.equal(canonicalPath(c), c);
        assert.equal(canonicalPath(c, '/zzz'), c);
        assert.equal(fromSafeId(safeId(id)), id);
        assert.ok(isValidPathId(id));
        assert.ok(isChildOf(id, parentOf(id)));
        assert.ok(isDescendantOf(id, parentOf(id)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('marathon ids and timestamps', () => {
  test('marathonTimestamp always has milliseconds and Z', () => {
    assert.equal(marathonTimestamp(0), '1970-01-01T00:00:00.000Z');
    assert.equal(marathonTimestamp(1443605357614), '2015-09-30T09:29:17.614Z');
    assert.equal(marathonTimestamp(new Date(5)), '1970-01-01T00:00:00.005Z');
    assert.throws(() => marathonTimestamp(Number.NaN), RangeError);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4102444800000 }), (ms) => {
        const s = marathonTimestamp(ms);
        assert.match(s, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        assert.equal(parseMarathonTimestamp(s), ms);
      }),
      { numRuns: 100 },
    );
  });

  test('parseMarathonTimestamp accepts ISO variants and rejects others', () => {
    assert.equal(parseMarathonTimestamp('2015-09-30T09:29:17Z'), Date.UTC(2015, 8, 30, 9, 29, 17));
    assert.equal(parseMarathonTimestamp('2015-09-30T11:29:17.614+02:00'), 1443605357614);
    assert.equal(parseMarathonTimestamp('2015-09-30'), undefined);
    assert.equal(parseMarathonTimestamp('yesterday'), undefined);
    assert.equal(toMarathonTimestamp('2015-09-30T11:29:17.614+02:00'), '2015-09-30T09:29:17.614Z');
    assert.equal(toMarathonTimestamp('not a time'), 'not a time');
    assert.equal(toMarathonTimestamp(0), '1970-01-01T00:00:00.000Z');
  });

  test('instance and task ids', () => {
    const u = '5dd78972-6771-11e5-94e1-be5b2935a987';
    const instanceId = newInstanceId('/prod/web', u);
    assert.equal(instanceId, `prod_web.instance-${u}`);
    assert.equal(taskIdOf(instanceId), `prod_web.instance-${u}._app.1`);
    assert.equal(taskIdOf(instanceId, 3), `prod_web.instance-${u}._app.3`);
    assert.deepEqual(parseTaskId(`prod_web.instance-${u}._app.2`), {
      appId: '/prod/web', instanceId, uuid: u, containerName: '_app', incarnation: 2, legacy: false,
    });
    assert.deepEqual(parseTaskId(`prod_web.instance-${u}._app`), { appId: '/prod/web', instanceId, uuid: u, containerName: '_app', legacy: false });
    assert.deepEqual(parseTaskId(`pod.instance-${u}.web`), { appId: '/pod', instanceId: `pod.instance-${u}`, uuid: u, containerName: 'web', legacy: false });
    assert.deepEqual(parseTaskId(`test-app.${u}`), { appId: '/test-app', instanceId: `test-app.marathon-${u}`, uuid: u, legacy: true });
    assert.deepEqual(parseTaskId(`a_b_${u}`), { appId: '/a/b', instanceId: `a_b.marathon-${u}`, uuid: u, legacy: true });
    assert.equal(parseTaskId(instanceId), undefined, 'an instance id is not a task id');
    assert.equal(parseTaskId('garbage'), undefined);
    assert.deepEqual(parseInstanceId(instanceId), { appId: '/prod/web', instanceId, uuid: u });
    assert.deepEqual(parseInstanceId(`x.marathon-${u}`), { appId: '/x', instanceId: `x.marathon-${u}`, uuid: u });
    assert.equal(parseInstanceId(`prod_web.instance-${u}._app.1`), undefined);
    assert.deepEqual(parseTaskOrInstanceId(`prod_web.instance-${u}._app.1`), { appId: '/prod/web', instanceId, uuid: u });
    assert.deepEqual(parseTaskOrInstanceId(instanceId), { appId: '/prod/web', instanceId, uuid: u });
    assert.equal(parseTaskOrInstanceId('nope'), undefined);
  });

  test('property: task ids parse back to their app and instance', () => {
    fc.assert(
      fc.property(pathId, uuid, fc.integer({ min: 1, max: 1000 }), (appId, u, n) => {
        const instanceId = newInstanceId(appId, u);
        const parsed = parseTaskId(taskIdOf(instanceId, n));
        assert.deepEqual(parsed && { appId: parsed.appId, instanceId: parsed.instanceId, incarnation: parsed.incarnation }, { appId, instanceId, incarnation: n });
        assert.equal(parseInstanceId(instanceId)?.appId, appId);
      }),
      { numRuns: 200 },
    );
  });
});
