// Low-level Linux network-namespace plumbing for the fault lab: `ip`/`tc` invocations, the preflight
// check that says plainly why a lab cannot be built, and the sweep of labs whose owner died. Everything
// is synchronous (execFileSync): these are short kernel calls, and the exit/signal cleanup path must be
// able to run them where no event loop turns any more.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Every namespace and state directory of a lab starts with this. */
export const LAB_PREFIX = 'crl-';
/** Where each lab keeps lab.json (names, owner pid), its work dirs and the gateway socket. */
export const LAB_STATE_ROOT = path.join(os.tmpdir(), 'corral-lab');

/** The lab cannot be built on this machine (not root, no iproute2, kernel without network namespaces). */
export class LabUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabUnsupportedError';
  }
}

export interface RunResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws (the result says how it went). */
export function run(cmd: string, args: string[], timeoutMs = 10_000): RunResult {
  try {
    const stdout = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    return { ok: true, stdout, stderr: '' };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: err.stdout ?? '', stderr: (err.stderr || err.message || '').trim() };
  }
}

/** Runs `ip ARGS`, throwing with the command line and its stderr when it fails. */
export function ip(...args: string[]): string {
  const r = run('ip', args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** `ip netns exec NS CMD…` (throws on failure). */
export function nsExec(ns: string, cmd: string, ...args: string[]): string {
  return ip('netns', 'exec', ns, cmd, ...args);
}

export function listNamespaces(): string[] {
  const r = run('ip', ['netns', 'list']);
  if (!r.ok) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Pids of every process whose network namespace is `ns` (tasks included). */
export function namespacePids(ns: string): number[] {
  const r = run('ip', ['netns', 'pids', ns]);
  if (!r.ok) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** SIGKILLs every process in the namespace, re-listing until none is left (bounded). Returns the pids killed. */
export function killNamespace(ns: string, deadlineMs = 5000): number[] {
  const killed = new Set<number>();
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const pids = namespacePids(ns).filter((p) => p !== process.pid);
    const alive = pids.filter(isAlive);
    if (alive.length === 0) return [...killed];
    for (const p of alive) {
      try {
        process.kill(p, 'SIGKILL');
        killed.add(p);
      } catch {
        // already gone
      }
    }
    if (Date.now() > deadline) return [...killed];
    // Wait a little for the kernel to reap before re-listing (a busy-wait is fine: this is the cleanup
    // path, and it runs inside exit handlers where timers never fire).
    const until = Date.now() + 20;
    while (Date.now() < until) {
      /* spin */
    }
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

let preflightResult: string | null | undefined;

/**
 * Why a lab cannot be built here, or null when it can. Checked once per process: root, `ip` from
 * iproute2, and a real try at creating (and deleting) a namespace with a veth pair and a bridge.
 */
export function labPreflight(): string | null {
  if (preflightResult !== undefined) return preflightResult;
  preflightResult = computePreflight();
  return preflightResult;
}

function computePreflight(): string | null {
  if (process.platform !== 'linux') return `the fault lab needs Linux network namespaces; this is ${process.platform}`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return `the fault lab needs root to create network namespaces (running as uid ${process.getuid()}); run the fault tests as root, or set CORRAL_FAULTS=skip to skip them on purpose`;
  const v = run('ip', ['-V']);
  if (!v.ok) return `the fault lab needs the 'ip' command from iproute2 (${v.stderr}); install it: apt-get install -y iproute2 (scripts/install-deps.sh does)`;
  const probe = `${LAB_PREFIX}probe-${process.pid}`;
  try {
    const add = run('ip', ['netns', 'add', probe]);
    if (!add.ok) return `cannot create a network namespace (ip netns add: ${add.stderr}); the fault lab needs root with CAP_SYS_ADMIN and a kernel with network namespaces`;
    const br = run('ip', ['-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
    if (!br.ok) return `cannot create a Linux bridge inside a namespace (${br.stderr}); the kernel needs CONFIG_BRIDGE`;
    const veth = run('ip', ['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    if (!veth.ok) return `cannot create a veth pair inside a namespace (${veth.stderr}); the kernel needs CONFIG_VETH`;
    return null;
  } finally {
    run('ip', ['netns', 'del', probe]);
  }
}

let netemResult: boolean | undefined;

/** Does this kernel have the netem qdisc (sch_netem)? Probed once on a throwaway namespace's loopback. */
export function netemSupported(): boolean {
  if (netemResult !== undefined) return netemResult;
  const probe = `${LAB_PREFIX}netem-${process.pid}`;
  try {
    if (!run('ip', ['netns', 'add', probe]).ok) return (netemResult = false);
    netemResult = run('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']).ok;
    return netemResult;
  } finally {
    run('ip', ['netns', 'del', probe]);
  }
}

let nftResult: string | null | undefined;

/**
 * Why random packet loss cannot be emulated with nftables here, or null when it can. Probed for real (a
 * throwaway namespace gets a bridge-family table with a `numgen random` rule): the `nft` binary and the
 * kernel's nf_tables bridge family must both be there. `bin` exists for the test of the message.
 */
export function nftUnsupportedReason(bin = 'nft'): string | null {
  if (bin === 'nft' && nftResult !== undefined) return nftResult;
  const why = probeNft(bin);
  if (bin === 'nft') nftResult = why;
  return why;
}

function probeNft(bin: string): string | null {
  const v = run(bin, ['--version']);
  if (!v.ok)
    return `packet loss needs the '${bin}' command from nftables (${v.stderr}); install the Debian package nftables: apt-get install -y nftables (scripts/install-deps.sh does)`;
  const probe = `${LAB_PREFIX}nft-${process.pid}`;
  try {
    if (!run('ip', ['netns', 'add', probe]).ok) return 'packet loss needs a network namespace to probe nftables in, and none could be created';
    const r = run('ip', ['netns', 'exec', probe, bin, lossRuleset('crl_probe', 'lo', 50)]);
    return r.ok ? null : `this kernel's nf_tables cannot filter bridged packets with a random drop (${r.stderr}); packet loss cannot be emulated here`;
  } finally {
    run('ip', ['netns', 'del', probe]);
  }
}

/**
 * One nft transaction (so a loss rate is replaced atomically): (re)creates bridge-family table `table`
 * whose forward hook drops `pct` % of the frames that leave or enter the bridge through `port`. 100 % is
 * a plain drop (numgen cannot express "< 100 of mod 100"); resolution is 0.01 %.
 */
export function lossRuleset(table: string, port: string, pct: number): string {
  const cond = pct >= 100 ? '' : `numgen random mod 10000 < ${Math.round(pct * 100)} `;
  return (
    `add table bridge ${table}; delete table bridge ${table}; ` +
    `add table bridge ${table} { chain loss { type filter hook forward priority 0; policy accept; ` +
    `iifname "${port}" ${cond}drop; oifname "${port}" ${cond}drop; }; }`
  );
}

// ------------------------------------------------------------------ lab records and sweeping

export interface LabRecord {
  id: string;
  /** The process that owns the lab; when it is dead the lab is swept. null: a lab left up on purpose (scripts/lab up). */
  ownerPid: number | null;
  createdAt: string;
  bridgeNs: string;
  hosts: { index: number; ns: string; address: string; bridgePort: string }[];
  subnet: string;
  stateDir: string;
}

export function labStateDir(id: string): string {
  return path.join(LAB_STATE_ROOT, id);
}

export function readLabRecord(id: string): LabRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(labStateDir(id), 'lab.json'), 'utf8')) as LabRecord;
  } catch {
    return undefined;
  }
}

export function writeLabRecord(rec: LabRecord): void {
  fs.mkdirSync(rec.stateDir, { recursive: true });
  const file = path.join(rec.stateDir, 'lab.json');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(rec, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

/** The lab id of a namespace name (`crl-<id>-h3` → `<id>`), or undefined for names that are not ours. */
export function labIdOf(ns: string): string | undefined {
  const m = /^crl-([0-9a-f]{6})-(br|h\d+)$/.exec(ns);
  return m?.[1];
}

/** Kills the processes of, and deletes, every namespace of lab `id`; removes its state dir. Never throws. */
export function teardownLab(id: string): { namespaces: string[]; killed: number } {
  const namespaces = listNamespaces().filter((n) => labIdOf(n) === id);
  let killed = 0;
  // Hosts first (their processes), then the bridge namespace (deleting it destroys the veth peers).
  const ordered = [...namespaces.filter((n) => !n.endsWith('-br')), ...namespaces.filter((n) => n.endsWith('-br'))];
  for (const ns of ordered) killed += killNamespace(ns).length;
  for (const ns of ordered) run('ip', ['netns', 'del', ns]);
  try {
    fs.rmSync(labStateDir(id), { recursive: true, force: true });
  } catch {
    // best effort
  }
  return { namespaces: ordered, killed };
}

/**
 * Tears down labs left behind by a process that died without cleaning up (SIGKILL of a test runner):
 * namespaces named like ours whose lab.json names an owner pid that is no longer alive, or that have no
 * lab.json at all while no live lab claims them. Labs with ownerPid null (scripts/lab up) are left alone.
 */
export function sweepStaleLabs(): string[] {
  const swept: string[] = [];
  const ids = new Set(listNamespaces().map(labIdOf).filter((x): x is string => x !== undefined));
  try {
    for (const d of fs.readdirSync(LAB_STATE_ROOT)) if (/^[0-9a-f]{6}$/.test(d)) ids.add(d);
  } catch {
    // no state root yet
  }
  for (const id of ids) {
    const rec = readLabRecord(id);
    if (rec && rec.ownerPid === null) continue;
    if (rec && rec.ownerPid !== null && isAlive(rec.ownerPid)) continue;
    if (!rec) {
      // A lab.json is written before any namespace: none means a half-made or half-removed lab, unless it
      // is being written right now; give that case the benefit of the doubt for a few seconds.
      const dir = labStateDir(id);
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs < 10_000) continue;
      } catch {
        // no dir either: namespaces only
      }
    }
    teardownLab(id);
    swept.push(id);
  }
  return swept;
}
