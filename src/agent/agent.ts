// startAgent: wires resource detection, recovery, the task manager, registration and the HTTP API.
import fs from 'node:fs';
import os from 'node:os';
import { collapseByName, formatResources, toMesosResources } from '../core/resources.ts';
import { listen, Router, type ServerHandle } from '../http/server.ts';
import { parseOrThrow } from '../protocol/validate.ts';
import { MASTER_MESSAGE_PATH, MasterToAgent, type AgentToMaster, type MasterReply } from '../protocol/internal.ts';
import { parseAttributeString, type Resource, type TaskState, type TaskStatus } from '../protocol/mesos.ts';
import { systemClock } from '../runtime/clock.ts';
import { systemIds } from '../runtime/ids.ts';
import { createLogger } from '../runtime/log.ts';
import { httpTransport } from '../runtime/transport.ts';
import { locatorFor } from '../client/master-locator.ts';
import { ValidationError } from '../protocol/errors.ts';
import { writeJsonAtomic } from './checkpoint.ts';
import { SandboxFiles } from './files.ts';
import type { AgentHandle, AgentOptions } from './index.ts';
import { handleMasterMessage } from './master-messages.ts';
import { agentMetricSet } from './metrics.ts';
import { AgentMetricsService } from './metrics-service.ts';
import { StatsdService } from './statsd.ts';
import { agentInfoPath, metaRoot } from './paths.ts';
import { readAgentCheckpoint, readBootId, readCheckpoints, type RecoveredFramework } from './recovery.ts';
import { Registrar } from './registration.ts';
import { killAllRecovered } from './orphans.ts';
import { reregistrationReport } from './reregistration.ts';
import { agentResources, detectMachine, gpuIndices } from './resources.ts';
import { agentState, MESOS_VERSION } from './state-json.ts';
import { TaskManager } from './tasks.ts';
import { Isolation } from './isolation/index.ts';
import { DEFAULT_PIDS_MAX } from './isolation/limits.ts';
import { Containerizer } from './containerizer/index.ts';
import { CheckpointedResources } from './volumes.ts';
import { Fetcher, fetcherFlags, fetcherSettings } from './fetcher/index.ts';
import { DEFAULT_RECOVERY_TIMEOUT_MS, formatDuration } from './recovery-timeout.ts';
import { guardWorkDir } from './recovery-timeout-watchdog.ts';
import { isWildcardHost } from '../protocol/hosts.ts';

