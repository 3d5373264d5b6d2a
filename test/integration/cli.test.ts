// The `corral` CLI end to end, as real processes: `corral dev` on free ports,
// then the client commands against it. No sleeps: every wait is on output,
// exit, or a polled condition with a deadline.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, jsonLines, processAlive, runCorral, startCluster, type Cluster } from '../support/cluster.ts';

const HELP_COMMANDS = [
  [],
  ['dev'],
  ['master'],
  ['agent'],
  ['agent', 'list'],
  ['task'],
  ['task', 'run'],
  ['task', 'list'],
  ['task', 'log'],
  ['task', 'kill'],
  ['cluster'],
  ['cluster', 'status'],
];

describe('corral CLI without a cluster', () => {
  test('--help exits 0 for the program and every command', async () => {
    const results = await Promise.all(HELP_COMMANDS.map((c) => runCorral([...c, '--help'])));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `corral ${HELP_COMMANDS[i]!.join(' ')} --help\n${r.stderr}`);
      assert.match(r.stdout, /^Usage: corral/);
    });
    assert.match(results[0]!.stdout, /task/);
    assert.match(results[6]!.stdout, /--cpus/);
  });

  test('an unreachable master is one clear line and exit 1; usage errors exit 2', async () => {
    const [list, run, usage, unknown] = await Promise.all([
      runCorral(['task', 'list'], { master: 'http://127.0.0.1:1' }),
      runCorral(['task', 'run', '--', 'true'], { master: 'http://127.0.0.1:1' }),
      runCorral(['task', 'run', '--cpus', 'lots', '--', 'true']),
      runCorral(['task', 'frobnicate']),
    ]);
    for (const r of [list, run]) {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: cannot reach master at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\(is `corral dev` running\?/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--cpus/);
    assert.equal(unknown.code, 2);
  });

  test('corral dev names the port that is in use and the flag to change it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'corral-cli-port-'));
    try {
      const r = await runCorral(['dev', '--port', String(port), '--data-dir', dir, '--json'], { env: { CORRAL_LOG_LEVEL: 'error' } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`error: port ${port} .*already in use.*--port`));
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('corral CLI against `corral dev`', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ agents: 2, args: ['--allocation-interval-ms', '50'] });
  });
  after(async () => {
    const r = await cluster?.stop('SIGTERM');
    assert.equal(r?.code, 0, r?.stderr);
  });

  let helloId = '';
  let failId = '';

  test('task run -- echo hello exits 0 and its log shows hello', async () => {
    const r = await cluster.cli(['task', 'run', '--', 'echo', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    helloId = r.stdout.trim().split('\n')[0]!;
    assert.match(helloId, /^echo\.[0-9a-f-]{36}$/);
    assert.match(r.stderr, /TASK_RUNNING/);
    assert.match(r.stderr, /TASK_FINISHED/);
    const log = await cluster.cli(['task', 'log', helloId]);
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout, 'hello\n');
    const prefix = await cluster.cli(['task', 'log', helloId.slice(0, 12), '--lines', '1']);
    assert.equal(prefix.stdout, 'hello\n', prefix.stderr);
  });

  test('task run exits with the task exit code and streams JSON lines', async () => {
    const r = await cluster.cli(['task', 'run', '--json', '--name', 'fail3', '--env', 'CODE=3', '--', 'sh', '-c', 'echo oops >&2; exit $CODE']);
    assert.equal(r.code, 3, r.stderr);
    const events = jsonLines(r.stdout);
    const launched = events.find((e) => e.event === 'launched');
    assert.ok(launched, r.stdout);
    failId = launched.task_id;
    assert.match(failId, /^fail3\./);
    const states = events.filter((e) => e.event === 'status').map((e) => e.state);
    assert.equal(states.at(-1), 'TASK_FAILED');
    assert.deepEqual(events.at(-1), { event: 'exit', code: 3 });
    const log = await cluster.cli(['task', 'log', failId, '--stderr']);
    assert.equal(log.stdout, 'oops\n', log.stderr);
  });

  test('task list --json --all lists both tasks; without --all they are hidden', async () => {
    const all = await cluster.cli(['task', 'list', '--json', '--all']);
    assert.equal(all.code, 0, all.stderr);
    const rows = JSON.parse(all.stdout) as any[];
    const hello = rows.find((t) => t.id === helloId);
    const fail = rows.find((t) => t.id === failId);
    assert.equal(hello?.state, 'TASK_FINISHED');
    assert.equal(fail?.state, 'TASK_FAILED');
    assert.equal(hello.framework_name, 'corral-cli');
    assert.ok(cluster.agentIds.includes(hello.agent_id) || hello.agent_id);
    const active = JSON.parse((await cluster.cli(['task', 'list', '--json'])).stdout) as any[];
    assert.equal(active.some((t) => t.id === helloId || t.id === failId), false);
    const human = await cluster.cli(['task', 'list', '--all']);
    assert.match(human.stdout, /^ID\s+NAME\s+STATE/);
    assert.match(human.stdout, new RegExp(`${failId.replace(/\./g, '\\.')}\\s+fail3\\s+TASK_FAILED`));
  });

  test('agent list --json and cluster status --json describe the cluster', async () => {
    const [agents, status, human] = await Promise.all([
      cluster.cli(['agent', 'list', '--json']),
      cluster.cli(['cluster', 'status', '--json']),
      cluster.cli(['cluster', 'status']),
    ]);
    assert.equal(agents.code, 0, agents.stderr);
    const list = JSON.parse(agents.stdout) as any[];
    assert.equal(list.length, 2);
    assert.deepEqual(list.map((a) => a.endpoint).sort(), [...cluster.agents].sort());
    for (const a of list) {
      assert.equal(a.active, true);
      assert.ok(a.resources.total.cpus > 0);
      assert.ok(a.resources.total.mem > 0);
    }
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.equal(s.master.url, cluster.master);
    assert.equal(s.agents.length, 2);
    assert.ok(s.tasks.TASK_FINISHED >= 1, status.stdout);
    assert.ok(s.tasks.TASK_FAILED >= 1, status.stdout);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /agents\s+2 registered, 2 active/);
  });

  test('task kill stops a task launched by another `task run`', async () => {
    const run = cluster.spawn(['task', 'run', '--json', '--name', 'sleeper', '--', 'sleep', '1000']);
    const running = await run.waitForJson((e) => e.event === 'status' && e.state === 'TASK_RUNNING', 20_000, 'TASK_RUNNING');
    const kill = await cluster.cli(['task', 'kill', running.task_id]);
    assert.equal(kill.code, 0, kill.stderr);
    assert.match(kill.stdout, /TASK_KILLED/);
    const ended = await run.waitForExit(20_000);
    assert.notEqual(ended.code, 0);
    const again = await cluster.cli(['task', 'kill', running.task_id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already TASK_KILLED/);
  });

  test('a second `corral dev` on the same data dir fails with a clear message', async () => {
    const r = await runCorral(['dev', '--port', '0', '--data-dir', cluster.dataDir, '--json'], { env: { CORRAL_LOG_LEVEL: 'error' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: data directory .* is in use: .*already open.*--data-dir/);
  });

  test('task run explains when no agent can fit the task', async () => {
    const r = await cluster.cli(['task', 'run', '--cpus', '100000', '--offer-timeout', '1', '--', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: no agent offers cpus:100000;mem:32 .*see `corral agent list`/);
  });
});

describe('stopping `corral dev`', () => {
  test('SIGINT kills running tasks and exits 0', async () => {
    const cluster = await startCluster({ agents: 1, args: ['--allocation-interval-ms', '50'] });
    const dir = mkdtempSync(join(tmpdir(), 'corral-cli-pid-'));
    const pidFile = join(dir, 'pid');
    try {
      const run = cluster.spawn(['task', 'run', '--json', '--env', `PIDFILE=${pidFile}`, '--', 'sh', '-c', 'echo $$ > "$PIDFILE"; exec sleep 1000']);
      await run.waitForJson((e) => e.event === 'status' && e.state === 'TASK_RUNNING', 20_000, 'TASK_RUNNING');
      const pid = await eventually(() => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8').trim()), 10_000, 'the pid file');
      assert.ok(processAlive(pid));
      const t0 = Date.now();
      const stopped = await cluster.stop('SIGINT', 15_000);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.ok(Date.now() - t0 < 10_000, `stopping took ${Date.now() - t0} ms`);
      assert.equal(processAlive(pid), false, `task process ${pid} survived`);
      const ended = await run.waitForExit(15_000);
      assert.notEqual(ended.code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
