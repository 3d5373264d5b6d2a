// Runs a real etcd cluster (1 or 3 members) on one host as child processes: the coordination store of
// `corral dev --ha`, and of the tests (test/support/etcd.ts). Each member has its own data dir under
// `dir` and its own client and peer port; members can be stopped, killed, restarted on the same data
// dir and ports, paused and resumed. Nothing here is consensus: it only starts etcd and watches it.
//
//   const etcd = await startEtcdServer({ dir: '/var/tmp/x', members: 3 });
//   etcd.url                      // etcd://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 (what openStore takes)
//   await etcd.members[0]!.kill(); await etcd.members[0]!.start();
//   await etcd.stop();
//
// The layout (names, ports, cluster token) is written to <dir>/cluster.json and re-used when the same
// dir is started again: an etcd member's data remembers its peers' URLs, so a restarted cluster must
// keep its ports whatever it is asked for this time.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UnavailableError, ValidationError } from '../protocol/errors.ts';
import { withLifeline, type LifelineSignal } from '../runtime/child-lifeline.ts';
import { freePorts } from '../runtime/free-port.ts';

export const ETCD_DEBIAN_PACKAGE = 'etcd-server';

export interface EtcdServerOptions {
  /** Parent of every member's data dir (<dir>/<name>) and of cluster.json. Created if missing. */
  dir: string;
  /** 1 or 3 (default 1). */
  members?: 1 | 3;
  /** Address members listen on and advertise (default 127.0.0.1). */
  host?: string;
  /**
   * Member i (0-based) listens for clients on basePort + 2i and for peers on basePort + 2i + 1
   * (2379/2380, 2381/2382, 2383/2384 for 2379). 0 (the default): free ports.
   */
  basePort?: number;
  /** Member names are `${namePrefix}${i + 1}` (default 'etcd-'). */
  namePrefix?: string;
  /** Raft heartbeat and election timeout. Defaults 100 / 500 ms: fast failure detection on one host. */
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  /** etcd's own --log-level (default warn). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Append each member's output to <logDir>/<name>.log; without it the last 16 KB are kept in memory. */
  logDir?: string;
  /** The etcd executable (default $CORRAL_ETCD_BIN or `etcd` on PATH). */
  binary?: string;
  /** Own process group per member, so that a terminal's Ctrl-C reaches only the supervising process. */
  detached?: boolean;
  /** Have the kernel signal every member when this process dies, however it dies (setpriv --pdeathsig). */
  dieWithParent?: LifelineSignal;
  /** Bound on the wait for a healthy cluster (default 15 s). */
  readyTimeoutMs?: number;
}

/** One etcd member process: start and stop it at will, on the same data dir and ports. */
export interface EtcdMemberProcess {
  readonly name: string;
  /** Client endpoint, http://host:port. */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process's pid (undefined while stopped). */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The log file, when the cluster has a logDir. */
  readonly logFile: string | undefined;
  /** The last lines this member printed (from its log file or memory). */
  log(): string;
  /** SIGTERM (after SIGCONT: a paused process cannot act on it), SIGKILL after `timeoutMs`; resolves on exit. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same data dir and ports; waits for /health unless waitHealthy is false. */
  start(opts?: { waitHealthy?: boolean }): Promise<void>;
  /** SIGSTOP: the process holds its ports but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Called on every exit of this member's process (also the expected ones); returns the unsubscribe function. */
  onExit(listener: (exit: { pid: number; code: number | null; signal: NodeJS.Signals | null }) => void): () => void;
}

export interface EtcdServer {
  /** etcd://host:p1[,host:p2...]: the spec openStore() and `--store`/`--master` take. */
  readonly url: string;
  readonly endpoints: string[];
  readonly members: EtcdMemberProcess[];
  /** Stops every member (SIGTERM, SIGKILL after `timeoutMs`). Idempotent; members cannot be started again. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILLs every member (etcd is crash-safe; a graceful stop of a whole cluster waits on leader transfers). */
  kill(): Promise<void>;
}

const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;
const MEMORY_LOG_BYTES = 16_000;

const ClusterLayout = z.object({
  token: z.string().min(1),
  host: z.string().min(1),
  members: z.array(z.object({ name: z.string().min(1), client: z.number().int().min(1).max(65535), peer: z.number().int().min(1).max(65535) })).min(1),
});
type ClusterLayout = z.infer<typeof ClusterLayout>;

// Every member process this module started and that still runs: SIGKILLed if this process exits with
// them still up (an uncaught exception, process.exit), so that no etcd outlives its owner.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

const checkedBinaries = new Set<string>();

/** The etcd executable this process uses: $CORRAL_ETCD_BIN, else `etcd` on PATH. */
export function etcdBinary(): string {
  return process.env.CORRAL_ETCD_BIN || 'etcd';
}

