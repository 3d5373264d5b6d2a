// `corral dev --ha`: a whole HA cluster on one machine, every part a child process a user may kill
// (kill -9 the leading master and watch another take over): a 3-member etcd cluster, 3 masters
// (`corral master --store etcd://…`), 2 orchestrators (`corral orchestrator --store etcd://…`, one
// leads, the other proxies) and N agents (`corral agent --master etcd://…`), each with its log (and
// state, where it has any) under --data-dir. This process supervises them: a child that dies is
// restarted after a backoff (a killed master comes back as a follower), leader changes are reported
// as etcd's elections see them, and Ctrl-C / SIGTERM stops the orchestrators, the agents (killing
// their tasks), the masters and etcd, in that order, and exits 0. Layout: dev-ha-layout.ts.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureEtcdInstalled, startEtcdServer, type EtcdServer } from '../coordination/etcd-server.ts';
import { ValidationError } from '../protocol/errors.ts';
import { lifelineAvailable } from '../runtime/child-lifeline.ts';
import { systemClock } from '../runtime/clock.ts';
import { freePort, freePorts } from '../runtime/free-port.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';
import { CliError, UsageError, bold, err, jsonLine, onStopSignals, out, table } from './common.ts';
import { HA_ETCD_MEMBERS, HA_ORCHESTRATORS, agentArgs, freePortsNeeded, masterArgs, orchestratorArgs, planPorts, type HaPorts } from './dev-ha-layout.ts';
import { hostPort, watchLeaders, type LeaderRole, type LeaderWatch } from './dev-ha-leaders.ts';
import { DEFAULT_RESTART_POLICY } from './dev-ha-restart.ts';
import { CorralUnit, EtcdUnit, Supervisor, type SupervisorEvent, type Unit } from './dev-ha-supervisor.ts';
import { portShare } from './dev.ts';

/**
 * Election lease TTL of the masters and orchestrators of `corral dev --ha`: a killed leader is
 * replaced after about this long. Shorter than the 3 s of a real deployment (a laptop's loopback
 * never partitions), long enough that a busy laptop does not fail over by mistake.
 */
export const DEV_HA_ELECTION_TTL_MS = 2000;
/** After a master wins an election, how long agents it does not hear from have before being marked unreachable. */
export const DEV_HA_AGENT_REREGISTER_TIMEOUT_MS = 15_000;

/** Per stage of the stop: how long a child has for its graceful stop before SIGKILL. */
const STOP_TIMEOUTS = { orchestrator: 15_000, agent: 60_000, master: 10_000, etcd: 10_000 } as const;
const PROBE_EVERY_MS = 200;

export interface DevHaOptions {
  port: number;
  agents: number;
  dataDir: string;
  host: string;
  allocationIntervalMs?: number;
  json?: boolean;
  logLevel?: LogLevel;
  registerTimeoutMs: number;
  orchestrator: boolean;
  orchestratorPort?: number;
  etcdPort?: number;
  electionTtlMs?: number;
  ports: string;
}

interface Row {
  name: string;
  url: string;
  pid: number | null;
  log: string | null;
}