const hostPort = (h: string, p: number): string => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`);

export async function startAgent(opts: AgentOptions): Promise<AgentHandle> {
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? systemIds;
  const log = opts.log ?? createLogger('agent');
  const transport = opts.transport ?? httpTransport;
  if (!opts.masterLocator && !opts.masterUrl) throw new ValidationError('the agent needs masterUrl or masterLocator', 'masterUrl');
  const { locator: masterLocator, owned: ownsLocator } = locatorFor(opts.masterLocator ?? opts.masterUrl!, { log: log.child('locator') });
  const masterUrl = opts.masterUrl ?? masterLocator.description;
  const host = opts.host ?? '127.0.0.1';
  const recoverMode = opts.recover ?? 'reconnect';
  const startedAt = clock.now();

  fs.mkdirSync(opts.workDir, { recursive: true });
  const workDir = fs.realpathSync(opts.workDir);

  // --- resources
  const machine = await detectMachine(workDir, log);
  const resources = agentResources(opts.resources, machine, opts.resourceShare ?? 1);
  const attributes = opts.attributes ? parseAttributeString(opts.attributes) : [];
  const gpus = gpuIndices(collapseByName(resources).scalars.gpus ?? 0, machine.gpus);
  // Isolators (cgroups, pid namespace, disk/du): refuses to start when one asked for cannot work here.
  const isolation = Isolation.create(opts, { clock, log: log.child('isolation') });
  // Dynamic reservations and persistent volumes (throws when they no longer fit --resources).
  const reserved = new CheckpointedResources(workDir, resources, log);

  // --- recovery (read side)
  const recoveryErrors: string[] = [];
  const bootId = readBootId();
  let { agent: checkpoint, error } = readAgentCheckpoint(workDir);
  if (error) recoveryErrors.push(error);
  let recovered: RecoveredFramework[] = [];
  if (checkpoint) {
    const r = readCheckpoints(workDir, checkpoint.agent_id);
    recovered = r.frameworks;
    recoveryErrors.push(...r.errors);
  }
  const rebooted = Boolean(checkpoint?.boot_id && bootId && checkpoint.boot_id !== bootId);
  for (const e of recoveryErrors) log.warn('recovery: ' + e);

  // --- components
  let server: ServerHandle | undefined;
  const advertisedHost = opts.hostname ?? (isWildcardHost(host) ? os.hostname() : host);
  const endpoint = () => hostPort(advertisedHost, server?.port ?? opts.port ?? 5051);
  let shuttingDown = false;

  const registrar: Registrar = new Registrar({
    clock,
    ids,
    log,
    transport,
    locator: masterLocator,
    backoffMs: opts.registrationBackoffMs ?? 100,
    maxBackoffMs: opts.registrationBackoffMaxMs ?? 5000,
    message: (agentId) => registrationMessage(agentId),
    onRegistered: async (agentId, previousId) => {
      if (previousId && previousId !== agentId) {
        // The master gave us a new identity: whatever ran under the old one is no longer ours to report.
        log.warn('the master assigned a new agent id; killing and forgetting the tasks of the old one', { old: previousId, new: agentId });
        tasks.reset();
        fs.rmSync(metaRoot(workDir), { recursive: true, force: true });
      }
      if (previousId !== agentId || !checkpoint || checkpoint.agent_id !== agentId) {
        fs.mkdirSync(metaRoot(workDir), { recursive: true });
        checkpoint = { agent_id: agentId, ...(bootId ? { boot_id: bootId } : {}) };
        await writeJsonAtomic(agentInfoPath(workDir), checkpoint);
      }
    },
    onConnected: (connected) => tasks.sum.setConnected(connected),
    onShutdown: (message) => void shutdown(message),
  });

  // --- fetcher (CommandInfo.uris): its cache is emptied before any task can use it
  const fetchSettings = fetcherSettings(opts, workDir);
  const fetcher = new Fetcher({ ...fetchSettings, clock, log: log.child('fetcher') });
  await fetcher.init();
  // --- container images (runc): same cgroup settings as the isolators
  const containerizer = Containerizer.create(
    { ...opts, workDir, cgroupsRoot: opts.cgroupsRoot ?? 'corral', cgroupsEnableCfs: opts.cgroupsEnableCfs ?? false, pidsMax: opts.cgroupsPidsMax ?? DEFAULT_PIDS_MAX },
    { clock, ids, log: log.child('containerizer') },
  );
  containerizer.init();

  const statsd = new StatsdService({ clock, log: log.child('statsd') });
  const tasks: TaskManager = new TaskManager({
    workDir,
    clock,
    ids,
    log,
    agentId: () => registrar.agentId,
    hostname: advertisedHost,
    endpoint,
    switchUser: opts.switchUser ?? false,
    gpuIndices: gpus,
    pollMs: opts.processPollMs ?? 250,
    retryMs: opts.statusUpdateRetryMs ?? 1000,
    maxRetryMs: opts.statusUpdateRetryMaxMs ?? 60_000,
    closeFlushMs: opts.closeFlushMs ?? 2000,
    send: (fwId, status, latest) => sendStatusUpdate(fwId, status, latest),
    prepareVolumes: (task, sandbox) => reserved.linkVolumes(task, sandbox),
    fetcher,
    isolation,
    containerizer,
    appMetrics: statsd,
  });

  function registrationMessage(agentId: string | undefined): AgentToMaster {
    const agentInfo = {
      hostname: advertisedHost,
      port: server!.port,
      resources: toMesosResources(resources) as Resource[],
      attributes,
    };
    const checkpointed = reserved.wire() as Resource[];
    const common = { endpoint: `http://${endpoint()}`, version: MESOS_VERSION, ...(checkpointed.length ? { checkpointed_resources: checkpointed } : {}) };
    if (!agentId) return { type: 'REGISTER_AGENT', agent_info: agentInfo, ...common };
    const { tasks: reported, frameworks } = reregistrationReport(tasks.frameworks.values(), tasks.sum, agentId);
    return { type: 'REREGISTER_AGENT', agent_info: { ...agentInfo, id: { value: agentId } }, ...common, tasks: reported, frameworks, sent_at_ms: clock.now() };
  }

  /** Resolves true once the master accepted the update (2xx ACCEPTED); the framework acknowledges later. */
  async function sendStatusUpdate(frameworkId: string, status: TaskStatus, latest: TaskState | undefined): Promise<boolean> {
    const agentId = registrar.agentId;
    if (!agentId) return false;
    const res = await registrar.sendToMaster(
      {
        type: 'STATUS_UPDATE',
        agent_id: { value: agentId },
        update: { framework_id: { value: frameworkId }, status, ...(latest ? { latest_state: latest } : {}) },
      } satisfies AgentToMaster,
      5000,
    );
    const reply = res.body as MasterReply | undefined;
    if (reply?.type === 'REREGISTER_REQUIRED') registrar.trigger(reply.message || 'the master asked');
    else if (reply?.type === 'SHUTDOWN') void shutdown(reply.message);
    else if (res.status >= 400) log.warn('the master rejected a status update', { status: res.status, reply });
    return res.status >= 200 && res.status < 300 && reply?.type !== 'REREGISTER_REQUIRED' && reply?.type !== 'SHUTDOWN';
  }

  // --- recovery timeout: take the work dir (and its watchdog) over from the previous agent
  const recoveryTimeoutMs = opts.recoveryTimeoutMs ?? DEFAULT_RECOVERY_TIMEOUT_MS;
  const guard = guardWorkDir({ workDir, timeoutMs: recoveryTimeoutMs, log });

  // --- recovery (act)
  if (checkpoint && recoverMode === 'cleanup') {
    const killed = killAllRecovered(workDir, recovered, log);
    for (const f of recovered) for (const r of f.runs) isolation.destroyRecovered(r.checkpoint.isolation);
    log.info('recover=cleanup: killed leftover tasks and discarded the checkpoint', { killed, old_agent_id: checkpoint.agent_id });
    fs.rmSync(metaRoot(workDir), { recursive: true, force: true });
    checkpoint = undefined;
    recovered = [];
  } else if (checkpoint) {
    const { orphansKilled } = tasks.recover(recovered, { agentId: checkpoint.agent_id, rebooted, recoveryTimedOut: guard.previousTimedOut });
    if (orphansKilled) recoveryErrors.push(`killed ${orphansKilled} orphaned task process(es) that no checkpoint accounts for`);
  }
  // Containers no recovered task accounts for (ended with no agent around, or recover=cleanup) are deleted.
  void containerizer.sweep(new Set([...tasks.activeRuns()].map((r) => r.containerId))).catch((e: Error) => log.warn('container sweep failed', { error: e.message }));
  const recoveryTimeSeconds = (clock.now() - startedAt) / 1000;

  // --- HTTP
  const files = new SandboxFiles({ workDir, agentId: () => registrar.agentId });
  const flags: Record<string, string> = {
    master: masterUrl,
    work_dir: workDir,
    ip: host,
    port: String(opts.port ?? 5051),
    hostname: advertisedHost,
    recover: recoverMode,
    recovery_timeout: formatDuration(recoveryTimeoutMs),
    switch_user: String(opts.switchUser ?? false),
    resources: opts.resources ?? formatResources(resources),
    ...(opts.attributes ? { attributes: opts.attributes } : {}),
    ...(opts.resourceShare !== undefined ? { resource_share: String(opts.resourceShare) } : {}),
    ...fetcherFlags(fetchSettings),
    ...isolation.flags(),
    ...containerizer.flags(),
  };
  const router = new Router();
  router.on('POST', MASTER_MESSAGE_PATH, async (ctx) => {
    const msg = parseOrThrow(MasterToAgent, await ctx.json(), 'message');
    return {
      body: await handleMasterMessage(msg, { tasks, registrar, log, shutdown: (m) => void shutdown(m), checkpointResources: (list) => reserved.update(list) }),
    };
  });
  const state = () =>
    agentState({
      agentId: registrar.agentId,
      host: advertisedHost,
      hostname: advertisedHost,
      port: server!.port,
      startTimeSeconds: startedAt / 1000,
      resources: reserved.total(),
      used: tasks.usedResources(),
      attributes,
      flags,
      masterHostname: safeHostname(registrar.masterUrl ?? masterUrl),
      frameworks: tasks.frameworks.values(),
    });
  for (const p of ['/state', '/state.json', '/slave(1)/state', '/slave(1)/state.json']) router.on('GET', p, () => ({ body: state() }));
  for (const p of ['/health', '/slave(1)/health']) router.on('GET', p, () => ({ status: 200 }), 'text');
  router.on('GET', '/flags', () => ({ body: { flags } }));
  router.on('GET', '/version', () => ({ body: { version: MESOS_VERSION, build_date: '', build_time: 0, build_user: '' } }));
  // /metrics/snapshot, /metrics (Prometheus), /metrics/history, /metrics/tasks, /monitor/statistics.
  const metrics = new AgentMetricsService({
    clock,
    log: log.child('metrics'),
    tasks,
    statsd,
    cgroups: isolation.flags().cgroups_version !== undefined,
    options: opts.metrics,
    metrics: () =>
      agentMetricSet(
        {
          uptimeSeconds: (clock.now() - startedAt) / 1000,
          registered: registrar.registered,
          recoveryErrors: recoveryErrors.length,
          recoveryTimeSeconds,
          total: collapseByName(reserved.total()),
          used: collapseByName(tasks.usedResources()),
          tasks,
        },
        { ...fetcher.metrics(), ...tasks.isolationMetrics() },
      ),
  });
  metrics.register(router);
  router.on('GET', '/files/browse', (ctx) => files.browse(ctx));
  router.on('GET', '/files/browse.json', (ctx) => files.browse(ctx));
  router.on('GET', '/files/read', (ctx) => files.read(ctx));
  router.on('GET', '/files/read.json', (ctx) => files.read(ctx));
  router.on('GET', '/files/download', (ctx) => files.download(ctx));
  router.on('GET', '/files/download.json', (ctx) => files.download(ctx));

  server = await listen(router, { host, port: opts.port ?? 5051, log }).catch(async (e: unknown) => {
    await guard.stop('closed');
    throw e;
  });
  flags.port = String(server.port);
  log.info('agent listening', { url: server.url, work_dir: workDir, resources: formatResources(resources), recovered_agent_id: checkpoint?.agent_id });
  registrar.start(checkpoint?.agent_id);
  metrics.start();

  // --- lifecycle
  let closing: Promise<void> | undefined;
  async function close(killTasks: boolean): Promise<void> {
    closing ??= (async () => {
      registrar.stop();
      await tasks.close(killTasks);
      fetcher.close();
      metrics.stop();
      statsd.close();
      // With no task left running the watchdog has nothing to guard: it leaves now, not at its next look.
      await guard.stop(killTasks || shuttingDown || !tasks.hasLiveTasks() ? 'stopped' : 'closed');
      await server!.close();
      if (ownsLocator) await masterLocator.close();
    })();
    return closing;
  }

  async function shutdown(message: string): Promise<void> {
    if (shuttingDown || closing) return;
    shuttingDown = true;
    log.warn('the master shut this agent down: killing its tasks and removing its checkpoint', { message });
    registrar.stop();
    await tasks.killAllAndForget();
    fs.rmSync(metaRoot(workDir), { recursive: true, force: true });
    await close(false);
    opts.onShutdown?.(message);
  }

  return {
    url: server.url,
    port: server.port,
    agentId: () => registrar.agentId,
    registered: () => registrar.whenRegistered(),
    close: (o) => close(o?.killTasks ?? false),
  };
}

function safeHostname(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
