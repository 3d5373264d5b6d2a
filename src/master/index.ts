// Public entry of the master component (contract used by the CLI and tests).
import type { Clock } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Transport } from '../runtime/transport.ts';
import type { Store } from '../store/store.ts';
import type { LeadershipEvent } from './ha.ts';
import type { AlertOptions } from './alerts.ts';
import type { MasterMetricsOptions } from './metrics-service.ts';

export type { LeadershipEvent } from './ha.ts';

/** High availability: several masters on one shared (etcd) store, one of them leading. */
export interface MasterHaOptions {
  /** Election lease TTL (default 2000 ms): how long a dead or paused leader keeps the others waiting. */
  electionTtlMs?: number;
  /** Called when this master is elected or deposed. */
  onLeadership?: (e: LeadershipEvent) => void;
}

export interface MasterOptions {
  /** Bind address; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 0 picks a free port. Default 5050. */
  port?: number;
  /** Hostname advertised in offers/MasterInfo; defaults to `host`. */
  hostname?: string;
  /** Registry store (embedded SQLite by default in the CLI). */
  store: Store;
  clock?: Clock;
  ids?: IdSource;
  transport?: Transport;
  log?: Logger;
  /** Batch allocation period (default 1000 ms). */
  allocationIntervalMs?: number;
  /** Rescind outstanding offers after this long (default: never). */
  offerTimeoutMs?: number;
  /** HEARTBEAT period on scheduler streams (default 15 s). */
  heartbeatIntervalSeconds?: number;
  /** Master → agent PING period/timeout (default 3000 ms) and misses before unreachable (default 3). */
  agentPingTimeoutMs?: number;
  maxAgentPingTimeouts?: number;
  /** After a master restart, how long registry agents have to re-register (default 60 s). */
  agentReregisterTimeoutMs?: number;
  /** Mesos's --min_allocatable_resources text form, default 'cpus:0.01|mem:32'. */
  minAllocatableResources?: string;
  /**
   * When set, the master starts as a follower and campaigns for leadership in the store: followers
   * redirect API calls to the leader, and every registry write is fenced by the leader's election key.
   */
  ha?: MasterHaOptions;
  /** Alert rules and evaluation period (default: the built-in rules every 5 s). */
  alerts?: AlertOptions;
  /** Metrics history (default: 1 h at 5 s) and whether it is sampled. */
  metrics?: MasterMetricsOptions;
}

export interface MasterHandle {
  url: string;
  port: number;
  /** True while this master leads (always, once started, for a master without `ha`). */
  isLeading(): boolean;
  /** Stops timers, closes scheduler streams and the HTTP server (does not close the store). */
  close(): Promise<void>;
}

export { startMaster } from './master.ts';
