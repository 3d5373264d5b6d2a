// openStore's spec strings: which store each names, and clear errors for malformed etcd URLs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ValidationError } from '../../src/protocol/errors.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { BackendStore, openStore, parseStoreSpec } from '../../src/store/index.ts';

const quiet = createLogger('store-test', 'error', () => {});
const dir = mkdtempSync(join(tmpdir(), 'corral-open-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('parseStoreSpec', () => {
  it('reads etcd URLs into http endpoints, in order', () => {
    assert.deepEqual(parseStoreSpec('etcd://127.0.0.1:2379'), { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'] });
    assert.deepEqual(parseStoreSpec('etcd://a.example:1,10.0.0.2:2380,[::1]:65535/'), {
      kind: 'etcd',
      endpoints: ['http://a.example:1', 'http://10.0.0.2:2380', 'http://[::1]:65535'],
    });
  });

  it('memory: is the memory store; anything else is a directory', () => {
    assert.deepEqual(parseStoreSpec('memory:'), { kind: 'memory' });
    assert.deepEqual(parseStoreSpec('/var/lib/corral'), { kind: 'embedded', dir: '/var/lib/corral' });
    assert.deepEqual(parseStoreSpec('./state'), { kind: 'embedded', dir: './state' });
  });

  const bad: [string, RegExp][] = [
    ['etcd://', /names no endpoint/],
    ['etcd://:2379', /endpoint 1 .* is not host:port/],
    ['etcd://host', /is not host:port/],
    ['etcd://host:', /is not host:port/],
    ['etcd://host:0', /port 0, not 1-65535/],
    ['etcd://host:65536', /port 65536/],
    ['etcd://host:12ab', /is not host:port/],
    ['etcd://a:1,,b:2', /endpoint 2/],
    ['etcd://user@host:1', /is not host:port/],
    ['', /non-empty/],
  ];
  for (const [spec, msg] of bad) {
    it(`rejects ${JSON.stringify(spec)} with a ValidationError`, () => {
      assert.throws(() => parseStoreSpec(spec), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.match(e.message, msg);
        return true;
      });
    });
  }
});

describe('openStore', () => {
  it('opens memory and embedded stores', async () => {
    const m = await openStore('memory:', { logger: quiet });
    assert.ok(m instanceof BackendStore);
    await m.put('a', '1');
    await m.close();
    const e = await openStore(join(dir, 'db'), { logger: quiet });
    await e.put('a', '1');
    await e.close();
    const again = await openStore(join(dir, 'db'), { logger: quiet });
    assert.equal((await again.get('a'))?.value, '1');
    await again.close();
  });

  it('rejects a malformed etcd URL before connecting', async () => {
    await assert.rejects(openStore('etcd://host:99999'), ValidationError);
  });
});
