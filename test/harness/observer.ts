// The observer: a partition-aware framework on SchedulerClient that takes part in the cluster like any
// other (it runs a few long tasks of its own so the kernel's status-update path is exercised across
// faults), records every UPDATE (duplicates included) and acknowledges each one that carries a uuid,
// and audits every offer it receives before declining it (see checkers/offers.ts). It declines with a
// short filter so that the resources go on to the other frameworks (the orchestrator) at once.
import os from 'node:os';
import { EventEmitter } from 'node:events';
import type { MasterLocator } from '../../src/client/master-locator.ts';
import { SchedulerClient } from '../../src/client/scheduler-client.ts';
import type { FrameworkInfo, Offer, Resource, TaskInfo, TaskStatus } from '../../src/protocol/mesos.ts';

export interface Delivery {
  /** Arrival order over all tasks, 1-based. */
  seq: number;
  at: number;
  status: TaskStatus;
}

export interface OfferSeen {
  at: number;
  offer: Offer;
  /** What the audit found wrong (empty: fine). */
  violations: string[];
}

export interface ObserverTask {
  id: string;
  /** Agent id to launch on. */
  agentId: string;
  command: string;
  cpus?: number;
  mem?: number;
  /** Number of ports to take from the offer (the task gets PORT0…). Default 0. */
  ports?: number;
}

export interface ObserverOptions {
  /** Audits an offer while it is still held (before it is declined or used); returns violations. */
  audit?: (offer: Offer) => Promise<string[]>;
  /** Decline filter in seconds. Default 1. */
  refuseSeconds?: number;
  name?: string;
}

export class Observer {
  readonly client: SchedulerClient;
  readonly deliveries: Delivery[] = [];
  /** uuid → delivery count when the master accepted our acknowledgement. */
  readonly ackedAt = new Map<string, number>();
  readonly ackErrors: string[] = [];
  readonly offers: OfferSeen[] = [];
  readonly masterErrors: string[] = [];
  frameworkId?: string;
  private pending: (ObserverTask & { resolve: () => void; reject: (e: Error) => void })[] = [];
  private readonly changes = new EventEmitter();
  private readonly info: FrameworkInfo;

  constructor(
    masterLocalUrl: string,
    private readonly opts: ObserverOptions = {},
  ) {
    this.changes.setMaxListeners(0);
    this.info = {
      user: os.userInfo().username,
      name: opts.name ?? 'fault-observer',
      checkpoint: true,
      failover_timeout: 3600,
      capabilities: [{ type: 'PARTITION_AWARE' }],
    } as FrameworkInfo;
    this.client = new SchedulerClient({ locator: pinnedLocator(masterLocalUrl) });
    this.client.on('update', (s) => this.onUpdate(s));
    this.client.on('offers', (offers) => void this.onOffers(offers));
    this.client.on('master-error', (m) => this.masterErrors.push(m));
  }

  async subscribe(): Promise<string> {
    const sub = await this.client.subscribe(this.info);
    this.frameworkId = sub.frameworkId;
    return sub.frameworkId;
  }

  private onUpdate(status: TaskStatus): void {
    this.deliveries.push({ seq: this.deliveries.length + 1, at: Date.now(), status });
    this.changes.emit('change');
    if (!status.uuid) return;
    this.client.acknowledge(status).then(
      () => {
        if (!this.ackedAt.has(status.uuid!)) this.ackedAt.set(status.uuid!, this.deliveries.length);
        this.changes.emit('change');
      },
      (e: Error) => this.ackErrors.push(`${status.task_id.value} ${status.state}: ${e.message}`),
    );
  }

  private async onOffers(offers: Offer[]): Promise<void> {
    for (const offer of offers) {
      let violations: string[] = [];
      try {
        violations = (await this.opts.audit?.(offer)) ?? [];
      } catch (e) {
        violations = [`audit failed: ${(e as Error).message}`];
      }
      this.offers.push({ at: Date.now(), offer, violations });
      const want = this.pending.filter((p) => p.agentId === offer.agent_id.value);
      const infos: TaskInfo[] = [];
      const taken: typeof want = [];
      let budget = scalarOf(offer.resources, 'cpus');
      let ports = portsOf(offer.resources);
      for (const t of want) {
        const cpus = t.cpus ?? 0.05;
        if (cpus > budget + 1e-9 || (t.ports ?? 0) > ports.length) continue;
        budget -= cpus;
        const mine = ports.slice(0, t.ports ?? 0);
        ports = ports.slice(t.ports ?? 0);
        infos.push(taskInfo(offer, t, mine));
        taken.push(t);
      }
      try {
        if (infos.length) {
          this.pending = this.pending.filter((p) => !taken.includes(p));
          await this.client.launch([offer.id], infos, { refuse_seconds: this.opts.refuseSeconds ?? 1 });
          for (const t of taken) t.resolve();
        } else {
          await this.client.decline([offer.id], { refuse_seconds: this.opts.refuseSeconds ?? 1 });
        }
      } catch (e) {
        for (const t of taken) t.reject(e as Error);
      }
    }
  }

