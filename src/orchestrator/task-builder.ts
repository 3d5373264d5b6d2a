// Builds the Mesos TaskInfo for one instance of an app on one offer: command (shell or argv),
// Marathon's environment, resources (with the host ports placement picked), labels, kill policy
// and Mesos-level health checks (MESOS_HTTP / MESOS_HTTPS / MESOS_TCP / COMMAND, §6.1).
import type { Resource, TaskInfo } from '../protocol/mesos.ts';
import type { Container as MarathonContainer } from '../protocol/marathon/app.ts';
import type { AppDefinition, HealthCheckDefinition } from './service.ts';
import { appDefaults, portDefinitionsOf } from './app-defaults.ts';

export interface TaskSpec {
  app: AppDefinition;
  taskId: string;
  agentId: string;
  /** Host ports, one per portDefinition (same order). */
  hostPorts: number[];
  /** Allocation role of the offer's resources (echoed in allocation_info when the offer had one). */
  allocationRole?: string;
}

/** `/prod/web` → `web.prod` (Marathon's task name: the path reversed, as a hostname). */
export const taskNameOf = (appId: string): string => appId.split('/').filter(Boolean).reverse().join('.');

const MESOS_CHECKS = new Set(['MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP', 'COMMAND']);
export const isMesosCheck = (hc: HealthCheckDefinition): boolean => MESOS_CHECKS.has(hc.protocol ?? 'HTTP');

/** The host port a health check targets: explicit `port`, else the task's port at `portIndex` (default 0). */
export function checkPort(hc: HealthCheckDefinition, hostPorts: number[]): number | undefined {
  if (typeof hc.port === 'number' && hc.port > 0) return hc.port;
  return hostPorts[hc.portIndex ?? 0];
}

function scalar(name: string, value: number, role?: string): Resource {
  return { name, type: 'SCALAR', scalar: { value }, ...(role ? { allocation_info: { role } } : {}) } as Resource;
}

function portRanges(ports: number[]): { begin: number; end: number }[] {
  const sorted = [...ports].sort((a, b) => a - b);
  const out: { begin: number; end: number }[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && p === last.end + 1) last.end = p;
    else if (!last || p > last.end) out.push({ begin: p, end: p });
  }
  return out;
}

/**
 * Environment variables Marathon adds (the agent adds MESOS_*, HOST). Ports as Marathon sets
 * them: PORT0..n (host ports in portDefinitions order), PORT, PORTS, PORT_<declared port> for
 * each non-zero declared (service) port and PORT_<NAME> for named ones, all = the host port.
 */
export function marathonEnv(app: AppDefinition, hostPorts: number[]): Record<string, string> {
  const a = appDefaults(app);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(app.env ?? {})) if (typeof v === 'string') env[k] = v;
  env.MARATHON_APP_ID = app.id;
  env.MARATHON_APP_VERSION = app.version ?? '';
  env.MARATHON_APP_RESOURCE_CPUS = String(a.cpus);
  env.MARATHON_APP_RESOURCE_MEM = String(a.mem);
  env.MARATHON_APP_RESOURCE_DISK = String(a.disk);
  env.MARATHON_APP_RESOURCE_GPUS = String(a.gpus);
  const labels = Object.entries(app.labels ?? {});
  const labelName = (k: string) => k.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  env.MARATHON_APP_LABELS = labels.map(([k]) => labelName(k)).join(' ');
  for (const [k, v] of labels) env[`MARATHON_APP_LABEL_${labelName(k)}`] = v;
  portDefinitionsOf(app).forEach((pd, i) => {
    const host = hostPorts[i];
    if (host === undefined) return;
    env[`PORT${i}`] = String(host);
    if ((pd.port ?? 0) > 0) env[`PORT_${pd.port}`] = String(host);
    if (pd.name) env[`PORT_${labelName(pd.name)}`] = String(host);
  });
  if (hostPorts.length) {
    env.PORT = String(hostPorts[0]);
    env.PORTS = hostPorts.join(',');
  }
  return env;
}

export function mesosHealthCheck(hc: HealthCheckDefinition, hostPorts: number[]): Record<string, unknown> | undefined {
  const protocol = hc.protocol ?? 'HTTP';
  if (!MESOS_CHECKS.has(protocol)) return undefined;
  const common = {
    delay_seconds: hc.delaySeconds ?? 15,
    interval_seconds: hc.intervalSeconds ?? 60,
    timeout_seconds: hc.timeoutSeconds ?? 20,
    consecutive_failures: hc.maxConsecutiveFailures ?? 3,
    grace_period_seconds: hc.gracePeriodSeconds ?? 300,
  };
  if (protocol === 'COMMAND') {
    return { type: 'COMMAND', command: { shell: true, value: hc.command?.value ?? 'true' }, ...common };
  }
  const port = checkPort(hc, hostPorts);
  if (protocol === 'MESOS_TCP') return { type: 'TCP', tcp: { port }, ...common };
  return {
    type: 'HTTP',
    http: { scheme: protocol === 'MESOS_HTTPS' ? 'https' : 'http', port, path: hc.path ?? '/', ...(hc.ipProtocol ? { protocol: hc.ipProtocol } : {}) },
    ...common,
  };
}

