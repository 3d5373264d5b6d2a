// Feasibility filters (the Filter extension point): each plugin looks at one offer, as it stands
// after the placements made earlier in the same call, and answers a typed status. They never
// throw and never short-circuit one another, so every reason an offer fails is reported.
import { normalizeRanges, roundScalar, type Range, type Resources } from '../resources.ts';
import { canonicalField, fieldReader } from './attributes.ts';
import { compileConstraint, FieldGroups, type CompiledConstraint } from './constraints.ts';
import {
  MAX_PER_OFFER_REASON,
  type FilterStatus,
  type PlacementOffer,
  type PlacementRequest,
  type RejectReason,
} from './types.ts';

export const DEFAULT_MAX_PER_OFFER = 5;

/** The request with numbers sanitised and constraints compiled (once per call). */
export interface NormalizedRequest {
  appId: string;
  count: number;
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  ports: number[];
  requirePorts: boolean;
  constraints: CompiledConstraint[];
  acceptedResourceRoles?: readonly string[];
  maxPerOffer: number;
  declineScarceResources: boolean;
}

/** Non-finite or negative needs can never be met (Infinity); the caller validates, we never crash. */
const need = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? (v < 0 ? Infinity : v) : Infinity);

export function normalizeRequest(req: PlacementRequest): NormalizedRequest {
  const count = typeof req.count === 'number' && Number.isFinite(req.count) ? Math.max(0, Math.floor(req.count)) : 0;
  const maxPerOffer =
    typeof req.maxPerOffer === 'number' && !Number.isNaN(req.maxPerOffer) ? req.maxPerOffer : DEFAULT_MAX_PER_OFFER;
  return {
    appId: req.appId,
    count,
    cpus: need(req.cpus ?? 0),
    mem: need(req.mem ?? 0),
    disk: need(req.disk ?? 0),
    gpus: need(req.gpus ?? 0),
    ports: (req.ports ?? []).map((p) => (typeof p === 'number' && Number.isInteger(p) && p > 0 ? p : 0)),
    requirePorts: req.requirePorts === true,
    constraints: (req.constraints ?? []).map((c) => compileConstraint(Array.isArray(c) ? c : [])),
    acceptedResourceRoles: req.acceptedResourceRoles,
    maxPerOffer,
    declineScarceResources: req.declineScarceResources === true,
  };
}

/** One offer during a call: what is left of it and what it took already. */
export interface OfferState {
  index: number;
  offer: PlacementOffer;
  remaining: Resources;
  /** Instances placed on this offer in this call. */
  placedHere: number;
  /** Canonical field → the offer's value (cache). */
  readonly fields: Map<string, string | undefined>;
  /** Every filter's status at the offer's latest evaluation (aligned with the filter chain). */
  statuses: FilterStatus[];
  /** Whether the 'offer'-scoped slots of `statuses` (and `hostPorts`) are current. */
  localValid: boolean;
  /** Host ports the Ports filter chose at the latest evaluation. */
  hostPorts?: number[];
}

export function offerState(offer: PlacementOffer, index: number): OfferState {
  return { index, offer, remaining: offer.resources, placedHere: 0, fields: new Map(), statuses: [], localValid: false };
}

export function offerFieldValue(o: OfferState, field: string): string | undefined {
  const key = canonicalField(field);
  if (o.fields.has(key)) return o.fields.get(key);
  const v = fieldReader(field)(o.offer);
  o.fields.set(key, v);
  return v;
}

/** Per-call state shared by filters and scorers: the app's placed instances, grouped. */
export interface CycleState {
  /** Canonical constraint field → placed instances per value. */
  groups: Map<string, FieldGroups>;
  /** Agent id → instances of the app on it. */
  agentCounts: Map<string, number>;
  /** The fields the request's constraints read (canonical → as written). */
  fields: Map<string, string>;
}

/** Where a filter can leave what it computed for the placement (Kubernetes' CycleState). */
export interface Scratch {
  hostPorts?: number[];
}

export interface FilterContext {
  req: NormalizedRequest;
  offer: OfferState;
  cycle: CycleState;
  scratch: Scratch;
}

export interface FilterPlugin {
  readonly name: string;
  /**
   * 'offer': the verdict depends only on the request and the offer's own state, so it is cached
   * until an instance lands on that offer. 'placed': it reads the app's placed instances and is
   * re-evaluated for every instance.
   */
  readonly scope: 'offer' | 'placed';
  filter(ctx: FilterContext): FilterStatus;
}

const OK: FilterStatus = { ok: true };
const reject = (reason: RejectReason | typeof MAX_PER_OFFER_REASON, detail: string, constraint?: string): FilterStatus =>
  constraint === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, constraint };

export const maxPerOfferFilter: FilterPlugin = {
  name: 'MaxInstancesPerOffer',
  scope: 'offer',
  filter: ({ req, offer }) =>
    offer.placedHere < req.maxPerOffer
      ? OK
      : reject(MAX_PER_OFFER_REASON, `offer already took ${offer.placedHere} of at most ${req.maxPerOffer} instances`),
};

export const maintenanceFilter: FilterPlugin = {
  name: 'AgentMaintenance',
  scope: 'offer',
  filter: ({ offer }) => (offer.offer.maintenance ? reject('AgentMaintenance', 'agent is in maintenance') : OK),
};

