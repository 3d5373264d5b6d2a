// Applying resource operations on the master: the agent's total changes at once (the master's view
// is authoritative, as in Mesos), then the agent is sent its whole new set of dynamic reservations
// and volumes (CHECKPOINT_RESOURCES). Sends to one agent are chained so they arrive in order, and
// RUN_TASK waits for the chain (master/tasks.ts), so a task never reaches the agent before the
// volume it uses. A lost send is repaired on the agent's next re-registration (agents.ts).
import { checkpointedOf, toMesosResources } from '../core/resources.ts';
import { applyConversion, canApply, volumeIds, type Conversion, type ResourceOperation } from '../core/reservations.ts';
import { ConflictError, ValidationError } from '../protocol/errors.ts';
import type { Resource } from '../protocol/mesos.ts';
import type { MasterContext } from './context.ts';
import { planOperation, type PlannedOperation } from './resource-operations.ts';
import type { AgentEntry } from './state.ts';

/** Converts the agent's total (the resources involved must be free of offers already) and checkpoints it. */
export function convertAgentResources(ctx: MasterContext, agent: AgentEntry, conversions: readonly Conversion[]): void {
  let total = agent.total;
  for (const c of conversions) total = applyConversion(total, c, `agent ${agent.id}`);
  agent.total = total;
  checkpointAgentResources(ctx, agent);
}

/** Queues a CHECKPOINT_RESOURCES with the agent's current reservations and volumes (read when it is sent). */
export function checkpointAgentResources(ctx: MasterContext, agent: AgentEntry): void {
  const previous = agent.checkpointing ?? Promise.resolve();
  agent.checkpointing = previous.then(async () => {
    if (ctx.state.agents.get(agent.id) !== agent || agent.status !== 'registered') return;
    const resources = toMesosResources(checkpointedOf(agent.total)) as Resource[];
    try {
      await ctx.agentLink.send(agent, { type: 'CHECKPOINT_RESOURCES', resources });
    } catch (e) {
      ctx.metrics.inc('master/dropped_messages');
      ctx.log.warn('CHECKPOINT_RESOURCES not delivered; the agent gets it when it re-registers', { agent: agent.id, error: (e as Error).message });
    }
  });
}

/**
 * An operator's RESERVE_RESOURCES / UNRESERVE_RESOURCES / CREATE_VOLUMES / DESTROY_VOLUMES (and the
 * /master/reserve … endpoints): the resources must be free on the agent; outstanding offers are
 * rescinded to free them, as Mesos does. ValidationError (400) for a bad request, ConflictError (409)
 * when the resources are not available (used by tasks, or not there).
 */
export function operatorOperation(ctx: MasterContext, agentId: string, type: ResourceOperation, list: unknown, path: string): PlannedOperation {
  const agent = ctx.state.agents.get(agentId);
  if (!agent || agent.status !== 'registered') throw new ValidationError(`No agent found with specified ID ${JSON.stringify(agentId)}`, 'slaveId');
  const planned = planOperation(type, list, path, volumeIds(agent.total));
  if (!canApply(ctx.state.availableOf(agent), planned.conversion) && agent.offers.size) ctx.offers.rescindAgentOffers(agent);
  const available = ctx.state.availableOf(agent);
  if (!canApply(available, planned.conversion))
    throw new ConflictError(`${type}: the resources are not available on agent ${agent.id} (in use by tasks, or not there)`);
  convertAgentResources(ctx, agent, [planned.conversion]);
  ctx.metrics.operation(type, 'finished');
  ctx.log.info('operator resource operation applied', { agent: agent.id, type, role: planned.role });
  ctx.offers.schedule();
  return planned;
}
