// The placement pipeline: filters → scorers → pick, greedily one instance at a time
// (Nomad's feasibility chain + rankers; Kubernetes' Filter/Score). After each choice the
// instance counts as placed for the next one's constraint checks and spreading, and the
// offer's remaining resources shrink, so several instances can share an offer (up to
// `maxPerOffer`). Pure: same inputs, same answer.
import { normalizeRanges, roundScalar, subtractResources, type Range, type Resources } from '../resources.ts';
import { canonicalField, fieldReader } from './attributes.ts';
import { FieldGroups } from './constraints.ts';
import {
  buildFilters,
  normalizeRequest,
  offerFieldValue,
  offerState,
  type CycleState,
  type FilterContext,
  type FilterPlugin,
  type NormalizedRequest,
  type OfferState,
  type Scratch,
} from './filters.ts';
import { compareScores, DEFAULT_SCORERS, type ScorerPlugin } from './scorers.ts';
import {
  MAX_PER_OFFER_REASON,
  REJECT_REASONS,
  type OfferExplanation,
  type PlacedInstance,
  type Placement,
  type PlacementExplanation,
  type PlacementOffer,
  type PlacementRequest,
  type PlacementResult,
  type RejectReason,
} from './types.ts';

interface Chain {
  filters: FilterPlugin[];
  /** Indexes of 'offer'-scoped filters (cached per offer) and of 'placed'-scoped ones. */
  local: number[];
  placed: number[];
  scorers: readonly ScorerPlugin[];
}

interface RunOutcome {
  req: NormalizedRequest;
  chain: Chain;
  states: OfferState[];
  placements: Placement[];
  /** Whether any attempt ran (statuses are meaningful). */
  evaluated: boolean;
  /** Per offer at the last attempt: feasible, and its scores when feasible. */
  feasible: boolean[];
  scores: (number[] | undefined)[];
  /** Whether the last attempt found no offer (some instances remain unplaced). */
  stuck: boolean;
}

function initCycle(req: NormalizedRequest, placed: readonly PlacedInstance[]): CycleState {
  const fields = new Map<string, string>();
  for (const c of req.constraints) if (c.field && !c.invalid) fields.set(canonicalField(c.field), c.field);
  const groups = new Map<string, FieldGroups>();
  for (const [canonical, field] of fields) {
    const read = fieldReader(field);
    const g = new FieldGroups();
    for (const p of placed) g.add(read(p));
    groups.set(canonical, g);
  }
  const agentCounts = new Map<string, number>();
  for (const p of placed) agentCounts.set(p.agentId, (agentCounts.get(p.agentId) ?? 0) + 1);
  return { groups, agentCounts, fields };
}

function buildChain(req: NormalizedRequest): Chain {
  const filters = buildFilters(req);
  const local: number[] = [];
  const placed: number[] = [];
  filters.forEach((f, i) => (f.scope === 'offer' ? local : placed).push(i));
  return { filters, local, placed, scorers: DEFAULT_SCORERS };
}

/** Runs the chain on one offer, reusing its cached 'offer'-scoped verdicts; answers its scores when feasible. */
function evaluate(req: NormalizedRequest, chain: Chain, o: OfferState, cycle: CycleState): number[] | undefined {
  const scratch: Scratch = {};
  const ctx: FilterContext = { req, offer: o, cycle, scratch };
  if (!o.localValid) {
    for (const i of chain.local) o.statuses[i] = chain.filters[i]!.filter(ctx);
    o.hostPorts = scratch.hostPorts;
    o.localValid = true;
  }
  for (const i of chain.placed) o.statuses[i] = chain.filters[i]!.filter(ctx);
  for (const st of o.statuses) if (!st.ok) return undefined;
  const scores: number[] = [];
  for (const sc of chain.scorers) scores.push(sc.score(ctx));
  return scores;
}

/** Exactly what one instance takes: positive scalars and its host ports. */
function taskResources(req: NormalizedRequest, hostPorts: readonly number[]): Resources {
  const scalars: Record<string, number> = {};
  for (const r of ['cpus', 'mem', 'disk', 'gpus'] as const) if (req[r] > 0) scalars[r] = roundScalar(req[r]);
  const ranges: Record<string, Range[]> = {};
  if (hostPorts.length) ranges.ports = normalizeRanges(hostPorts.map((p) => ({ begin: p, end: p })));
  return { scalars, ranges, sets: {} };
}

