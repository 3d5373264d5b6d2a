// Scale-down kill order (marathon.md §5.3 last bullet; ScalingProposition / Constraints
// `selectInstancesToKill`): instances sentenced explicitly first, then the instances needed
// to keep GROUP_BY / MAX_PER distributions even (taken from the largest groups), then by
// condition (Unreachable, Unhealthy, Staging/Starting, Running) and `killSelection`.
// Unlike Marathon, which picks arbitrarily inside the largest groups, the condition order
// also decides between equally good candidates there.
import { canonicalField, fieldReader } from './attributes.ts';
import type { KillCandidate, KillSelection } from './types.ts';

function conditionRank(c: KillCandidate): number {
  switch (c.condition) {
    case 'Unreachable':
    case 'UnreachableInactive':
      return 0;
  }
  if (c.healthy === false) return 1;
  switch (c.condition) {
    case 'Provisioned':
    case 'Staging':
    case 'Starting':
      return 2;
    case 'Running':
      return 3;
    default:
      return 4;
  }
}

function timeOf(c: KillCandidate): number {
  const t = c.startedAt ?? c.stagedAt;
  const n = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(n) ? n : 0;
}

/** Kill priority: condition, then age per `killSelection` (YOUNGEST_FIRST = latest start first), then id. */
export function killOrder(killSelection: KillSelection): (a: KillCandidate, b: KillCandidate) => number {
  return (a, b) => {
    const d = conditionRank(a) - conditionRank(b);
    if (d !== 0) return d;
    const ta = timeOf(a);
    const tb = timeOf(b);
    if (ta !== tb) return killSelection === 'OLDEST_FIRST' ? ta - tb : tb - ta;
    return a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0;
  };
}

/** Instance counts per value of one field, over the instances not chosen yet. */
class Distribution {
  private readonly sizes = new Map<string, number>();
  private readonly keyOf = new Map<string, string>();

  constructor(field: string, candidates: readonly KillCandidate[]) {
    const read = fieldReader(field);
    for (const c of candidates) {
      const v = read(c);
      const key = v === undefined ? '\u0000missing' : `=${v}`;
      this.keyOf.set(c.instanceId, key);
      this.sizes.set(key, (this.sizes.get(key) ?? 0) + 1);
    }
  }

  remove(c: KillCandidate): void {
    const key = this.keyOf.get(c.instanceId)!;
    const n = this.sizes.get(key)! - 1;
    if (n === 0) this.sizes.delete(key);
    else this.sizes.set(key, n);
  }

  max(): number {
    let m = 0;
    for (const n of this.sizes.values()) if (n > m) m = n;
    return m;
  }

  sizeOf(c: KillCandidate): number {
    return this.sizes.get(this.keyOf.get(c.instanceId)!) ?? 0;
  }
}

/**
 * Picks `count` instances to kill (fewer when there are fewer candidates) and returns their ids
 * in kill order. `candidates` are the app's instances with goal Running.
 */
export function selectInstancesToKill(
  candidates: readonly KillCandidate[],
  count: number,
  constraints: readonly (readonly string[])[],
  killSelection: KillSelection = 'YOUNGEST_FIRST',
): string[] {
  const n = Math.min(Number.isFinite(count) ? Math.max(0, Math.floor(count)) : 0, candidates.length);
  if (n === 0) return [];
  const ordered = [...candidates].sort(killOrder(killSelection));
  const chosen: KillCandidate[] = [];
  const isChosen = new Set<string>();
  const choose = (c: KillCandidate) => {
    chosen.push(c);
    isChosen.add(c.instanceId);
  };

  for (const c of ordered) if (c.sentenced && chosen.length < n) choose(c);

  const fields = new Map<string, string>();
  for (const c of constraints) {
    const op = typeof c[1] === 'string' ? c[1].toUpperCase() : '';
    if ((op === 'GROUP_BY' || op === 'MAX_PER') && typeof c[0] === 'string' && c[0] !== '') fields.set(canonicalField(c[0]), c[0]);
  }
  const rest = ordered.filter((c) => !isChosen.has(c.instanceId));
  const dists = [...fields.values()].map((f) => new Distribution(f, rest));

  while (chosen.length < n) {
    // The first candidate (in kill order) that sits in the largest group of every distribution;
    // failing that, the one farthest from it in total.
    const maxes = dists.map((d) => d.max());
    let best: KillCandidate | undefined;
    let bestGap = Infinity;
    for (const c of rest) {
      if (isChosen.has(c.instanceId)) continue;
      let gap = 0;
      for (let i = 0; i < dists.length; i++) gap += maxes[i]! - dists[i]!.sizeOf(c);
      if (gap < bestGap) {
        best = c;
        bestGap = gap;
        if (gap === 0) break;
      }
    }
    if (!best) break;
    choose(best);
    for (const d of dists) d.remove(best);
  }
  return chosen.map((c) => c.instanceId);
}
