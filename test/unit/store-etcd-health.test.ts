// EndpointHealth: where EtcdStore sends each attempt (src/store/etcd-health.ts), as pure bookkeeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointHealth } from '../../src/store/etcd-health.ts';

const EPS = ['http://a:2379', 'http://b:2379', 'http://c:2379'];

describe('EndpointHealth', () => {
  it('sticks to the first member while it answers', () => {
    const h = new EndpointHealth(EPS);
    assert.deepEqual(h.order(), [0, 1, 2]);
    h.ok(1, 10);
    assert.equal(h.preferred, 0);
    assert.deepEqual(h.order(new Set([0])), [1, 2]);
  });

  it('a failed member goes last and the preference moves on; it stays put when the member is back', () => {
    const h = new EndpointHealth(EPS);
    assert.equal(h.fail(0, 100), true);
    assert.equal(h.fail(0, 150), false, 'not news twice');
    assert.equal(h.preferred, 1);
    assert.deepEqual(h.order(), [1, 2, 0]);
    assert.equal(h.best(), 1);
    assert.equal(h.ok(0, 200), true);
    assert.equal(h.preferred, 1, 'no flapping back');
    assert.deepEqual(h.order(), [1, 2, 0]);
  });

  it('with every member failed, all are still listed, the one that failed longest ago first; the first back leads', () => {
    const h = new EndpointHealth(EPS);
    h.fail(1, 100);
    h.fail(2, 200);
    h.fail(0, 300);
    assert.equal(h.anyHealthy(), false);
    assert.deepEqual(h.order(), [1, 2, 0]);
    h.ok(2, 400);
    assert.equal(h.preferred, 2);
    assert.deepEqual(h.order(), [2, 1, 0]);
  });

  it('fresh: healthy and answered recently', () => {
    const h = new EndpointHealth(EPS);
    assert.equal(h.fresh(0, 1000, 250), false, 'never answered');
    h.ok(0, 1000);
    assert.equal(h.fresh(0, 1200, 250), true);
    assert.equal(h.fresh(0, 1300, 250), false);
    h.ok(0, 1300);
    h.fail(0, 1301);
    assert.equal(h.fresh(0, 1302, 250), false, 'failed since');
    assert.equal(h.answeredWithin(0, 1302, 250), true);
  });
});