function commit(cycle: CycleState, o: OfferState, resources: Resources): void {
  o.remaining = subtractResources(o.remaining, resources);
  o.placedHere++;
  o.localValid = false;
  cycle.agentCounts.set(o.offer.agentId, (cycle.agentCounts.get(o.offer.agentId) ?? 0) + 1);
  for (const [canonical, field] of cycle.fields) cycle.groups.get(canonical)!.add(offerFieldValue(o, field));
}

function run(request: PlacementRequest, offers: readonly PlacementOffer[], placed: readonly PlacedInstance[], evaluateWhenEmpty: boolean): RunOutcome {
  const req = normalizeRequest(request);
  const chain = buildChain(req);
  const states = offers.map(offerState);
  const cycle = initCycle(req, placed);
  const placements: Placement[] = [];
  const feasible: boolean[] = new Array<boolean>(states.length).fill(false);
  const scores: (number[] | undefined)[] = new Array<number[] | undefined>(states.length).fill(undefined);
  let stuck = false;
  const attempts = req.count > 0 ? req.count : evaluateWhenEmpty ? 1 : 0;
  for (let i = 0; i < attempts; i++) {
    let best = -1;
    for (let j = 0; j < states.length; j++) {
      const sc = evaluate(req, chain, states[j]!, cycle);
      scores[j] = sc;
      feasible[j] = sc !== undefined;
      if (sc && (best < 0 || compareScores(sc, scores[best]!) > 0)) best = j;
    }
    if (best < 0) {
      stuck = req.count > 0;
      break;
    }
    if (req.count === 0) break; // dry evaluation only
    const o = states[best]!;
    const hostPorts = o.hostPorts ?? [];
    const resources = taskResources(req, hostPorts);
    placements.push({ offerId: o.offer.offerId, agentId: o.offer.agentId, hostname: o.offer.hostname, resources, hostPorts });
    commit(cycle, o, resources);
  }
  return { req, chain, states, placements, evaluated: attempts > 0, feasible, scores, stuck };
}

function aggregate(out: RunOutcome): Omit<PlacementResult, 'placements'> {
  const rejections: Record<string, number> = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0]));
  const constraintRejections: Record<string, number> = {};
  const offerRejections: Record<string, RejectReason[]> = {};
  if (!out.evaluated) return { rejections, constraintRejections, offerRejections };
  out.states.forEach((o) => {
    // Stuck: every offer explains why the next instance waits. Otherwise only unused offers.
    if (!out.stuck && o.placedHere > 0) return;
    const reasons = new Set<RejectReason>();
    const constraints = new Set<string>();
    for (const s of o.statuses) {
      if (s.ok || s.reason === MAX_PER_OFFER_REASON) continue;
      reasons.add(s.reason);
      if (s.constraint !== undefined) constraints.add(s.constraint);
    }
    if (reasons.size) offerRejections[o.offer.offerId] = [...reasons];
    for (const r of reasons) rejections[r] = (rejections[r] ?? 0) + 1;
    for (const c of constraints) constraintRejections[c] = (constraintRejections[c] ?? 0) + 1;
  });
  return { rejections, constraintRejections, offerRejections };
}

/**
 * Chooses offers for up to `req.count` instances of the app. `placed` are the app's current
 * instances that count for constraints (not terminal, goal Running).
 */
export function place(req: PlacementRequest, offers: readonly PlacementOffer[], placed: readonly PlacedInstance[]): PlacementResult {
  const out = run(req, offers, placed, false);
  return { placements: out.placements, ...aggregate(out) };
}

/**
 * `place` plus every offer's filter statuses and scores at its last evaluation, for a dry run
 * or "why is my app waiting". With `count` 0 it evaluates the offers for one more instance.
 */
export function explain(req: PlacementRequest, offers: readonly PlacementOffer[], placed: readonly PlacedInstance[]): PlacementExplanation {
  const out = run(req, offers, placed, true);
  const offersOut: OfferExplanation[] = out.states.map((o, i) => {
    const base: OfferExplanation = {
      offerId: o.offer.offerId,
      agentId: o.offer.agentId,
      hostname: o.offer.hostname,
      placed: o.placedHere,
      feasible: out.feasible[i]!,
      statuses: out.evaluated ? out.chain.filters.map((f, k) => ({ filter: f.name, status: o.statuses[k]! })) : [],
    };
    const sc = out.scores[i];
    if (sc) base.scores = Object.fromEntries(out.chain.scorers.map((s, k) => [s.name, sc[k]!]));
    return base;
  });
  return {
    placements: out.placements,
    ...aggregate(out),
    unplaced: out.req.count - out.placements.length,
    offers: offersOut,
  };
}
