// The launch queue: matches offers against the apps that wait for instances (count set by the
// runner's tick, gated by launch backoff), using the pure placement pipeline. New instances are
// recorded (condition Provisioned) in the store BEFORE the ACCEPT is sent, so a crash can never
// leave an untracked task behind. Each round keeps the offers' reject summary per app ("why is
// my app waiting").
import { nextLaunchAllowedAt } from '../core/deployment/index.ts';
import { place, REJECT_REASONS, type PlacedInstance, type PlacementOffer, type PlacementRequest } from '../core/placement/index.ts';
import { fromMesosResources, subtractResources } from '../core/resources.ts';
import type { Attribute, Offer, TaskInfo } from '../protocol/mesos.ts';
import { appDefaults, configVersionOf, portDefinitionsOf } from './app-defaults.ts';
import type { Ctx, QueueState } from './context.ts';
import { toAppSpec } from './decide.ts';
import { isActiveCondition } from './instances.ts';
import type { AppDefinition, InstanceRecord } from './service.ts';
import { buildTaskInfo } from './task-builder.ts';
import { newInstanceIdFor, taskIdFor } from './task-ids.ts';
import { marathonTime } from './time.ts';
import { instanceChangedEvent } from './events.ts';

export interface OfferRound {
  launches: { offerId: string; tasks: TaskInfo[] }[];
  decline: string[];
  /** refuse_seconds for the declined offers. */
  refuseSeconds: number;
  /** refuse_seconds for the unused part of accepted offers. */
  acceptRefuseSeconds: number;
}

export interface LaunchQueueOptions {
  maxInstancesPerOffer: number;
  /** refuse_seconds when declining while apps still wait (Marathon: decline_offer_duration). */
  declineRefuseSeconds: number;
  /** refuse_seconds when nothing waits (offers are suppressed too). */
  idleRefuseSeconds: number;
}

interface Working {
  offer: Offer;
  p: PlacementOffer;
  role?: string;
  used: boolean;
}

export class LaunchQueue {
  /** Agent attributes seen in offers (for instances launched before a restart). */
  private readonly agents = new Map<string, { hostname: string; attributes: Attribute[] }>();

  constructor(
    private readonly ctx: Ctx,
    private readonly opts: LaunchQueueOptions,
  ) {}

  /** Apps that may launch now (queued, backoff over), oldest queue entry first. */
  private ready(now: number): { app: AppDefinition; q: QueueState }[] {
    const out: { app: AppDefinition; q: QueueState }[] = [];
    for (const [appId, q] of this.ctx.queue) {
      if (q.count <= 0) continue;
      const app = this.ctx.apps.get(appId);
      if (!app) continue;
      if (nextLaunchAllowedAt(toAppSpec(app), this.ctx.backoff.get(appId), now) > now) continue;
      out.push({ app, q });
    }
    return out.sort((a, b) => a.q.since - b.q.since);
  }

