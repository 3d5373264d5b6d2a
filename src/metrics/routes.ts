// The metric endpoints every Corral server shares: GET /metrics/snapshot (Mesos's flat JSON),
// GET /metrics (Prometheus text) and GET /metrics/history?key=…&since=… ({ key, points: [[t_ms, v], …] }).
import { z } from 'zod';
import type { Reply, RequestContext, Router } from '../http/server.ts';
import { NotFoundError } from '../protocol/errors.ts';
import { parseOrThrow } from '../protocol/validate.ts';
import type { Clock } from '../runtime/clock.ts';
import type { MetricsHistory } from './history.ts';
import type { MetricSet } from './metric-set.ts';
import { exposition, familiesOf, PROMETHEUS_CONTENT_TYPE, type PromFamily } from './prometheus.ts';
import type { NamingOptions } from './prometheus-names.ts';

const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * `since`: milliseconds since the epoch, or how far back from now as a duration (`90s`, `5m`, `1h`).
 * Absent: everything the history holds.
 */
export const HistoryQuery = z.object({
  key: z.string({ error: 'is required: the metric key, e.g. master/tasks_running' }).min(1, 'must not be empty'),
  since: z
    .string()
    .regex(/^(\d{1,15}|\d{1,9}(ms|s|m|h))$/, 'must be milliseconds since the epoch or a duration such as 90s, 5m or 1h')
    .optional(),
});

export function sinceMs(since: string | undefined, now: number): number {
  if (since === undefined) return -Infinity;
  const m = /^(\d+)(ms|s|m|h)$/.exec(since);
  return m ? now - Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS] : Number(since);
}

/** GET /metrics/history: 400 for a bad query, 404 for a key the history has never seen. */
export function historyReply(history: MetricsHistory, query: URLSearchParams, now: number): Reply {
  const q = parseOrThrow(HistoryQuery, { key: query.get('key') ?? undefined, since: query.get('since') ?? undefined }, 'query');
  if (!history.has(q.key))
    throw new NotFoundError(`no history for metric '${q.key}': not a key of this server's /metrics/snapshot (or not sampled yet)`, { key: q.key });
  return { body: { key: q.key, points: history.points(q.key, sinceMs(q.since, now)) } };
}

export interface MetricsEndpoints {
  clock: Clock;
  /** The current metrics. */
  metrics(): MetricSet;
  history: MetricsHistory;
  naming: NamingOptions;
  /** Families that are not Mesos keys (app metrics). */
  extraFamilies?(): PromFamily[];
  /** Renders a JSON body (the master's JSONP support); default: plain JSON. */
  json?(body: unknown, query: URLSearchParams): Reply;
}

export async function prometheusReply(e: Pick<MetricsEndpoints, 'metrics' | 'naming' | 'extraFamilies'>): Promise<Reply> {
  const b = familiesOf(e.metrics(), e.naming);
  if (e.extraFamilies) b.addFamilies(e.extraFamilies());
  return { body: await exposition(b.build()), headers: { 'content-type': PROMETHEUS_CONTENT_TYPE } };
}

export function registerMetricsRoutes(router: Router, e: MetricsEndpoints): void {
  const json = e.json ?? ((body: unknown) => ({ body }));
  router.on(['GET', 'HEAD'], '/metrics/snapshot', (rc: RequestContext) => json(e.metrics().flat(), rc.query));
  router.on(['GET', 'HEAD'], '/metrics', () => prometheusReply(e), 'text');
  router.on(['GET', 'HEAD'], '/metrics/history', (rc: RequestContext) => historyReply(e.history, rc.query, e.clock.now()));
}
