// Applies Mesos status updates to the instance tracker: persist first, then acknowledge (an
// update is never acknowledged before the state change it carries is durable). Terminal
// updates of instances that should be running record lastTaskFailure and launch backoff, then
// expunge the instance so the reconciler replaces it. Unknown non-terminal tasks are killed.
import type { TaskStatus } from '../protocol/mesos.ts';
import { countsForBackoff, recordLaunchFailure } from '../core/deployment/index.ts';
import { runsCurrentConfig } from './app-defaults.ts';
import { toAppSpec } from './decide.ts';
import type { Ctx } from './context.ts';
import { conditionOf, isTerminalCondition } from './instances.ts';
import type { InstanceRecord, TaskFailure } from './service.ts';
import { appIdOfTask, instanceIdOfTask } from './task-ids.ts';
import { marathonTime } from './time.ts';
import { instanceChangedEvent } from './events.ts';

export interface StatusHooks {
  /** A task answered (for the reconciliation bookkeeping). */
  answered(taskId: string): void;
  /** The instance left (terminal): stop its checks. */
  stopped(inst: InstanceRecord): void;
  /** The master reported a task this orchestrator does not know and it is not terminal: kill it. */
  killUnknown(taskId: string, agentId: string | undefined): void;
}

export async function applyStatusUpdate(ctx: Ctx, status: TaskStatus, hooks: StatusHooks): Promise<void> {
  const now = ctx.clock.now();
  const taskId = status.task_id.value;
  hooks.answered(taskId);
  const before = ctx.tracker.byTaskId(taskId);
  const prevState = before?.state;
  const outcome = ctx.tracker.applyStatus(status, now);
  if (!outcome) {
    const terminal = isTerminalCondition(conditionOf(status.state));
    if (!terminal) hooks.killUnknown(taskId, status.agent_id?.value);
    else if (ctx.killingUnknown.has(taskId)) {
      ctx.killingUnknown.delete(taskId);
      ctx.events.publish({
        eventType: 'unknown_instance_terminated_event',
        instanceId: instanceIdOfTask(taskId) ?? taskId,
        runSpecId: appIdOfTask(taskId) ?? '/',
        condition: 'Killed',
      });
    }
    return;
  }
  if (outcome.duplicate) return;
  const inst = outcome.instance;
  const changed = outcome.conditionChanged || outcome.healthChanged || prevState !== inst.state;
  if (outcome.terminal) {
    if (inst.goal === 'Running') await recordFailure(ctx, inst, status, now);
    hooks.stopped(inst);
    await ctx.tracker.expunge(inst);
  } else if (changed) {
    await ctx.tracker.save(inst);
  }
  if (!changed) return; // a reconciliation answer that told nothing new
  ctx.events.publish({
    eventType: 'status_update_event',
    slaveId: inst.agentId,
    taskId: inst.taskId,
    taskStatus: status.state,
    message: status.message ?? '',
    appId: inst.appId,
    host: inst.host,
    ipAddresses: [],
    ports: inst.ports,
    version: inst.version,
  });
  if (outcome.conditionChanged) {
    ctx.events.publish(instanceChangedEvent(inst));
  }
  if (outcome.healthChanged && inst.mesosHealthy !== undefined) {
    ctx.events.publish({ eventType: 'health_status_changed_event', appId: inst.appId, instanceId: inst.instanceId, version: inst.version, alive: inst.mesosHealthy });
    ctx.events.publish({
      eventType: 'instance_health_changed_event',
      instanceId: inst.instanceId,
      runSpecId: inst.appId,
      runSpecVersion: inst.version,
      healthy: inst.mesosHealthy,
    });
  }
  ctx.requestTick();
}

async function recordFailure(ctx: Ctx, inst: InstanceRecord, status: TaskStatus, now: number): Promise<void> {
  const failure: TaskFailure = {
    appId: inst.appId,
    host: inst.host,
    message: status.message ?? '',
    state: status.state,
    taskId: inst.taskId,
    timestamp: marathonTime(status.timestamp ? status.timestamp * 1000 : now),
    version: inst.version,
    ...(inst.agentId ? { slaveId: inst.agentId } : {}),
  };
  ctx.failures.set(inst.appId, failure);
  await ctx.persist.saveFailure(failure);
  const app = ctx.apps.get(inst.appId);
  if (!app || !countsForBackoff(status.state) || !runsCurrentConfig(app, inst)) return;
  ctx.backoff.set(app.id, recordLaunchFailure(toAppSpec(app), ctx.backoff.get(app.id), now));
}
