// The DeploymentPlan JSON carried by deployment events (marathon.md §5.1/§8).
import type { DeploymentPlanJson, DeploymentRecord } from './service.ts';

export function planJson(d: DeploymentRecord): DeploymentPlanJson {
  return {
    id: d.id,
    version: d.version,
    original: { id: '/', apps: Object.values(d.original) },
    target: { id: '/', apps: Object.values(d.target) },
    steps: d.steps,
  };
}
