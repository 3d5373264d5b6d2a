// Pure parts of the agent's isolators: cgroup v1/v2 detection on captured mountinfo, limit arithmetic, the
// --isolation flag and its plan, task users, the isolators' argv, ports, disk/du parsing and its watcher.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyResources, fromMesosResources } from '../../src/core/resources.ts';
import { UnavailableError, ValidationError } from '../../src/protocol/errors.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { validCgroupsRoot } from '../../src/agent/isolation/cgroups.ts';
import { parseIsolation, planIsolation, type IsolationEnvironment } from '../../src/agent/isolation/config.ts';
import { containerArgv, INIT_NAME } from '../../src/agent/isolation/container-argv.ts';
import { DiskWatcher, parseDuOutput } from '../../src/agent/isolation/disk-usage.ts';
import { Isolation } from '../../src/agent/isolation/index.ts';
import { diskLimitation, memoryLimitation } from '../../src/agent/isolation/limitations.ts';
import {
  cfsQuotaUs,
  cpuShares,
  cpuWeight,
  limitsFor,
  memoryLimitBytes,
  MIB,
  parseKeyedFile,
  v1Writes,
  v2Writes,
} from '../../src/agent/isolation/limits.ts';
import { availableControllers, detectCgroupLayout, parseMountinfo } from '../../src/agent/isolation/mountinfo.ts';
import { formatPorts, portsProblem } from '../../src/agent/isolation/ports.ts';
import { resolveTaskUser } from '../../src/agent/isolation/task-user.ts';
import type { UserInfo } from '../../src/agent/users.ts';