export async function runDevHa(opts: DevHaOptions): Promise<void> {
  const level = opts.logLevel ?? ((process.env.CORRAL_LOG_LEVEL as LogLevel | undefined) || 'info');
  const log = createLogger('dev-ha', level);
  const dataDir = resolve(opts.dataDir);
  const logDir = join(dataDir, 'logs');
  const ttlMs = opts.electionTtlMs ?? DEV_HA_ELECTION_TTL_MS;
  const nOrch = opts.orchestrator ? HA_ORCHESTRATORS : 0;
  const layoutOpts = {
    port: opts.port,
    agents: opts.agents,
    orchestrators: nOrch,
    ...(opts.orchestratorPort !== undefined ? { orchestratorPort: opts.orchestratorPort } : {}),
    ...(opts.etcdPort !== undefined ? { etcdPort: opts.etcdPort } : {}),
  };
  let ports: HaPorts;
  try {
    ports = planPorts(layoutOpts, await freePorts(freePortsNeeded(layoutOpts), opts.host));
  } catch (e) {
    if (e instanceof ValidationError) throw new UsageError(e.message);
    throw e;
  }
  ensureEtcdInstalled();
  mkdirSync(logDir, { recursive: true });
  const releaseLock = lockDataDir(dataDir);

  // Signals that arrive while starting up are honoured as soon as the current step ends.
  let stopSignal: string | undefined;
  let wake: () => void = () => {};
  const stopRequested = new Promise<void>((r) => (wake = r));
  const removeSignals = onStopSignals(
    (sig) => {
      stopSignal = sig;
      if (!opts.json) err(`\n${sig} received: stopping the cluster (orchestrators, agents and their tasks, masters, etcd)… press Ctrl-C again to exit at once`);
      wake();
    },
    () => {
      // Every child still running stops by itself as this process goes: its lifeline ends (runtime/lifeline.mjs).
      err('second signal: exiting at once; the remaining children are signalled as this process exits');
      process.exit(1);
    },
  );

  let ready = false;
  const emit = (e: Record<string, unknown>, human: string) => {
    if (opts.json) jsonLine(e);
    else if (ready) out(`${new Date().toISOString().slice(11, 19)} ${human}`);
  };

  let etcd: EtcdServer | undefined;
  let sup: Supervisor | undefined;
  let leaders: LeaderWatch | undefined;
  const stopAll = async (): Promise<void> => {
    if (sup) await sup.stop([{ role: 'orchestrator', timeoutMs: STOP_TIMEOUTS.orchestrator }, { role: 'agent', timeoutMs: STOP_TIMEOUTS.agent }, { role: 'master', timeoutMs: STOP_TIMEOUTS.master }]);
    // The watch goes before etcd does, or its client spends the last moments reconnecting.
    await leaders?.close().catch((e: Error) => log.warn('closing the leader watch failed', { error: e.message }));
    await etcd?.stop(STOP_TIMEOUTS.etcd);
  };

  try {
    if (!lifelineAvailable()) log.warn('setpriv (util-linux) is missing: the etcd members of a SIGKILLed `corral dev --ha` would outlive it');
    etcd = await startEtcdServer({
      dir: join(dataDir, 'etcd'),
      members: HA_ETCD_MEMBERS,
      host: opts.host,
      basePort: ports.etcdBase,
      logDir,
      logLevel: level === 'debug' ? 'info' : 'warn',
      detached: true,
      dieWithParent: 'KILL', // crash-safe; nothing to tidy
    });
    const etcdUrl = etcd.url;
    const common = { host: opts.host, etcdUrl, logLevel: level };
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CORRAL_LOG_LEVEL: level };
    delete env.NODE_TEST_CONTEXT; // a child is never part of a caller's test run
    // Ports picked free may be taken before the child binds them; such a child moves (fixed ports never do).
    const newPort = opts.port === 0 ? () => freePort(opts.host) : undefined;
    const unit = (name: string, role: 'master' | 'orchestrator' | 'agent', port: number, args: (p: number) => string[], movable: boolean) =>
      new CorralUnit(name, role, opts.host, port, args, join(logDir, `${name}.log`), {
        env,
        // If this process dies, agents stop gracefully (killing their tasks); the others hold nothing a SIGKILL could lose.
        lifeline: role === 'agent' ? { signal: 'SIGTERM', graceMs: STOP_TIMEOUTS.agent } : { signal: 'SIGKILL', graceMs: 0 },
        ...(movable && newPort ? { newPort } : {}),
      });
    const units: Unit[] = [
      ...etcd.members.map((m) => new EtcdUnit(m)),
      ...ports.masters.map((p, i) =>
        unit(`master-${i + 1}`, 'master', p, (port) => masterArgs(common, { port, electionTtlMs: ttlMs, agentReregisterTimeoutMs: DEV_HA_AGENT_REREGISTER_TIMEOUT_MS, ...(opts.allocationIntervalMs !== undefined ? { allocationIntervalMs: opts.allocationIntervalMs } : {}) }), opts.port === 0),
      ),
      ...ports.orchestrators.map((p, i) =>
        unit(`orchestrator-${i + 1}`, 'orchestrator', p, (port) => orchestratorArgs(common, { port, electionTtlMs: ttlMs }), (opts.orchestratorPort ?? (opts.port === 0 ? 0 : 8080)) === 0),
      ),
      ...ports.agents.map((p, i) =>
        unit(`agent-${i + 1}`, 'agent', p, (port) => agentArgs(common, { port, workDir: join(dataDir, `agent-${i + 1}`), resourceShare: 1 / Math.max(1, opts.agents), ports: portShare(opts.ports, i + 1, opts.agents) }), opts.port === 0),
      ),
    ];
    const supervisor = new Supervisor(units, { clock: systemClock, log, policy: DEFAULT_RESTART_POLICY, onEvent: (e) => emit(e, describeEvent(e)) });
    sup = supervisor;
    await Promise.all(units.filter((u) => u.role !== 'etcd').map((u) => u.start()));

    const unitAt = (role: LeaderRole, url: string | undefined) => (url ? supervisor.byRole(role).find((u) => hostPort(u.url) === hostPort(url)) : undefined);
    leaders = await watchLeaders(etcdUrl, {
      log: log.child('store'),
      roles: nOrch > 0 ? ['master', 'orchestrator'] : ['master'],
      onChange: (role, url) => {
        // The ready line says who leads; while stopping, leaders come and go as expected.
        if (!ready || stopSignal) return;
        const u = unitAt(role, url);
        emit(
          { event: 'leader', role, name: u?.name ?? null, url: url ?? null, pid: u?.pid ?? null },
          url ? `${role} leader: ${u?.name ?? 'an unknown process'} (${u?.pid !== undefined ? `pid ${u.pid}, ` : ''}${url})` : `no ${role} leads at the moment`,
        );
      },
    });

    const complete = await waitUntilServing(supervisor, leaders, unitAt, Math.max(opts.registerTimeoutMs, 1), () => stopSignal !== undefined);
    if (!stopSignal && !complete.masterLeader)
      throw new CliError(`no master was elected within ${opts.registerTimeoutMs} ms: see the logs in ${logDir}`);
    for (const w of complete.missing) log.warn('not serving yet; continuing', { name: w });

    const rowsOf = (role: 'etcd' | 'master' | 'orchestrator' | 'agent'): (Row & { leader?: boolean; agent_id?: string | null })[] =>
      supervisor.byRole(role).map((u) => ({
        name: u.name,
        url: u.url,
        pid: u.pid ?? null,
        log: u.logFile ?? null,
        ...(role === 'master' || role === 'orchestrator' ? { leader: unitAt(role, leaders!.current(role)) === u } : {}),
        ...(role === 'agent' ? { agent_id: complete.agentIds.get(u.name) ?? null } : {}),
      }));
    const leaderOf = (role: LeaderRole) => {
      const u = unitAt(role, leaders!.current(role));
      return u ? { name: u.name, url: u.url, pid: u.pid ?? null } : null;
    };
    if (!stopSignal) {
      const report = {
        event: 'ready',
        store: etcdUrl,
        etcd: rowsOf('etcd'),
        masters: rowsOf('master'),
        orchestrators: rowsOf('orchestrator'),
        agents: rowsOf('agent'),
        leaders: { master: leaderOf('master'), orchestrator: nOrch > 0 ? leaderOf('orchestrator') : null },
        election_ttl_ms: ttlMs,
        data_dir: dataDir,
        pid: process.pid,
      };
      if (opts.json) jsonLine(report);
      else out(readyText(report, logDir));
      ready = true;
    }
  } catch (e) {
    removeSignals();
    await stopAll().catch(() => {});
    releaseLock();
    throw e;
  }

  await stopRequested;
  if (opts.json) jsonLine({ event: 'stopping', signal: stopSignal ?? null });
  let ok = true;
  await stopAll().catch((e: Error) => {
    ok = false;
    log.error('stopping the cluster failed', { error: e.message });
  });
  removeSignals();
  releaseLock();
  if (opts.json) jsonLine({ event: 'stopped', ok });
  else err(ok ? 'cluster stopped' : 'cluster stopped with errors (see above)');
  if (!ok) process.exitCode = 1;
}

