// The HA fault lab: a Corral cluster whose control plane is replicated, every part a real process on
// its own lab host (network namespace):
//
//   h0          the lab gateway only (the test process's way in; never faulted)
//   h1 h2 h3    "control" hosts: one etcd member each (client :2379, peer :2380 on the host's lab
//               address) and one `corral master --store etcd://<all three>`; h1 and h2 also run one
//               `corral orchestrator --master etcd://… --store etcd://…` each
//   h4 …        agent hosts: `corral agent --master etcd://…` (it finds the leader itself)
//
// The test process reaches the leaders through LeaderRelays (ha-relay.ts) fed by LeaderTrackers
// (ha-leader.ts) that ask each instance, through its Lab.forward URL, whether it is elected; etcd
// through forwards of its client ports. Nothing in the root namespace connects to a lab address.
//
// Faults: SIGKILL a master (and restart it, as a supervisor would), SIGSTOP/SIGCONT it, partition a
// control host (its etcd member goes with it), SIGKILL an orchestrator (and restart it). Evidence: the
// observer framework (re-subscribing through the relay after every failover), the orchestrator's
// event stream (reconnecting), the agents' journals, master-state samples, every process's lines, and
// the etcd history. checkInvariants() runs the fault issue's checkers plus checkers/ha.ts.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createLab, LabUnsupportedError, type Lab, type LabProcess } from './lab.ts';
import { AGENT_PORT, MASTER_PORT, ORCHESTRATOR_PORT, agentPorts, tcpApp } from './cluster.ts';
import { JournalTail, StateSampler } from './evidence.ts';
import { LineLog, agentRegistrations, readStoreHistory, refusedMasters, type AgentRegistration } from './ha-evidence.ts';
import { LeaderTracker, masterElected, orchestratorElected, type TrackedInstance } from './ha-leader.ts';
import { LeaderRelay } from './ha-relay.ts';
import { getJson, parseSseFrame, poll, sendJson, type SseEvent } from './http.ts';
import { Observer } from './observer.ts';
import { jsonLines } from './proc.ts';
import {
  apiTasks,
  checkMarathonStatusEvents,
  checkNoDuplicateInstances,
  checkStatusUpdates,
  checkStoreAgreement,
  convergenceProblems,
  convergenceView,
  createOfferAudit,
  unacknowledgedUpdates,
} from './checkers/index.ts';
import {
  checkAgentTerms,
  checkElectedClaims,
  checkOffers,
  checkStoreHistory,
  snapshotTasks,
  tasksDisturbed,
  type OfferRecord,
  type SubscriptionRecord,
  type WatchedTask,
} from './checkers/ha.ts';

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const CONTROL_HOSTS = [1, 2, 3] as const;
export const ORCHESTRATOR_HOSTS = [1, 2] as const;

export interface HaEnvOptions {
  /** Agent hosts (h4 …). Default 2. */
  agents?: number;
  /** --election-ttl-ms of masters and orchestrators. Default 1000 (etcd's minimum with these etcd flags). */
  electionTtlMs?: number;
  /** Run the two HA orchestrators. Default true. */
  orchestrators?: boolean;
  /** Master → agent pings. Default 1000 ms × 3. */
  agentPingTimeoutMs?: number;
  maxAgentPingTimeouts?: number;
  /** The app run through the orchestrator (one instance per agent host). Default '/web' with `agents` instances; null: none. */
  app?: { id: string; instances: number } | null;
  /** A long observer task on each agent host. Default true. */
  observerTasks?: boolean;
}

/** One replica (a master or an orchestrator) in its slot: restarts keep the slot, its key and its lines. */
export interface Replica {
  kind: 'master' | 'orchestrator';
  host: number;
  /** Lab base URL: its identity (what followers redirect to). */
  key: string;
  local: string;
  args: string[];
  proc: LabProcess;
  lines: LineLog;
  /** Times this slot's process was started (1 = never restarted). */
  starts: number;
}

