// Marathon-level health checks (HTTP, HTTPS, TCP) run by the orchestrator against
// host:hostPort of each Running instance of the app's current version (§6.1). One loop per
// (instance, check): the first probe right away, then one per interval, never overlapping,
// stopped with the instance. Failures inside the grace period (before the first success)
// are not counted. After maxConsecutiveFailures counted failures the instance is reported
// for killing (never while unreachable).
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import { runsCurrentConfig } from './app-defaults.ts';
import { checkPort, isMesosCheck } from './task-builder.ts';
import { probe } from './probe.ts';
import type { AppDefinition, HealthCheckDefinition, HealthResult, InstanceRecord, MarathonEventBus } from './service.ts';
import { marathonTime, parseTime } from './time.ts';

export interface HealthCallbacks {
  /** A result changed alive state (persist, tick deployments). */
  onHealthChanged(inst: InstanceRecord): void;
  /** Kill this instance: it failed too many checks. */
  onUnhealthy(inst: InstanceRecord, reason: string): void;
}

interface Loop {
  key: string;
  instanceId: string;
  index: number;
  timer?: TimerHandle;
  running: boolean;
  stopped: boolean;
}

export const isMarathonCheck = (hc: HealthCheckDefinition): boolean => !isMesosCheck(hc);

export function emptyHealth(instanceId: string): HealthResult {
  return { alive: false, consecutiveFailures: 0, firstSuccess: null, lastSuccess: null, lastFailure: null, lastFailureCause: null, instanceId };
}

export class HealthMonitor {
  private readonly loops = new Map<string, Loop>();

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: MarathonEventBus,
    private readonly lookup: (instanceId: string) => { inst: InstanceRecord; app: AppDefinition } | undefined,
    private readonly cb: HealthCallbacks,
  ) {}

  /** Starts/stops loops so that exactly the Running current-version instances of `app` are checked. */
  sync(app: AppDefinition | undefined, instances: InstanceRecord[]): void {
    const checks = (app?.healthChecks ?? []).map((hc, i) => ({ hc, i })).filter(({ hc }) => isMarathonCheck(hc));
    const want = new Set<string>();
    for (const inst of instances) {
      if (!app || !runsCurrentConfig(app, inst) || inst.condition !== 'Running' || inst.goal !== 'Running') continue;
      if (inst.healthCheckResults.length !== checks.length) {
        inst.healthCheckResults = checks.map(() => emptyHealth(inst.instanceId));
      }
      checks.forEach((_c, n) => {
        const key = `${inst.instanceId}#${n}`;
        want.add(key);
        if (!this.loops.has(key)) this.startLoop(key, inst.instanceId, n);
      });
    }
    const ids = new Set(instances.map((i) => i.instanceId));
    for (const [key, loop] of this.loops) {
      if (ids.has(loop.instanceId) && !want.has(key)) this.stopLoop(key);
    }
  }

  /** Stops every loop of an instance (it is gone or being killed). */
  stopInstance(instanceId: string): void {
    for (const [key, loop] of this.loops) if (loop.instanceId === instanceId) this.stopLoop(key);
  }

  close(): void {
    for (const key of [...this.loops.keys()]) this.stopLoop(key);
  }

  private startLoop(key: string, instanceId: string, index: number): void {
    const loop: Loop = { key, instanceId, index, running: false, stopped: false };
    this.loops.set(key, loop);
    loop.timer = this.clock.setTimeout(() => void this.run(loop), 0);
  }

  private stopLoop(key: string): void {
    const loop = this.loops.get(key);
    if (!loop) return;
    loop.stopped = true;
    loop.timer?.cancel();
    this.loops.delete(key);
  }

  private async run(loop: Loop): Promise<void> {
    if (loop.stopped || loop.running) return;
    const found = this.lookup(loop.instanceId);
    if (!found) return this.stopLoop(loop.key);
    const { app } = found;
    const checks = (app.healthChecks ?? []).filter(isMarathonCheck);
    const hc = checks[loop.index];
    if (!hc) return this.stopLoop(loop.key);
    loop.running = true;
    const started = this.clock.now();
    const port = checkPort(hc, found.inst.ports);
    const timeoutMs = Math.max(1, (hc.timeoutSeconds ?? 20) * 1000);
    const result =
      port === undefined
        ? { ok: false, cause: `no host port at index ${hc.portIndex ?? 0}` }
        : await probe(
            { protocol: (hc.protocol ?? 'HTTP') as 'HTTP' | 'HTTPS' | 'TCP', host: found.inst.host, port, path: hc.path ?? '/', timeoutMs },
            this.clock,
          );
    loop.running = false;
    if (loop.stopped) return;
    const again = this.lookup(loop.instanceId);
    if (!again) return this.stopLoop(loop.key);
    this.record(again.inst, again.app, hc, loop.index, result.ok, result.cause ?? '');
    const intervalMs = Math.max(10, (hc.intervalSeconds ?? 60) * 1000);
    const wait = Math.max(0, intervalMs - (this.clock.now() - started));
    if (!loop.stopped) loop.timer = this.clock.setTimeout(() => void this.run(loop), wait);
  }

  private record(inst: InstanceRecord, app: AppDefinition, hc: HealthCheckDefinition, index: number, ok: boolean, cause: string): void {
    const now = this.clock.now();
    const ts = marathonTime(now);
    const r = inst.healthCheckResults[index] ?? (inst.healthCheckResults[index] = emptyHealth(inst.instanceId));
    const wasAlive = r.alive;
    if (ok) {
      r.alive = true;
      r.consecutiveFailures = 0;
      r.firstSuccess ??= ts;
      r.lastSuccess = ts;
    } else {
      const startedAt = parseTime(inst.startedAt) ?? now;
      const inGrace = r.firstSuccess === null && now - startedAt < (hc.gracePeriodSeconds ?? 300) * 1000;
      if (inGrace) return; // ignored: not yet alive, not counted
      r.alive = false;
      r.consecutiveFailures += 1;
      r.lastFailure = ts;
      r.lastFailureCause = cause;
      this.events.publish({ eventType: 'failed_health_check_event', appId: app.id, taskId: inst.taskId, instanceId: inst.instanceId, healthCheck: hc });
    }
    if (wasAlive !== r.alive) {
      this.events.publish({ eventType: 'health_status_changed_event', appId: app.id, instanceId: inst.instanceId, version: inst.version, alive: r.alive });
      const all = inst.healthCheckResults.every((x) => x.alive);
      this.events.publish({
        eventType: 'instance_health_changed_event',
        instanceId: inst.instanceId,
        runSpecId: app.id,
        runSpecVersion: inst.version,
        healthy: all,
      });
      this.cb.onHealthChanged(inst);
    }
    const max = hc.maxConsecutiveFailures ?? 3;
    if (!ok && max > 0 && r.consecutiveFailures >= max && inst.condition !== 'Unreachable' && inst.condition !== 'UnreachableInactive') {
      this.log.info('instance failed health checks; killing', { instanceId: inst.instanceId, failures: r.consecutiveFailures, cause });
      this.stopInstance(inst.instanceId);
      this.cb.onUnhealthy(inst, cause || 'health check failed');
    }
  }
}
