// GET /metrics: Marathon's Dropwizard-style JSON, or, for a Prometheus scraper (Accept naming text/plain or
// OpenMetrics and not JSON) and at GET /metrics/prometheus, the same gauges under Prometheus names
// (`marathon.apps.active.gauge` → `marathon_apps_active`: dots as `_`, the type suffix dropped, as
// Prometheus names do not carry their type) plus this process's own metrics.
import { exposition, PROMETHEUS_CONTENT_TYPE } from '../../metrics/prometheus.ts';
import { sanitizeName } from '../../metrics/prometheus-names.ts';
import type { OrchestratorService } from '../service.ts';
import type { Reply } from './http.ts';

type Service = Pick<OrchestratorService, 'listApps' | 'listInstances' | 'listDeployments' | 'queue'>;

export function marathonGauges(service: Service): Record<string, number> {
  const inst = service.listInstances();
  return {
    'marathon.apps.active.gauge': service.listApps().length,
    'marathon.deployments.active.gauge': service.listDeployments().length,
    'marathon.instances.running.gauge': inst.filter((i) => i.state === 'TASK_RUNNING').length,
    'marathon.instances.staged.gauge': inst.filter((i) => i.state === 'TASK_STAGING' || i.state === 'TASK_STARTING').length,
    'marathon.instances.launch-overdue.gauge': service.queue().length,
  };
}

export function marathonMetricsJson(service: Service): Record<string, unknown> {
  const gauges = Object.fromEntries(Object.entries(marathonGauges(service)).map(([k, value]) => [k, { value }]));
  return { version: '4.0.0', counters: {}, gauges, histograms: {}, meters: {}, timers: {} };
}

/** Whether the client asks for the text exposition rather than Marathon's JSON. */
export function wantsPrometheus(accept: string | undefined): boolean {
  if (!accept) return false;
  const a = accept.toLowerCase();
  return (a.includes('text/plain') || a.includes('application/openmetrics-text')) && !a.includes('application/json');
}

export async function marathonPrometheus(service: Service): Promise<Reply> {
  const families = Object.entries(marathonGauges(service)).map(([key, value]) => ({
    name: sanitizeName(key.replace(/\.gauge$/, '')),
    help: `Marathon metric ${key}`,
    type: 'gauge' as const,
    samples: [{ value }],
  }));
  return { body: await exposition(families), headers: { 'content-type': PROMETHEUS_CONTENT_TYPE } };
}