/** Throws UnavailableError, naming the Debian package, unless `binary --version` runs. */
export function ensureEtcdInstalled(binary = etcdBinary()): void {
  if (checkedBinaries.has(binary)) return;
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) {
    throw new UnavailableError(
      `etcd is not installed (or '${binary}' is not on PATH): install the Debian package '${ETCD_DEBIAN_PACKAGE}' (apt-get install -y etcd-server etcd-client, or run scripts/install-deps.sh as root), or set CORRAL_ETCD_BIN`,
      { binary, package: ETCD_DEBIAN_PACKAGE },
    );
  }
  checkedBinaries.add(binary);
}

/** Whether the member at `endpoint` says it is healthy (which needs a quorum with a leader). */
export async function etcdHealthy(endpoint: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { health?: unknown };
    return res.ok && (body.health === 'true' || body.health === true);
  } catch {
    return false;
  }
}

/** Polls /health of these members (every 50 ms, bounded) until each reports healthy; throws with the member's log otherwise. */
export async function waitEtcdHealthy(members: readonly EtcdMemberProcess[], timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(members);
  while (pending.size > 0) {
    for (const m of [...pending]) {
      if (!m.running) throw new UnavailableError(`etcd member ${m.name} exited while starting${logHint(m)}`, { member: m.name });
      if (await etcdHealthy(m.endpoint)) pending.delete(m);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const m = [...pending][0]!;
      throw new UnavailableError(`etcd member ${m.name} (${m.endpoint}) not healthy within ${timeoutMs} ms${logHint(m)}`, { member: m.name });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function logHint(m: EtcdMemberProcess): string {
  const tail = m.log().trim();
  return `${m.logFile ? ` (log: ${m.logFile})` : ''}${tail ? `:\n${tail}` : ''}`;
}

function tailOfFile(file: string, bytes: number): string {
  let fd: number | undefined;
  try {
    const size = statSync(file).size;
    const len = Math.min(size, bytes);
    const buf = Buffer.alloc(len);
    fd = openSync(file, 'r');
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

class Member implements EtcdMemberProcess {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private memoryLog = '';
  private readonly listeners = new Set<(exit: { pid: number; code: number | null; signal: NodeJS.Signals | null }) => void>();
  /** Set once the cluster is stopped: a straggler must not bring a member back to life. */
  retired = false;

  constructor(
    readonly name: string,
    readonly endpoint: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly logFile: string | undefined,
    private readonly binary: string,
    private readonly args: string[],
    private readonly spawnOpts: { detached: boolean; dieWithParent?: LifelineSignal },
  ) {}

  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.pid !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  log(): string {
    return (this.logFile ? tailOfFile(this.logFile, 4000) : this.memoryLog).slice(-4000);
  }

  onExit(listener: (exit: { pid: number; code: number | null; signal: NodeJS.Signals | null }) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  spawn(): void {
    if (this.retired) throw new UnavailableError(`etcd member ${this.name} belongs to a stopped cluster`);
    if (this.running) throw new UnavailableError(`etcd member ${this.name} is already running`);
    const cmd = this.spawnOpts.dieWithParent ? withLifeline(this.binary, this.args, this.spawnOpts.dieWithParent) : { command: this.binary, args: this.args };
    let fd: number | undefined;
    if (this.logFile) {
      fd = openSync(this.logFile, 'a');
      writeFileSync(fd, `--- ${new Date().toISOString()} starting etcd member ${this.name}\n`);
    }
    let p: ChildProcess;
    try {
      p = spawn(cmd.command, cmd.args, { stdio: ['ignore', fd ?? 'ignore', fd ?? 'pipe'], detached: this.spawnOpts.detached });
    } finally {
      if (fd !== undefined) closeSync(fd); // the child has its own copy
    }
    this.proc = p;
    installExitHook();
    live.add(p);
    p.stderr?.on('data', (d: Buffer) => {
      this.memoryLog = (this.memoryLog + d.toString('utf8')).slice(-MEMORY_LOG_BYTES);
    });
    this.exited = new Promise((resolve) => {
      p.on('exit', (code, signal) => {
        live.delete(p);
        resolve();
        for (const l of [...this.listeners]) l({ pid: p.pid ?? 0, code, signal });
      });
      p.on('error', (err) => {
        live.delete(p);
        this.memoryLog += `\nspawn failed: ${err.message}`;
        resolve();
      });
    });
  }

  async start(opts: { waitHealthy?: boolean } = {}): Promise<void> {
    this.spawn();
    if (opts.waitHealthy !== false) await waitEtcdHealthy([this], DEFAULT_READY_TIMEOUT_MS);
  }

  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    if (!this.running) return;
    const p = this.proc!;
    p.kill('SIGCONT');
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.proc!.kill('SIGKILL');
    await this.exited;
  }

  pause(): void {
    if (this.running) this.proc!.kill('SIGSTOP');
  }

  resume(): void {
    if (this.running) this.proc!.kill('SIGCONT');
  }
}

/** The layout stored in `dir` if any (and it matches the member count), else a fresh one. */
async function layoutOf(opts: EtcdServerOptions, n: number, host: string): Promise<ClusterLayout> {
  const file = join(opts.dir, 'cluster.json');
  if (existsSync(file)) {
    let stored: ClusterLayout;
    try {
      stored = ClusterLayout.parse(JSON.parse(readFileSync(file, 'utf8')));
    } catch (e) {
      throw new ValidationError(`${file} is not an etcd cluster layout (${(e as Error).message}); remove the directory to start afresh`, 'dir');
    }
    if (stored.members.length !== n)
      throw new ValidationError(`${opts.dir} holds a ${stored.members.length}-member etcd cluster, not ${n}: remove it to start afresh`, 'dir');
    return stored;
  }
  const base = opts.basePort ?? 0;
  if (base !== 0 && (base < 1 || base + 2 * n - 1 > 65535)) throw new ValidationError(`no room for ${2 * n} ports from ${base}`, 'basePort');
  const ports = base === 0 ? await freePorts(2 * n, host) : Array.from({ length: 2 * n }, (_, i) => base + i);
  const prefix = opts.namePrefix ?? 'etcd-';
  return {
    token: `corral-${randomUUID()}`,
    host,
    members: Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i + 1}`, client: ports[2 * i]!, peer: ports[2 * i + 1]! })),
  };
}

/**
 * Starts an etcd cluster of 1 or 3 members (or restarts the one `dir` holds) and waits until every
 * member reports healthy. Throws UnavailableError naming the Debian package etcd-server when etcd
 * is not installed, and with the member's log when it does not come up.
 */
export async function startEtcdServer(opts: EtcdServerOptions): Promise<EtcdServer> {
  const binary = opts.binary ?? etcdBinary();
  ensureEtcdInstalled(binary);
  const n = opts.members ?? 1;
  if (n !== 1 && n !== 3) throw new ValidationError(`an etcd cluster here has 1 or 3 members, not ${String(n)}`, 'members');
  mkdirSync(opts.dir, { recursive: true });
  if (opts.logDir) mkdirSync(opts.logDir, { recursive: true });
  const layout = await layoutOf(opts, n, opts.host ?? '127.0.0.1');
  const tmp = join(opts.dir, `cluster.json.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(layout, null, 2) + '\n');
  renameSync(tmp, join(opts.dir, 'cluster.json'));

  const url = (port: number) => `http://${layout.host}:${port}`;
  const initialCluster = layout.members.map((m) => `${m.name}=${url(m.peer)}`).join(',');
  const members = layout.members.map((m) => {
    const endpoint = url(m.client);
    const peerUrl = url(m.peer);
    const dataDir = join(opts.dir, m.name);
    const args = [
      '--name', m.name,
      '--data-dir', dataDir,
      '--listen-client-urls', endpoint,
      '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', layout.token,
      // Ignored by etcd once the data dir holds a member: a restart re-joins the same cluster.
      '--initial-cluster-state', 'new',
      // Fast failure detection on one host; also lowers etcd's minimum lease TTL (to about 1 s here).
      '--heartbeat-interval', String(opts.heartbeatIntervalMs ?? 100),
      '--election-timeout', String(opts.electionTimeoutMs ?? 500),
      // etcd 3.5's default (3.4 needs the flag): a member back from a partition does not force an etcd
      // election, which would leave every lease unrenewed for about an election timeout.
      '--pre-vote',
      // Values may be 1.5 MiB (the Store's limit); etcd's default caps the whole request at that.
      '--max-request-bytes', String(8 * 1024 * 1024),
      '--logger', 'zap',
      '--log-level', opts.logLevel ?? 'warn',
    ];
    const logFile = opts.logDir ? join(opts.logDir, `${m.name}.log`) : undefined;
    return new Member(m.name, endpoint, peerUrl, dataDir, logFile, binary, args, {
      detached: opts.detached ?? false,
      ...(opts.dieWithParent ? { dieWithParent: opts.dieWithParent } : {}),
    });
  });

  const retire = () => {
    for (const m of members) m.retired = true;
  };
  const server: EtcdServer = {
    url: `etcd://${members.map((m) => m.endpoint.slice('http://'.length)).join(',')}`,
    endpoints: members.map((m) => m.endpoint),
    members,
    async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
      retire();
      // One at a time: a stopping leader hands leadership to a live peer at once, whereas members
      // stopped together leave it waiting for a transfer that cannot happen (seconds).
      for (const m of members) await m.stop(timeoutMs);
    },
    async kill() {
      retire();
      await Promise.all(members.map((m) => m.kill()));
    },
  };
  try {
    for (const m of members) m.spawn();
    await waitEtcdHealthy(members, opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  } catch (err) {
    await server.kill();
    throw err;
  }
  return server;
}
