// The fault lab: N+1 "hosts" (network namespaces) on one Linux bridge that lives in its own harness
// namespace, so nothing of the lab is connected to the machine's own network: no default route, no NAT,
// no veth into the root namespace. h0 runs the master (and the orchestrator), h1..hN run agents; every
// program is a real process started with `ip netns exec`. The lab can kill a process, crash a host (kill
// every process of its namespace at once), partition a host from the bridge and heal it, make its link
// lossy (nftables, in the bridge namespace), and add latency with tc netem where the kernel has it.
//
// The test process itself stays in the root namespace; it observes the cluster through `forward()`: a
// gateway process inside h0 relays connections arriving on a Unix socket (the file system is shared) to
// lab addresses, and the test listens on 127.0.0.1 for each forwarded address (like kubectl port-forward).
//
// Cleanup: destroy() kills everything and deletes every namespace; it is idempotent, runs from test
// `after` hooks, and is also registered on process exit and SIGINT/SIGTERM. A lab whose owner died
// anyway (SIGKILL) is swept by the next createLab(). Names carry a random id so parallel labs never meet.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CORRAL_BIN, REPO_ROOT } from '../support/cluster.ts';
import {
  LAB_PREFIX,
  LabUnsupportedError,
  ip,
  isAlive,
  killNamespace,
  labPreflight,
  labStateDir,
  namespacePids,
  lossRuleset,
  netemSupported,
  nftUnsupportedReason,
  run,
  sweepStaleLabs,
  teardownLab,
  writeLabRecord,
  type LabRecord,
} from './netns.ts';
import { LabProcess } from './proc.ts';

export { LabUnsupportedError, labPreflight, netemSupported, nftUnsupportedReason };
export type { LabProcess };

const GATEWAY = path.join(REPO_ROOT, 'test', 'harness', 'gateway.mjs');

export interface LabHost {
  index: number;
  /** Namespace name, e.g. crl-1a2b3c-h2. */
  ns: string;
  /** IPv4 address of the host on the lab bridge. */
  address: string;
  /** The host's veth peer inside the bridge namespace (what partition() cuts). */
  bridgePort: string;
  /** A directory for this host's data (work dirs, stores); removed with the lab. */
  dir: string;
  /** Current fault on its link. */
  link: 'up' | 'partitioned';
  netem?: { delayMs?: number; lossPct?: number };
  /** Random loss on its link (percent, each direction), set by loss(). */
  loss?: number;
}

export interface LabOptions {
  /** Agent hosts (h1..hN); h0 is added for the master. */
  hosts: number;
  /** Leave the lab up when this process exits (scripts/lab up). Default false. */
  persistent?: boolean;
  /** Extra environment for every process spawned. */
  env?: Record<string, string>;
  /** Mirror every process's output into files under this directory (kept after destroy). Default: $CORRAL_LAB_LOGS. */
  logDir?: string;
}

export interface SpawnOptions {
  /** Name for messages and log files. Default: the corral subcommand and host. */
  name?: string;
  env?: Record<string, string>;
  /** Wait for a `--json` line matching this (default: {"event":"ready"}); false: do not wait. */
  ready?: ((o: any) => boolean) | false;
  readyTimeoutMs?: number;
  /** Run this argv instead of `node bin/corral.js …args`. */
  command?: string[];
}

export interface PartitionOptions {
  /**
   * 'blackhole' (default): the host's bridge port leaves the bridge; its link stays up, packets vanish
   * both ways (a cut further along the network: connections hang until their timeouts).
   * 'down': the bridge side of its veth goes down; the host sees NO-CARRIER.
   */
  mode?: 'blackhole' | 'down';
}

const labs = new Set<Lab>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const lab of [...labs]) lab.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const lab of [...labs]) lab.destroySync();
      process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129);
    });
  }
}

export class Lab {
  readonly id: string;
  readonly subnet: string;
  readonly bridgeNs: string;
  readonly stateDir: string;
  readonly hosts: LabHost[];
  readonly processes: LabProcess[] = [];
  private readonly forwards = new Map<string, { server: net.Server; url: string }>();
  private gateway?: LabProcess;
  private gatewaySocket: string;
  private destroyed = false;

  private constructor(
    private readonly record: LabRecord,
    private readonly opts: LabOptions,
  ) {
    this.id = record.id;
    this.subnet = record.subnet;
    this.bridgeNs = record.bridgeNs;
    this.stateDir = record.stateDir;
    this.hosts = record.hosts.map((h) => ({ ...h, dir: path.join(record.stateDir, `h${h.index}`), link: 'up' }));
    this.gatewaySocket = path.join(record.stateDir, 'gw.sock');
  }

