// Corral's addition to Marathon's GET /v2/queue: `embed=constraintRejections` adds, per queued app,
// how many offers of the last round each of its constraints turned down ({"hostname:LIKE:nope": 3}).
// Marathon's reject summary only says "UnfulfilledConstraint"; `corral why` names the constraint.
// Opt-in like Marathon's own `embed=lastUnusedOffers`, so Marathon clients see the usual document.
import type { QueueEntry } from '../service.ts';

export const CONSTRAINT_REJECTIONS_EMBED = 'constraintRejections';

export function withConstraintRejections(item: Record<string, unknown>, entry: QueueEntry): Record<string, unknown> {
  return { ...item, constraintRejections: { ...(entry.constraintRejections ?? {}) } };
}
