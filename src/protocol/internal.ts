// The agent <-> master protocol. Mesos uses libprocess messages for this; Corral
// uses JSON over HTTP POST in both directions:
//   agent  → master: POST {master}/internal/v1/agent   body: AgentToMaster
//   master → agent:  POST {agent}/internal/v1/master   body: MasterToAgent
// Both ends validate every message with these schemas.
import { z } from 'zod';
import { Attribute, FrameworkInfo, ID, KillPolicy, Resource, TaskInfo, TaskState, TaskStatus } from './mesos.ts';

export const AGENT_MESSAGE_PATH = '/internal/v1/agent';
export const MASTER_MESSAGE_PATH = '/internal/v1/master';

export const WireAgentInfo = z.object({
  id: ID.optional(),
  hostname: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  resources: z.array(Resource),
  attributes: z.array(Attribute).default([]),
});
export type WireAgentInfo = z.infer<typeof WireAgentInfo>;

/** A task as the agent reports it when re-registering. */
export const AgentTask = z.looseObject({
  name: z.string(),
  task_id: ID,
  framework_id: ID,
  executor_id: ID.optional(),
  agent_id: ID,
  state: TaskState,
  resources: z.array(Resource),
  statuses: z.array(TaskStatus).default([]),
  status_update_state: TaskState.optional(),
  status_update_uuid: z.string().optional(),
});
export type AgentTask = z.infer<typeof AgentTask>;

export const StatusUpdate = z.object({
  framework_id: ID,
  /** Always carries uuid, agent_id, source and timestamp when sent by an agent. */
  status: TaskStatus,
  /** The task's latest known state on the agent (may be ahead of `status` while updates queue). */
  latest_state: TaskState.optional(),
});
export type StatusUpdate = z.infer<typeof StatusUpdate>;

export const AgentToMaster = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('REGISTER_AGENT'),
    agent_info: WireAgentInfo,
    endpoint: z.string().url(),
    version: z.string(),
    /** Dynamic reservations and persistent volumes the agent has checkpointed (kept across a new agent id, as Mesos). */
    checkpointed_resources: z.array(Resource).optional(),
  }),
  z.object({
    type: z.literal('REREGISTER_AGENT'),
    agent_info: WireAgentInfo.extend({ id: ID }),
    endpoint: z.string().url(),
    version: z.string(),
    tasks: z.array(AgentTask).default([]),
    frameworks: z.array(FrameworkInfo).default([]),
    /**
     * The agent's clock when it sent this report. A report can reach the master late (queued on a
     * connection during a partition, delivered after a newer one): the master ignores a report older
     * than the last one it accepted from that agent.
     */
    sent_at_ms: z.number().finite().optional(),
    /**
     * Dynamic reservations and persistent volumes the agent has checkpointed; `agent_info.resources`
     * stays the static `--resources`. A master that lost its view (restart) adopts these; one that
     * knows the agent sends its own view back with CHECKPOINT_RESOURCES.
     */
    checkpointed_resources: z.array(Resource).optional(),
  }),
  z.object({ type: z.literal('STATUS_UPDATE'), agent_id: ID, update: StatusUpdate }),
  z.object({ type: z.literal('PONG'), agent_id: ID }),
  z.object({ type: z.literal('UNREGISTER_AGENT'), agent_id: ID }),
]);
export type AgentToMaster = z.infer<typeof AgentToMaster>;

/** Synchronous answers of the master to agent messages. */
export type MasterReply =
  | { type: 'REGISTERED'; agent_id: { value: string }; master_id: string; ping_interval_seconds: number }
  | { type: 'REREGISTERED'; agent_id: { value: string }; master_id: string; ping_interval_seconds: number }
  | { type: 'ACCEPTED' }
  /** The master does not know this agent as registered: the agent must (re-)register. */
  | { type: 'REREGISTER_REQUIRED'; message: string }
  /** The agent was removed: it must kill its tasks and exit (Mesos's ShutdownMessage). */
  | { type: 'SHUTDOWN'; message: string };

export const MasterToAgent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RUN_TASK'), master_id: z.string(), framework_info: FrameworkInfo.extend({ id: ID }), task: TaskInfo }),
  z.object({ type: z.literal('KILL_TASK'), master_id: z.string(), framework_id: ID, task_id: ID, kill_policy: KillPolicy.optional() }),
  z.object({ type: z.literal('SHUTDOWN_FRAMEWORK'), master_id: z.string(), framework_id: ID }),
  z.object({ type: z.literal('ACKNOWLEDGE'), master_id: z.string(), framework_id: ID, task_id: ID, uuid: z.string().min(1) }),
  z.object({ type: z.literal('PING'), master_id: z.string(), agent_id: ID }),
  z.object({ type: z.literal('SHUTDOWN_AGENT'), master_id: z.string(), message: z.string() }),
  /**
   * The agent's complete set of dynamic reservations and persistent volumes after a RESERVE /
   * UNRESERVE / CREATE / DESTROY (Mesos's CheckpointResourcesMessage): the agent makes it durable,
   * creates new volumes' directories and removes destroyed ones before it answers. The master sends
   * these one at a time per agent, and RUN_TASK after them.
   */
  z.object({ type: z.literal('CHECKPOINT_RESOURCES'), master_id: z.string(), resources: z.array(Resource) }),
]);
export type MasterToAgent = z.infer<typeof MasterToAgent>;

/** Synchronous answers of the agent to master messages. */
export type AgentReply = { type: 'ACCEPTED' } | { type: 'PONG'; agent_id: { value: string } } | { type: 'UNKNOWN_AGENT' };
