// Dispatch one deployment action to its tick.
import { scaleTick, stopTick } from './scale.ts';
import { rollingUpgradeTick } from './upgrade.ts';
import type { ActionName, AppSpec, InstanceView, TickResult } from './types.ts';

/**
 * One tick of a deployment action for its app: StartApplication only registers the app (0
 * instances) and is done at once; ScaleApplication → scaleTick; RestartApplication →
 * rollingUpgradeTick; StopApplication → stopTick ("app removed").
 */
export function actionTick(action: ActionName, app: AppSpec, instances: readonly InstanceView[], sentenced: readonly string[] = []): TickResult {
  switch (action) {
    case 'StartApplication':
      return { kill: [], launch: 0, done: true, progress: { newHealthy: 0, oldRemaining: 0, target: 0 } };
    case 'ScaleApplication':
      return scaleTick(app, instances, sentenced);
    case 'RestartApplication':
      return rollingUpgradeTick(app, instances);
    case 'StopApplication':
      return stopTick(instances);
  }
}
