// One tick of a RestartApplication (Marathon's TaskReplaceActor, marathon.md §5.3), stateless:
// everything is derived from the instances passed in, so a new leader resumes a half-done
// restart by simply calling it again.
//
// Per tick, with minHealthy = ceil(n × minimumHealthCapacity), maxCapacity = floor(n × (1 +
// maximumOverCapacity)) (+1 when they are equal, non-resident) and "healthy" = considered healthy
// (old: Running + health; new: Running + health + readiness):
//  1. Old instances that can never serve — UnreachableInactive (already replaced) and Scheduled
//     (never launched) — are killed at once; they count for neither health nor capacity.
//  2. Kill max(0, healthyNow − minHealthy) more old instances (resident special case: one more),
//     or, if more, the old ones beyond `instances` (oldActive + newHealthy − instances: covers a
//     force-updated previous deployment that left extra instances, and is the stateless form of
//     "each new healthy+ready instance kills one old"). Order: those not considered healthy first,
//     then unreachable → unhealthy → staging → killSelection. Both rules keep
//     healthy ≥ min(minHealthy, healthyNow).
//  3. Launch min(instances − newStarted, effectiveMaxCapacity − total) new instances, where total
//     counts every listed instance (including ones being killed: they hold resources until they
//     are gone) except UnreachableInactive ones.
//  4. Done when `instances` new instances are healthy(+ready) and no old instance is left.
// New-version instances beyond `instances` (e.g. a replaced-unreachable one came back) are killed,
// not-healthy first.
import { isConsideredHealthy, killOrder, minHealthyAndMaxCapacity } from './instances.ts';
import type { AppSpec, InstanceView, KillDecision, TickResult } from './types.ts';

export function rollingUpgradeTick(app: AppSpec, instances: readonly InstanceView[]): TickResult {
  const n = Math.max(0, app.instances);
  const { minHealthy, effectiveMaxCapacity, special } = minHealthyAndMaxCapacity(app);
  const replacedBy = `replaced by version ${app.version}`;

  const old = instances.filter((i) => i.version !== app.version);
  const fresh = instances.filter((i) => i.version === app.version);
  const live = (i: InstanceView): boolean => i.condition !== 'Killing';

  const kill: KillDecision[] = [];

  // 1. Old instances that cannot serve and hold no capacity.
  const oldLive = old.filter(live);
  for (const i of oldLive) {
    if (i.condition === 'UnreachableInactive') kill.push({ instanceId: i.instanceId, reason: `${replacedBy} (unreachable too long)` });
    else if (i.condition === 'Scheduled') kill.push({ instanceId: i.instanceId, reason: `${replacedBy} (never launched)` });
  }
  const oldActive = oldLive.filter((i) => i.condition !== 'UnreachableInactive' && i.condition !== 'Scheduled');

  // 2. Budgeted old kills.
  const oldServing = (i: InstanceView): boolean => isConsideredHealthy(app, i, false);
  const newServing = (i: InstanceView): boolean => isConsideredHealthy(app, i, true);
  const newActive = fresh.filter((i) => live(i) && i.condition !== 'UnreachableInactive');
  const newHealthy = newActive.filter(newServing).length;
  const healthyNow = oldActive.filter(oldServing).length + newHealthy;

  let budget = Math.max(0, healthyNow - minHealthy);
  if (special && app.resident && healthyNow >= minHealthy && healthyNow > 0) budget += 1;
  const extra = oldActive.length + newHealthy - n;
  budget = Math.min(oldActive.length, Math.max(budget, extra));
  if (budget > 0) {
    const ordered = killOrder(app, oldActive);
    const candidates = [...ordered.filter((i) => !oldServing(i)), ...ordered.filter(oldServing)];
    for (const i of candidates.slice(0, budget)) {
      const why = i.condition === 'Unreachable' ? `${replacedBy} (unreachable)` : replacedBy;
      kill.push({ instanceId: i.instanceId, reason: why });
    }
  }

  // Surplus new-version instances (more than `instances` of them).
  const surplusNew = newActive.length - n;
  let killedNew = 0;
  if (surplusNew > 0) {
    const ordered = killOrder(app, newActive, true);
    const candidates = [...ordered.filter((i) => !newServing(i)), ...ordered.filter(newServing)];
    for (const i of candidates.slice(0, surplusNew)) {
      kill.push({ instanceId: i.instanceId, reason: i.wasUnreachable ? 'surplus after partition heal' : `surplus above ${n} instances` });
      killedNew++;
    }
  }

  // 3. Launches. Capacity is consumed by everything listed except UnreachableInactive (replaced)
  //    and Scheduled old instances being dropped right now.
  const total = instances.filter(
    (i) => i.condition !== 'UnreachableInactive' && !(i.condition === 'Scheduled' && i.version !== app.version),
  ).length;
  const notStarted = Math.max(0, n - (newActive.length - killedNew));
  const leftCapacity = Math.max(0, effectiveMaxCapacity - total);
  const launch = Math.min(notStarted, leftCapacity);

  // 4. Done?
  const done = kill.length === 0 && launch === 0 && old.length === 0 && newHealthy >= n;
  return { kill, launch, done, progress: { newHealthy: Math.min(newHealthy, n), oldRemaining: old.length, target: n } };
}
