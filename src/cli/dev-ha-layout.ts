// What `corral dev --ha` runs where: the port of every child and the command line it gets. Pure, so the
// layout can be printed, checked and tested without starting anything.
//
// With --port P (default 5050), --orchestrator-port O (8080) and --etcd-port E (2379):
//   etcd-1..3          clients E, E+2, E+4   peers E+1, E+3, E+5   (2379/2380, 2381/2382, 2383/2384)
//   master-1..3        P, P+1, P+2                                 (5050-5052)
//   orchestrator-1..2  O, O+1                                      (8080, 8081)
//   agent-1..N         P+10 … P+9+N                                (5060…)
// --port 0: every port is a free one (etcd and orchestrators too, unless given).
import { ValidationError } from '../protocol/errors.ts';

export const HA_ETCD_MEMBERS = 3;
export const HA_MASTERS = 3;
export const HA_ORCHESTRATORS = 2;
/** Agent i listens on --port + AGENT_PORT_OFFSET + i - 1. */
export const AGENT_PORT_OFFSET = 10;

export interface HaLayoutOptions {
  /** Base port of the masters; 0 = free ports. */
  port: number;
  agents: number;
  /** 0 (--no-orchestrator) or HA_ORCHESTRATORS. */
  orchestrators: number;
  /** Default 8080, or free with --port 0. */
  orchestratorPort?: number;
  /** Default 2379, or free with --port 0. */
  etcdPort?: number;
}

export interface HaPorts {
  /** 0: free ports (the etcd supervisor picks them, or re-uses those its data dir remembers). */
  etcdBase: number;
  masters: number[];
  orchestrators: number[];
  agents: number[];
}

/** How many free ports planPorts needs for these options (the ones left at 0). */
export function freePortsNeeded(o: HaLayoutOptions): number {
  const orchestratorsFree = (o.orchestratorPort ?? (o.port === 0 ? 0 : 8080)) === 0;
  return (o.port === 0 ? HA_MASTERS + o.agents : 0) + (orchestratorsFree ? o.orchestrators : 0);
}

/** Every child's port; `free` supplies the ports for what is left at 0 (at least freePortsNeeded). */
export function planPorts(o: HaLayoutOptions, free: readonly number[] = []): HaPorts {
  const pool = [...free];
  const take = (): number => {
    const p = pool.shift();
    if (p === undefined) throw new ValidationError('not enough free ports were supplied');
    return p;
  };
  const run = (base: number, n: number, what: string): number[] => {
    if (base === 0) return Array.from({ length: n }, take);
    if (base + n - 1 > 65535) throw new ValidationError(`${what} need ports ${base}-${base + n - 1}: beyond 65535`);
    return Array.from({ length: n }, (_, i) => base + i);
  };
  const etcdBase = o.etcdPort ?? (o.port === 0 ? 0 : 2379);
  const orchestratorBase = o.orchestratorPort ?? (o.port === 0 ? 0 : 8080);
  const ports: HaPorts = {
    etcdBase,
    masters: run(o.port, HA_MASTERS, 'the masters'),
    agents: run(o.port === 0 ? 0 : o.port + AGENT_PORT_OFFSET, o.agents, 'the agents'),
    orchestrators: run(orchestratorBase, o.orchestrators, 'the orchestrators'),
  };
  if (etcdBase !== 0 && etcdBase + 2 * HA_ETCD_MEMBERS - 1 > 65535) throw new ValidationError(`etcd needs ports ${etcdBase}-${etcdBase + 5}: beyond 65535`);
  const owners = new Map<number, string>();
  const claim = (port: number, who: string) => {
    const other = owners.get(port);
    if (other) throw new ValidationError(`port ${port} would serve both ${other} and ${who}: choose other --port, --orchestrator-port or --etcd-port values`);
    owners.set(port, who);
  };
  if (etcdBase !== 0) for (let i = 0; i < 2 * HA_ETCD_MEMBERS; i++) claim(etcdBase + i, `etcd-${Math.floor(i / 2) + 1}`);
  ports.masters.forEach((p, i) => claim(p, `master-${i + 1}`));
  ports.orchestrators.forEach((p, i) => claim(p, `orchestrator-${i + 1}`));
  ports.agents.forEach((p, i) => claim(p, `agent-${i + 1}`));
  return ports;
}

export interface ChildCommon {
  host: string;
  /** etcd://…: every child finds the others through it. */
  etcdUrl: string;
  logLevel: string;
}

export function masterArgs(c: ChildCommon, o: { port: number; electionTtlMs: number; agentReregisterTimeoutMs: number; allocationIntervalMs?: number }): string[] {
  return [
    'master', '--store', c.etcdUrl, '--host', c.host, '--port', String(o.port),
    '--election-ttl-ms', String(o.electionTtlMs),
    '--agent-reregister-timeout-ms', String(o.agentReregisterTimeoutMs),
    ...(o.allocationIntervalMs !== undefined ? ['--allocation-interval-ms', String(o.allocationIntervalMs)] : []),
    '--log-level', c.logLevel,
  ];
}

export function orchestratorArgs(c: ChildCommon, o: { port: number; electionTtlMs: number }): string[] {
  return [
    'orchestrator', '--master', c.etcdUrl, '--store', c.etcdUrl, '--host', c.host, '--port', String(o.port),
    '--election-ttl-ms', String(o.electionTtlMs),
    '--log-level', c.logLevel,
  ];
}

export function agentArgs(c: ChildCommon, o: { port: number; workDir: string; resourceShare: number; ports: string }): string[] {
  return [
    'agent', '--master', c.etcdUrl, '--host', c.host, '--port', String(o.port),
    '--work-dir', o.workDir,
    '--resource-share', String(o.resourceShare),
    '--resources', `ports:[${o.ports}]`,
    // Stopping the cluster stops its tasks, as plain `corral dev` does.
    '--kill-tasks-on-stop',
    '--log-level', c.logLevel,
  ];
}
