// Readiness checks (§6.2): only during deployments, for new-version instances once Running.
// Probes every intervalSeconds until a status in httpStatusCodesForReady arrives, then stops.
// Results live in InstanceRecord.readinessCheckResults (shown in /v2/deployments currentActions).
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import { portDefinitionsOf, runsCurrentConfig } from './app-defaults.ts';
import { probe } from './probe.ts';
import type { AppDefinition, InstanceRecord, ReadinessCheckDefinition, ReadinessResult } from './service.ts';

interface Loop {
  timer?: TimerHandle;
  stopped: boolean;
}

/** Is every readiness check of `app` passed by this instance (true when the app has none)? */
export function isReady(app: AppDefinition, inst: InstanceRecord): boolean {
  const checks = app.readinessChecks ?? [];
  if (!checks.length) return true;
  const res = inst.readinessCheckResults ?? [];
  return checks.every((c) => res.some((r) => r.name === (c.name ?? 'readinessCheck') && r.ready));
}

export class ReadinessMonitor {
  private readonly loops = new Map<string, Loop>();

  constructor(
    private readonly clock: Clock,
    private readonly lookup: (instanceId: string) => { inst: InstanceRecord; app: AppDefinition } | undefined,
    private readonly onChange: (inst: InstanceRecord) => void,
  ) {}

  /** Runs readiness checks for the Running instances of `app`'s version that are not yet ready. */
  sync(app: AppDefinition, instances: InstanceRecord[]): void {
    const checks = app.readinessChecks ?? [];
    if (!checks.length) return;
    for (const inst of instances) {
      if (!runsCurrentConfig(app, inst) || inst.goal !== 'Running') continue;
      if (inst.condition !== 'Running' || isReady(app, inst)) continue;
      checks.forEach((c, n) => {
        const key = `${inst.instanceId}#${n}`;
        if (this.loops.has(key)) return;
        const loop: Loop = { stopped: false };
        this.loops.set(key, loop);
        loop.timer = this.clock.setTimeout(() => void this.run(key, loop, inst.instanceId, c), 0);
      });
    }
  }

  stopInstance(instanceId: string): void {
    for (const [key, loop] of this.loops) {
      if (key.startsWith(`${instanceId}#`)) {
        loop.stopped = true;
        loop.timer?.cancel();
        this.loops.delete(key);
      }
    }
  }

  close(): void {
    for (const loop of this.loops.values()) {
      loop.stopped = true;
      loop.timer?.cancel();
    }
    this.loops.clear();
  }

  private async run(key: string, loop: Loop, instanceId: string, c: ReadinessCheckDefinition): Promise<void> {
    const found = this.lookup(instanceId);
    if (!found || loop.stopped || found.inst.condition !== 'Running') {
      this.loops.delete(key);
      return;
    }
    const { inst, app } = found;
    const name = c.name ?? 'readinessCheck';
    const pds = portDefinitionsOf(app);
    const idx = pds.findIndex((p) => p.name === (c.portName ?? 'http-api'));
    const port = inst.ports[idx >= 0 ? idx : 0];
    const started = this.clock.now();
    const r =
      port === undefined
        ? { ok: false as const, status: undefined, contentType: undefined, body: undefined }
        : await probe(
            {
              protocol: c.protocol === 'HTTPS' ? 'HTTPS' : 'HTTP',
              host: inst.host,
              port,
              path: c.path ?? '/',
              timeoutMs: Math.max(1, (c.timeoutSeconds ?? 10) * 1000),
              okStatuses: c.httpStatusCodesForReady ?? [200],
              keepBody: c.preserveLastResponse === true,
            },
            this.clock,
          );
    if (loop.stopped) return;
    const result: ReadinessResult = {
      name,
      taskId: inst.taskId,
      ready: r.ok,
      ...(c.preserveLastResponse && r.status !== undefined ? { lastResponse: { status: r.status, contentType: r.contentType ?? '', body: r.body ?? '' } } : {}),
    };
    const list = (inst.readinessCheckResults ??= []);
    const at = list.findIndex((x) => x.name === name);
    const changed = at < 0 || list[at]!.ready !== result.ready;
    if (at < 0) list.push(result);
    else list[at] = result;
    if (changed) this.onChange(inst);
    if (r.ok) {
      this.loops.delete(key);
      return;
    }
    const wait = Math.max(0, Math.max(10, (c.intervalSeconds ?? 30) * 1000) - (this.clock.now() - started));
    loop.timer = this.clock.setTimeout(() => void this.run(key, loop, instanceId, c), wait);
  }
}