  /** Builds the network and starts the gateway in h0. Throws LabUnsupportedError when the machine cannot. */
  static async create(opts: LabOptions): Promise<Lab> {
    const why = labPreflight();
    if (why) throw new LabUnsupportedError(why);
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 200) throw new Error(`hosts must be 1…200, got ${opts.hosts}`);
    sweepStaleLabs();
    const id = crypto.randomBytes(3).toString('hex');
    const octet = 1 + (parseInt(id, 16) % 250);
    const subnet = `10.254.${octet}.0/24`;
    const stateDir = labStateDir(id);
    const record: LabRecord = {
      id,
      ownerPid: opts.persistent ? null : process.pid,
      createdAt: new Date().toISOString(),
      bridgeNs: `${LAB_PREFIX}${id}-br`,
      hosts: Array.from({ length: opts.hosts + 1 }, (_, i) => ({
        index: i,
        ns: `${LAB_PREFIX}${id}-h${i}`,
        address: `10.254.${octet}.${i + 1}`,
        bridgePort: `h${i}`,
      })),
      subnet,
      stateDir,
    };
    // The record first: a crash from here on leaves something the sweeper can attribute.
    writeLabRecord(record);
    const lab = new Lab(record, opts);
    labs.add(lab);
    if (!opts.persistent) installExitHandlers();
    try {
      lab.build();
      // A persistent lab (scripts/lab) is used from inside its namespaces (`scripts/lab exec`); a gateway
      // tied to this short-lived process would die with it.
      if (!opts.persistent) await lab.startGateway();
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  /** Re-opens a lab created by another process (scripts/lab), by id. */
  static attach(record: LabRecord): Lab {
    const lab = new Lab(record, { hosts: record.hosts.length - 1, persistent: true });
    return lab;
  }

  private build(): void {
    const br = this.bridgeNs;
    ip('netns', 'add', br);
    ip('-n', br, 'link', 'set', 'lo', 'up');
    ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
    ip('-n', br, 'link', 'set', 'br0', 'up');
    for (const h of this.hosts) {
      fs.mkdirSync(h.dir, { recursive: true });
      ip('netns', 'add', h.ns);
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
      // Created inside the namespaces directly: nothing ever appears in the root namespace.
      ip('-n', br, 'link', 'add', h.bridgePort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      ip('-n', br, 'link', 'set', h.bridgePort, 'master', 'br0');
      ip('-n', br, 'link', 'set', h.bridgePort, 'up');
      ip('-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
      ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
    }
  }

  private async startGateway(): Promise<void> {
    this.gateway = this.spawnRaw(0, 'gateway', [process.execPath, GATEWAY, this.gatewaySocket], {});
    await this.gateway.waitForJson((o) => o.event === 'ready', 15_000, 'the lab gateway to listen');
  }

  // ------------------------------------------------------------------ processes

  private spawnRaw(host: number, name: string, argv: string[], env: Record<string, string>): LabProcess {
    this.assertLive();
    const h = this.host(host);
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      CORRAL_LOG_LEVEL: process.env.CORRAL_LAB_LOG ?? 'warn',
      ...this.opts.env,
      ...env,
    };
    delete childEnv.NODE_TEST_CONTEXT; // the child is not part of this test run
    const logDir = this.opts.logDir ?? process.env.CORRAL_LAB_LOGS;
    let logFile: string | undefined;
    if (logDir) {
      fs.mkdirSync(logDir, { recursive: true });
      logFile = path.join(logDir, `${this.id}-h${host}-${name}.log`);
    }
    const p = new LabProcess({ ns: h.ns, host, name, argv, cwd: REPO_ROOT, env: childEnv, logFile });
    this.processes.push(p);
    return p;
  }

  /**
   * Runs `node bin/corral.js ARGS` (or opts.command) on host `host` in its own process group, and (unless
   * ready: false) waits for its `--json` ready line.
   */
  async spawn(host: number, args: string[], opts: SpawnOptions = {}): Promise<LabProcess> {
    const argv = opts.command ?? [process.execPath, CORRAL_BIN, ...args];
    const name = opts.name ?? `${args[0] ?? path.basename(argv[0]!)}@h${host}`;
    const p = this.spawnRaw(host, name, argv, opts.env ?? {});
    if (opts.ready !== false) {
      const match = opts.ready ?? ((o: any) => o.event === 'ready');
      try {
        await p.waitForJson(match, opts.readyTimeoutMs ?? 30_000, `${name} to be ready`);
      } catch (e) {
        p.signalGroup('SIGKILL');
        throw e;
      }
    }
    return p;
  }

  /** Signals a process's group (SIGKILL by default) and waits until it is gone. */
  async killProcess(proc: LabProcess, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<void> {
    proc.signalGroup(signal);
    if (!(await proc.waitExit(timeoutMs))) throw new Error(`${proc.name} did not exit within ${timeoutMs} ms of ${signal}\n${proc.describe()}`);
  }

  /** Every pid in host i's namespace (agents, orchestrator, tasks, …). */
  pids(i: number): number[] {
    return namespacePids(this.host(i).ns).filter(isAlive);
  }

  /**
   * "The machine dies": SIGKILL to every process in host i's namespace at once (tasks included), then
   * waits for the ones this lab spawned to be reaped. Returns the pids killed.
   */
  async crashHost(i: number, timeoutMs = 10_000): Promise<number[]> {
    const h = this.host(i);
    const pids = namespacePids(h.ns);
    // One kill(2) per pid, back to back, before anything can react; then re-list for stragglers.
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const killed = [...new Set([...pids, ...killNamespace(h.ns)])];
    const mine = this.processes.filter((p) => p.ns === h.ns && p.running);
    const ok = await Promise.all(mine.map((p) => p.waitExit(timeoutMs)));
    if (ok.includes(false)) throw new Error(`processes on h${i} survived the crash: ${mine.filter((p) => p.running).map((p) => p.name)}`);
    return killed;
  }

  // ------------------------------------------------------------------ network faults

  /** Cuts host i off the bridge (see PartitionOptions). h0 can be partitioned too, but then forward() breaks. */
  partition(i: number, opts: PartitionOptions = {}): void {
    const h = this.host(i);
    if ((opts.mode ?? 'blackhole') === 'blackhole') ip('-n', this.bridgeNs, 'link', 'set', h.bridgePort, 'nomaster');
    else ip('-n', this.bridgeNs, 'link', 'set', h.bridgePort, 'down');
    h.link = 'partitioned';
  }

  /** Undoes partition(), loss() and netem() on host i's link. */
  heal(i: number): void {
    const h = this.host(i);
    ip('-n', this.bridgeNs, 'link', 'set', h.bridgePort, 'up');
    ip('-n', this.bridgeNs, 'link', 'set', h.bridgePort, 'master', 'br0');
    h.link = 'up';
    // Unconditionally: a lab attached by scripts/lab does not know what an earlier command set. A missing
    // table (or a missing nft) is the normal case and fails harmlessly.
    run('ip', ['netns', 'exec', this.bridgeNs, 'nft', 'delete', 'table', 'bridge', this.lossTable(h)]);
    h.loss = undefined;
    if (h.netem || (this.opts.persistent && netemSupported())) {
      run('ip', ['netns', 'exec', h.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
      run('ip', ['netns', 'exec', this.bridgeNs, 'tc', 'qdisc', 'del', 'dev', h.bridgePort, 'root']);
      h.netem = undefined;
    }
  }

  /**
   * Random loss of `pct` % of host i's frames in each direction (0 removes it; heal(i) too). The drop
   * happens in the bridge namespace, on the host's bridge port, so it is loss *on the wire*: neither end
   * notices a drop (a drop rule in the host's own output hook would hand EPERM to its UDP senders, and
   * would have to spare its loopback traffic). Throws LabUnsupportedError without nftables.
   */
  loss(i: number, pct: number): void {
    const h = this.host(i);
    if (!(Number.isFinite(pct) && pct >= 0 && pct <= 100)) throw new Error(`loss: a percentage 0…100, got ${pct}`);
    const why = nftUnsupportedReason();
    if (why) throw new LabUnsupportedError(why);
    if (pct === 0) {
      run('ip', ['netns', 'exec', this.bridgeNs, 'nft', 'delete', 'table', 'bridge', this.lossTable(h)]);
      h.loss = undefined;
      return;
    }
    ip('netns', 'exec', this.bridgeNs, 'nft', lossRuleset(this.lossTable(h), h.bridgePort, pct));
    h.loss = pct;
  }

  private lossTable(h: LabHost): string {
    return `crl_loss_${h.bridgePort}`;
  }

  /**
   * Adds latency and/or loss to host i's link, both directions (tc netem on each end of its veth);
   * heal(i) removes it. Where the kernel has no netem qdisc (sch_netem), loss alone falls back to
   * loss() (nftables) and latency throws LabUnsupportedError.
   */
  netem(i: number, o: { delayMs?: number; lossPct?: number }): void {
    const h = this.host(i);
    if (!netemSupported()) {
      if (o.delayMs)
        throw new LabUnsupportedError(
          'tc netem is not available: this kernel has no netem qdisc (sch_netem is neither built in nor loadable), so latency cannot be emulated here; packet loss alone can (lab.loss, nftables)',
        );
      if (o.lossPct) return this.loss(i, o.lossPct);
      throw new Error('netem: give delayMs and/or lossPct');
    }
    const spec = [...(o.delayMs ? ['delay', `${o.delayMs}ms`] : []), ...(o.lossPct ? ['loss', `${o.lossPct}%`] : [])];
    if (spec.length === 0) throw new Error('netem: give delayMs and/or lossPct');
    ip('netns', 'exec', h.ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', ...spec);
    ip('netns', 'exec', this.bridgeNs, 'tc', 'qdisc', 'replace', 'dev', h.bridgePort, 'root', 'netem', ...spec);
    h.netem = { ...o };
  }

  // ------------------------------------------------------------------ observing from the test process

  /**
   * A URL on this process's loopback that reaches `address:port` inside the lab (through the gateway in
   * h0). Accepts `http://10.254.x.y:port[/…]` or (address, port). Cached per target.
   */
  async forward(addressOrUrl: string, port?: number): Promise<string> {
    this.assertLive();
    if (!this.gateway) throw new Error(`lab ${this.id} has no gateway (persistent labs are used through scripts/lab exec)`);
    let address = addressOrUrl;
    if (port === undefined) {
      const u = new URL(addressOrUrl);
      address = u.hostname;
      port = Number(u.port || 80);
    }
    const key = `${address}:${port}`;
    const have = this.forwards.get(key);
    if (have) return have.url;
    const sock = this.gatewaySocket;
    const server = net.createServer((client) => {
      client.setNoDelay(true);
      const up = net.connect(sock);
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
      up.on('close', () => client.destroy());
      client.on('close', () => up.destroy());
      up.write(`${address} ${port}\n`);
      client.pipe(up);
      up.pipe(client);
    });
    await listenAboveEphemeral(server);
    server.unref();
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    this.forwards.set(key, { server, url });
    return url;
  }

  /** The lab address of host i at `port`, as an http URL (what processes inside the lab use). */
  url(i: number, port: number): string {
    return `http://${this.host(i).address}:${port}`;
  }

  host(i: number): LabHost {
    const h = this.hosts[i];
    if (!h) throw new Error(`no host h${i} in lab ${this.id} (hosts h0…h${this.hosts.length - 1})`);
    return h;
  }

  // ------------------------------------------------------------------ teardown

  private assertLive(): void {
    if (this.destroyed) throw new Error(`lab ${this.id} was destroyed`);
  }

  /** Kills everything and deletes every namespace and link this lab created. Idempotent; never throws. */
  async destroy(): Promise<void> {
    this.destroySync();
    await Promise.all(this.processes.map((p) => p.waitExit(5000)));
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    labs.delete(this);
    for (const { server } of this.forwards.values()) server.close();
    this.forwards.clear();
    for (const p of this.processes) p.signalGroup('SIGKILL');
    teardownLab(this.id);
  }

  /** What a test prints when it fails: every process's state and output tail. */
  describe(tail = 3000): string {
    return [
      `lab ${this.id} (${this.subnet}): ${this.hosts.map((h) => `h${h.index}=${h.address}${h.link === 'up' ? '' : ' [partitioned]'}${h.loss ? ` [loss ${h.loss}%]` : ''}`).join(' ')}`,
      ...this.processes.filter((p) => p !== this.gateway).map((p) => p.describe(tail)),
    ].join('\n\n');
  }
}

/**
 * Listens on 127.0.0.1 at a random port in 61000-65535: above Linux's ephemeral range (32768-60999) and
 * the port ranges tests hand to agents, so a forward never takes a port another test's task wants.
 */
async function listenAboveEphemeral(server: net.Server): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const port = 61000 + Math.floor(Math.random() * 4536);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw e;
    }
  }
}

/** createLab({hosts: N}): see Lab. */
export function createLab(opts: LabOptions): Promise<Lab> {
  return Lab.create(opts);
}
