// Read-side views for the service: AppStatus (counts, deployments, failures), queue entries.
import { queueDelay } from '../core/deployment/index.ts';
import type { Ctx } from './context.ts';
import { lockedApps } from './context.ts';
import { healthOf, toAppSpec } from './decide.ts';
import type { AppDefinition, AppStatus, InstanceRecord, QueueEntry, TaskCounts } from './service.ts';
import { marathonTime } from './time.ts';

export function countsOf(app: AppDefinition, instances: InstanceRecord[]): TaskCounts {
  const c: TaskCounts = { staged: 0, running: 0, healthy: 0, unhealthy: 0 };
  const hasChecks = (app.healthChecks ?? []).length > 0;
  for (const i of instances) {
    if (i.condition === 'Provisioned' || i.condition === 'Staging' || i.condition === 'Starting') c.staged++;
    else if (i.condition === 'Running') {
      c.running++;
      if (hasChecks) {
        const h = healthOf(app, i);
        if (h === true) c.healthy++;
        else if (h === false) c.unhealthy++;
      }
    }
  }
  return c;
}

export function appStatus(ctx: Ctx, app: AppDefinition, locks = lockedApps(ctx)): AppStatus {
  const instances = ctx.tracker.ofApp(app.id);
  return {
    app,
    counts: countsOf(app, instances),
    instances,
    deployments: locks.get(app.id) ?? [],
    ...(ctx.failures.has(app.id) ? { lastTaskFailure: ctx.failures.get(app.id)! } : {}),
    readinessCheckResults: instances.flatMap((i) => i.readinessCheckResults ?? []),
  };
}

export function queueEntries(ctx: Ctx): QueueEntry[] {
  const now = ctx.clock.now();
  const out: QueueEntry[] = [];
  for (const [appId, q] of ctx.queue) {
    const app = ctx.apps.get(appId);
    if (!app || q.count <= 0) continue;
    out.push({
      app,
      count: q.count,
      delay: queueDelay(toAppSpec(app), ctx.backoff.get(appId), now),
      since: marathonTime(q.since),
      processedOffersSummary: {
        processedOffersCount: q.processedOffers,
        unusedOffersCount: q.unusedOffers,
        ...(q.lastUnusedOfferAt !== undefined ? { lastUnusedOfferAt: marathonTime(q.lastUnusedOfferAt) } : {}),
        ...(q.lastUsedOfferAt !== undefined ? { lastUsedOfferAt: marathonTime(q.lastUsedOfferAt) } : {}),
        rejectSummaryLastOffers: q.lastRejects,
        rejectSummaryLaunchAttempt: q.lastRejects,
      },
      lastUnusedOffers: q.lastUnused,
      ...(q.constraintRejections ? { constraintRejections: q.constraintRejections } : {}),
    });
  }
  return out;
}