  /** Decides what to do with these offers; records (and persists) the instances to launch. */
  async match(offers: Offer[]): Promise<OfferRound> {
    const ctx = this.ctx;
    const now = ctx.clock.now();
    for (const o of offers) this.agents.set(o.agent_id.value, { hostname: o.hostname, attributes: o.attributes ?? [] });
    const all = offers.map((o) => o.id.value);
    if (!ctx.reconciled) return { launches: [], decline: all, refuseSeconds: 1, acceptRefuseSeconds: 1 };
    const waiting = this.ready(now);
    if (!waiting.length) return { launches: [], decline: all, refuseSeconds: this.opts.idleRefuseSeconds, acceptRefuseSeconds: 0 };

    const work: Working[] = [];
    const decline: string[] = [];
    for (const offer of offers) {
      try {
        const resources = fromMesosResources(offer.resources ?? []);
        const role = offer.allocation_info?.role ?? offer.resources?.find((r) => r.allocation_info)?.allocation_info?.role;
        work.push({
          offer,
          role,
          used: false,
          p: { offerId: offer.id.value, agentId: offer.agent_id.value, hostname: offer.hostname, attributes: offer.attributes ?? [], resources, role: reservationRoleOf(offer) },
        });
      } catch (err) {
        ctx.log.warn('ignoring an offer with unreadable resources', { offerId: offer.id.value, error: (err as Error).message });
        decline.push(offer.id.value);
      }
    }

    const created: { inst: InstanceRecord; app: AppDefinition; w: Working; hostPorts: number[] }[] = [];
    for (const { app, q } of waiting) {
      const e = appDefaults(app);
      const pds = portDefinitionsOf(app);
      const req: PlacementRequest = {
        appId: app.id,
        count: q.count,
        cpus: e.cpus,
        mem: e.mem,
        disk: e.disk,
        gpus: e.gpus,
        ports: pds.map((p) => p.port ?? 0),
        requirePorts: app.requirePorts === true,
        constraints: app.constraints ?? [],
        ...(app.acceptedResourceRoles?.length ? { acceptedResourceRoles: app.acceptedResourceRoles } : {}),
        maxPerOffer: this.opts.maxInstancesPerOffer,
      };
      const placed: PlacedInstance[] = ctx.tracker
        .ofApp(app.id)
        .filter((i) => i.goal === 'Running' && isActiveCondition(i.condition))
        .map((i) => ({
          instanceId: i.instanceId,
          agentId: i.agentId,
          hostname: i.host,
          attributes: i.agentInfo?.attributes ?? this.agents.get(i.agentId)?.attributes ?? [],
          ...(i.agentInfo?.region ? { region: i.agentInfo.region } : {}),
          ...(i.agentInfo?.zone ? { zone: i.agentInfo.zone } : {}),
        }));
      const result = place(req, work.map((w) => w.p), placed);
      const byOffer = new Map(work.map((w) => [w.p.offerId, w] as const));
      for (const pl of result.placements) {
        const w = byOffer.get(pl.offerId);
        if (!w) continue;
        w.used = true;
        w.p = { ...w.p, resources: subtractResources(w.p.resources, pl.resources) };
        const instanceId = newInstanceIdFor(app.id, ctx.ids.uuid());
        const inst: InstanceRecord = {
          instanceId,
          taskId: taskIdFor(instanceId),
          appId: app.id,
          version: app.version ?? '',
          configVersion: configVersionOf(app),
          agentId: pl.agentId,
          host: pl.hostname,
          ports: pl.hostPorts,
          state: 'TASK_STAGING',
          condition: 'Provisioned',
          goal: 'Running',
          stagedAt: marathonTime(now),
          healthCheckResults: [],
          agentInfo: { attributes: w.offer.attributes ?? [] },
        };
        created.push({ inst, app, w, hostPorts: pl.hostPorts });
      }
      // Queue bookkeeping (what /v2/queue shows).
      const n = work.length;
      q.count = Math.max(0, q.count - result.placements.length);
      q.processedOffers += n;
      const usedHere = new Set(result.placements.map((p) => p.offerId));
      const unused = work.filter((w) => !usedHere.has(w.p.offerId));
      q.unusedOffers += unused.length;
      if (unused.length) q.lastUnusedOfferAt = now;
      if (usedHere.size) q.lastUsedOfferAt = now;
      q.lastRejects = REJECT_REASONS.map((reason) => ({ reason, declined: result.rejections[reason] ?? 0, processed: n }));
      q.lastUnused = unused.slice(0, 10).map((w) => ({
        offer: { id: w.p.offerId, agentId: w.p.agentId, hostname: w.p.hostname },
        timestamp: marathonTime(now),
        reason: [...new Set(result.offerRejections[w.p.offerId] ?? [])],
      }));
      q.constraintRejections = result.constraintRejections;
    }

    // Durable first: an instance the store does not hold is never launched.
    const saved = await Promise.all(
      created.map(({ inst }) =>
        ctx.tracker.save(inst).then(
          () => true,
          async (err) => {
            ctx.log.warn('could not record a new instance; not launching it', { instanceId: inst.instanceId, error: (err as Error).message });
            ctx.tracker.forget(inst);
            return false;
          },
        ),
      ),
    );
    const perOffer = new Map<string, TaskInfo[]>();
    created.forEach(({ inst, app, w, hostPorts }, k) => {
      if (!saved[k]) return;
      const info = buildTaskInfo({ app, taskId: inst.taskId, agentId: inst.agentId, hostPorts, allocationRole: w.role });
      perOffer.set(w.p.offerId, [...(perOffer.get(w.p.offerId) ?? []), info]);
      ctx.events.publish(instanceChangedEvent(inst));
    });
    for (const w of work) if (!perOffer.has(w.p.offerId)) decline.push(w.p.offerId);
    const stillWaiting = [...ctx.queue.values()].some((q) => q.count > 0);
    return {
      launches: [...perOffer].map(([offerId, tasks]) => ({ offerId, tasks })),
      decline,
      refuseSeconds: stillWaiting ? this.opts.declineRefuseSeconds : this.opts.idleRefuseSeconds,
      acceptRefuseSeconds: stillWaiting ? 0 : this.opts.declineRefuseSeconds,
    };
  }
}

/**
 * The reservation role placement checks acceptedResourceRoles against. This is not the offer's
 * allocation role (the framework's role): unreserved resources are role '*' whoever they are offered to.
 */
function reservationRoleOf(offer: { resources?: ReadonlyArray<{ role?: string; reservations?: unknown }> }): string {
  const reserved = (offer.resources ?? []).find((r) => r.role && r.role !== '*');
  return reserved?.role ?? '*';
}
