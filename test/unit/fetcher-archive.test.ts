// The fetcher's archive checks: listings parsed from real GNU tar / zipinfo output, and the rules that keep
// every extracted path inside the sandbox.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTarListing, parseZipListing, pathsWritten, readCString, unsafeEntry, type ArchiveEntry } from '../../src/agent/fetcher/archive-entries.ts';

const MAX = 1 << 30;
const f = (name: string, size = 1): ArchiveEntry => ({ name, type: 'file', size });
const d = (name: string): ArchiveEntry => ({ name, type: 'dir', size: 0 });
const l = (name: string, target: string): ArchiveEntry => ({ name, type: 'symlink', target, size: 0 });
const h = (name: string, target: string): ArchiveEntry => ({ name, type: 'hardlink', target, size: 0 });

describe('tar listing (tar -tv -P --quoting-style=c --numeric-owner --full-time)', () => {
  test('parses files, directories, symlinks, hardlinks and escaped names', () => {
    const out = [
      'drwxr-xr-x 0/0               0 2026-11-25 09:24:20 "./"',
      '-rw-r--r-- 0/0               3 2026-11-25 09:24:20 "./a b.txt"',
      '-rw-r--r-- 0/0               1 2026-11-25 09:24:20 "./we\\"ird\\\\name"',
      'lrwxrwxrwx 0/0               0 2026-11-25 09:24:20 "./li nk" -> "d/f"',
      'hrw-r--r-- 0/0               0 2026-11-25 09:24:20 "./d/f" link to "./hard"',
      '-rw-r--r-- 0/0               5 2026-11-25 09:24:20 "caf\\303\\251\\n"',
      'crw-r--r-- 0/0             1,3 2026-11-25 09:24:20 "dev/null"',
      '',
    ].join('\n');
    assert.deepEqual(parseTarListing(out), [
      { name: './', type: 'dir', size: 0 },
      { name: './a b.txt', type: 'file', size: 3 },
      { name: './we"ird\\name', type: 'file', size: 1 },
      { name: './li nk', type: 'symlink', target: 'd/f', size: 0 },
      { name: './d/f', type: 'hardlink', target: './hard', size: 0 },
      { name: 'café\n', type: 'file', size: 5 },
      { name: 'dev/null', type: 'other', size: 0 },
    ]);
  });

  test('refuses output it does not understand', () => {
    assert.throws(() => parseTarListing('-rw-r--r-- 0/0 3 2026-11-25 09:24:20 no-quotes'));
    assert.throws(() => parseTarListing('-rw-r--r-- 0/0 3 2026-11-25 09:24:20 "unterminated'));
    assert.throws(() => parseTarListing('-rw-r--r-- 0/0 3 2026-11-25 09:24:20 "a" trailing'));
    assert.throws(() => parseTarListing('lrwxrwxrwx 0/0 0 2026-11-25 09:24:20 "a"'));
    assert.throws(() => readCString('"\\q"', 0));
  });
});

describe('zip listing (unzip -Z -s)', () => {
  const listing = (lines: string[], n = lines.length) =>
    ['Archive:  /tmp/x.zip', `Zip file size: 1051 bytes, number of entries: ${n}`, ...lines, `${n} files, 11 bytes uncompressed, 11 bytes compressed:  0.0%`, ''].join('\n');

  test('parses entries, with spaces and quotes in names', () => {
    assert.deepEqual(
      parseZipListing(
        listing([
          'drwxr-xr-x  3.0 unx        0 bx stor 26-Nov-25 09:24 src/',
          '-rw-r--r--  3.0 unx        3 tx stor 26-Nov-25 09:24 src/a b.txt',
          '-rw-r--r--  3.0 unx        1 tx stor 26-Nov-25 09:24 src/we"ird\\\\name',
          'lrwxrwxrwx  3.0 unx        3 bx stor 26-Nov-25 09:24 src/li nk',
          '-rw-a--     2.0 fat       12 tx defN 26-Nov-25 09:24 dos.txt',
          '?rw-------  2.0 unx        1 b- stor 26-Nov-25 09:32 py/made.txt',
          'prw-r--r--  3.0 unx        0 bx stor 26-Nov-25 09:24 fifo',
        ]),
      ),
      [
        { name: 'src/', type: 'dir', size: 0 },
        { name: 'src/a b.txt', type: 'file', size: 3 },
        { name: 'src/we"ird\\\\name', type: 'file', size: 1 },
        { name: 'src/li nk', type: 'symlink', size: 3 },
        { name: 'dos.txt', type: 'file', size: 12 },
        { name: 'py/made.txt', type: 'file', size: 1 },
        { name: 'fifo', type: 'other', size: 0 },
      ],
    );
    assert.deepEqual(parseZipListing('Empty zipfile.\n'), []);
  });

  test('a member name with a newline cannot smuggle a line in: the frame no longer adds up', () => {
    const smuggled = listing(['-rw-r--r--  3.0 unx        3 tx stor 26-Nov-25 09:24 a', '../../evil'], 1);
    assert.throws(() => parseZipListing(smuggled));
    assert.throws(() => parseZipListing(listing(['garbage line'])));
  });
});

