// Real etcd processes for tests: single members or 3-member clusters on free 127.0.0.1 ports, each
// member with its own data dir in a temporary directory, and handles to stop, kill, restart, pause and
// resume them. The processes are run by the product's supervisor (src/coordination/etcd-server.ts);
// this file adds temporary directories and their cleanup.
//
//   const etcd = await startEtcd({ members: 3 });
//   const store = await openStore(etcd.url);   // etcd://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
//   await etcd.members[0]!.kill();
//   await etcd.stop();
//
// Every process started here is SIGKILLed, and its data removed, when the test process exits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdServer, waitEtcdHealthy, type EtcdMemberProcess } from '../../src/coordination/etcd-server.ts';

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

export interface EtcdCluster {
  /** etcd://127.0.0.1:p1[,127.0.0.1:p2...]: the spec openStore() takes. */
  url: string;
  endpoints: string[];
  members: EtcdMember[];
  /** Kills every member (SIGKILL: a graceful stop of a whole cluster waits on leader transfers) and removes the data dirs. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

/** Polls /health of these members (bounded) until each reports healthy, which needs a quorum with a leader. */
export async function waitForHealth(members: EtcdMember[], timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  // Every EtcdMember handed out here is one of the supervisor's members.
  await waitEtcdHealthy(members as EtcdMemberProcess[], timeoutMs);
}

const dirs = new Set<string>();
let exitHookInstalled = false;

/** The supervisor SIGKILLs its live members on exit; the data goes too. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

/**
 * Starts a fresh etcd cluster of 1 or 3 members and waits until every member reports healthy.
 * Throws, naming the Debian package etcd-server, when etcd is not installed.
 */
export async function startEtcd(opts: { members?: 1 | 3 } = {}): Promise<EtcdCluster> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'corral-etcd-'));
  dirs.add(dir);
  const removeDir = () => {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };
  let server;
  try {
    server = await startEtcdServer({ dir, members: opts.members ?? 1, namePrefix: 'm', readyTimeoutMs: READY_TIMEOUT_MS });
  } catch (err) {
    removeDir();
    throw err;
  }
  let stopped = false;
  return {
    url: server.url,
    endpoints: server.endpoints,
    members: server.members,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.kill();
      removeDir();
    },
  };
}
