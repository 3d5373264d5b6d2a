// Resolving MasterOptions into the MasterConfig every part reads, and the MasterInfo a master
// advertises (to frameworks in SUBSCRIBED, to followers and agents through the election record).
import { parseMinAllocatable } from '../core/allocator/index.ts';
import type { MasterInfo } from '../protocol/mesos.ts';
import type { MasterConfig } from './context.ts';
import type { MasterOptions } from './index.ts';
import { MESOS_COMPAT_VERSION } from './version.ts';
import os from 'node:os';
import { isWildcardHost } from '../protocol/hosts.ts';

export const DEFAULT_MIN_ALLOCATABLE_TEXT = 'cpus:0.01|mem:32';
/** Election lease TTL: how long a dead or paused leader keeps the others waiting. */
export const DEFAULT_ELECTION_TTL_MS = 2000;

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`master option ${name} must be a positive number, got ${v}`);
  return v;
}

export function resolveConfig(opts: MasterOptions): MasterConfig {
  const minText = opts.minAllocatableResources ?? DEFAULT_MIN_ALLOCATABLE_TEXT;
  return {
    // A wildcard bind names no reachable host: advertise the machine's name instead (as the agent does).
    hostname: opts.hostname ?? (opts.host === undefined ? '127.0.0.1' : isWildcardHost(opts.host) ? os.hostname() : opts.host),
    allocationIntervalMs: positive(opts.allocationIntervalMs, 1000, 'allocationIntervalMs'),
    offerTimeoutMs: opts.offerTimeoutMs === undefined ? undefined : positive(opts.offerTimeoutMs, 0, 'offerTimeoutMs'),
    heartbeatIntervalSeconds: positive(opts.heartbeatIntervalSeconds, 15, 'heartbeatIntervalSeconds'),
    agentPingTimeoutMs: positive(opts.agentPingTimeoutMs, 3000, 'agentPingTimeoutMs'),
    maxAgentPingTimeouts: Math.ceil(positive(opts.maxAgentPingTimeouts, 3, 'maxAgentPingTimeouts')),
    agentReregisterTimeoutMs: positive(opts.agentReregisterTimeoutMs, 60_000, 'agentReregisterTimeoutMs'),
    minAllocatable: parseMinAllocatable(minText),
    minAllocatableText: minText,
    ...(opts.alerts ? { alerts: opts.alerts } : {}),
  };
}

export function resolveElectionTtlMs(opts: MasterOptions): number {
  return positive(opts.ha?.electionTtlMs, DEFAULT_ELECTION_TTL_MS, 'ha.electionTtlMs');
}

/** MasterInfo.ip: the IPv4 address as a uint32 in network byte order (127.0.0.1 → 16777343), 0 if not IPv4. */
export function ipv4NetworkOrder(host: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (!m) return 0;
  const [a, b, c, d] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  return (a + b * 2 ** 8 + c * 2 ** 16 + d * 2 ** 24) >>> 0;
}

export function masterInfo(id: string, host: string, hostname: string, port: number): MasterInfo {
  const ip = isWildcardHost(host) ? '127.0.0.1' : host;
  return {
    id,
    ip: ipv4NetworkOrder(ip),
    port,
    pid: `master@${ip}:${port}`,
    hostname,
    version: MESOS_COMPAT_VERSION,
    address: { hostname, ip, port },
  };
}
