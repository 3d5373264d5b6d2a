// Shared by the reservation and volume integration tests: a scheduler in one role that keeps its
// outstanding offers, acknowledges every update and waits on events (no sleeps), plus builders for
// reserved resources and volumes in Mesos JSON, and form/v1 operator requests.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import { SchedulerClient } from '../../src/client/scheduler-client.ts';
import type { FrameworkInfo, Offer, Resource, TaskInfo, TaskStatus } from '../../src/protocol/mesos.ts';
import type { OfferOperation } from '../../src/protocol/scheduler.ts';
import { testLog } from '../support/kernel-harness.ts';

export class RoleFramework {
  readonly client: SchedulerClient;
  /** Outstanding offers (rescinded and used ones removed). */
  offers: Offer[] = [];
  /** Every offer ever received. */
  readonly received: Offer[] = [];
  readonly updates: TaskStatus[] = [];
  private readonly changes = new EventEmitter();
  frameworkId?: string;

  constructor(
    masterUrl: string,
    readonly info: Partial<FrameworkInfo> & { role: string },
  ) {
    this.client = new SchedulerClient({ masterUrl, log: testLog(`scheduler-${info.role}`) });
    this.changes.setMaxListeners(0);
    this.client.on('offers', (offers) => {
      this.offers.push(...offers);
      this.received.push(...offers);
      this.changes.emit('change');
    });
    this.client.on('rescind', (id) => {
      this.offers = this.offers.filter((o) => o.id.value !== id);
    });
    this.client.on('update', (s) => {
      this.updates.push(s);
      this.changes.emit('change');
      if (s.uuid) void this.client.acknowledge(s).catch(() => undefined);
    });
  }

  async subscribe(): Promise<string> {
    const sub = await this.client.subscribe({ user: os.userInfo().username, name: `test-${this.info.role}`, failover_timeout: 0, ...this.info });
    this.frameworkId = sub.frameworkId;
    return sub.frameworkId;
  }

  /** Resolves with the first value of `check`, re-checked on every offer and update. */
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
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; offers: ${JSON.stringify(this.offers.map(describeOffer))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.changes.off('change', attempt);
      };
      this.changes.on('change', attempt);
      attempt();
    });
  }

  /** Takes the first outstanding offer matching `match` (out of the outstanding list). */
  async takeOffer(match: (o: Offer) => boolean, what: string, timeoutMs = 10_000): Promise<Offer> {
    const offer = await this.waitFor(() => this.offers.find(match), timeoutMs, what);
    this.offers = this.offers.filter((o) => o !== offer);
    return offer;
  }

  waitForState(taskId: string, state: string, timeoutMs = 10_000): Promise<TaskStatus> {
    return this.waitFor(() => this.updates.find((s) => s.task_id.value === taskId && s.state === state), timeoutMs, `${taskId} to reach ${state}`);
  }

  accept(offer: Offer, operations: OfferOperation[], refuseSeconds = 0): Promise<unknown> {
    return this.client.accept([offer.id.value], operations, { refuse_seconds: refuseSeconds });
  }

  decline(offer: Offer, refuseSeconds: number): Promise<unknown> {
    return this.client.decline([offer.id.value], { refuse_seconds: refuseSeconds });
  }

  close(): void {
    this.client.close();
  }
}

export function describeOffer(o: Offer): string {
  return o.resources.map((r) => `${r.name}${r.role && r.role !== '*' ? `(${r.role})` : ''}:${r.scalar?.value ?? JSON.stringify(r.ranges ?? r.set)}`).join(';');
}

/** The scalar total of `name` in an offer whose reservation role (or '*') is `role`; `type` narrows to STATIC/DYNAMIC. */
export function offered(o: Offer, name: string, role = '*', type?: 'STATIC' | 'DYNAMIC'): number {
  let sum = 0;
  for (const r of o.resources) {
    const res = (r as { reservations?: { type: string; role: string }[] }).reservations ?? [];
    const rRole = res.at(-1)?.role ?? '*';
    if (r.name !== name || rRole !== role || (type && res.at(-1)?.type !== type)) continue;
    sum += r.scalar?.value ?? 0;
  }
  return Math.round(sum * 1000) / 1000;
}

export const isReserved = (r: Resource): boolean => ((r as { reservations?: unknown[] }).reservations ?? []).length > 0 || (r.role !== undefined && r.role !== '*');

export interface ResOpts {
  role?: string;
  principal?: string;
  /** allocation_info.role (what offers carry and ACCEPTs echo). */
  alloc?: string;
  volume?: { id: string; path: string; mode?: 'RW' | 'RO' };
}

/** A scalar resource in Mesos JSON (post-refinement reservations). */
export function scalar(name: string, value: number, o: ResOpts = {}): Resource {
  return {
    name,
    type: 'SCALAR',
    scalar: { value },
    ...(o.role ? { reservations: [{ type: 'DYNAMIC', role: o.role, ...(o.principal ? { principal: o.principal } : {}) }] } : {}),
    ...(o.alloc ? { allocation_info: { role: o.alloc } } : {}),
    ...(o.volume ? { disk: { persistence: { id: o.volume.id }, volume: { container_path: o.volume.path, mode: o.volume.mode ?? 'RW' } } } : {}),
  } as Resource;
}

export function task(id: string, agentId: string, command: string, resources: Resource[]): TaskInfo {
  return { name: id, task_id: { value: id }, agent_id: { value: agentId }, resources, command: { shell: true, value: command } };
}

/** POST a Mesos form-encoded operator request (/master/reserve …). */
export async function postForm(url: string, form: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  return { status: res.status, text: await res.text() };
}

/** POST a v1 operator call to /api/v1. */
export async function postV1(masterUrl: string, call: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${masterUrl}/api/v1`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(call) });
  return { status: res.status, text: await res.text() };
}
