// App metrics: every task gets STATSD_UDP_HOST / STATSD_UDP_PORT (as on DC/OS) naming a UDP socket on
// 127.0.0.1 that this agent opened for it alone, so whatever arrives there is that task's, with no
// cooperation from the sender. Samples are aggregated per task (statsd-aggregate.ts) and exposed at
// GET /metrics/tasks and, with app/task labels and the task's Marathon labels, at GET /metrics.
// A restarted agent re-opens the port a recovered task was given (read from its environment).
import dgram from 'node:dgram';
import fs from 'node:fs';
import type { Clock } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import { namedFamily, type PromFamily, type PromSample } from '../metrics/prometheus.ts';
import { sanitizeLabelName, sanitizeName } from '../metrics/prometheus-names.ts';
import { TIMER_PERCENTILES } from '../metrics/timer.ts';
import { DEFAULT_MAX_SERIES, TaskAppMetrics, type AppMetricsView } from './statsd-aggregate.ts';
import { parseStatsdPacket } from './statsd-parse.ts';
import type { TaskRun } from './task-types.ts';

export const STATSD_HOST = '127.0.0.1';
/** Datagrams longer than this are cut (a StatsD client keeps its packets under the path MTU anyway). */
const MAX_PACKET_BYTES = 64 * 1024;
/** Task labels that become metric labels, at most. */
const MAX_LABELS = 16;
const RESERVED_LABELS = new Set(['app', 'task_id', 'framework_id', 'executor_id', 'quantile']);

/** What the task manager calls (tasks.ts): open before the launch, close when the task ends. */
export interface AppMetricsHooks {
  attach(run: TaskRun): Promise<void>;
  /** The variables the task's environment gets (none when no socket could be opened). */
  env(containerId: string): Record<string, string> | undefined;
  detach(containerId: string): void;
  /** A task re-attached after an agent restart (its pid known). */
  recover(run: TaskRun): void;
}

interface Attached {
  socket: dgram.Socket;
  port: number;
  taskId: string;
  frameworkId: string;
  executorId: string;
  app?: string;
  labels: Record<string, string>;
  metrics: TaskAppMetrics;
}

export interface TaskAppMetricsJson extends AppMetricsView {
  task_id: string;
  framework_id: string;
  executor_id: string;
  app?: string;
  labels: Record<string, string>;
  statsd: { host: string; port: number };
}

/** The app id (MARATHON_APP_ID, as the orchestrator sets it) and the task's labels. */
export function taskMetricLabels(run: Pick<TaskRun, 'info'>): { app?: string; labels: Record<string, string> } {
  const vars = run.info.command?.environment?.variables ?? [];
  const app = vars.find((v) => v.name === 'MARATHON_APP_ID')?.value;
  const labels: Record<string, string> = {};
  for (const l of (run.info as { labels?: { labels?: { key: string; value?: string }[] } }).labels?.labels ?? []) {
    if (Object.keys(labels).length >= MAX_LABELS) break;
    labels[l.key] = l.value ?? '';
  }
  return { ...(app ? { app } : {}), labels };
}

export class StatsdService implements AppMetricsHooks {
  private readonly attached = new Map<string, Attached>();
  private closed = false;

  constructor(
    private readonly deps: { clock: Clock; log: Logger; maxSeriesPerTask?: number },
  ) {}

