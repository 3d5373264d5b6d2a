// Scorers (the Score extension point): rank the feasible offers for one instance. Scores are
// compared lexicographically in chain order (higher is better), then by offer order, so the
// outcome is deterministic and each step is explainable on its own.
import type { FilterContext } from './filters.ts';

export interface ScorerPlugin {
  readonly name: string;
  score(ctx: FilterContext): number;
}

/** Marathon spreads across agents by default: prefer agents running fewer instances of the app. */
export const spreadScorer: ScorerPlugin = {
  name: 'Spread',
  score: ({ offer, cycle }) => -(cycle.agentCounts.get(offer.offer.agentId) ?? 0),
};

/** Keep GPU agents for GPU apps: an app needing no GPUs ranks offers carrying GPUs last. */
export const scarceScorer: ScorerPlugin = {
  name: 'AvoidScarce',
  score: ({ req, offer }) => (req.gpus <= 0 && (offer.remaining.scalars.gpus ?? 0) > 0 ? -1 : 0),
};

const BINPACK_RESOURCES = ['cpus', 'mem', 'disk', 'gpus'] as const;

/**
 * Bin-packing tiebreak: prefer the offer this instance leaves least free, measured as the sum
 * over cpus/mem/disk/gpus of (left after placing) / (offered at the start of the call).
 */
export const binPackScorer: ScorerPlugin = {
  name: 'BinPack',
  score: ({ req, offer }) => {
    let left = 0;
    for (const r of BINPACK_RESOURCES) {
      const total = offer.offer.resources.scalars[r] ?? 0;
      if (total <= 0) continue;
      const after = (offer.remaining.scalars[r] ?? 0) - Math.max(0, req[r]);
      left += Math.max(0, after) / total;
    }
    return -left;
  },
};

export const DEFAULT_SCORERS: readonly ScorerPlugin[] = [spreadScorer, scarceScorer, binPackScorer];

/** Lexicographic comparison of score vectors: > 0 when `a` is better. */
export function compareScores(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (Math.abs(d) > 1e-12) return d;
  }
  return 0;
}
