// Marathon's defaults for the fields the runtime interprets (marathon.md §3.1), applied to
// definitions that may come without them (the wire layer normally fills them in already).
import type { AppDefinition } from './service.ts';

export interface EffectiveApp {
  instances: number;
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  backoffSeconds: number;
  backoffFactor: number;
  maxLaunchDelaySeconds: number;
  minimumHealthCapacity: number;
  maximumOverCapacity: number;
  killSelection: 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
  /** undefined = disabled (never replace). */
  unreachable?: { inactiveAfterSeconds: number; expungeAfterSeconds: number };
}

const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);

export function appDefaults(app: AppDefinition): EffectiveApp {
  const us = app.upgradeStrategy ?? {};
  const ur = app.unreachableStrategy;
  return {
    instances: num(app.instances, 1),
    cpus: num(app.cpus, 1),
    mem: num(app.mem, 128),
    disk: num(app.disk, 0),
    gpus: num(app.gpus, 0),
    backoffSeconds: num(app.backoffSeconds, 1),
    backoffFactor: num(app.backoffFactor, 1.15),
    maxLaunchDelaySeconds: num(app.maxLaunchDelaySeconds, 300),
    minimumHealthCapacity: num(us.minimumHealthCapacity, 1),
    maximumOverCapacity: num(us.maximumOverCapacity, 1),
    killSelection: app.killSelection === 'OLDEST_FIRST' ? 'OLDEST_FIRST' : 'YOUNGEST_FIRST',
    unreachable:
      ur === 'disabled'
        ? undefined
        : { inactiveAfterSeconds: num(ur?.inactiveAfterSeconds, 0), expungeAfterSeconds: num(ur?.expungeAfterSeconds, 0) },
  };
}

/** Port definitions in effect: omitted → one port (`[{port:0,name:'default'}]`); `[]` → none. */
export function portDefinitionsOf(app: AppDefinition): NonNullable<AppDefinition['portDefinitions']> {
  return app.portDefinitions ?? [{ port: 0, protocol: 'tcp', name: 'default' }];
}

/** The version instances are stamped with (versionInfo.lastConfigChangeAt): a scale-only change keeps it. */
export const configVersionOf = (app: AppDefinition): string => app.versionInfo?.lastConfigChangeAt ?? app.version ?? '';

/** Does the instance run the app's current configuration? */
export const runsCurrentConfig = (app: AppDefinition, inst: { configVersion?: string; version: string }): boolean =>
  (inst.configVersion ?? inst.version) === configVersionOf(app);