interface Serving {
  masterLeader: boolean;
  missing: string[];
  agentIds: Map<string, string>;
}

/**
 * Polls (bounded) until every master and orchestrator answers its health check, both elections have a
 * leader among the children and every agent has registered; returns what was still missing at the deadline.
 */
async function waitUntilServing(
  sup: Supervisor,
  leaders: LeaderWatch,
  unitAt: (role: LeaderRole, url: string | undefined) => Unit | undefined,
  timeoutMs: number,
  cancelled: () => boolean,
): Promise<Serving> {
  const deadline = Date.now() + timeoutMs;
  const agentIds = new Map<string, string>();
  const serving = new Set<string>();
  for (;;) {
    const checks = sup.units
      .filter((u) => u.role !== 'etcd' && !serving.has(u.name))
      .map(async (u) => {
        if (u.role === 'agent') {
          const state = (await getJson(`${u.url}/state`)) as { id?: unknown } | undefined;
          if (typeof state?.id === 'string' && state.id !== '') {
            agentIds.set(u.name, state.id);
            serving.add(u.name);
          }
        } else if (await answers(`${u.url}${u.role === 'master' ? '/health' : '/ping'}`)) serving.add(u.name);
      });
    await Promise.all(checks);
    const masterLeader = unitAt('master', leaders.current('master')) !== undefined;
    const orchLeader = sup.byRole('orchestrator').length === 0 || unitAt('orchestrator', leaders.current('orchestrator')) !== undefined;
    const missing = [
      ...sup.units.filter((u) => u.role !== 'etcd' && !serving.has(u.name)).map((u) => u.name),
      ...(masterLeader ? [] : ['a leading master']),
      ...(orchLeader ? [] : ['a leading orchestrator']),
    ];
    if (missing.length === 0 || cancelled() || Date.now() > deadline) return { masterLeader, missing, agentIds };
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

async function getJson(url: string): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

function describeEvent(e: SupervisorEvent): string {
  switch (e.event) {
    case 'exited':
      return `${e.name} (pid ${e.pid}) exited (${e.signal ?? `code ${e.code}`}); ${e.restart_in_ms === null ? 'not restarting it' : `restarting it in ${e.restart_in_ms} ms`}`;
    case 'restarted':
      return `${e.name} restarted (pid ${e.pid ?? '?'}, ${e.url})`;
    case 'restart_failed':
      return `${e.name} could not be restarted: ${e.error}`;
    case 'gave_up':
      return `${e.name} exited ${e.exits} times within ${e.window_ms / 1000} s: left down (see its log)`;
  }
}

function readyText(r: { store: string; etcd: Row[]; masters: (Row & { leader?: boolean })[]; orchestrators: (Row & { leader?: boolean })[]; agents: (Row & { agent_id?: string | null })[]; election_ttl_ms: number; data_dir: string }, logDir: string): string {
  const rows = [
    ...r.etcd.map((x) => ['etcd', x.name, x.pid ?? '-', x.url, 'member']),
    ...r.masters.map((x) => ['master', x.name, x.pid ?? '-', x.url, x.leader ? 'LEADER' : 'follower']),
    ...r.orchestrators.map((x) => ['orchestrator', x.name, x.pid ?? '-', x.url, x.leader ? 'LEADER' : 'follower (proxies to the leader)']),
    ...r.agents.map((x) => ['agent', x.name, x.pid ?? '-', x.url, x.agent_id ? `registered ${x.agent_id}` : 'not registered yet']),
  ];
  const leadingMaster = r.masters.find((m) => m.leader);
  const leadingOrch = r.orchestrators.find((o) => o.leader);
  const follower = r.orchestrators.find((o) => !o.leader);
  const ttl = `${r.election_ttl_ms / 1000} s`;
  return [
    bold('corral dev --ha: cluster ready') + ` (data dir ${r.data_dir}, logs in ${logDir})`,
    table(['ROLE', 'NAME', 'PID', 'URL', 'STATE'], rows).trimEnd(),
    'try a failover:',
    ...(leadingMaster ? [`  kill -9 ${leadingMaster.pid}    # the leading master: another one leads within about ${ttl}; this one comes back as a follower`] : []),
    ...(leadingOrch ? [`  kill -9 ${leadingOrch.pid}    # the leading orchestrator: the other takes over its framework and tasks`] : []),
    'use it:',
    `  export CORRAL_MASTER=${r.store}    # clients find the leading master through etcd`,
    ...(follower ? [`  export CORRAL_ORCHESTRATOR=${follower.url}    # any orchestrator: a follower proxies to the leader`] : []),
    '  corral task run -- echo hello;  corral app list;  corral cluster status',
    'Ctrl-C stops everything (tasks are killed).',
  ].join('\n');
}

/** One supervisor per data dir: <dir>/supervisor.pid names the live one. */
function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'supervisor.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && isCorral(pid))
        throw new CliError(`data directory ${dataDir} is in use by \`corral dev --ha\` (pid ${pid}): stop it or pass --data-dir`);
      rmSync(file, { force: true }); // left by a supervisor that died
    }
  }
  throw new CliError(`cannot lock the data directory ${dataDir}`);
}

function isCorral(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('corral');
  } catch {
    return false;
  }
}
