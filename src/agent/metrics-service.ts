// The agent's metric endpoints: GET /metrics/snapshot (slave/* keys), GET /metrics (Prometheus: the same
// values, per-container usage and the tasks' app metrics), GET /metrics/history, GET /monitor/statistics
// and GET /metrics/tasks (app metrics from StatsD), plus the history sampled every 5 s.
import type { Router } from '../http/server.ts';
import type { Clock } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import { HistorySampler, MetricsHistory, type HistoryOptions } from '../metrics/history.ts';
import type { MetricSet } from '../metrics/metric-set.ts';
import { registerMetricsRoutes } from '../metrics/routes.ts';
import { containerFamilies, monitorStatistics } from './monitor.ts';
import type { StatsdService } from './statsd.ts';
import type { TaskManager } from './tasks.ts';

export interface AgentMetricsOptions {
  history?: HistoryOptions;
  /** false: no periodic history sampling. Default true. */
  sampling?: boolean;
}

export interface AgentMetricsDeps {
  clock: Clock;
  log: Logger;
  tasks: TaskManager;
  statsd: StatsdService;
  /** Whether tasks run in cgroups (see monitor.ts). */
  cgroups: boolean;
  /** The current slave/* metrics. */
  metrics(): MetricSet;
  options?: AgentMetricsOptions;
}

export class AgentMetricsService {
  readonly history: MetricsHistory;
  private readonly sampler: HistorySampler;

  constructor(private readonly deps: AgentMetricsDeps) {
    this.history = new MetricsHistory(deps.options?.history);
    this.sampler = new HistorySampler(this.history, deps.clock, () => deps.metrics().flat(), (e) =>
      deps.log.warn('metrics history sample failed', { error: e.message }),
    );
  }

  monitor() {
    return monitorStatistics(this.deps.tasks, { cgroups: this.deps.cgroups });
  }

  register(router: Router): void {
    const d = this.deps;
    registerMetricsRoutes(router, {
      clock: d.clock,
      metrics: () => d.metrics(),
      history: this.history,
      naming: { prefix: 'mesos' },
      extraFamilies: () => [...containerFamilies(this.monitor()), ...d.statsd.families()],
    });
    // Mesos's per-container usage and limits (cgroups, /proc, disk/du).
    for (const p of ['/monitor/statistics', '/monitor/statistics.json']) router.on(['GET', 'HEAD'], p, () => ({ body: this.monitor() }));
    router.on(['GET', 'HEAD'], '/metrics/tasks', () => ({ body: d.statsd.tasks() }));
  }

  start(): void {
    if (this.deps.options?.sampling !== false) this.sampler.start();
  }

  stop(): void {
    this.sampler.stop();
  }
}