describe('archive entry safety', () => {
  const ok = (entries: ArchiveEntry[]) => assert.equal(unsafeEntry(entries, { maxBytes: MAX }), undefined);
  const bad = (entries: ArchiveEntry[], re: RegExp, backslash = false) => assert.match(unsafeEntry(entries, { maxBytes: MAX, backslash }) ?? '(accepted)', re);

  test('ordinary trees pass, with links that stay inside', () => {
    ok([d('./'), d('./app/'), f('./app/run.sh'), l('./app/current', 'run.sh'), l('app/up', '../README'), f('README'), h('app/copy', 'README')]);
    ok([d('a/b/'), l('a/b/top', '../../x'), l('a/b/self', '.'), l('a/b/deep', '../c/d/e')]);
  });

  test('absolute names, .. components and special files are refused', () => {
    bad([f('/etc/passwd')], /absolute/);
    bad([f('../evil')], /contains '\.\.'/);
    bad([f('a/../../evil')], /contains '\.\.'/);
    bad([f('./a/./../..')], /contains '\.\.'/);
    bad([{ name: 'dev/sda', type: 'other', size: 0 }], /special file/);
    bad([f('a\0b')], /NUL/);
    bad([f('..\\evil')], /contains '\.\.'/, true);
    bad([f('C:\\evil')], /absolute/, true);
    ok([f('..\\not-a-separator-in-tar')]);
  });

  test('symlinks may not point out, climb after descending, or carry members', () => {
    bad([l('l', '/etc')], /absolute path/);
    bad([l('l', '..')], /outside the sandbox/);
    bad([d('a/'), l('a/l', '../..')], /outside the sandbox/);
    bad([l('l', 'sub/../..')], /climbs after descending/);
    bad([l('l', 'sub/..')], /climbs after descending/);
    bad([l('l', '')], /empty/);
    bad([l('dir', '.'), f('dir/file')], /stored under the symlink 'dir'/);
    bad([l('./dir', 'x'), f('dir/sub/file')], /stored under the symlink 'dir'/);
    bad([{ name: 'z', type: 'symlink', size: 3 }], /zip archives with symlinks/);
  });

  test('hardlinks refer to safe member names only', () => {
    bad([h('x', '/etc/shadow')], /absolute/);
    bad([h('x', '../outside')], /'\.\.'/);
    bad([h('x', '')], /empty/);
    bad([l('s', 'd'), h('x', 's/f')], /through a symlink/);
  });

  test('the total size is bounded', () => {
    assert.match(unsafeEntry([f('a', 600), f('b', 600)], { maxBytes: 1000 }) ?? '', /more than 1000 bytes/);
    assert.equal(unsafeEntry([f('a', 500), f('b', 500)], { maxBytes: 1000 }), undefined);
  });

  test('pathsWritten lists members, hardlink targets and every parent once', () => {
    assert.deepEqual(pathsWritten([d('./'), f('./a/b/c'), f('a/b/d'), h('e', 'x/y')]).sort(), ['a', 'a/b', 'a/b/c', 'a/b/d', 'e', 'x', 'x/y']);
  });
});
