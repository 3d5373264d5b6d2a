// The allocation loop around the pure allocator: batches every
// allocationIntervalMs and, coalesced, on the next tick after anything that can
// produce offers (resources freed, agent added, framework subscribed/revived).
// Owns the offer lifecycle (create → used | declined | rescinded | timed out)
// and the refusal filters.
import { allocate, pruneExpiredFilters, refuseSecondsToMs, type AllocatorFramework, type OfferFilter } from '../core/allocator/index.ts';
import { isEmptyResources, type Resources } from '../core/resources.ts';
import type { Offer } from '../protocol/mesos.ts';
import type { TimerHandle } from '../runtime/clock.ts';
import type { MasterContext } from './context.ts';
import { wireOffer } from './events.ts';
import { MAX_TIMER_MS } from './timers.ts';
import type { AgentEntry, FrameworkEntry, OfferEntry } from './state.ts';

export class OfferService {
  private filters: OfferFilter[] = [];
  private pending?: TimerHandle;
  private interval?: TimerHandle;
  private offerSeq = 0;
  private stopped = false;

  constructor(private readonly ctx: MasterContext) {}

  start(): void {
    this.interval = this.ctx.clock.setInterval(() => this.ctx.safely('allocation', () => this.run()), this.ctx.config.allocationIntervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.interval?.cancel();
    this.pending?.cancel();
    for (const o of this.ctx.state.offers.values()) o.timer?.cancel();
  }

  /** Allocation runs requested and not yet run (Mesos's allocator event queue). */
  get queuedAllocations(): number {
    return this.pending ? 1 : 0;
  }

  /** Requests an allocation on the next tick (coalesced). */
  schedule(): void {
    if (this.pending || this.stopped) return;
    const requested = performance.now();
    this.pending = this.ctx.clock.setTimeout(() => {
      this.pending = undefined;
      this.ctx.metrics.allocationLatency.record(performance.now() - requested);
      this.ctx.safely('allocation', () => this.run());
    }, 0);
  }

  /** One allocation cycle. */
  run(): void {
    if (this.stopped) return;
    const { state, clock, config, metrics } = this.ctx;
    const started = performance.now();
    const now = clock.now();
    this.filters = pruneExpiredFilters(this.filters, now);

    const agents = [];
    for (const a of state.agents.values()) {
      if (a.status !== 'registered') continue;
      agents.push({ id: a.id, hostname: a.info.hostname, total: a.total, available: state.availableOf(a), active: true });
    }
    if (agents.length === 0) return;
    const frameworks: AllocatorFramework[] = [];
    let anyActive = false;
    for (const fw of state.frameworks.values()) {
      anyActive ||= fw.connected;
      frameworks.push({
        id: fw.id,
        roles: fw.roles,
        active: fw.connected,
        suppressedRoles: [...fw.suppressedRoles],
        capabilities: [...fw.capabilities],
        allocated: Object.fromEntries(fw.allocated),
        minAllocatable: minAllocatableOf(fw),
      });
    }
    if (!anyActive) return;

    const allocations = allocate({
      now,
      agents,
      frameworks,
      weights: {},
      filters: this.filters,
      minAllocatable: config.minAllocatable,
      random: () => this.ctx.ids.random(),
    });
    metrics.inc('allocator/mesos/allocation_runs');
    metrics.allocationRunMs = performance.now() - started;

    const byFramework = new Map<FrameworkEntry, Offer[]>();
    for (const a of allocations) {
      const fw = state.frameworks.get(a.frameworkId);
      const agent = state.agents.get(a.agentId);
      if (!fw || !agent || !fw.connected || isEmptyResources(a.resources)) continue;
      const offer = this.create(fw, agent, a.role, a.resources, now);
      let list = byFramework.get(fw);
      if (!list) byFramework.set(fw, (list = []));
      list.push(wireOffer(offer, agent));
    }
    for (const [fw, offers] of byFramework) this.ctx.frameworks.send(fw, { type: 'OFFERS', offers: { offers } });
  }

  private create(fw: FrameworkEntry, agent: AgentEntry, role: string, resources: Resources, now: number): OfferEntry {
    const offer: OfferEntry = {
      id: `${this.ctx.masterId}-O${++this.offerSeq}`,
      frameworkId: fw.id,
      agentId: agent.id,
      role,
      resources,
      createdAt: now,
    };
    this.ctx.state.addOffer(offer);
    const timeout = this.ctx.config.offerTimeoutMs;
    if (timeout !== undefined && timeout > 0) {
      offer.timer = this.ctx.clock.setTimeout(
        () =>
          this.ctx.safely('offer timeout', () => {
            if (this.ctx.state.offers.get(offer.id) !== offer) return;
            this.rescind(offer);
            this.schedule();
          }),
        timeout,
      );
    }
    return offer;
  }

  /** Withdraws an outstanding offer and tells its framework (RESCIND). */
  rescind(offer: OfferEntry): void {
    const fw = this.ctx.state.frameworks.get(offer.frameworkId);
    this.ctx.state.removeOffer(offer);
    if (fw) this.ctx.frameworks.send(fw, { type: 'RESCIND', rescind: { offer_id: { value: offer.id } } });
  }

  /** Removes an offer without telling anyone (used, declined, or its framework is gone/failed over). */
  discard(offer: OfferEntry): void {
    this.ctx.state.removeOffer(offer);
  }

  rescindAgentOffers(agent: AgentEntry): void {
    for (const id of [...agent.offers]) {
      const o = this.ctx.state.offers.get(id);
      if (o) this.rescind(o);
    }
  }

  discardFrameworkOffers(fw: FrameworkEntry): void {
    for (const id of [...fw.offers]) {
      const o = this.ctx.state.offers.get(id);
      if (o) this.discard(o);
    }
  }

  /** Installs a refusal for `resources` (DECLINE / unused part of an ACCEPT). */
  refuse(frameworkId: string, role: string, agentId: string, resources: Resources, refuseSeconds: number | undefined): void {
    const ms = refuseSecondsToMs(refuseSeconds);
    if (ms <= 0 || isEmptyResources(resources)) return;
    this.filters.push({ frameworkId, role, agentId, resources, expiresAt: this.ctx.clock.now() + ms });
    // Re-offer promptly when a short refusal lapses (long ones are caught by the periodic cycle).
    if (ms <= MAX_TIMER_MS) this.ctx.clock.setTimeout(() => this.ctx.safely('filter expiry', () => this.schedule()), ms + 1);
  }

  /** REVIVE / deactivation: drops the framework's filters (for `roles`, or all). */
  clearFilters(frameworkId: string, roles?: ReadonlySet<string>): void {
    this.filters = this.filters.filter((f) => f.frameworkId !== frameworkId || (roles !== undefined && !roles.has(f.role)));
  }

  activeFilters(): readonly OfferFilter[] {
    return this.filters;
  }
}

/** FrameworkInfo.offer_filters[role].min_allocatable_resources → the allocator's per-role override. */
export function minAllocatableOf(fw: FrameworkEntry): Record<string, Array<Record<string, number>>> | undefined {
  const filters = fw.info.offer_filters;
  if (!filters) return undefined;
  const out: Record<string, Array<Record<string, number>>> = {};
  let any = false;
  for (const [role, f] of Object.entries(filters)) {
    const min = f.min_allocatable_resources;
    if (!min) continue;
    any = true;
    out[role] = (min.quantities ?? []).map((q) => {
      const set: Record<string, number> = {};
      for (const [name, s] of Object.entries(q.quantities ?? {})) set[name] = s.value;
      return set;
    });
  }
  return any ? out : undefined;
}
