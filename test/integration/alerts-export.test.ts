// `corral alerts export --prometheus` writes rules that Prometheus's own checker accepts: piped to
// `promtool check rules` (stdin) and written with -o; a custom rules file is exported the same way,
// and a bad one is refused with the field at fault. promtool comes from Debian's `prometheus` package
// (scripts/install-deps.sh).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_ALERT_RULES } from '../../src/core/alerts/index.ts';
import { CORRAL_BIN, runCorral } from '../support/cluster.ts';

const promtool = spawnSync('promtool', ['--version']).status === 0;

describe('corral alerts export --prometheus', () => {
  // A missing tool fails the suite with its package name (scripts/install-deps.sh installs it); never a silent skip.
  before(() => assert.ok(promtool, 'promtool is missing: install the Debian package prometheus (scripts/install-deps.sh does)'));
  const dir = mkdtempSync(join(tmpdir(), 'corral-alerts-export-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const check = (file: string) => spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  /** `corral ARGS | promtool check rules` through a real pipe (promtool 2.42 reads stdin only as /dev/stdin). */
  const piped = (args: string) => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    return spawnSync('sh', ['-c', `"${process.execPath}" "${CORRAL_BIN}" ${args} | promtool check rules /dev/stdin`], { encoding: 'utf8', env });
  };

  it('corral alerts export --prometheus | promtool check rules passes; -o writes the same', async () => {
    const pipe = piped('alerts export --prometheus');
    assert.equal(pipe.status, 0, pipe.stdout + pipe.stderr);
    assert.match(pipe.stdout, new RegExp(`SUCCESS: ${DEFAULT_ALERT_RULES.length} rules found`));
    const [out, written] = await Promise.all([
      runCorral(['alerts', 'export', '--prometheus']),
      runCorral(['alerts', 'export', '--prometheus', '-o', join(dir, 'rules.yml')]),
    ]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(readFileSync(join(dir, 'rules.yml'), 'utf8'), out.stdout);
    const viaFile = check(join(dir, 'rules.yml'));
    assert.equal(viaFile.status, 0, viaFile.stdout + viaFile.stderr);
    for (const r of DEFAULT_ALERT_RULES) assert.match(out.stdout, new RegExp(`- alert: ${r.name}\\n`));
  });

  it('exports a custom rules file, and refuses a bad one', async () => {
    const file = join(dir, 'mine.json');
    const badFile = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ rules: [{ name: 'FewAgents', expr: 'max(master/slaves_active, 10m) < 3', for: '2m', severity: 'critical', summary: 'Fewer than 3 agents.' }] }));
    writeFileSync(badFile, JSON.stringify({ rules: [{ name: 'Bad', expr: 'rate(master/x, 1m) > 0', severity: 'info', summary: 's' }] }));
    const [r, bad, noFormat] = await Promise.all([
      runCorral(['alerts', 'export', '--prometheus', '--rules', file, '-o', join(dir, 'mine.yml')]),
      runCorral(['alerts', 'export', '--prometheus', '--rules', badFile]),
      runCorral(['alerts', 'export']),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(dir, 'mine.yml'), 'utf8'), /expr: "max_over_time\(\w+\[10m\]\) < 3"\n {8}for: 2m/);
    const c = check(join(dir, 'mine.yml'));
    assert.equal(c.status, 0, c.stdout + c.stderr);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /rules\.rules\[0\]\.expr: .*unknown function rate/);
    assert.equal(noFormat.code, 2);
    assert.match(noFormat.stderr, /--prometheus/);
  });
});
