// The leading master's alert endpoints: GET /alerts (pending and firing alerts), GET /alerts/rules
// (the rules it evaluates) and GET /alerts/events (Server-Sent Events: a `snapshot` of the current
// alerts, then one `alert` event per state change; the v1 operator API has no event stream here to
// carry them). A follower redirects these like every other endpoint (router.ts).
import type http from 'node:http';
import { ruleSpec, formatDuration, type Alert, type AlertEvent } from '../core/alerts/index.ts';
import type { RequestContext, Router } from '../http/server.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import { AlertService } from './alerts.ts';
import { jsonReply } from './http-util.ts';

const HEARTBEAT_MS = 15_000;
/** Open event streams per master: beyond this, new ones are refused (503) rather than piling up. */
const MAX_STREAMS = 256;

const secs = (ms: number) => ms / 1000;

export function alertJson(a: Alert): Record<string, unknown> {
  return {
    name: a.name,
    state: a.state,
    severity: a.severity,
    summary: a.summary,
    expr: a.expr,
    for: formatDuration(a.forMs),
    value: a.value,
    active_at: secs(a.activeAt),
    ...(a.firedAt !== undefined ? { fired_at: secs(a.firedAt) } : {}),
    since: secs(a.firedAt ?? a.activeAt),
  };
}

export function alertEventJson(e: AlertEvent): Record<string, unknown> {
  return { name: e.name, severity: e.severity, from: e.from, to: e.to, at: secs(e.at), value: e.value, summary: e.summary };
}

export function alertsBody(service: AlertService): Record<string, unknown> {
  const last = service.engine.lastEvaluation;
  return {
    alerts: service.alerts().map(alertJson),
    evaluated_at: last === undefined ? null : secs(last),
    interval_seconds: secs(service.intervalMs),
  };
}

/** SSE connections of one term; all end when the term ends (clients reconnect to the new leader). */
class AlertStreams {
  private readonly open = new Set<{ res: http.ServerResponse; heartbeat: TimerHandle; unsubscribe: () => void }>();

  constructor(
    private readonly service: AlertService,
    private readonly clock: Clock,
  ) {}

  attach(rc: RequestContext): undefined | { status: number; body: string } {
    if (this.open.size >= MAX_STREAMS) return { status: 503, body: `too many alert event streams (${MAX_STREAMS}); retry later` };
    const { res } = rc;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const write = (event: string, data: unknown) => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    write('snapshot', alertsBody(this.service));
    const entry = {
      res,
      heartbeat: this.clock.setInterval(() => !res.writableEnded && res.write(': heartbeat\n\n'), HEARTBEAT_MS),
      unsubscribe: this.service.subscribe((e) => write('alert', alertEventJson(e))),
    };
    this.open.add(entry);
    res.on('close', () => this.drop(entry));
    return undefined;
  }

  private drop(entry: { res: http.ServerResponse; heartbeat: TimerHandle; unsubscribe: () => void }): void {
    if (!this.open.delete(entry)) return;
    entry.heartbeat.cancel();
    entry.unsubscribe();
    if (!entry.res.writableEnded) entry.res.end();
  }

  closeAll(): void {
    for (const e of [...this.open]) this.drop(e);
  }
}

export interface MasterAlerts {
  readonly service: AlertService;
  /** Ends evaluations and event streams. Idempotent. */
  stop(): void;
}

/** Starts the service and registers its routes on the term's router. */
export function registerAlertRoutes(router: Router, service: AlertService, clock: Clock): MasterAlerts {
  const streams = new AlertStreams(service, clock);
  router.on(['GET', 'HEAD'], '/alerts', (rc) => jsonReply(alertsBody(service), rc.query));
  router.on(['GET', 'HEAD'], '/alerts/rules', (rc) => jsonReply({ rules: service.engine.rules.map(ruleSpec) }, rc.query));
  router.on('GET', '/alerts/events', (rc) => streams.attach(rc));
  service.start();
  return {
    service,
    stop() {
      service.stop();
      streams.closeAll();
    },
  };
}