  /** Launches a task on `agentId` from its next offer; resolves once the ACCEPT went out. */
  launch(task: ObserverTask): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ ...task, resolve, reject });
      void this.client.revive().catch(() => undefined);
    });
  }

  /** Resolves with the first value of `check`, re-evaluated on every update or ack. */
  waitFor<T>(check: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const v = check();
        if (v !== undefined && v !== false) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; observer updates:\n${this.summary()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.changes.off('change', attempt);
      };
      this.changes.on('change', attempt);
      attempt();
    });
  }

  /** The latest state delivered for a task (reconciliation answers included). */
  latest(taskId: string): TaskStatus | undefined {
    for (let i = this.deliveries.length - 1; i >= 0; i--) if (this.deliveries[i]!.status.task_id.value === taskId) return this.deliveries[i]!.status;
    return undefined;
  }

  waitForState(taskId: string, state: string, timeoutMs: number, afterSeq = 0): Promise<TaskStatus> {
    return this.waitFor(
      () => this.deliveries.find((d) => d.seq > afterSeq && d.status.task_id.value === taskId && d.status.state === state)?.status,
      timeoutMs,
      `${taskId} to reach ${state}`,
    );
  }

  summary(last = 60): string {
    return this.deliveries
      .slice(-last)
      .map((d) => `#${d.seq} ${d.status.task_id.value} ${d.status.state} ${d.status.uuid ?? '-'} ${d.status.source ?? ''} ${d.status.reason ?? ''}`)
      .join('\n');
  }

  close(): void {
    for (const p of this.pending.splice(0)) p.reject(new Error('observer closed'));
    this.client.close();
  }
}

/**
 * The test process reaches the master only through its forward (Lab.forward). A URL locator would ask
 * /master/redirect and follow the master's answer to its own lab address, which from the root namespace
 * leads out through the machine's default route instead (where whatever answers is not the master).
 * Pinned: the forward is the master, always.
 */
export function pinnedLocator(url: string): MasterLocator {
  return {
    description: url,
    kind: 'url',
    current: async () => url,
    invalidate: () => {},
    onChange: () => () => {},
    close: async () => {},
  };
}

export function scalarOf(resources: readonly Resource[], name: string): number {
  return resources.filter((r) => r.name === name).reduce((s, r) => s + (r.scalar?.value ?? 0), 0);
}

/** Every port in the resources' ranges. */
export function portsOf(resources: readonly Resource[]): number[] {
  const out: number[] = [];
  for (const r of resources) {
    if (r.name !== 'ports') continue;
    for (const range of r.ranges?.range ?? []) for (let p = Number(range.begin); p <= Number(range.end) && out.length < 100_000; p++) out.push(p);
  }
  return out;
}

function taskInfo(offer: Offer, t: ObserverTask, ports: number[]): TaskInfo {
  const alloc = offer.resources.find((r) => r.allocation_info)?.allocation_info ?? offer.allocation_info;
  const extra = alloc ? { allocation_info: alloc } : {};
  const resources: Resource[] = [
    { name: 'cpus', type: 'SCALAR', scalar: { value: t.cpus ?? 0.05 }, ...extra } as Resource,
    { name: 'mem', type: 'SCALAR', scalar: { value: t.mem ?? 16 }, ...extra } as Resource,
  ];
  if (ports.length) resources.push({ name: 'ports', type: 'RANGES', ranges: { range: ports.map((p) => ({ begin: p, end: p })) }, ...extra } as Resource);
  return {
    name: t.id,
    task_id: { value: t.id },
    agent_id: offer.agent_id,
    resources,
    command: { shell: true, value: t.command },
  } as TaskInfo;
}
