// App constraints (marathon.md §7) and label selectors (§1.1).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compileJavaRegex,
  ConstraintMessages,
  errorResponse,
  isJavaInt,
  labelPredicate,
  MarathonError,
  MarathonValidationError,
  parseAppDefinition,
  parseLabelSelector,
} from '../../src/protocol/marathon/index.ts';

function constraintErrors(constraints: unknown[]): Record<string, string[]> {
  try {
    parseAppDefinition({ id: 'c', cmd: 'x', constraints });
    return {};
  } catch (err) {
    assert.ok(err instanceof MarathonValidationError);
    return Object.fromEntries(err.violations.map((v) => [v.path, v.errors]));
  }
}

describe('constraints', () => {
  test('valid constraints are kept, operators upper-cased', () => {
    const app = parseAppDefinition({
      id: 'c',
      cmd: 'x',
      constraints: [
        ['hostname', 'UNIQUE'],
        ['rack_id', 'cluster', 'rack-1'],
        ['rack_id', 'CLUSTER'],
        ['rack_id', 'GROUP_BY'],
        ['rack_id', 'GROUP_BY', '3'],
        ['rack_id', 'LIKE', 'rack-[1-3]'],
        ['rack_id', 'UNLIKE', 'rack-[7-9]'],
        ['hostname', 'MAX_PER', '2'],
        ['@zone', 'IS', 'us-east-1a'],
        ['gen', 'IS', '0.8'],
      ],
    });
    assert.deepEqual(app.constraints[1], ['rack_id', 'CLUSTER', 'rack-1']);
    assert.equal(app.constraints.length, 10);
  });

  const cases: [unknown, string][] = [
    [['hostname'], ConstraintMessages.fieldCount],
    [['a', 'UNIQUE', 'b', 'c'], ConstraintMessages.fieldCount],
    [['', 'UNIQUE'], ConstraintMessages.missingField],
    [['hostname', 'IN', 'x'], ConstraintMessages.operatorInvalid],
    [['hostname', 'UNIQUE', 'x'], ConstraintMessages.uniqueNoValue],
    [['rack', 'GROUP_BY', 'three'], ConstraintMessages.groupByInt],
    [['rack', 'GROUP_BY', '1.5'], ConstraintMessages.groupByInt],
    [['rack', 'GROUP_BY', '99999999999'], ConstraintMessages.groupByInt],
    [['rack', 'MAX_PER'], ConstraintMessages.maxPerInt],
    [['rack', 'MAX_PER', 'x'], ConstraintMessages.maxPerInt],
    [['rack', 'LIKE'], ConstraintMessages.likeRegex],
    [['rack', 'UNLIKE', ''], ConstraintMessages.likeRegex],
    [['rack', 'LIKE', '['], "'[' is not a valid regular expression"],
    [['rack', 'UNLIKE', '(a'], "'(a' is not a valid regular expression"],
    [['rack', 'IS'], ConstraintMessages.isRequiresValue],
    [['rack', 'IS', '[1-2]'], ConstraintMessages.isOnlyText],
    [['rack', 'IS', '{a,b}'], ConstraintMessages.isOnlyText],
    ['hostname:UNIQUE', 'error.expected.jsarray'],
  ];
  for (const [c, message] of cases) {
    test(`${JSON.stringify(c)} → ${message}`, () => {
      assert.deepEqual(constraintErrors([['ok', 'UNIQUE'], c]), { '/constraints(1)': [message] });
    });
  }

  test('non-string constraint parts are reported at their index', () => {
    assert.deepEqual(constraintErrors([['a', 'MAX_PER', 2]]), { '/constraints(0)(2)': ['error.expected.jsstring'] });
  });

  test('every bad constraint is reported at once', () => {
    assert.deepEqual(constraintErrors([['a'], ['b', 'NOPE'], ['c', 'UNIQUE']]), {
      '/constraints(0)': [ConstraintMessages.fieldCount],
      '/constraints(1)': [ConstraintMessages.operatorInvalid],
    });
  });

  test('Java int parsing and regex compilation', () => {
    for (const ok of ['0', '3', '+3', '-3', '2147483647']) assert.ok(isJavaInt(ok), ok);
    for (const bad of ['', ' 3', '3 ', '1.0', '0x10', '2147483648', 'three']) assert.ok(!isJavaInt(bad), bad);
    const re = compileJavaRegex('rack-[1-3]');
    assert.ok(re.test('rack-2'));
    assert.ok(!re.test('rack-2x'), 'LIKE is a full match');
    assert.ok(!re.test('xrack-2'));
    assert.ok(compileJavaRegex('(?i)RACK-1').test('rack-1'));
    assert.throws(() => compileJavaRegex('['));
  });
});

describe('label selectors', () => {
  const labels = { env: 'prod', tier: 'web', 'a.b': 'x', odd: 'a,b' };

  test('existence, equality, set selectors; comma = AND', () => {
    const m = (s: string) => parseLabelSelector(s).matches(labels);
    assert.ok(m('env'));
    assert.ok(!m('missing'));
    assert.ok(m('env==prod'));
    assert.ok(m('env == prod'));
    assert.ok(!m('env==qa'));
    assert.ok(m('env!=qa'));
    assert.ok(!m('env!=prod'));
    assert.ok(m('env in (qa, prod)'));
    assert.ok(!m('env in (qa)'));
    assert.ok(m('tier notin (db,cache)'));
    assert.ok(!m('tier notin (web)'));
    assert.ok(m('env==prod, tier in (web), a.b'));
    assert.ok(!m('env==prod, tier==db'));
    assert.ok(m('odd==a\\,b'), 'backslash escapes');
    assert.ok(m(''), 'empty selector matches everything');
  });

  test('every selector requires the label to exist (Marathon semantics)', () => {
    assert.ok(!parseLabelSelector('foo!=bar').matches({}));
    assert.ok(!parseLabelSelector('foo notin (bar)').matches({}));
    assert.ok(!parseLabelSelector('foo').matches(undefined));
  });

  test('parsed structure', () => {
    assert.deepEqual(parseLabelSelector('a in (t1, t2, t3), b notin (t1), c, d==e\\!').selectors, [
      { key: 'a', op: 'in', values: ['t1', 't2', 't3'] },
      { key: 'b', op: 'notin', values: ['t1'] },
      { key: 'c', op: 'exists', values: [] },
      { key: 'd', op: '==', values: ['e!'] },
    ]);
    assert.deepEqual(parseLabelSelector('\\!\\!\\! in (\\-\\-\\-, \\&\\&\\&)').selectors, [{ key: '!!!', op: 'in', values: ['---', '&&&'] }]);
    assert.equal(labelPredicate(undefined), undefined);
    assert.ok(labelPredicate('env')!({ env: '' }));
  });

  test('malformed selectors are 422 with Marathon message', () => {
    for (const bad of ['env==', 'env in (a', 'a b', '!!!', 'a,', 'env = prod']) {
      assert.throws(
        () => parseLabelSelector(bad),
        (err: unknown) => {
          assert.ok(err instanceof MarathonError);
          const { status, body } = errorResponse(err);
          assert.equal(status, 422);
          assert.match(String(body.message), new RegExp(`^Can not parse label selector ${bad.replace(/[()!=,]/g, '\\$&')}\\. Reason: `));
          return true;
        },
        bad,
      );
    }
  });
});
