// The composition root's view: configuration, injected runtime seams, the
// in-memory state and the services, shared by every part of the master.
import type { MasterInfo } from '../protocol/mesos.ts';
import type { Clock } from '../runtime/clock.ts';
import type { IdSource } from '../runtime/ids.ts';
import type { Logger } from '../runtime/log.ts';
import type { Transport } from '../runtime/transport.ts';
import type { AgentLink } from './agent-link.ts';
import type { AgentService } from './agents.ts';
import type { AlertOptions } from './alerts.ts';
import type { FrameworkService } from './frameworks.ts';
import type { MasterMetrics } from './metrics.ts';
import type { OfferService } from './offers.ts';
import type { Registry } from './registry.ts';
import type { MasterState } from './state.ts';
import type { TaskService } from './tasks.ts';

export interface MasterConfig {
  hostname: string;
  allocationIntervalMs: number;
  offerTimeoutMs?: number;
  heartbeatIntervalSeconds: number;
  agentPingTimeoutMs: number;
  maxAgentPingTimeouts: number;
  agentReregisterTimeoutMs: number;
  minAllocatable: Array<Record<string, number>>;
  /** The flag text, for /master/flags-style output. */
  minAllocatableText: string;
  alerts?: AlertOptions;
}

export interface MasterContext {
  readonly config: MasterConfig;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly log: Logger;
  readonly transport: Transport;
  readonly state: MasterState;
  readonly metrics: MasterMetrics;
  readonly registry: Registry;
  readonly masterId: string;
  /** When the process started. */
  readonly startTime: number;
  /** When this leadership term began (= startTime for a single master). */
  readonly electedTime: number;
  /** Set once the HTTP server listens. */
  masterInfo: MasterInfo;
  agentLink: AgentLink;
  offers: OfferService;
  frameworks: FrameworkService;
  tasks: TaskService;
  agents: AgentService;
  /** False once this term may no longer act (it ended, or, under HA, the process stalled): gates sends to schedulers. */
  active(): boolean;
  /** Runs fn, logging (never throwing) whatever it throws: for timers and promise callbacks. */
  safely(what: string, fn: () => void): void;
}
