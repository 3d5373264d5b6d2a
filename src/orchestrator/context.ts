// The shared state of one orchestrator runtime. Components (status handling, launch queue,
// deployment runner, reconciliation) read and change it; every durable change goes through
// `persist` before it is acted on.
import type { BackoffState } from '../core/deployment/index.ts';
import type { Clock } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { EventBus } from './events.ts';
import type { FrameworkConnection } from './framework.ts';
import type { InstanceTracker } from './instances.ts';
import type { GroupMeta, Persistence, RootVersion } from './persist.ts';
import type { AppDefinition, DeploymentRecord, RejectSummary, TaskFailure } from './service.ts';


/** What the launch queue holds for one app: recomputed on every tick. */
export interface QueueState {
  /** Instances to launch now (0 = not queued). */
  count: number;
  since: number;
  processedOffers: number;
  unusedOffers: number;
  lastUnusedOfferAt?: number;
  lastUsedOfferAt?: number;
  /** Reject reasons in the last offer round. */
  lastRejects: RejectSummary[];
  /** Per-constraint rejections of the last round ("hostname:UNIQUE": 3). */
  constraintRejections?: Record<string, number>;
  lastUnused: { offer: { id: string; agentId: string; hostname: string }; timestamp: string; reason: string[] }[];
}

export interface Ctx {
  clock: Clock;
  ids: IdSource;
  log: Logger;
  persist: Persistence;
  events: EventBus;
  tracker: InstanceTracker;
  fw: FrameworkConnection;
  /** Current app definitions by id. */
  apps: Map<string, AppDefinition>;
  /** Explicitly created groups (apps imply their parent groups). */
  groups: Map<string, GroupMeta>;
  /** Stored versions of the root group, oldest first (root-versions.ts). */
  rootVersions: RootVersion[];
  /** Running deployments, in creation order. */
  deployments: Map<string, DeploymentRecord>;
  failures: Map<string, TaskFailure>;
  /** Launch backoff per app (core/deployment BackoffState, per config version). */
  backoff: Map<string, BackoffState>;
  queue: Map<string, QueueState>;
  /** Tasks reported running by the master but unknown here, being killed. */
  killingUnknown: Map<string, number>;
  /** Last KILL sent per task id (for retries). */
  lastKillAt: Map<string, number>;
  /** False until the initial reconciliation after (re)subscription has been answered. */
  reconciled: boolean;
  /** Asks for a tick of the runner (coalesced). */
  requestTick(): void;
}

/** Apps locked by running deployments → the deployment ids locking them. */
export function lockedApps(ctx: Ctx): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of ctx.deployments.values()) {
    if (d.state !== 'running') continue;
    for (const a of d.affectedApps) out.set(a, [...(out.get(a) ?? []), d.id]);
  }
  return out;
}

export { configVersionOf } from './app-defaults.ts';
