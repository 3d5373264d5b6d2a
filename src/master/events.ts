// Pure builders for what the master sends to schedulers: master-generated task
// statuses, the partition-awareness conversion, and wire offers.
import { toMesosResources } from '../core/resources.ts';
import {
  PARTITION_AWARE_ONLY,
  type Offer,
  type Resource,
  type TaskReason,
  type TaskState,
  type TaskStatus,
} from '../protocol/mesos.ts';
import type { AgentEntry, FrameworkEntry, OfferEntry } from './state.ts';

export interface MasterStatusInput {
  taskId: string;
  state: TaskState;
  reason: TaskReason;
  message: string;
  agentId?: string;
  executorId?: string;
  now: number;
  unreachableTime?: number;
}

/** A status the master generates itself: SOURCE_MASTER, no uuid (needs no acknowledgement). */
export function masterStatus(i: MasterStatusInput): TaskStatus {
  const s: TaskStatus = {
    task_id: { value: i.taskId },
    state: i.state,
    message: i.message,
    source: 'SOURCE_MASTER',
    reason: i.reason,
    timestamp: i.now / 1000,
  };
  if (i.agentId) s.agent_id = { value: i.agentId };
  if (i.executorId) s.executor_id = { value: i.executorId };
  if (i.unreachableTime !== undefined) s.unreachable_time = { nanoseconds: Math.round(i.unreachableTime * 1e6) };
  return s;
}

/** The state a framework is told: non-PARTITION_AWARE frameworks see TASK_LOST for the partition-aware-only states. */
export function stateFor(fw: Pick<FrameworkEntry, 'partitionAware'>, state: TaskState): TaskState {
  return !fw.partitionAware && PARTITION_AWARE_ONLY.has(state) ? 'TASK_LOST' : state;
}

export function statusFor(fw: Pick<FrameworkEntry, 'partitionAware'>, status: TaskStatus): TaskStatus {
  const state = stateFor(fw, status.state);
  return state === status.state ? status : { ...status, state };
}

/** For "agent lost" and "invalid offer" failures: PA frameworks get `paState`, others TASK_LOST. */
export function lostOr(fw: Pick<FrameworkEntry, 'partitionAware'>, paState: TaskState): TaskState {
  return fw.partitionAware ? paState : 'TASK_LOST';
}

export function agentUrl(agent: AgentEntry): NonNullable<Offer['url']> {
  let ip: string | undefined;
  try {
    const u = new URL(agent.endpoint);
    if (/^\d+\.\d+\.\d+\.\d+$/.test(u.hostname)) ip = u.hostname;
  } catch {
    // endpoint was validated as a URL on registration
  }
  return {
    scheme: 'http',
    address: { hostname: agent.info.hostname, ...(ip ? { ip } : {}), port: agent.info.port },
    path: '/slave(1)',
  };
}

export function wireOffer(offer: OfferEntry, agent: AgentEntry): Offer {
  return {
    id: { value: offer.id },
    framework_id: { value: offer.frameworkId },
    agent_id: { value: offer.agentId },
    hostname: agent.info.hostname,
    url: agentUrl(agent),
    resources: toMesosResources(offer.resources, offer.role) as Resource[],
    ...(agent.info.attributes.length ? { attributes: agent.info.attributes } : {}),
    allocation_info: { role: offer.role },
  };
}