// This project's machines: Debian 12 guest, v1 hybrid (one mount per controller, an empty cgroup2 "unified").
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
`;
// Ubuntu 18.04 style: cpu and cpuacct co-mounted, optional fields before the separator.
const COMOUNTED = `25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
36 25 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
38 25 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,pids
`;
// Debian 12 / Fedora / Ubuntu 22.04 bare metal: the unified hierarchy only.
const UNIFIED = `22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
24 29 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
30 22 0:27 / /run/user/1000/my\\040mount rw - tmpfs tmpfs rw
`;

describe('cgroup layout detection', () => {
  it('finds the v1 controllers of a hybrid machine and ignores its empty cgroup2 mount', () => {
    const layout = detectCgroupLayout(parseMountinfo(HYBRID), () => 'hugetlb\n');
    assert.deepEqual(layout, {
      version: 1,
      mounts: { cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids' },
    });
    assert.deepEqual([...availableControllers(layout!)].sort(), ['cpu', 'cpuacct', 'memory', 'pids']);
  });

  it('handles co-mounted cpu,cpuacct', () => {
    const layout = detectCgroupLayout(parseMountinfo(COMOUNTED), () => '');
    assert.equal(layout?.version, 1);
    assert.equal((layout as any).mounts.cpu, '/sys/fs/cgroup/cpu,cpuacct');
    assert.equal((layout as any).mounts.cpuacct, '/sys/fs/cgroup/cpu,cpuacct');
  });

  it('uses a cgroup2 mount whose cgroup.controllers offers cpu, memory or pids', () => {
    const asked: string[] = [];
    const layout = detectCgroupLayout(parseMountinfo(UNIFIED), (mp) => (asked.push(mp), 'cpuset cpu io memory hugetlb pids rdma misc\n'));
    assert.deepEqual(layout, { version: 2, mount: '/sys/fs/cgroup', controllers: ['cpu', 'memory', 'pids'] });
    assert.deepEqual(asked, ['/sys/fs/cgroup']);
    assert.ok(availableControllers(layout!).has('cpuacct'), 'v2 cpu.stat stands for cpuacct');
    // A delegated subtree without the memory controller.
    assert.deepEqual(detectCgroupLayout(parseMountinfo(UNIFIED), () => 'cpu pids'), { version: 2, mount: '/sys/fs/cgroup', controllers: ['cpu', 'pids'] });
  });

  it('reports nothing usable without controllers, and decodes escaped mount points', () => {
    assert.equal(detectCgroupLayout(parseMountinfo(UNIFIED), () => 'hugetlb'), undefined);
    assert.equal(detectCgroupLayout(parseMountinfo(UNIFIED), () => undefined), undefined);
    assert.equal(detectCgroupLayout([], () => 'cpu'), undefined);
    assert.ok(parseMountinfo(UNIFIED).some((m) => m.mountPoint === '/run/user/1000/my mount'));
    assert.deepEqual(parseMountinfo('garbage\n\n1 2 3\n'), []);
  });

  it('accepts only safe --cgroups-root names', () => {
    for (const ok of ['corral', 'corral/test-1', 'a.b_c-d']) assert.ok(validCgroupsRoot(ok), ok);
    for (const bad of ['', '/abs', '../up', 'a/../b', 'a//b', 'sp ace', 'a/.']) assert.ok(!validCgroupsRoot(bad), bad);
  });
});

describe('limits', () => {
  it('maps cpus to shares, CFS quota and v2 weight as Mesos and runc do', () => {
    assert.equal(cpuShares(1), 1024);
    assert.equal(cpuShares(0.25), 256);
    assert.equal(cpuShares(0.2), 204);
    assert.equal(cpuShares(0.001), 2, 'never below the kernel minimum');
    assert.equal(cfsQuotaUs(0.25), 25_000);
    assert.equal(cfsQuotaUs(2), 200_000);
    assert.equal(cfsQuotaUs(0.001), 1000, "Mesos's 1 ms minimum quota");
    assert.equal(cpuWeight(2), 1);
    assert.equal(cpuWeight(1024), 39);
    assert.equal(cpuWeight(262_144), 10_000);
  });

  it('floors the memory limit at 32 MB and page-aligns it', () => {
    assert.equal(memoryLimitBytes(64), 64 * MIB);
    assert.equal(memoryLimitBytes(16), 32 * MIB);
    assert.equal(memoryLimitBytes(100.5) % 4096, 0);
  });

  it('writes v1 files in an order the kernel accepts (limit before memsw), and skips absent resources', () => {
    const r = emptyResources();
    r.scalars = { cpus: 0.5, mem: 64, disk: 10 };
    const l = limitsFor(r, { cfs: true, pidsMax: 100 });
    assert.deepEqual(l, { cpus: 0.5, memMb: 64, memBytes: 64 * MIB, pidsMax: 100, diskMb: 10, cfs: true });
    const all = new Set(['cpu', 'memory', 'pids'] as const);
    assert.deepEqual(
      v1Writes(l, all).map((w) => `${w.file}=${w.value}${w.optional ? '?' : ''}`),
      [
        'cpu.shares=512',
        'cpu.cfs_period_us=100000',
        'cpu.cfs_quota_us=50000',
        `memory.limit_in_bytes=${64 * MIB}`,
        `memory.memsw.limit_in_bytes=${64 * MIB}?`,
        `memory.soft_limit_in_bytes=${64 * MIB}`,
        'pids.max=100',
      ],
    );
    assert.deepEqual(
      v2Writes(l, all).map((w) => `${w.file}=${w.value}${w.optional ? '?' : ''}`),
      ['cpu.weight=20', 'cpu.max=50000 100000', `memory.max=${64 * MIB}`, 'memory.swap.max=0?', 'pids.max=100'],
    );
    // Without CFS, without the memory isolator, no pids limit, no resources.
    const noCfs = limitsFor(r, { cfs: false, pidsMax: 0 });
    assert.deepEqual(v1Writes(noCfs, new Set(['cpu'] as const)).map((w) => w.file), ['cpu.shares']);
    assert.deepEqual(v2Writes(limitsFor(emptyResources(), { cfs: true, pidsMax: 0 }), all), []);
  });

  it('counts reserved resources under their plain names', () => {
    const r = fromMesosResources([
      { name: 'mem', type: 'SCALAR', scalar: { value: 48 }, reservations: [{ type: 'DYNAMIC', role: 'ops' }] },
      { name: 'mem', type: 'SCALAR', scalar: { value: 16 } },
    ] as any);
    assert.equal(limitsFor(r, { cfs: false, pidsMax: 0 }).memMb, 64);
  });

  it('parses memory.oom_control, memory.events and cpu.stat', () => {
    assert.deepEqual(parseKeyedFile('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n'), { oom_kill_disable: 0, under_oom: 0, oom_kill: 2 });
    assert.equal(parseKeyedFile('low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n').oom_kill, 1);
    assert.equal(parseKeyedFile('nr_periods 40\nnr_throttled 31\nthrottled_time 2345678900\n').throttled_time, 2_345_678_900);
  });
});

describe('limitation messages', () => {
  it('says which limit the task hit', () => {
    const m = memoryLimitation(64, 64 * MIB, 64 * MIB);
    assert.equal(m.state, 'TASK_FAILED');
    assert.equal(m.reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
    assert.match(m.message, /^Memory limit exceeded: the task used more than its 64 MB limit \(.*peak usage 64 MB\)$/);
    assert.deepEqual(m.limitation, { resources: [{ name: 'mem', type: 'SCALAR', scalar: { value: 64 } }] });
    const d = diskLimitation(1, 3 * MIB + 512 * 1024);
    assert.equal(d.reason, 'REASON_CONTAINER_LIMITATION_DISK');
    assert.match(d.message, /^Disk usage \(3\.5 MB\) exceeds the task's disk limit \(1 MB\)/);
  });
});

describe('--isolation', () => {
  const env = (o: Partial<IsolationEnvironment> = {}): IsolationEnvironment => ({
    root: true,
    cgroups: { version: 1, mounts: { cpu: '/c', cpuacct: '/a', memory: '/m', pids: '/p' } },
    unshare: '/usr/bin/unshare',
    du: '/usr/bin/du',
    ...o,
  });

  it('parses Mesos names and aliases, and rejects unknown ones by name', () => {
    assert.deepEqual(parseIsolation('cgroups/cpu, cgroups/mem,namespaces/pid'), ['cgroups/cpu', 'cgroups/mem', 'namespaces/pid']);
    assert.deepEqual(parseIsolation('posix/cpu,posix/mem,posix/disk'), ['disk/du']);
    assert.deepEqual(parseIsolation(''), []);
    assert.throws(() => parseIsolation('cgroups/cpu,cgroups/gpu'), (e: unknown) => e instanceof ValidationError && /unknown isolator 'cgroups\/gpu'/.test(e.message));
  });

  it('runs the default set where it can and says what it left out', () => {
    const all = planIsolation(undefined, env());
    assert.deepEqual([...all.enabled], ['cgroups/cpu', 'cgroups/mem', 'cgroups/pids']);
    assert.deepEqual(all.skipped, []);
    const user = planIsolation(undefined, env({ root: false }));
    assert.deepEqual([...user.enabled], []);
    assert.deepEqual(user.skipped.map((s) => s.why), Array(3).fill('cgroups need the agent to run as root'));
    const noPids = planIsolation(undefined, env({ cgroups: { version: 2, mount: '/sys/fs/cgroup', controllers: ['cpu', 'memory'] } }));
    assert.deepEqual([...noPids.enabled], ['cgroups/cpu', 'cgroups/mem']);
    assert.match(noPids.skipped[0]!.why, /pids controller is not available \(cgroup v2\)/);
  });

  it('refuses an explicitly requested isolator that cannot work, naming it and why', () => {
    assert.throws(() => planIsolation(['namespaces/pid'], env({ root: false })), (e: unknown) => e instanceof UnavailableError && /namespaces\/pid.*root/.test(e.message));
    assert.throws(() => planIsolation(['cgroups/mem'], env({ cgroups: { error: 'no cgroup hierarchy offers the cpu, memory or pids controller' } })), /cgroups\/mem cannot run on this machine: no cgroup hierarchy/);
    assert.throws(() => planIsolation(undefined, env({ du: undefined }), { diskQuota: true }), /disk\/du/);
    assert.deepEqual([...planIsolation([], env(), { diskQuota: true }).enabled], ['disk/du']);
  });

  it('builds an agent without isolators on a machine that has none, and refuses explicit ones', () => {
    const clock = new ManualClock();
    const none = Isolation.create({}, { clock, log: silentLogger, environment: env({ root: false }) });
    assert.deepEqual([...none.enabled], []);
    assert.equal(none.plan('c1'), undefined);
    assert.equal(none.flags().isolation, '');
    assert.throws(() => Isolation.create({ isolation: 'cgroups/pids' }, { clock, log: silentLogger, environment: env({ root: false }) }), UnavailableError);
    assert.throws(() => Isolation.create({ cgroupsRoot: '../x' }, { clock, log: silentLogger, environment: env() }), ValidationError);
  });
});

describe('task users', () => {
  const users: Record<string, UserInfo> = {
    root: { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
    nobody: { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent', shell: '/usr/sbin/nologin' },
    app: { name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/bin/sh' },
  };
  const lookup = (n: string) => users[n];
  const policy = { switchUser: true, defaultUser: 'nobody', allowRootTasks: false, agentUid: 0 };

  it('runs as the agent without --switch-user', () => {
    assert.deepEqual(resolveTaskUser('root', { ...policy, switchUser: false }, lookup), {});
  });

  it('runs as the requested user, else the default user', () => {
    assert.deepEqual(resolveTaskUser('app', policy, lookup), { user: users.app });
    assert.deepEqual(resolveTaskUser(undefined, policy, lookup), { user: users.nobody });
    assert.deepEqual(resolveTaskUser('', policy, lookup), { user: users.nobody });
  });

  it('refuses root unless the agent allows it, and unknown users', () => {
    const refused = resolveTaskUser('root', policy, lookup);
    assert.ok('error' in refused && /Refusing to run the task as 'root' \(uid 0\).*--allow-root-tasks/.test(refused.error), JSON.stringify(refused));
    assert.deepEqual(resolveTaskUser('root', { ...policy, allowRootTasks: true }, lookup), { user: users.root });
    const ghost = resolveTaskUser('ghost', policy, lookup);
    assert.ok('error' in ghost && /user 'ghost' does not exist on this agent/.test(ghost.error));
  });

  it('explains that a non-root agent cannot switch users', () => {
    const r = resolveTaskUser('app', { ...policy, agentUid: 1234 }, lookup);
    assert.ok('error' in r && /runs as uid 1234 and switching users needs root/.test(r.error));
  });
});

describe("isolators' argv", () => {
  it('puts a trapping init as pid 1 of a new pid namespace, switching users there', () => {
    const argv = containerArgv({ pidNamespace: true, unshare: '/usr/bin/unshare', user: { uid: 65534, gid: 65533 } });
    assert.deepEqual(argv.slice(0, 5), ['/usr/bin/unshare', '--fork', '--pid', '--mount-proc', '--kill-child']);
    assert.deepEqual(argv.slice(5, 9), ['--setgid', '65533', '--setuid', '65534']);
    assert.deepEqual(argv.slice(9, 11), ['--', '/bin/sh']);
    assert.equal(argv.at(-1), INIT_NAME);
  });

  it('switches users with setpriv without a namespace, and adds nothing otherwise', () => {
    assert.deepEqual(containerArgv({ pidNamespace: false, setpriv: '/usr/bin/setpriv', user: { uid: 1, gid: 2 } }), [
      '/usr/bin/setpriv',
      '--regid=2',
      '--reuid=1',
      '--clear-groups',
      '--',
    ]);
    assert.deepEqual(containerArgv({ pidNamespace: false }), []);
    assert.throws(() => containerArgv({ pidNamespace: true }), /unshare/);
  });
});

describe('ports', () => {
  const task = (id: string, ranges: [number, number][]) =>
    ({ task_id: { value: id }, resources: [{ name: 'ports', type: 'RANGES', ranges: { range: ranges.map(([begin, end]) => ({ begin, end })) } }] }) as any;

  it('formats port lists compactly', () => {
    assert.equal(formatPorts([31002, 31000, 31001, 31005]), '31000-31002,31005');
  });

  it('refuses ports another live task holds', () => {
    assert.equal(portsProblem(task('a', [[31000, 31001]]), []), undefined);
    assert.equal(
      portsProblem(task('b', [[31003, 31006]]), [{ taskId: 'a', info: task('a', [[31005, 31009]]) }]),
      "Task uses ports [31005-31006] that task 'a' already uses on this agent",
    );
    assert.equal(portsProblem(task('b', [[31000, 31001]]), [{ taskId: 'a', info: task('a', [[31002, 31009]]) }]), undefined);
    assert.equal(portsProblem({ task_id: { value: 'x' } } as any, []), undefined);
  });
});

describe('disk/du', () => {
  it('parses du -sk output', () => {
    assert.equal(parseDuOutput('1536\t/var/lib/corral/sandbox\n'), 1536 * 1024);
    assert.equal(parseDuOutput('du: cannot read directory'), undefined);
  });

  it('measures every watched sandbox once per interval, one du at a time', async () => {
    const clock = new ManualClock();
    const seen: [string, number][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const releases: (() => void)[] = [];
    const w = new DiskWatcher({
      clock,
      log: silentLogger,
      intervalMs: 1000,
      measure: (dir) =>
        new Promise<number>((resolve) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          releases.push(() => {
            inFlight--;
            resolve(dir.length);
          });
        }),
      onUsage: (id, bytes) => seen.push([id, bytes]),
    });
    w.add('c1', '/a');
    w.add('c2', '/bb');
    clock.advance(1000);
    clock.advance(1000); // a second tick while the first round runs is skipped
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setImmediate(r));
      releases.shift()?.();
    }
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [['c1', 2], ['c2', 3]]);
    assert.equal(maxInFlight, 1);
    w.remove('c1');
    w.remove('c2');
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    assert.equal(releases.length, 0, 'nothing measured once nothing is watched');
    w.stop();
  });
});