  async attach(run: TaskRun, port = 0): Promise<void> {
    if (this.closed || this.attached.has(run.containerId)) return;
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, STATSD_HOST, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      socket.close();
      this.deps.log.warn('no StatsD socket for the task: its app metrics are not collected', { task: run.taskId, port, error: (e as Error).message });
      return;
    }
    socket.unref();
    // The task may have ended while the socket was being bound.
    if (this.closed || this.attached.has(run.containerId) || run.terminal) {
      socket.close();
      return;
    }
    const metrics = new TaskAppMetrics(() => this.deps.clock.now(), this.deps.maxSeriesPerTask ?? DEFAULT_MAX_SERIES);
    socket.on('message', (msg) => {
      const parsed = parseStatsdPacket(msg.subarray(0, MAX_PACKET_BYTES).toString('utf8'));
      metrics.malformedLines += parsed.malformed;
      metrics.unsupportedLines += parsed.unsupported;
      metrics.ingest(parsed.samples);
    });
    socket.on('error', (e) => this.deps.log.warn('StatsD socket error', { task: run.taskId, error: e.message }));
    this.attached.set(run.containerId, {
      socket,
      port: socket.address().port,
      taskId: run.taskId,
      frameworkId: run.frameworkId,
      executorId: run.executorId,
      ...taskMetricLabels(run),
      metrics,
    });
  }

  env(containerId: string): Record<string, string> | undefined {
    const a = this.attached.get(containerId);
    return a && { STATSD_UDP_HOST: STATSD_HOST, STATSD_UDP_PORT: String(a.port) };
  }

  detach(containerId: string): void {
    const a = this.attached.get(containerId);
    if (!a) return;
    this.attached.delete(containerId);
    a.socket.close();
  }

  recover(run: TaskRun): void {
    if (run.pid === undefined || run.terminal) return;
    const port = statsdPortOf(run.pid);
    if (port !== undefined) void this.attach(run, port);
  }

  /** GET /metrics/tasks. */
  tasks(): TaskAppMetricsJson[] {
    return [...this.attached.values()].map((a) => ({
      task_id: a.taskId,
      framework_id: a.frameworkId,
      executor_id: a.executorId,
      ...(a.app ? { app: a.app } : {}),
      labels: a.labels,
      statsd: { host: STATSD_HOST, port: a.port },
      ...a.metrics.view(),
    }));
  }

  /**
   * Prometheus families: `corral_app_<name>_total` (counters), `corral_app_<name>` (gauges),
   * `corral_app_<name>_seconds` (timers, a summary), and `…_per_second` rates, labelled with the app,
   * task, framework and the task's labels (as `label_<key>`).
   */
  families(): PromFamily[] {
    const plain = new Map<string, { type: 'counter' | 'gauge'; help: string; samples: PromSample[] }>();
    const summaries = new Map<string, PromFamily>();
    const add = (family: string, type: 'counter' | 'gauge', help: string, sample: PromSample) => {
      let f = plain.get(family);
      if (!f) plain.set(family, (f = { type, help, samples: [] }));
      if (f.type === type) f.samples.push(sample);
    };
    for (const a of this.attached.values()) {
      const labels: Record<string, string> = { app: a.app ?? '', task_id: a.taskId, framework_id: a.frameworkId };
      for (const [k, v] of Object.entries(a.labels)) {
        const name = `label_${sanitizeLabelName(k)}`;
        if (!RESERVED_LABELS.has(name)) labels[name] = v;
      }
      const view = a.metrics.view();
      for (const [name, c] of Object.entries(view.counters)) {
        const base = `app_${sanitizeName(name)}`;
        add(base, 'counter', 'App counter (StatsD c), per task', { labels, value: c.total });
        add(`${base}_per_second`, 'gauge', 'App counter: rate per second over the last minute', { labels, value: c.rate_per_second });
      }
      for (const [name, v] of Object.entries(view.gauges)) add(`app_${sanitizeName(name)}`, 'gauge', 'App gauge (StatsD g), per task', { labels, value: v });
      for (const [name, t] of Object.entries(view.timers)) {
        const base = `app_${sanitizeName(name)}`;
        const summaryName = `corral_${base}_seconds`;
        let summary = summaries.get(summaryName);
        if (!summary) summaries.set(summaryName, (summary = { name: summaryName, type: 'summary', help: 'App timer (StatsD ms), per task: latency quantiles over the last minute', samples: [] }));
        const quantiles = t as unknown as Record<string, number | undefined>;
        for (const [suffix, q] of TIMER_PERCENTILES) {
          const v = quantiles[suffix];
          if (v !== undefined) summary.samples.push({ labels: { ...labels, quantile: String(q) }, value: v / 1000 });
        }
        summary.samples.push({ labels, suffix: '_sum', value: t.total_sum_ms / 1000 }, { labels, suffix: '_count', value: t.total_count });
        add(`${base}_per_second`, 'gauge', 'App timer: samples per second over the last minute', { labels, value: t.rate_per_second });
      }
    }
    return [...[...plain].map(([family, f]) => namedFamily('corral', family, f.type, f.help, f.samples)), ...summaries.values()];
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.attached.keys()]) this.detach(id);
  }
}

/** STATSD_UDP_PORT from a process's environment (the port its task was given), if readable. */
export function statsdPortOf(pid: number, procRoot = '/proc'): number | undefined {
  try {
    const env = fs.readFileSync(`${procRoot}/${pid}/environ`, 'utf8');
    const m = /(?:^|\0)STATSD_UDP_PORT=(\d+)(?:\0|$)/.exec(env);
    const port = m ? Number(m[1]) : NaN;
    return port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}