export interface HaAgent {
  host: number;
  workDir: string;
  key: string;
  local: string;
  agentId: string;
  proc: LabProcess;
  lines: LineLog;
}

/** Each agent's resources (its ports are added): what the offer audit checks offers against. */
const AGENT_RESOURCES = { cpus: 2, mem: 2048, disk: 2048 };
/** A fault's duration (the fault itself, never synchronisation). */
export const hold = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export class HaEnv {
  readonly etcd: LabProcess[] = [];
  readonly masters: Replica[] = [];
  readonly orchestrators: Replica[] = [];
  readonly agents: HaAgent[] = [];
  /** etcd://… with lab addresses (what cluster processes use) and with forwards (the test process). */
  etcdUrl = '';
  etcdLocal = '';
  masterTracker!: LeaderTracker;
  orchestratorTracker!: LeaderTracker;
  masterRelay!: LeaderRelay;
  orchestratorRelay!: LeaderRelay;
  journals!: JournalTail;
  sampler!: StateSampler;
  observer!: Observer;
  readonly events: SseEvent[] = [];
  private sse?: ResilientSse;
  /** The observer's subscriptions (master id from SUBSCRIBED) and offers, as they arrived. */
  readonly subscriptions: SubscriptionRecord[] = [];
  readonly offersSeen: OfferRecord[] = [];
  readonly resubscribeErrors: string[] = [];
  readonly observerTasks = new Map<number, string>();
  orchestratorFrameworkId?: string;
  /** The tasks every leader fault must leave alone (observer tasks and app instances), as set up. */
  watched: WatchedTask[] = [];
  /** Store revision when the setup was complete: the HA checks judge writes from here on. */
  setupRevision = 0;
  readonly ttlMs: number;
  private closed = false;
  private resubscribing?: Promise<void>;

  private constructor(
    readonly lab: Lab,
    readonly opts: HaEnvOptions,
  ) {
    this.ttlMs = opts.electionTtlMs ?? 1000;
  }

  get masterLocal(): string {
    return this.masterRelay.url;
  }
  get orchestratorLocal(): string {
    return this.orchestratorRelay.url;
  }
  get appId(): string | undefined {
    return this.opts.app === null ? undefined : (this.opts.app?.id ?? '/web');
  }
  get instances(): number {
    return this.opts.app?.instances ?? this.agentCount;
  }
  get agentCount(): number {
    return this.opts.agents ?? 2;
  }

  static async start(opts: HaEnvOptions = {}): Promise<HaEnv> {
    let lab: Lab;
    const agents = opts.agents ?? 2;
    try {
      lab = await createLab({ hosts: CONTROL_HOSTS.length + agents });
    } catch (e) {
      if (e instanceof LabUnsupportedError) throw new Error(`the fault lab cannot run on this machine: ${e.message}`);
      throw e;
    }
    const env = new HaEnv(lab, opts);
    try {
      await env.setup();
      return env;
    } catch (e) {
      env.stop();
      const text = lab.describe(2000);
      await lab.destroy();
      (e as Error).message += `\n${text}`;
      throw e;
    }
  }

  private async setup(): Promise<void> {
    const { lab } = this;
    await this.startEtcd();
    // Masters, then agents and orchestrators in parallel: agents and orchestrators wait for a leader by themselves.
    await Promise.all(CONTROL_HOSTS.map((h) => this.startReplica('master', h)));
    this.masterTracker = new LeaderTracker(() => this.masters.map(instance), masterElected);
    this.masterTracker.start();
    this.masterRelay = relayFor('masters', this.masterTracker, () => this.masters.map((m) => m.key));
    await this.masterRelay.listen();
    await this.masterTracker.waitFor(20_000);
    const agentHosts = Array.from({ length: this.agentCount }, (_, i) => CONTROL_HOSTS.length + 1 + i);
    await Promise.all([
      ...agentHosts.map((h) => this.startAgent(h)),
      ...(this.opts.orchestrators === false ? [] : ORCHESTRATOR_HOSTS.map((h) => this.startReplica('orchestrator', h))),
    ]);
    this.orchestratorTracker = new LeaderTracker(() => this.orchestrators.map(instance), orchestratorElected);
    this.orchestratorRelay = relayFor('orchestrators', this.orchestratorTracker, () => this.orchestrators.map((o) => o.key));
    await this.orchestratorRelay.listen();
    if (this.orchestrators.length) {
      this.orchestratorTracker.start();
      await this.orchestratorTracker.waitFor(20_000);
    }

    this.journals = new JournalTail(() => this.agents.map((a) => ({ host: a.host, workDir: a.workDir })));
    this.sampler = new StateSampler(this.masterLocal, this.journals);
    this.observer = new Observer(this.masterLocal, {
      audit: createOfferAudit({
        masterLocal: this.masterLocal,
        journals: this.journals,
        hostOf: (offer) => this.agents.find((a) => a.agentId === offer.agent_id.value)?.host ?? lab.hosts.find((h) => h.address === offer.hostname)?.index,
        totals: () => ({ cpus: AGENT_RESOURCES.cpus, mem: AGENT_RESOURCES.mem }),
      }),
    });
    this.observer.client.on('subscribed', (s) => this.subscriptions.push({ at: Date.now(), masterId: s.masterInfo?.id ?? '' }));
    this.observer.client.on('offers', (offers) => {
      const at = Date.now();
      for (const o of offers) this.offersSeen.push({ at, offerId: o.id.value });
    });
    this.observer.client.on('disconnected', () => this.resubscribe());
    await this.observer.subscribe();

    if (this.orchestrators.length) {
      this.sse = new ResilientSse(`${this.orchestratorLocal}/v2/events`, (ev) => this.events.push(ev));
      this.orchestratorFrameworkId = await poll(
        async () => (await this.masterState()).frameworks?.find((f: any) => f.name !== 'fault-observer')?.id,
        20_000,
        'the orchestrator to subscribe',
      );
    }
    if (this.opts.observerTasks !== false)
      await Promise.all(
        this.agents.map(async (a) => {
          const id = `obs-h${a.host}`;
          await this.observer.launch({ id, agentId: a.agentId, command: 'exec sleep 3600', cpus: 0.05, mem: 16, ports: 1 });
          await this.observer.waitForState(id, 'TASK_RUNNING', 20_000);
          this.observerTasks.set(a.host, id);
        }),
      );
    if (this.appId && this.orchestrators.length) {
      const r = await sendJson('POST', `${this.orchestratorLocal}/v2/apps`, tcpApp(this.appId, this.instances));
      if (r.status !== 201 && r.status !== 200) throw new Error(`POST /v2/apps: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      await this.waitConverged(30_000);
    }
    this.watched = this.snapshotWatched();
    this.setupRevision = await this.storeRevision();
  }

  // ------------------------------------------------------------------ processes

  private async startEtcd(): Promise<void> {
    const { lab } = this;
    const cluster = CONTROL_HOSTS.map((h) => `e${h}=http://${lab.host(h).address}:${ETCD_PEER_PORT}`).join(',');
    for (const h of CONTROL_HOSTS) {
      const addr = lab.host(h).address;
      const args = [
        'etcd',
        '--name', `e${h}`,
        '--data-dir', path.join(lab.host(h).dir, 'etcd'),
        '--listen-client-urls', `http://${addr}:${ETCD_CLIENT_PORT}`,
        '--advertise-client-urls', `http://${addr}:${ETCD_CLIENT_PORT}`,
        '--listen-peer-urls', `http://${addr}:${ETCD_PEER_PORT}`,
        '--initial-advertise-peer-urls', `http://${addr}:${ETCD_PEER_PORT}`,
        '--initial-cluster', cluster,
        '--initial-cluster-token', `corral-lab-${lab.id}`,
        '--initial-cluster-state', 'new',
        // As test/support/etcd.ts: fast failure detection on a LAN; the minimum lease TTL becomes 1 s.
        '--heartbeat-interval', '100',
        '--election-timeout', '500',
        // etcd 3.5's default (3.4 needs the flag): a member back from a partition does not force an
        // etcd election, which would leave every lease unrenewed for ~1 s (docs/operations.md).
        '--pre-vote',
        '--logger', 'zap',
        '--log-level', 'warn',
      ];
      this.etcd.push(await lab.spawn(h, [], { command: args, name: `etcd-h${h}`, ready: false }));
    }
    this.etcdUrl = `etcd://${CONTROL_HOSTS.map((h) => `${lab.host(h).address}:${ETCD_CLIENT_PORT}`).join(',')}`;
    const locals = await Promise.all(CONTROL_HOSTS.map((h) => lab.forward(lab.host(h).address, ETCD_CLIENT_PORT)));
    this.etcdLocal = `etcd://${locals.map((u) => u.slice('http://'.length)).join(',')}`;
    await Promise.all(
      locals.map((u, i) =>
        poll(
          async () => {
            if (!this.etcd[i]!.running) throw new Error(`etcd on h${CONTROL_HOSTS[i]} exited:\n${this.etcd[i]!.describe()}`);
            const body = await getJson(`${u}/health`, 1000);
            return body.health === 'true' || body.health === true;
          },
          20_000,
          `etcd on h${CONTROL_HOSTS[i]} healthy`,
        ),
      ),
    );
  }

  private replicaArgs(kind: Replica['kind'], host: number): string[] {
    const addr = this.lab.host(host).address;
    if (kind === 'master')
      return [
        'master',
        '--store', this.etcdUrl,
        '--host', addr,
        '--port', String(MASTER_PORT),
        '--election-ttl-ms', String(this.ttlMs),
        '--agent-ping-timeout-ms', String(this.opts.agentPingTimeoutMs ?? 1000),
        '--max-agent-ping-timeouts', String(this.opts.maxAgentPingTimeouts ?? 3),
        '--allocation-interval-ms', '200',
        '--json',
      ];
    return [
      'orchestrator',
      '--master', this.etcdUrl,
      '--store', this.etcdUrl,
      '--host', addr,
      '--port', String(ORCHESTRATOR_PORT),
      '--election-ttl-ms', String(this.ttlMs),
      '--json',
      // Its "initial reconciliation complete" line is the reconciled figure's evidence.
      '--log-level', 'info',
    ];
  }

  private async startReplica(kind: Replica['kind'], host: number): Promise<Replica> {
    const args = this.replicaArgs(kind, host);
    const name = `${kind}-h${host}`;
    const proc = await this.lab.spawn(host, args, { name });
    const port = kind === 'master' ? MASTER_PORT : ORCHESTRATOR_PORT;
    const lines = new LineLog();
    lines.attach(proc);
    const r: Replica = { kind, host, key: this.lab.url(host, port), local: await this.lab.forward(this.lab.host(host).address, port), args, proc, lines, starts: 1 };
    (kind === 'master' ? this.masters : this.orchestrators).push(r);
    return r;
  }

  /** Starts a replica's process again in its slot (same host, port, flags) and waits for its ready line. */
  async restart(r: Replica): Promise<number> {
    if (r.proc.running) throw new Error(`${r.kind} on h${r.host} still runs`);
    const t0 = Date.now();
    r.proc = await this.lab.spawn(r.host, r.args, { name: `${r.kind}-h${r.host}` });
    r.starts++;
    r.lines.attach(r.proc);
    return Date.now() - t0;
  }

  private async startAgent(host: number): Promise<HaAgent> {
    const h = this.lab.host(host);
    const ports = agentPorts(host);
    const workDir = path.join(h.dir, 'agent');
    const proc = await this.lab.spawn(
      host,
      [
        'agent',
        '--master', this.etcdUrl,
        '--host', h.address,
        '--port', String(AGENT_PORT),
        '--work-dir', workDir,
        '--resources', `cpus:${AGENT_RESOURCES.cpus};mem:${AGENT_RESOURCES.mem};disk:${AGENT_RESOURCES.disk};ports:[${ports.begin}-${ports.end}]`,
        '--json',
        // Its (re-)registration lines (with the master id) are evidence for the HA checks.
        '--log-level', 'info',
      ],
      { name: `agent-h${host}`, ready: (o) => o.event === 'registered', readyTimeoutMs: 30_000 },
    );
    const lines = new LineLog();
    lines.attach(proc);
    const a: HaAgent = {
      host,
      workDir,
      key: this.lab.url(host, AGENT_PORT),
      local: await this.lab.forward(h.address, AGENT_PORT),
      agentId: jsonLines(proc.stdout).find((o) => o.event === 'registered')?.agent_id ?? '',
      proc,
      lines,
    };
    this.agents.push(a);
    return a;
  }

  // ------------------------------------------------------------------ observing

  masterState(timeoutMs = 3000): Promise<any> {
    return getJson(`${this.masterLocal}/master/state`, timeoutMs);
  }

  async storeRevision(): Promise<number> {
    const { openStore } = await import('../../src/store/open.ts');
    const store = await openStore(this.etcdLocal);
    try {
      return await store.revision();
    } finally {
      await store.close().catch(() => undefined);
    }
  }

  /** The leading master's replica (as the tracker sees it). */
  leaderMaster(): Replica | undefined {
    const k = this.masterTracker.current?.key;
    return this.masters.find((m) => m.key === k);
  }

  leaderOrchestrator(): Replica | undefined {
    const k = this.orchestratorTracker.current?.key;
    return this.orchestrators.find((o) => o.key === k);
  }

  /** Waits for a master other than those in `not` to print `elected` after `since`; returns its id and when. */
  async waitElected(kind: Replica['kind'], since: number, timeoutMs: number, not: Replica[] = []): Promise<{ replica: Replica; id: string; at: number }> {
    const pool = (kind === 'master' ? this.masters : this.orchestrators).filter((r) => !not.includes(r));
    const idOf = (j: any) => (kind === 'master' ? j.master_id : j.id) as string;
    return poll(
      () => {
        let best: { replica: Replica; id: string; at: number } | undefined;
        for (const r of pool) for (const l of r.lines.json('elected')) if (l.at >= since && (!best || l.at < best.at)) best = { replica: r, id: idOf(l.json), at: l.at };
        return best;
      },
      timeoutMs,
      `a new ${kind} elected`,
      20,
    );
  }

  /** The current master id of the leader (its last `elected` line). */
  currentMasterId(r: Replica): string | undefined {
    return r.lines.json('elected').at(-1)?.json.master_id;
  }

  /** Waits until the observer, subscribed to `masterId`, has received an offer from it; returns when. */
  async waitOfferFrom(masterId: string, since: number, timeoutMs: number): Promise<number> {
    return poll(() => this.offersSeen.find((o) => o.at >= since && o.offerId.startsWith(`${masterId}-O`))?.at, timeoutMs, `an offer from master ${masterId}`, 20);
  }

  /** Waits until every agent logged its re-registration with `masterId`; returns when the last one did. */
  async waitAgentsRegistered(masterId: string, since: number, timeoutMs: number): Promise<number> {
    return poll(
      () => {
        const ts = this.agents.map((a) => agentRegistrations(a.lines).find((r) => r.masterId === masterId && r.ts >= since - 1000)?.ts);
        return ts.every((t) => t !== undefined) ? Math.max(...(ts as number[])) : undefined;
      },
      timeoutMs,
      `every agent re-registered with master ${masterId}`,
      20,
    );
  }

  /** Waits for the replica's process to print `deposed` after `since` (a paused or partitioned leader noticing). */
  async waitDeposed(r: Replica, since: number, timeoutMs: number): Promise<number> {
    return poll(() => r.lines.json('deposed').find((l) => l.at >= since)?.at, timeoutMs, `${r.kind} on h${r.host} to step down`, 20);
  }

  /** The app converged: exactly `instances` RUNNING+healthy in the orchestrator, the master and reality. */
  async waitConverged(timeoutMs: number): Promise<number> {
    if (!this.appId) return Date.now();
    let last: string[] = [];
    try {
      await poll(
        async () => {
          const v = await convergenceView(this.orchestratorLocal, this.masterLocal, this.journals, this.appId!);
          last = convergenceProblems(v, this.instances);
          return last.length === 0;
        },
        timeoutMs,
        `${this.appId} to converge to exactly ${this.instances} RUNNING+healthy instances`,
        100,
      );
    } catch (e) {
      (e as Error).message += `\nlast view: ${last.join('; ')}`;
      throw e;
    }
    return Date.now();
  }

  /** The orchestrator's framework is subscribed (connected) on the leading master again. */
  async waitOrchestratorConnected(timeoutMs: number): Promise<number> {
    if (!this.orchestratorFrameworkId) return Date.now();
    await poll(
      async () => (await this.masterState(1500)).frameworks?.find((f: any) => f.id === this.orchestratorFrameworkId)?.connected === true,
      timeoutMs,
      'the orchestrator framework connected to the leading master',
      50,
    );
    return Date.now();
  }

  /** Every long task runs as set up. */
  private snapshotWatched(): WatchedTask[] {
    const ids = [...this.observerTasks.values()];
    if (this.appId) for (const r of this.journals.liveRuns()) if (r.frameworkId === this.orchestratorFrameworkId) ids.push(r.taskId);
    return snapshotTasks(this.journals, ids);
  }

  /** Tasks the faults so far disturbed (see checkers/ha.ts tasksDisturbed). */
  disturbed(): string[] {
    return tasksDisturbed(this.journals, this.watched, this.observer.deliveries);
  }

  // ------------------------------------------------------------------ faults

  /** SIGKILL of a replica's process group. Returns when it was sent. */
  async kill(r: Replica): Promise<number> {
    const at = Date.now();
    await this.lab.killProcess(r.proc, 'SIGKILL');
    return at;
  }

  /** SIGSTOP, hold, SIGCONT. Returns [stopped at, continued at]. */
  async pause(r: Replica, ms: number): Promise<[number, number]> {
    r.proc.signalGroup('SIGSTOP');
    const at = Date.now();
    try {
      await hold(ms);
    } finally {
      r.proc.signalGroup('SIGCONT');
    }
    return [at, Date.now()];
  }

  /** Cuts control host `host` (its master, its etcd member, its orchestrator) off the lab, holds, heals. */
  async partition(host: number, ms: number): Promise<[number, number]> {
    this.lab.partition(host);
    const at = Date.now();
    try {
      await hold(ms);
    } finally {
      this.lab.heal(host);
    }
    return [at, Date.now()];
  }

  // ------------------------------------------------------------------ the observer after failovers

  /** Re-subscribes the observer (same framework id) through the relay until a leader takes it; bounded. */
  private resubscribe(): void {
    if (this.closed || this.resubscribing) return;
    const deadline = Date.now() + 120_000;
    this.resubscribing = (async () => {
      while (!this.closed && Date.now() < deadline) {
        try {
          await this.observer.subscribe();
          return;
        } catch (e) {
          if (this.closed) return;
          if (/already subscribed/.test((e as Error).message)) return;
          await hold(100);
        }
      }
      if (!this.closed) this.resubscribeErrors.push(`the observer could not re-subscribe within 120 s`);
    })().finally(() => (this.resubscribing = undefined));
  }

  // ------------------------------------------------------------------ invariants

  /**
   * The fault issue's invariants (status updates, no duplicate instances and exact convergence, the offer
   * audit, master/orchestrator agreement) plus "never two leaders acting" (checkers/ha.ts) and "no task
   * disturbed". Returns violations by invariant (empty object: all held). Call once the cluster settled.
   */
  async checkInvariants(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    const live = new Set(this.agents.filter((a) => a.proc.running).map((a) => a.host));
    try {
      await poll(() => unacknowledgedUpdates(this.journals, this.observer.frameworkId!, live).length === 0, 15_000, 'observer updates to be acknowledged');
      if (this.orchestratorFrameworkId)
        await poll(() => unacknowledgedUpdates(this.journals, this.orchestratorFrameworkId!, live).length === 0, 15_000, 'orchestrator updates to be acknowledged');
    } catch (e) {
      out.pendingUpdates = [(e as Error).message];
    }
    out.updates = checkStatusUpdates({ frameworkId: this.observer.frameworkId!, deliveries: this.observer.deliveries, ackedAt: this.observer.ackedAt }, this.journals);
    if (this.orchestratorFrameworkId) {
      const tracked = new Set((await apiTasks(this.orchestratorLocal)).map((t) => t.id));
      out.orchestratorEvents = checkMarathonStatusEvents(this.events, this.journals, this.orchestratorFrameworkId, tracked);
    }
    out.instances = [];
    if (this.appId) {
      out.instances.push(...checkNoDuplicateInstances(this.sampler.samples, this.appId));
      const v = await convergenceView(this.orchestratorLocal, this.masterLocal, this.journals, this.appId);
      out.instances.push(...convergenceProblems(v, this.instances).map((p) => `${this.appId}: ${p}`));
    }
    out.offers = this.observer.offers.flatMap((o) => o.violations);
    if (this.observer.offers.length === 0) out.offers.push('the observer saw no offer at all: the audit never ran');
    if (this.orchestratorFrameworkId) out.store = await checkStoreAgreement(this.orchestratorLocal, this.masterLocal, this.orchestratorFrameworkId);
    Object.assign(out, await this.checkLeaders());
    out.tasksDisturbed = this.disturbed();
    out.observer = [...this.resubscribeErrors];
    for (const k of Object.keys(out)) if (out[k]!.length === 0) delete out[k];
    this.dumpEvidence(out);
    return out;
  }

  /** "Never two leaders acting", from the etcd history and everyone's own records (checkers/ha.ts). */
  async checkLeaders(): Promise<Record<string, string[]>> {
    const history = await readStoreHistory(this.etcdLocal);
    const verdict = checkStoreHistory(history, { from: this.setupRevision, stable: true });
    const claims = (rs: Replica[], idKey: string) => rs.flatMap((r) => r.lines.json('elected').map((l) => ({ id: String(l.json[idKey]), who: `${r.kind} on h${r.host}` })));
    const regs = new Map<string, AgentRegistration[]>(this.agents.map((a) => [`agent on h${a.host}`, agentRegistrations(a.lines)]));
    this.lastVerdict = { registryWrites: verdict.registryWrites, orchestratorWrites: verdict.orchestratorWrites, masterTerms: verdict.masters.terms.size };
    return {
      storeHistory: verdict.violations,
      electedClaims: [...checkElectedClaims(verdict.masters, claims(this.masters, 'master_id'), 'master'), ...checkElectedClaims(verdict.orchestrators, claims(this.orchestrators, 'id'), 'orchestrator')],
      agentTerms: checkAgentTerms(verdict.masters, regs),
      offerTerms: checkOffers(verdict.masters, this.offersSeen, this.subscriptions),
    };
  }

  lastVerdict?: { registryWrites: number; orchestratorWrites: number; masterTerms: number };

  /** Commands agents refused from a master they were not registered with (deposed masters trying to act). */
  refusedCommands(): number {
    return this.agents.reduce((n, a) => n + refusedMasters(a.lines).length, 0);
  }

  /** How much evidence the checkers had. */
  stats(): Record<string, number> {
    this.journals.scan();
    return {
      offers_audited: this.observer.offers.length,
      offers_attributed: this.offersSeen.length,
      observer_subscriptions: this.subscriptions.length,
      observer_updates: this.observer.deliveries.length,
      orchestrator_events: this.events.length,
      journaled_runs: this.journals.runs.size,
      state_samples: this.sampler.samples.length,
      agent_registrations: this.agents.reduce((n, a) => n + agentRegistrations(a.lines).length, 0),
      registry_writes_judged: this.lastVerdict?.registryWrites ?? 0,
      orchestrator_writes_judged: this.lastVerdict?.orchestratorWrites ?? 0,
      master_candidacies: this.lastVerdict?.masterTerms ?? 0,
      refused_commands_from_deposed: this.refusedCommands(),
      relay_cuts: this.masterRelay.cut + this.orchestratorRelay.cut,
      double_claims_seen: this.masterTracker.doubleClaims + this.orchestratorTracker.doubleClaims,
    };
  }

  /** With $CORRAL_LAB_LOGS set, writes what the checkers judged to <dir>/<lab id>-ha-evidence.json. */
  dumpEvidence(violations: Record<string, string[]>): void {
    const dir = process.env.CORRAL_LAB_LOGS;
    if (!dir) return;
    fs.mkdirSync(dir, { recursive: true });
    const lines = (rs: { host: number; lines: LineLog }[], kind: string) =>
      Object.fromEntries(rs.map((r) => [`${kind}-h${r.host}`, r.lines.lines.filter((l) => l.json || l.log?.level !== 'DEBUG').map((l) => ({ at: l.at, text: l.text }))]));
    fs.writeFileSync(
      path.join(dir, `${this.lab.id}-ha-evidence.json`),
      JSON.stringify(
        {
          violations,
          subscriptions: this.subscriptions,
          offers: this.offersSeen,
          watched: this.watched,
          deliveries: this.observer.deliveries,
          events: this.events,
          lines: { ...lines(this.masters, 'master'), ...lines(this.orchestrators, 'orchestrator'), ...lines(this.agents, 'agent') },
        },
        null,
        1,
      ),
    );
  }

  describe(): string {
    return `${this.lab.describe(1500)}\nmaster leader: ${this.masterTracker?.current?.key}; orchestrator leader: ${this.orchestratorTracker?.current?.key}`;
  }

  /** Stops observing (streams, pollers, relays) without touching the lab. */
  stop(): void {
    this.closed = true;
    this.sse?.close();
    this.sampler?.stop();
    this.journals?.stop();
    this.observer?.close();
    this.masterTracker?.stop();
    this.orchestratorTracker?.stop();
    this.masterRelay?.close();
    this.orchestratorRelay?.close();
    for (const r of [...this.masters, ...this.orchestrators, ...this.agents]) r.lines.stop();
  }

  async destroy(): Promise<void> {
    this.stop();
    await this.lab.destroy();
  }
}

const instance = (r: Replica): TrackedInstance => ({ key: r.key, local: r.local });

function relayFor(name: string, tracker: LeaderTracker, labBases: () => string[]): LeaderRelay {
  return new LeaderRelay({
    name,
    target: () => tracker.current,
    changed: (cb) => tracker.onChange(cb),
    labBases,
  });
}

/**
 * The orchestrator's /v2/events through the relay, reconnected whenever it ends (a failover closes the
 * leader's streams, and the relay cuts the stream to a deposed leader). Events missed while
 * reconnecting are missed: the event checker only needs acknowledged updates, which these rounds do
 * not produce during a failover (no task changes state).
 */
class ResilientSse {
  private req?: http.ClientRequest;
  private closed = false;
  private timer?: NodeJS.Timeout;
  connects = 0;

  constructor(
    private readonly url: string,
    private readonly onEvent: (ev: SseEvent) => void,
  ) {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const again = () => {
      if (this.closed || this.timer) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.connect();
      }, 200);
      this.timer.unref();
    };
    const req = http.get(this.url, { headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        res.on('end', again);
        return;
      }
      this.connects++;
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          this.frame(frame);
        }
      });
      res.on('close', again);
      res.on('error', again);
    });
    req.on('error', again);
    this.req = req;
  }

  private frame(frame: string): void {
    const ev = parseSseFrame(frame);
    if (ev) this.onEvent({ at: Date.now(), ...ev });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.req?.destroy();
  }
}

