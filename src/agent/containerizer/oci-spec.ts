// The OCI runtime config (config.json) runc starts a task's container from. Pure.
//
// Namespaces: pid, mount and ipc of its own; network and UTS stay the host's ("host networking", as tasks
// without images have), so the host's /etc/hosts, /etc/hostname and /etc/resolv.conf are bound in read-only.
// The sandbox is bound read-write at /mnt/mesos/sandbox. Capabilities are Docker's default set (they only
// matter to a root process; non-root users get none). cgroups: runc joins <hierarchy>/<cgroupsRoot>/<container
// id>, the directories the cgroups isolators made (same limits), so the agent's OOM watch and /monitor
// statistics see the container; runc creates the other hierarchies' directories itself.
import { cfsQuotaUs, cpuShares, CPU_CFS_PERIOD_US, type ContainerLimits } from '../isolation/limits.ts';
import type { RuntimeUser } from '../images/image-config.ts';
import { CONTAINER_SANDBOX } from './command.ts';
import type { OciMount } from './rootfs.ts';

export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export interface SpecInput {
  args: string[];
  env: string[];
  cwd: string;
  user: RuntimeUser;
  /** Host path of the task's sandbox. */
  sandbox: string;
  /** e.g. /corral/<container id>. */
  cgroupsPath: string;
  limits: ContainerLimits;
  /** Host files bound read-only at the same path (those that exist on the host). */
  hostFiles: string[];
  /** The overlay runc mounts over the bundle's rootfs before anything else (rootfs.ts). */
  rootfsMount?: OciMount;
}

export function runtimeSpec(i: SpecInput): Record<string, unknown> {
  const caps = i.user.uid === 0 ? DEFAULT_CAPABILITIES : [];
  const l = i.limits;
  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  if (l.memBytes !== undefined) resources.memory = { limit: l.memBytes };
  if (l.cpus !== undefined) resources.cpu = { shares: cpuShares(l.cpus), ...(l.cfs ? { quota: cfsQuotaUs(l.cpus), period: CPU_CFS_PERIOD_US } : {}) };
  if (l.pidsMax !== undefined) resources.pids = { limit: l.pidsMax };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: i.user.uid, gid: i.user.gid, ...(i.user.additionalGids?.length ? { additionalGids: i.user.additionalGids } : {}) },
      args: i.args,
      env: i.env,
      cwd: i.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    mounts: [
      ...(i.rootfsMount ? [i.rootfsMount] : []),
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: CONTAINER_SANDBOX, type: 'bind', source: i.sandbox, options: ['rbind', 'rw'] },
      ...i.hostFiles.map((f) => ({ destination: f, type: 'bind', source: f, options: ['rbind', 'ro'] })),
    ],
    linux: {
      cgroupsPath: i.cgroupsPath,
      resources,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
