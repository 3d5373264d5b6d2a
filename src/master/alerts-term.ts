// Wires the alert service into a leadership term: it reads the process's metrics history (sampled by
// the metrics service, which every master runs) or, without one, samples the term's snapshot itself;
// its timers are the term's (cancelled when the term ends), its routes are on the term's router.
import type { MetricHistory } from '../core/alerts/index.ts';
import type { Router } from '../http/server.ts';
import { registerAlertRoutes, type MasterAlerts } from './alerts-api.ts';
import { AlertService } from './alerts.ts';
import type { MasterContext } from './context.ts';
import { metricsSnapshot } from './metrics.ts';

export function startMasterAlerts(router: Router, ctx: MasterContext, history?: MetricHistory): MasterAlerts {
  const service = new AlertService({
    clock: ctx.clock,
    log: ctx.log.child('alerts'),
    history,
    snapshot: () => metricsSnapshot({ state: ctx.state, metrics: ctx.metrics, now: ctx.clock.now(), startTime: ctx.startTime }),
    options: ctx.config.alerts,
  });
  return registerAlertRoutes(router, service, ctx.clock);
}
