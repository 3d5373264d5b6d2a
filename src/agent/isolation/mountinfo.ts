// Which cgroup hierarchy this machine uses, from /proc/self/mountinfo. Pure: the caller reads the files.
//
// v1 (and "hybrid", as on Debian 11/12 hosts booted with systemd's legacy layout): one `cgroup` mount per
// controller (or per group of co-mounted controllers, e.g. "cpu,cpuacct"); a `cgroup2` mount may also
// exist but carries no useful controller. v2: one `cgroup2` mount whose cgroup.controllers lists them.
// A controller bound to a v1 hierarchy cannot be used from v2, so v1 mounts win when both exist.

export type Controller = 'cpu' | 'cpuacct' | 'memory' | 'pids';
export const CONTROLLERS: readonly Controller[] = ['cpu', 'cpuacct', 'memory', 'pids'];

export interface MountEntry {
  /** The path inside the hierarchy that is mounted (not "/" inside a container with a cgroup namespace). */
  root: string;
  mountPoint: string;
  fsType: string;
  /** Per-superblock options: for a v1 cgroup mount, the controllers it carries (plus rw, name=…, …). */
  superOptions: string[];
}

export type CgroupLayout =
  | { version: 1; mounts: Partial<Record<Controller, string>> }
  | { version: 2; mount: string; controllers: Controller[] };

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * Parses /proc/<pid>/mountinfo: `id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions`.
 * Malformed lines are skipped.
 */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 4) continue;
    out.push({
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      fsType: fields[dash + 1]!,
      superOptions: fields[dash + 3]!.split(','),
    });
  }
  return out;
}

/**
 * The layout to use, or undefined when no cgroup hierarchy carries cpu, memory or pids.
 * `controllersOf(mountPoint)` returns the content of a cgroup2 mount's cgroup.controllers (undefined if unreadable).
 */
export function detectCgroupLayout(mounts: MountEntry[], controllersOf: (mountPoint: string) => string | undefined): CgroupLayout | undefined {
  const v1: Partial<Record<Controller, string>> = {};
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    for (const c of CONTROLLERS) if (m.superOptions.includes(c)) v1[c] ??= m.mountPoint;
  }
  if (v1.cpu || v1.memory || v1.pids) return { version: 1, mounts: v1 };
  // Prefer the conventional mount point when a cgroup2 hierarchy is mounted more than once.
  const v2 = mounts.filter((m) => m.fsType === 'cgroup2').sort((a, b) => Number(b.mountPoint === '/sys/fs/cgroup') - Number(a.mountPoint === '/sys/fs/cgroup'));
  for (const m of v2) {
    const available = (controllersOf(m.mountPoint) ?? '').trim().split(/\s+/);
    // v2 has no separate cpuacct: cpu.stat carries the usage.
    const controllers = CONTROLLERS.filter((c) => c !== 'cpuacct' && available.includes(c));
    if (controllers.length) return { version: 2, mount: m.mountPoint, controllers };
  }
  return undefined;
}

/** Controllers the layout offers (v2's cpu counts as cpuacct too). */
export function availableControllers(layout: CgroupLayout): Set<Controller> {
  if (layout.version === 1) return new Set(CONTROLLERS.filter((c) => layout.mounts[c] !== undefined));
  const out = new Set<Controller>(layout.controllers);
  if (out.has('cpu')) out.add('cpuacct');
  return out;
}
