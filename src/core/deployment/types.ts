// Plain-data inputs of the deployment core (marathon.md §5, §6.1–6.2, §9.2–9.4).
// Deliberately decoupled from the Marathon JSON: the orchestrator maps its records onto these.

/** What the deployment core needs to know about an app. */
export interface AppSpec {
  /** Absolute path id, e.g. `/prod/db`. */
  id: string;
  /**
   * The version new instances are stamped with: Marathon's `versionInfo.lastConfigChangeAt`
   * (a scale-only change must NOT change it, or every scale would look like an upgrade).
   * An instance whose `version` differs is "old" during a RestartApplication.
   */
  version: string;
  instances: number;
  /** App or group ids (absolute, or relative to the app's parent group). A group id means every app under it. */
  dependencies: string[];
  upgradeStrategy: { minimumHealthCapacity: number; maximumOverCapacity: number };
  hasHealthChecks: boolean;
  hasReadinessChecks: boolean;
  killSelection: 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
  backoff: { seconds: number; factor: number; maxLaunchDelaySeconds: number };
  unreachable: { inactiveAfterSeconds: number; expungeAfterSeconds: number } | 'disabled';
  /**
   * Opaque config fingerprint of everything except `instances` (fold `versionInfo.lastConfigChangeAt`
   * in, so that `/restart` changes it). Equal id + different configHash → RestartApplication.
   */
  configHash: string;
  /** Resident (persistent-volume) app: never over-provision during a restart (§5.3). Default false. */
  resident?: boolean;
}

export type ActionName = 'StartApplication' | 'ScaleApplication' | 'RestartApplication' | 'StopApplication';
export interface DeploymentAction {
  action: ActionName;
  app: string;
}
export interface DeploymentStep {
  actions: DeploymentAction[];
}
export interface DeploymentPlanSteps {
  steps: DeploymentStep[];
  /** Ids of every app named by an action, sorted. */
  affectedApps: string[];
}

/**
 * Instance conditions the core distinguishes. Terminal instances are not passed in (they are gone).
 * - `Scheduled`: recorded but not launched yet (optional; callers that keep the launch queue as a
 *   plain count never produce it).
 * - `Killing`: a kill was ordered (goal is no longer Running), whatever Mesos says yet.
 */
export type InstanceCondition =
  | 'Scheduled'
  | 'Staging'
  | 'Starting'
  | 'Running'
  | 'Killing'
  | 'Unreachable'
  | 'UnreachableInactive';

export interface InstanceView {
  instanceId: string;
  /** App version the instance runs (compare with AppSpec.version). */
  version: string;
  condition: InstanceCondition;
  /** All health checks passing; undefined = no result yet. Ignored when the app has no health checks. */
  healthy?: boolean;
  /** Readiness check passed; undefined = no result yet. Ignored when the app has no readiness checks. */
  ready?: boolean;
  /** Epoch ms. */
  stagedAt: number;
  /** Epoch ms (TASK_RUNNING). */
  startedAt?: number;
  /** Epoch ms: when it became Unreachable (kept while Unreachable / UnreachableInactive). */
  unreachableSince?: number;
  /** It came back (Running again) after having been unreachable: the first to go on surplus. */
  wasUnreachable?: boolean;
  agentId?: string;
}

/** A kill order with a human reason (shown to operators as the kill reason). */
export interface KillDecision {
  instanceId: string;
  reason: string;
}

export interface TickProgress {
  /** Instances counting toward the goal: new-version healthy(+ready) ones (restart), healthy(+ready) ones (scale). */
  newHealthy: number;
  /** Restart: old-version instances still present (incl. those being killed). Scale: instances still to go. */
  oldRemaining: number;
  /** app.instances */
  target: number;
}

export interface TickResult {
  kill: KillDecision[];
  /**
   * How many instances should be waiting in the launch queue now, given the listed instances.
   * It is a level, not an increment: recompute it every tick and set the queue count to it
   * (or, if launches are recorded as `Scheduled` instances, record that many).
   */
  launch: number;
  /** The action is complete (the deployment may move on once every action of the step is done). */
  done: boolean;
  progress: TickProgress;
}
