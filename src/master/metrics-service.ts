// The master's metrics for the life of its process: one MasterMetrics (counters, timers) shared by
// every leadership term, the history sampled every 5 s, and the endpoints GET /metrics/snapshot,
// GET /metrics (Prometheus) and GET /metrics/history, which every master answers itself, leader or
// follower. Gauges come from the leading term's state; a follower (or a master still recovering its
// registry) reports its counters, empty gauges and master/elected 0.
import { Router, type Handler } from '../http/server.ts';
import { AGENT_MESSAGE_PATH } from '../protocol/internal.ts';
import type { Clock } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import { HistorySampler, MetricsHistory, type HistoryOptions } from '../metrics/history.ts';
import type { MetricSet } from '../metrics/metric-set.ts';
import { registerMetricsRoutes } from '../metrics/routes.ts';
import { ALERTS_FIRING_KEY } from './alerts.ts';
import { jsonReply } from './http-util.ts';
import { MasterMetrics, masterMetricSet } from './metrics.ts';
import { MASTER_NAMING } from './metrics-names.ts';
import { MasterState } from './state.ts';
import type { MasterTerm } from './term.ts';

export interface MasterMetricsOptions {
  history?: HistoryOptions;
  /** false: no periodic sampling (the bench measures what it costs). Default true. */
  sampling?: boolean;
}

export interface MasterMetricsDeps {
  clock: Clock;
  log: Logger;
  /** When the process started (master/uptime_secs). */
  startTime: number;
  /** The term this master leads now, if any. */
  term(): MasterTerm | undefined;
  options?: MasterMetricsOptions;
}

type Match = ReturnType<Router['match']>;

export class MasterMetricsService {
  readonly metrics: MasterMetrics;
  readonly history: MetricsHistory;
  private readonly sampler: HistorySampler;
  private readonly idle = new MasterState();
  private readonly inFlight = { httpRequests: 0, messages: 0 };

  constructor(private readonly deps: MasterMetricsDeps) {
    this.metrics = new MasterMetrics(deps.clock);
    this.history = new MetricsHistory(deps.options?.history);
    this.sampler = new HistorySampler(this.history, deps.clock, () => this.snapshot(), (e) =>
      deps.log.warn('metrics history sample failed', { error: e.message }),
    );
  }

  /** The typed snapshot (Mesos JSON and Prometheus are both rendered from it). */
  metricSet(): MetricSet {
    const { clock, startTime } = this.deps;
    const term = this.deps.term();
    const common = { metrics: this.metrics, now: clock.now(), startTime };
    if (!term) return masterMetricSet({ ...common, state: this.idle, elected: false });
    const { ctx } = term;
    const set = masterMetricSet({
      ...common,
      state: ctx.state,
      elected: true,
      offerFilters: ctx.offers.activeFilters(),
      allocationsQueued: ctx.offers.queuedAllocations,
      httpRequests: this.inFlight.httpRequests,
      messages: this.inFlight.messages,
      dispatches: term.scope.pendingTimers,
    });
    // The alert engine's own gauge (alerts.ts), while the term evaluates alerts.
    if (term.alerts) set.gauge(ALERTS_FIRING_KEY, term.alerts.service.firing());
    return set;
  }

  snapshot(): Record<string, number> {
    return this.metricSet().flat();
  }

  /** GET /metrics/snapshot, /metrics and /metrics/history on `router` (the master's own routes). */
  register(router: Router): void {
    registerMetricsRoutes(router, {
      clock: this.deps.clock,
      metrics: () => this.metricSet(),
      history: this.history,
      naming: MASTER_NAMING,
      json: jsonReply,
    });
  }

  /** `router`, counting the requests being handled (Mesos's event queue gauges). */
  counting(router: Router): Router {
    return new CountingRouter(router, this.inFlight);
  }

  start(): void {
    if (this.deps.options?.sampling !== false) this.sampler.start();
  }

  stop(): void {
    this.sampler.stop();
  }
}

class CountingRouter extends Router {
  constructor(
    private readonly inner: Router,
    private readonly counts: { httpRequests: number; messages: number },
  ) {
    super();
  }

  override match(method: string, path: string): Match {
    const m = this.inner.match(method, path);
    if (!m.route) return m;
    const kind = path === AGENT_MESSAGE_PATH ? 'messages' : 'httpRequests';
    const handler: Handler = m.route.handler;
    const counts = this.counts;
    return {
      ...m,
      route: {
        ...m.route,
        async handler(rc) {
          counts[kind]++;
          try {
            return await handler(rc);
          } finally {
            counts[kind]--;
          }
        },
      },
    };
  }
}