/**
 * Marathon's container with an image, as Marathon sends it: MESOS → the unified containerizer's
 * mesos.image (cached = !forcePullImage); DOCKER → docker.image on host networking (agents here run both
 * with runc: there is no Docker engine).
 */
export function containerInfo(app: AppDefinition): Record<string, unknown> | undefined {
  const c = app.container as MarathonContainer | undefined;
  const image = c?.docker?.image;
  if (!c || !image) return undefined;
  if (c.type === 'DOCKER') {
    return { type: 'DOCKER', docker: { image, network: 'HOST', privileged: c.docker!.privileged, force_pull_image: c.docker!.forcePullImage } };
  }
  return { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: image }, cached: !c.docker!.forcePullImage } } };
}

export function buildTaskInfo(spec: TaskSpec): TaskInfo {
  const { app, hostPorts } = spec;
  const a = appDefaults(app);
  const role = spec.allocationRole;
  const resources: Resource[] = [];
  if (a.cpus > 0) resources.push(scalar('cpus', a.cpus, role));
  if (a.mem > 0) resources.push(scalar('mem', a.mem, role));
  if (a.disk > 0) resources.push(scalar('disk', a.disk, role));
  if (a.gpus > 0) resources.push(scalar('gpus', a.gpus, role));
  if (hostPorts.length) {
    resources.push({ name: 'ports', type: 'RANGES', ranges: { range: portRanges(hostPorts) }, ...(role ? { allocation_info: { role } } : {}) } as Resource);
  }
  const env = marathonEnv(app, hostPorts);
  const command: NonNullable<TaskInfo['command']> = {
    environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) },
  };
  const image = (app.container as MarathonContainer | undefined)?.docker?.image || undefined;
  if (app.args && app.args.length) {
    command.shell = false;
    // With an image, args go after its entrypoint (no executable of their own), as with `docker run`.
    if (!image) command.value = app.args[0];
    command.arguments = [...app.args];
  } else if (image && !app.cmd) {
    command.shell = false; // the image's own entrypoint and cmd
  } else {
    command.shell = true;
    command.value = app.cmd ?? '';
  }
  if (app.user) command.user = app.user;
  if (app.fetch?.length) {
    command.uris = app.fetch.map((f) => ({
      value: f.uri,
      extract: f.extract ?? true,
      executable: f.executable ?? false,
      cache: f.cache ?? false,
      ...(f.destPath ? { output_file: f.destPath } : {}),
    }));
  }
  const labels = Object.entries(app.labels ?? {}).map(([key, value]) => ({ key, value }));
  const info: TaskInfo = {
    name: taskNameOf(app.id),
    task_id: { value: spec.taskId },
    agent_id: { value: spec.agentId },
    resources,
    command,
    ...(labels.length ? { labels: { labels } } : {}),
  };
  const container = containerInfo(app);
  if (container) info.container = container;
  if (typeof app.taskKillGracePeriodSeconds === 'number') {
    info.kill_policy = { grace_period: { nanoseconds: Math.round(app.taskKillGracePeriodSeconds * 1e9) } };
  }
  const mesosCheck = (app.healthChecks ?? []).find(isMesosCheck);
  if (mesosCheck) info.health_check = mesosHealthCheck(mesosCheck, hostPorts);
  const pds = portDefinitionsOf(app);
  if (pds.length && hostPorts.length) {
    // Marathon's DiscoveryInfo for host networking: one port per definition and protocol
    // ("udp,tcp" gives two), number = host port, the definition's name and labels plus
    // network-scope=host. Service ports are not part of it (they are in /v2/tasks).
    info.discovery = {
      visibility: 'FRAMEWORK',
      name: taskNameOf(app.id),
      ports: {
        ports: pds.flatMap((pd, i) =>
          hostPorts[i] === undefined
            ? []
            : (pd.protocol ?? 'tcp').split(',').map((protocol) => ({
                number: hostPorts[i],
                protocol: protocol.trim(),
                ...(pd.name ? { name: pd.name } : {}),
                labels: { labels: [...Object.entries(pd.labels ?? {}).map(([key, value]) => ({ key, value })), { key: 'network-scope', value: 'host' }] },
              })),
        ),
      },
    };
  }
  return info;
}
