// Real etcd processes for tests: single members or 3-member clusters on free 127.0.0.1 ports, each
// member with its own temporary data dir, and handles to stop, kill, restart, pause and resume them.
//
//   const etcd = await startEtcd({ members: 3 });
//   const store = await openStore(etcd.url);   // etcd://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
//   await etcd.members[0]!.kill();
//   await etcd.stop();
//
// Every process started here is SIGKILLed, and its data removed, when the test process exits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdMember {
  readonly name: string;
  /** Client endpoint, http://127.0.0.1:port. */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process's pid (undefined while stopped). */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM, then waits (bounded) for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same data dir and ports; waits for /health unless waitHealthy is false. */
  start(opts?: { waitHealthy?: boolean }): Promise<void>;
  /** SIGSTOP: the process holds its ports but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

/** Polls /health of these members (bounded) until each reports healthy, which needs a quorum with a leader. */
export async function waitForHealth(members: EtcdMember[], timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  await waitHealthy(members as Member[], timeoutMs);
}

export interface EtcdCluster {
  /** etcd://127.0.0.1:p1[,127.0.0.1:p2...]: the spec openStore() takes. */
  url: string;
  endpoints: string[];
  members: EtcdMember[];
  /** Kills every member (SIGKILL: a graceful stop of a whole cluster waits on leader transfers) and removes the data dirs. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
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
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

let etcdChecked = false;
function ensureEtcdInstalled(): void {
  if (etcdChecked) return;
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      "etcd is not installed (or not on PATH): install the Debian package 'etcd-server' (apt-get install -y etcd-server etcd-client, or run scripts/install-deps.sh as root)",
    );
  }
  etcdChecked = true;
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: unknown };
    return res.ok && (body.health === 'true' || body.health === true);
  } catch {
    return false;
  }
}

async function waitHealthy(members: Member[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(members);
  while (pending.size > 0) {
    for (const m of [...pending]) {
      if (!m.running) throw new Error(`etcd member ${m.name} exited while starting:\n${m.log()}`);
      if (await healthy(m.endpoint)) pending.delete(m);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const m = [...pending][0]!;
      throw new Error(`etcd member ${m.name} (${m.endpoint}) not healthy within ${timeoutMs} ms:\n${m.log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

class Member implements EtcdMember {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderrTail = '';

  constructor(
    readonly name: string,
    readonly endpoint: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    private readonly args: string[],
  ) {}

  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  log(): string {
    return this.stderrTail.slice(-4000);
  }

  spawn(): void {
    if (this.running) throw new Error(`etcd member ${this.name} is already running`);
    const p = spawn('etcd', this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    live.add(p);
    p.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-16_000);
    });
    this.exited = new Promise((resolve) => {
      p.on('exit', () => {
        live.delete(p);
        resolve();
      });
      p.on('error', (err) => {
        live.delete(p);
        this.stderrTail += `\nspawn failed: ${err.message}`;
        resolve();
      });
    });
  }

  /** Set once the cluster is stopped: a straggling test must not bring a member back to life. */
  retired = false;

  async start(opts: { waitHealthy?: boolean } = {}): Promise<void> {
    if (this.retired) throw new Error(`etcd member ${this.name} belongs to a stopped cluster`);
    this.spawn();
    if (opts.waitHealthy !== false) await waitHealthy([this], READY_TIMEOUT_MS);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc!.kill('SIGCONT'); // a paused process cannot act on SIGTERM
    this.proc!.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), STOP_TIMEOUT_MS);
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

/**
 * Starts a fresh etcd cluster of 1 or 3 members and waits until every member reports healthy.
 * Throws, naming the Debian package etcd-server, when etcd is not installed.
 */
export async function startEtcd(opts: { members?: 1 | 3 } = {}): Promise<EtcdCluster> {
  ensureEtcdInstalled();
  installExitHook();
  const n = opts.members ?? 1;
  const token = `corral-test-${randomUUID()}`;
  const specs: { name: string; client: number; peer: number; dir: string }[] = [];
  const ports = new Set<number>();
  while (ports.size < 2 * n) ports.add(await freePort());
  const [...free] = ports;
  for (let i = 0; i < n; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'corral-etcd-'));
    dirs.add(dir);
    specs.push({ name: `m${i}`, client: free[2 * i]!, peer: free[2 * i + 1]!, dir });
  }
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const members = specs.map((s) => {
    const endpoint = `http://127.0.0.1:${s.client}`;
    const peerUrl = `http://127.0.0.1:${s.peer}`;
    const args = [
      '--name', s.name,
      '--data-dir', join(s.dir, 'data'),
      '--listen-client-urls', endpoint,
      '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', token,
      '--initial-cluster-state', 'new',
      // Fast failure detection on loopback; also lowers the minimum lease TTL to 1 s.
      '--heartbeat-interval', '100',
      '--election-timeout', '500',
      // Values may be 1.5 MiB (the Store's limit); etcd's default caps the whole request at that.
      '--max-request-bytes', String(8 * 1024 * 1024),
      '--logger', 'zap',
      '--log-level', 'warn',
    ];
    return new Member(s.name, endpoint, peerUrl, s.dir, args);
  });
  for (const m of members) m.spawn();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const m of members) m.retired = true;
    await Promise.all(members.map((m) => m.kill()));
    for (const s of specs) {
      rmSync(s.dir, { recursive: true, force: true });
      dirs.delete(s.dir);
    }
  };
  try {
    await waitHealthy(members, READY_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw err;
  }
  const endpoints = members.map((m) => m.endpoint);
  return {
    url: `etcd://${endpoints.map((e) => e.slice('http://'.length)).join(',')}`,
    endpoints,
    members,
    stop,
  };
}
