// POST /internal/v1/master: messages from the master (internal.ts MasterToAgent), validated, then applied.
// Launches and kills run asynchronously; the reply only says the message was taken.
import { ConflictError, ValidationError } from '../protocol/errors.ts';
import type { AgentReply, MasterToAgent } from '../protocol/internal.ts';
import type { Logger } from '../runtime/log.ts';
import type { Registrar } from './registration.ts';
import type { TaskManager } from './tasks.ts';

export interface MasterMessageDeps {
  tasks: TaskManager;
  registrar: Registrar;
  log: Logger;
  /** SHUTDOWN_AGENT: runs after the reply is sent. */
  shutdown(message: string): void;
  /** CHECKPOINT_RESOURCES: resolves once the new reservations/volumes are durable (agent/volumes.ts). */
  checkpointResources(resources: Extract<MasterToAgent, { type: 'CHECKPOINT_RESOURCES' }>['resources']): Promise<void>;
}

const ACCEPTED: AgentReply = { type: 'ACCEPTED' };

export function handleMasterMessage(msg: MasterToAgent, deps: MasterMessageDeps): AgentReply | Promise<AgentReply> {
  const { tasks, registrar } = deps;
  const agentId = registrar.agentId;
  if (msg.type === 'PING') {
    if (!agentId || msg.agent_id.value !== agentId) return { type: 'UNKNOWN_AGENT' };
    registrar.onPing(msg.master_id);
    return { type: 'PONG', agent_id: { value: agentId } };
  }
  // Commands from a master other than the one this agent registered with (a deposed leader) are refused.
  if (registrar.registered && registrar.masterId !== undefined && msg.master_id !== registrar.masterId) {
    registrar.trigger(`message from unknown master ${msg.master_id}`);
    throw new ConflictError(`this agent is registered with master ${registrar.masterId}, not ${msg.master_id}`);
  }
  switch (msg.type) {
    case 'RUN_TASK': {
      if (agentId && msg.task.agent_id.value !== agentId)
        throw new ValidationError(`task is for agent ${msg.task.agent_id.value}, this is agent ${agentId}`, 'task.agent_id');
      const r = tasks.runTask(msg.framework_info, msg.task);
      if (r === 'duplicate') deps.log.info('ignoring a duplicate RUN_TASK', { task: msg.task.task_id.value });
      return ACCEPTED;
    }
    case 'KILL_TASK': {
      const r = tasks.killTask(msg.framework_id.value, msg.task_id.value, msg.kill_policy);
      if (r === 'unknown') tasks.reportUnknownTask(msg.framework_id.value, msg.task_id.value);
      return ACCEPTED;
    }
    case 'SHUTDOWN_FRAMEWORK':
      tasks.shutdownFramework(msg.framework_id.value);
      return ACCEPTED;
    case 'ACKNOWLEDGE': {
      const r = tasks.acknowledge(msg.framework_id.value, msg.task_id.value, msg.uuid);
      if (r !== 'acknowledged') deps.log.debug('ignoring an acknowledgement', { task: msg.task_id.value, result: r });
      return ACCEPTED;
    }
    case 'SHUTDOWN_AGENT':
      setImmediate(() => deps.shutdown(msg.message));
      return ACCEPTED;
    case 'CHECKPOINT_RESOURCES':
      // Answered only once durable: the master sends a RUN_TASK that uses a new volume after this reply.
      return deps.checkpointResources(msg.resources).then(() => ACCEPTED);
  }
}
