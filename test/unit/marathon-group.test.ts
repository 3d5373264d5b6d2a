// Group definitions for PUT/POST /v2/groups (marathon.md §1.2): relative ids, nested
// validation paths, version/scaleBy exclusivity.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GroupMessages,
  groupUpdateApps,
  isGroupRollback,
  isScaleOnly,
  MarathonValidationError,
  parseGroupDefinition,
  segmentPatternMessage,
} from '../../src/protocol/marathon/index.ts';

function violations(f: () => unknown): Record<string, string[]> {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof MarathonValidationError);
    return Object.fromEntries(err.violations.map((v) => [v.path, v.errors]));
  }
  assert.fail('expected a validation error');
}

describe('group definitions', () => {
  test('ids are resolved relative to the enclosing group', () => {
    const g = parseGroupDefinition({
      id: 'prod',
      apps: [{ id: 'web', cmd: 'x', dependencies: ['db'] }, { id: '/prod/db', cmd: 'y' }],
      groups: [{ id: 'batch', apps: [{ id: 'job', cmd: 'z', dependencies: ['../web'] }], dependencies: ['../db'] }],
      dependencies: ['/shared'],
    });
    assert.equal(g.id, '/prod');
    assert.deepEqual(g.apps?.map((a) => a.id), ['/prod/web', '/prod/db']);
    assert.deepEqual(g.apps?.[0]?.dependencies, ['/prod/db']);
    assert.equal(g.groups?.[0]?.id, '/prod/batch');
    assert.deepEqual(g.groups?.[0]?.dependencies, ['/prod/db']);
    assert.deepEqual(g.groups?.[0]?.apps?.[0]?.dependencies, ['/prod/web']);
    assert.deepEqual(g.dependencies, ['/shared']);
    assert.deepEqual(groupUpdateApps(g).map((a) => a.id), ['/prod/web', '/prod/db', '/prod/batch/job']);
    assert.equal(g.apps?.[0]?.instances, 1, 'apps get their defaults');
  });

  test('the URL group is the base; no body id means the URL group', () => {
    assert.equal(parseGroupDefinition({ id: 'sub' }, '/prod').id, '/prod/sub');
    assert.equal(parseGroupDefinition({ id: '/abs' }, '/prod').id, '/abs');
    assert.equal(parseGroupDefinition({ apps: [{ id: 'a', cmd: 'x' }] }, '/prod').apps?.[0]?.id, '/prod/a');
    assert.equal(parseGroupDefinition({}).id, '/');
  });

  test('nested validation paths, all errors at once', () => {
    assert.deepEqual(
      violations(() =>
        parseGroupDefinition({
          id: 'prod',
          apps: [{ id: '/other/web', cmd: 'x' }, { id: 'ok', cmd: 'x', cpus: -1 }],
          groups: [{ id: 'sub', apps: [{ id: 'Bad', cmd: 'x' }, { id: 'y' }] }],
        }),
      ),
      {
        '/apps(0)/id': ["Identifier is not child of '/prod'"],
        '/apps(1)/cpus': ['got -1.0, expected 0.0 or more'],
        '/groups(0)/apps(0)/id': [segmentPatternMessage],
        '/groups(0)/apps(1)': ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."],
      },
    );
  });

  test('apps must be direct children of their group', () => {
    assert.deepEqual(violations(() => parseGroupDefinition({ id: '/g', apps: [{ id: 'a/b', cmd: 'x' }] })), {
      '/apps(0)/id': ["Identifier is not child of '/g'"],
    });
  });

  test('version and scaleBy must stand alone', () => {
    const rollback = parseGroupDefinition({ id: '/g', version: '2020-01-01T00:00:00Z' });
    assert.ok(isGroupRollback(rollback) && !isScaleOnly(rollback));
    assert.equal(rollback.version, '2020-01-01T00:00:00.000Z');
    const scale = parseGroupDefinition({ scaleBy: 1.5 }, '/g');
    assert.ok(isScaleOnly(scale));
    assert.deepEqual(violations(() => parseGroupDefinition({ id: '/g', version: '2020-01-01T00:00:00Z', apps: [] })), {
      '/version': [GroupMessages.onlyDefinedOption],
    });
    assert.deepEqual(violations(() => parseGroupDefinition({ scaleBy: 2, dependencies: [] })), { '/scaleBy': [GroupMessages.onlyDefinedOption] });
    assert.deepEqual(violations(() => parseGroupDefinition({ scaleBy: -1 })), { '/scaleBy': ['got -1.0, expected 0.0 or more'] });
  });

  test('apps and groups may not share an id; body must be an object', () => {
    assert.deepEqual(violations(() => parseGroupDefinition({ id: '/g', apps: [{ id: 'x', cmd: 'c' }], groups: [{ id: 'x' }] })), {
      '/': [GroupMessages.appsAndGroupsSameId],
    });
    assert.deepEqual(violations(() => parseGroupDefinition([])), { '/': ['error.expected.jsobject'] });
    assert.deepEqual(violations(() => parseGroupDefinition({ apps: {} })), { '/apps': ['error.expected.jsarray'] });
  });

  test('enforceRole: top-level only; makes the group name the default role of its apps', () => {
    const g = parseGroupDefinition({ id: '/team', enforceRole: true, apps: [{ id: 'a', cmd: 'x' }, { id: 'b', cmd: 'x', role: '*' }], groups: [{ id: 'sub', apps: [{ id: 'c', cmd: 'x' }] }] });
    assert.deepEqual([g.apps?.[0]?.role, g.apps?.[1]?.role, g.groups?.[0]?.apps?.[0]?.role], ['team', '*', 'team']);
    assert.deepEqual(violations(() => parseGroupDefinition({ id: '/a/b', enforceRole: true })), {
      '/enforceRole': [GroupMessages.enforceRoleTopLevel('/a/b')],
    });
    assert.equal(parseGroupDefinition({ id: '/x', apps: [{ id: 'a', cmd: 'x' }] }, '/', { defaultRole: '*' }).apps?.[0]?.role, '*');
  });
});