export const roleFilter: FilterPlugin = {
  name: 'Roles',
  scope: 'offer',
  filter: ({ req, offer }) => {
    const accepted = req.acceptedResourceRoles;
    const role = offer.offer.role ?? '*';
    if (!accepted || accepted.length === 0 || accepted.includes(role)) return OK;
    return reject('UnfulfilledRole', `offer role ${role} is not in acceptedResourceRoles [${accepted.join(', ')}]`);
  },
};

export const scarceResourcesFilter: FilterPlugin = {
  name: 'ScarceResources',
  scope: 'offer',
  filter: ({ req, offer }) =>
    req.declineScarceResources && req.gpus <= 0 && (offer.remaining.scalars.gpus ?? 0) > 0
      ? reject('DeclinedScarceResources', 'app needs no GPUs, offer has GPUs')
      : OK,
};

function scalarFilter(
  name: string,
  resource: 'cpus' | 'mem' | 'disk' | 'gpus',
  reason: RejectReason,
): FilterPlugin {
  return {
    name,
    scope: 'offer',
    filter: ({ req, offer }) => {
      const wanted = req[resource];
      if (wanted <= 0) return OK;
      const have = offer.remaining.scalars[resource] ?? 0;
      if (roundScalar(have) >= roundScalar(wanted)) return OK;
      return reject(reason, `needs ${resource} ${roundScalar(wanted)}, offer has ${roundScalar(have)}`);
    },
  };
}

export const cpusFilter = scalarFilter('Cpus', 'cpus', 'InsufficientCpus');
export const memFilter = scalarFilter('Memory', 'mem', 'InsufficientMemory');
export const diskFilter = scalarFilter('Disk', 'disk', 'InsufficientDisk');
export const gpusFilter = scalarFilter('Gpus', 'gpus', 'InsufficientGpus');

export type PortChoice = { ok: true; hostPorts: number[] } | { ok: false; detail: string };

/**
 * Host ports for one instance from `available` (the offer's remaining `ports` ranges): entries
 * that are non-zero with `requirePorts` must be free exactly; the others get the lowest free
 * ports, ascending, distinct from each other and from the exact ones.
 */
export function choosePorts(available: readonly Range[], requested: readonly number[], requirePorts: boolean): PortChoice {
  if (requested.length === 0) return { ok: true, hostPorts: [] };
  const ranges = normalizeRanges([...available]);
  const inRanges = (p: number) => ranges.some((r) => p >= r.begin && p <= r.end);
  const fixed = new Set<number>();
  for (const p of requested) {
    if (!(requirePorts && p > 0)) continue;
    if (fixed.has(p)) return { ok: false, detail: `port ${p} requested twice` };
    if (!inRanges(p)) return { ok: false, detail: `port ${p} is not offered` };
    fixed.add(p);
  }
  const dynamicCount = requested.length - fixed.size;
  const dynamic: number[] = [];
  for (const r of ranges) {
    for (let p = r.begin; p <= r.end && dynamic.length < dynamicCount; p++) if (!fixed.has(p)) dynamic.push(p);
    if (dynamic.length >= dynamicCount) break;
  }
  if (dynamic.length < dynamicCount) {
    const free = ranges.reduce((n, r) => n + (r.end - r.begin + 1), 0) - fixed.size;
    return { ok: false, detail: `needs ${dynamicCount} more port${dynamicCount === 1 ? '' : 's'}, offer has ${free} free` };
  }
  let next = 0;
  return { ok: true, hostPorts: requested.map((p) => (requirePorts && p > 0 ? p : dynamic[next++]!)) };
}

export const portsFilter: FilterPlugin = {
  name: 'Ports',
  scope: 'offer',
  filter: ({ req, offer, scratch }) => {
    const choice = choosePorts(offer.remaining.ranges.ports ?? [], req.ports, req.requirePorts);
    if (!choice.ok) return reject('InsufficientPorts', choice.detail);
    scratch.hostPorts = choice.hostPorts;
    return OK;
  },
};

/** One filter per app constraint, named `Constraint(field:OP[:value])`. */
export function constraintFilter(c: CompiledConstraint): FilterPlugin {
  return {
    name: `Constraint(${c.key})`,
    scope: c.dependsOnPlaced ? 'placed' : 'offer',
    filter: ({ offer, cycle }) => {
      if (c.invalid !== undefined) return reject('UnfulfilledConstraint', c.invalid, c.key);
      const value = offerFieldValue(offer, c.field);
      if (value === undefined) {
        return c.acceptsMissingField ? OK : reject('UnfulfilledConstraint', `agent has no ${c.field}`, c.key);
      }
      const groups = cycle.groups.get(canonicalField(c.field)) ?? new FieldGroups();
      const r = c.check(value, groups);
      return r.ok ? OK : reject('UnfulfilledConstraint', r.detail, c.key);
    },
  };
}

/** The filter chain for a request, in evaluation (and reporting) order. */
export function buildFilters(req: NormalizedRequest): FilterPlugin[] {
  return [
    maxPerOfferFilter,
    maintenanceFilter,
    roleFilter,
    scarceResourcesFilter,
    cpusFilter,
    memFilter,
    diskFilter,
    gpusFilter,
    portsFilter,
    ...req.constraints.map(constraintFilter),
  ];
}
