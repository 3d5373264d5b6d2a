// Plain data types of the placement pipeline (pure: no I/O, no timers, no randomness).
// The orchestrator hands `place` the offers it holds and the app's current instances;
// placement answers which offers to use, with which exact resources and host ports, and
// why the other offers were not used (Marathon's /v2/queue reject reasons, marathon.md §1.5).
import type { Attribute } from '../../protocol/mesos.ts';
import type { Resources } from '../resources.ts';

export type { Attribute };

export interface PlacementOffer {
  offerId: string;
  agentId: string;
  hostname: string;
  attributes: Attribute[];
  /** Unreserved resources of the offer (flat form of core/resources.ts). */
  resources: Resources;
  /** Agent fault domain (`@region` / `@zone` constraint fields). */
  region?: string;
  zone?: string;
  /**
   * Reservation role of the offer's resources ('*' = unreserved, the default), which is what
   * `acceptedResourceRoles` is matched against. Not the allocation role (`allocation_info.role`,
   * the framework's role): unreserved resources offered to a framework with role "marathon"
   * are still '*'.
   */
  role?: string;
  /** Agent is draining / in a maintenance window: rejected with `AgentMaintenance`. */
  maintenance?: boolean;
}

/** An instance of the app that counts for constraints (not terminal, goal Running). */
export interface PlacedInstance {
  instanceId: string;
  agentId: string;
  hostname: string;
  attributes: Attribute[];
  region?: string;
  zone?: string;
}

export interface PlacementRequest {
  appId: string;
  /** Instances still to place. */
  count: number;
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  /**
   * One entry per port definition: 0 = any port from the offer's `ports` ranges;
   * non-zero with `requirePorts` = exactly that host port; non-zero without `requirePorts`
   * is a service port, so the host port is dynamic (as 0).
   */
  ports: readonly number[];
  requirePorts: boolean;
  /** Marathon form `[field, OPERATOR, value?]` (marathon.md §7). */
  constraints: readonly (readonly string[])[];
  /** Offer roles the app accepts; absent = any role. Resources are unreserved ('*') for now. */
  acceptedResourceRoles?: readonly string[];
  /** Marathon's `--max_instances_per_offer` (default 5). */
  maxPerOffer?: number;
  /**
   * Marathon's `--gpu_scheduling_behavior=restricted`: an app that needs no GPUs declines
   * offers that carry GPUs (`DeclinedScarceResources`). Default false: GPU agents are only
   * ranked last for non-GPU apps.
   */
  declineScarceResources?: boolean;
}

export interface Placement {
  offerId: string;
  agentId: string;
  hostname: string;
  /** Exactly what the task takes: positive scalars (cpus, mem, disk, gpus) + the host ports as ranges. */
  resources: Resources;
  /** Host ports, one per `ports` entry, same order. */
  hostPorts: number[];
}

// Marathon's NoOfferMatchReason names (marathon.md §1.5) are wire vocabulary: defined once in protocol.
import { REJECT_REASONS, type RejectReason } from '../../protocol/marathon/render.ts';
export { REJECT_REASONS, type RejectReason };

/**
 * Corral-only status: the offer already took `maxPerOffer` instances in this call. It is shown
 * by `explain` but never counted in `rejections` (the offer *was* used).
 */
export const MAX_PER_OFFER_REASON = 'MaxInstancesPerOffer';
export type FilterReason = RejectReason | typeof MAX_PER_OFFER_REASON;

/** What a filter plugin answers for one offer (Kubernetes-style typed status; never throws). */
export type FilterStatus =
  | { ok: true }
  | {
      ok: false;
      reason: FilterReason;
      /** Human explanation, e.g. "needs 2 cpus, offer has 1". */
      detail: string;
      /** For UnfulfilledConstraint: the constraint as `field:OP[:value]`. */
      constraint?: string;
    };

export interface PlacementResult {
  placements: Placement[];
  /**
   * Why offers were not used, aggregated over offers: every Marathon reason is present (0 when
   * none); an offer counts once per distinct reason it failed. When some instances could not be
   * placed, this is every offer's verdict for the first instance that could not be placed ("why
   * is the app waiting"); when all were placed, it covers the offers that got no instance.
   */
  rejections: Record<string, number>;
  /** Per-constraint detail for humans, same offers as `rejections`: e.g. {"hostname:UNIQUE": 3}. */
  constraintRejections: Record<string, number>;
  /** The distinct reasons of each offer counted in `rejections`, by offerId (for /v2/queue `lastUnusedOffers[].reason`). */
  offerRejections: Record<string, RejectReason[]>;
}

/** One filter's verdict on one offer, for `explain`. */
export interface FilterVerdict {
  filter: string;
  status: FilterStatus;
}

export interface OfferExplanation {
  offerId: string;
  agentId: string;
  hostname: string;
  /** Instances this call places on the offer. */
  placed: number;
  /** Passed every filter when last evaluated. */
  feasible: boolean;
  /** Every filter's status at the offer's last evaluation (same evaluation as `rejections`). */
  statuses: FilterVerdict[];
  /** Scorer outputs (higher is better; compared in scorer order) when feasible. */
  scores?: Record<string, number>;
}

export interface PlacementExplanation extends PlacementResult {
  /** Instances of `count` that found no offer. */
  unplaced: number;
  offers: OfferExplanation[];
}

/** An instance that may be killed on scale-down (marathon.md §5.3). */
export interface KillCandidate extends PlacedInstance {
  /**
   * Marathon instance condition: 'Unreachable' | 'UnreachableInactive' | 'Provisioned' |
   * 'Staging' | 'Starting' | 'Running' | … (others rank last).
   */
  condition: string;
  /** false when health checks fail; undefined when unknown / no checks. */
  healthy?: boolean;
  /** ISO timestamp or epoch ms. */
  stagedAt: string | number;
  startedAt?: string | number;
  /** Explicitly chosen for kill (e.g. `DELETE /v2/apps/x/tasks?scale=true`): killed first. */
  sentenced?: boolean;
}

export type KillSelection = 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
