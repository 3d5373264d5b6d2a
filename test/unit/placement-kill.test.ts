// Scale-down kill order (marathon.md §5.3): sentenced, constraint distribution, condition,
// killSelection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectInstancesToKill, type KillCandidate } from '../../src/core/placement/index.ts';

const T0 = Date.parse('2024-01-01T00:00:00.000Z');
const iso = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

function cand(id: string, opts: Partial<KillCandidate> & { rack?: string; at?: number } = {}): KillCandidate {
  const { rack, at = 0, ...rest } = opts;
  return {
    instanceId: id,
    agentId: `a-${id}`,
    hostname: `h-${id}`,
    attributes: rack ? [{ name: 'rack', type: 'TEXT', text: { value: rack } }] : [],
    condition: 'Running',
    stagedAt: iso(at),
    startedAt: iso(at + 1),
    ...rest,
  };
}

test('condition order: unreachable, unhealthy, staging/starting, running', () => {
  const cs = [
    cand('running', { at: 50 }),
    cand('starting', { condition: 'Starting', at: 1 }),
    cand('unhealthy', { healthy: false, at: 2 }),
    cand('unreachable', { condition: 'Unreachable', at: 3 }),
  ];
  assert.deepEqual(selectInstancesToKill(cs, 4, [], 'YOUNGEST_FIRST'), ['unreachable', 'unhealthy', 'starting', 'running']);
  assert.deepEqual(selectInstancesToKill(cs, 2, [], 'OLDEST_FIRST'), ['unreachable', 'unhealthy']);
});

test('killSelection orders by start time (staged time when not started)', () => {
  const cs = [cand('old', { at: 0 }), cand('mid', { at: 10 }), cand('young', { at: 20 })];
  assert.deepEqual(selectInstancesToKill(cs, 2, [], 'YOUNGEST_FIRST'), ['young', 'mid']);
  assert.deepEqual(selectInstancesToKill(cs, 2, [], 'OLDEST_FIRST'), ['old', 'mid']);
  const staging = [cand('s1', { condition: 'Staging', startedAt: undefined, stagedAt: T0 + 5 }), cand('s2', { condition: 'Staging', startedAt: undefined, stagedAt: T0 + 9 })];
  assert.deepEqual(selectInstancesToKill(staging, 1, []), ['s2'], 'YOUNGEST_FIRST is the default; epoch ms accepted');
});

test('sentenced instances go first, then the rest in order', () => {
  const cs = [cand('a', { at: 0 }), cand('b', { at: 10, sentenced: true }), cand('c', { at: 20 })];
  assert.deepEqual(selectInstancesToKill(cs, 2, [], 'YOUNGEST_FIRST'), ['b', 'c']);
});

test('GROUP_BY: kill from the largest groups so the distribution stays even', () => {
  const cs = [
    cand('r1-a', { rack: 'r1', at: 0 }),
    cand('r1-b', { rack: 'r1', at: 1 }),
    cand('r1-c', { rack: 'r1', at: 2 }),
    cand('r1-d', { rack: 'r1', at: 3 }),
    cand('r2-a', { rack: 'r2', at: 30 }),
    cand('r2-b', { rack: 'r2', at: 31 }),
  ];
  // Without constraints the youngest go: both r2 instances.
  assert.deepEqual(selectInstancesToKill(cs, 2, [], 'YOUNGEST_FIRST'), ['r2-b', 'r2-a']);
  // With GROUP_BY rack: r1 4 → 2, youngest first inside the group.
  assert.deepEqual(selectInstancesToKill(cs, 2, [['rack', 'GROUP_BY']], 'YOUNGEST_FIRST'), ['r1-d', 'r1-c']);
  // Then alternate once even.
  assert.deepEqual(selectInstancesToKill(cs, 4, [['rack', 'GROUP_BY', '2']], 'YOUNGEST_FIRST'), ['r1-d', 'r1-c', 'r2-b', 'r1-b']);
  // MAX_PER spreads kills the same way.
  assert.deepEqual(selectInstancesToKill(cs, 2, [['rack', 'MAX_PER', '4']], 'OLDEST_FIRST'), ['r1-a', 'r1-b']);
});

test('GROUP_BY: when groups are even, condition decides', () => {
  const cs = [
    cand('r1-a', { rack: 'r1', at: 0 }),
    cand('r1-b', { rack: 'r1', at: 1 }),
    cand('r2-a', { rack: 'r2', at: 2, condition: 'Unreachable' }),
    cand('r2-b', { rack: 'r2', at: 3 }),
  ];
  assert.deepEqual(selectInstancesToKill(cs, 1, [['rack', 'GROUP_BY']], 'YOUNGEST_FIRST'), ['r2-a']);
  // Next kill must come from r1 (now the larger group), not r2.
  assert.deepEqual(selectInstancesToKill(cs, 2, [['rack', 'GROUP_BY']], 'YOUNGEST_FIRST'), ['r2-a', 'r1-b']);
});

test('sentenced instances count as gone before balancing', () => {
  const cs = [
    cand('r1-a', { rack: 'r1', at: 0, sentenced: true }),
    cand('r1-b', { rack: 'r1', at: 1 }),
    cand('r2-a', { rack: 'r2', at: 2 }),
    cand('r2-b', { rack: 'r2', at: 3 }),
  ];
  assert.deepEqual(selectInstancesToKill(cs, 2, [['rack', 'GROUP_BY']], 'OLDEST_FIRST'), ['r1-a', 'r2-a']);
});

test('several distributions: prefer candidates in the largest group of each', () => {
  const z = (id: string, rack: string, zone: string, at: number) => ({ ...cand(id, { rack, at }), zone });
  const cs = [z('a', 'r1', 'z1', 0), z('b', 'r1', 'z2', 1), z('c', 'r1', 'z1', 2), z('d', 'r2', 'z1', 3)];
  // r1 is the largest rack, z1 the largest zone: only 'a' and 'c' are in both; youngest is 'c'.
  assert.deepEqual(selectInstancesToKill(cs, 1, [['rack', 'GROUP_BY'], ['@zone', 'GROUP_BY']], 'YOUNGEST_FIRST'), ['c']);
});

test('bounds: count 0, negative, more than candidates', () => {
  const cs = [cand('a'), cand('b', { at: 5 })];
  assert.deepEqual(selectInstancesToKill(cs, 0, [], 'YOUNGEST_FIRST'), []);
  assert.deepEqual(selectInstancesToKill(cs, -3, [], 'YOUNGEST_FIRST'), []);
  assert.deepEqual(selectInstancesToKill(cs, 5, [['rack', 'GROUP_BY']], 'YOUNGEST_FIRST'), ['b', 'a']);
  assert.deepEqual(selectInstancesToKill([], 2, [], 'YOUNGEST_FIRST'), []);
});
