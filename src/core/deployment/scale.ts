// One tick of StartApplication / ScaleApplication (TaskStartActor, scale-down via
// ScalingProposition; marathon.md §5.3) and of StopApplication. Stateless like rollingUpgradeTick.
import { isConsideredHealthy, killOrder } from './instances.ts';
import type { AppSpec, InstanceView, KillDecision, TickResult } from './types.ts';

/**
 * Scale the app to `app.instances`.
 * - Active = listed instances that are neither being killed nor UnreachableInactive (replaced).
 * - To kill: max(active − instances, sentenced-and-active) instances: the sentenced ones first (in
 *   the given order), then by killOrder (scheduled → unreachable → came back from partition →
 *   unhealthy → staging → killSelection). Sentenced UnreachableInactive ones are killed too.
 * - Launch: instances − active + killed (a sentenced instance without a matching scale-down is replaced).
 * - Done when nothing is left to kill or launch, no instance is still being killed and every
 *   active instance is considered healthy (+ready when the app has readiness checks: run them
 *   on every Running instance of the app during the step).
 */
export function scaleTick(app: AppSpec, instances: readonly InstanceView[], sentenced: readonly string[] = []): TickResult {
  const n = Math.max(0, app.instances);
  const wanted = new Set(sentenced);
  const live = instances.filter((i) => i.condition !== 'Killing');
  const active = live.filter((i) => i.condition !== 'UnreachableInactive');

  const byId = new Map(active.map((i) => [i.instanceId, i] as const));
  const sentencedActive: InstanceView[] = [];
  for (const id of sentenced) {
    const i = byId.get(id);
    if (i && !sentencedActive.includes(i)) sentencedActive.push(i);
  }
  const rest = killOrder(app, active.filter((i) => !wanted.has(i.instanceId)), true);
  const decommission = Math.max(active.length - n, sentencedActive.length);
  const kill: KillDecision[] = [];
  for (const i of sentencedActive) kill.push({ instanceId: i.instanceId, reason: 'killed on request' });
  for (const i of rest.slice(0, decommission - sentencedActive.length)) {
    kill.push({ instanceId: i.instanceId, reason: i.wasUnreachable ? 'surplus after partition heal' : `scaled down to ${n} instances` });
  }
  for (const i of live) {
    if (i.condition === 'UnreachableInactive' && wanted.has(i.instanceId)) kill.push({ instanceId: i.instanceId, reason: 'killed on request' });
  }

  const launch = Math.max(0, n - active.length + decommission);
  const stillKilling = instances.some((i) => i.condition === 'Killing');
  const remaining = active.length - decommission;
  const healthy = active.filter((i) => isConsideredHealthy(app, i, true)).length;
  const done = kill.length === 0 && launch === 0 && !stillKilling && remaining === n && healthy >= n;
  const toGo = instances.filter((i) => i.condition === 'Killing').length + kill.length;
  return { kill, launch, done, progress: { newHealthy: Math.min(healthy, n), oldRemaining: toGo, target: n } };
}

/** StopApplication: kill every instance ("app removed"); done when none is left. */
export function stopTick(instances: readonly InstanceView[], reason = 'app removed'): TickResult {
  const kill = instances.filter((i) => i.condition !== 'Killing').map((i) => ({ instanceId: i.instanceId, reason }));
  return { kill, launch: 0, done: instances.length === 0, progress: { newHealthy: 0, oldRemaining: instances.length, target: 0 } };
}
