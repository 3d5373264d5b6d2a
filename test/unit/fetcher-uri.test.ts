// What the fetcher does with one URI, decided without I/O: source, destination, extraction; and its flag parsing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fetcherFlags, fetcherSettings, formatBytes, parseByteSize } from '../../src/agent/fetcher/options.ts';
import { archiveKindOf, planFetch, safeRelativePath } from '../../src/agent/fetcher/uri.ts';

describe('planFetch', () => {
  test('http and local sources, basename destinations, Mesos defaults', () => {
    const p = planFetch({ value: 'http://127.0.0.1:8000/dl/app-1.0.tar.gz?token=x#frag' });
    assert.equal(p.source.kind, 'http');
    assert.equal(p.dest, 'app-1.0.tar.gz');
    assert.equal(p.extract, 'tar');
    assert.equal(p.cache, false);
    assert.equal(p.executable, false);
    assert.equal(planFetch({ value: 'https://h/a%20b.zip' }).dest, 'a b.zip');
    assert.deepEqual(planFetch({ value: 'file:///opt/x/tool' }).source, { kind: 'file', path: '/opt/x/tool' });
    assert.deepEqual(planFetch({ value: '/opt/x/../y/tool' }).source, { kind: 'file', path: '/opt/y/tool' });
  });

  test('executable wins over extract; extract:false keeps the archive; plain files are not extracted', () => {
    assert.equal(planFetch({ value: 'http://h/a.tgz', executable: true }).extract, undefined);
    assert.equal(planFetch({ value: 'http://h/a.tgz', extract: false }).extract, undefined);
    assert.equal(planFetch({ value: 'http://h/run.sh' }).extract, undefined);
    assert.equal(planFetch({ value: 'http://h/x', output_file: 'bin/data.zip' }).extract, 'zip');
  });

  test('output_file stays inside the sandbox', () => {
    assert.equal(planFetch({ value: 'http://h/x', output_file: 'bin/./tool' }).dest, 'bin/tool');
    assert.equal(planFetch({ value: 'http://h/x', output_file: 'a/../b' }).dest, 'b');
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', '.', 'dir/', '', 'a\0b'])
      assert.throws(() => planFetch({ value: 'http://h/x', output_file: bad }), /output_file/, bad);
    assert.deepEqual(safeRelativePath('..'), { error: 'must stay inside the sandbox' });
  });

  test('refuses what it cannot fetch or name', () => {
    assert.throws(() => planFetch({ value: 'hdfs://nn/x' }), /unsupported URI scheme 'hdfs'/);
    assert.throws(() => planFetch({ value: 'relative/path' }), /neither a URL nor an absolute path/);
    assert.throws(() => planFetch({ value: 'http://h/' }), /set output_file/);
    assert.throws(() => planFetch({ value: 'http://h/dir/..' }), /set output_file/);
    assert.throws(() => planFetch({ value: 'file://remote/x' }), /remote host/);
    assert.equal(planFetch({ value: 'http://h/', output_file: 'index.html' }).dest, 'index.html');
  });

  test('archive suffixes', () => {
    const kinds = ['a.tar', 'a.tar.gz', 'a.TGZ', 'a.tar.bz2', 'a.tbz2', 'a.tar.xz', 'a.txz', 'a.zip', 'a.gz', 'a.txt', '.zip'].map(archiveKindOf);
    assert.deepEqual(kinds, ['tar', 'tar', 'tar', 'tar', 'tar', 'tar', 'tar', 'zip', 'gzip', undefined, undefined]);
  });
});

describe('fetcher flags', () => {
  test('byte sizes in Mesos syntax', () => {
    assert.equal(parseByteSize('2GB'), 2 * 1024 ** 3);
    assert.equal(parseByteSize('512MB'), 512 * 1024 ** 2);
    assert.equal(parseByteSize('10kb'), 10240);
    assert.equal(parseByteSize('1.5KB'), 1536);
    assert.equal(parseByteSize('4096'), 4096);
    for (const bad of ['', '0', '-1GB', '2XB', 'GB']) assert.throws(() => parseByteSize(bad, '--fetcher-cache-size'), /--fetcher-cache-size/);
    assert.equal(formatBytes(2 * 1024 ** 3), '2GB');
    assert.equal(formatBytes(1536), '1536B');
  });

  test('settings default under the work dir, and show in /flags with Mesos names', () => {
    const s = fetcherSettings({}, '/w');
    assert.deepEqual(s, { cacheDir: '/w/fetcher-cache', cacheSizeBytes: 2 * 1024 ** 3, maxSizeBytes: 4 * 1024 ** 3, stallTimeoutMs: 60_000 });
    assert.deepEqual(fetcherFlags(s), { fetcher_cache_dir: '/w/fetcher-cache', fetcher_cache_size: '2GB', fetcher_max_size: '4GB', fetcher_stall_timeout: '60000ms' });
  });
});
