// ACCEPT validation and planning, as Mesos's `Master::accept` /
// `validation::offer::validate` / `validation::task::validate`. Pure: the
// whole call is checked against the state and turned into a plan before the
// master changes anything, so an ACCEPT is never half-applied.
//
// Operations are taken in order against the pool of offered resources (per
// allocation role): RESERVE / UNRESERVE / CREATE / DESTROY convert resources in
// the pool, so a later LAUNCH in the same call can use what they made (Mesos's
// RESERVE + CREATE + LAUNCH idiom). An invalid resource operation is dropped
// (reported in `operationErrors`) and the rest go on, as in Mesos.
import { isPlainKey } from '../core/resource-keys.ts';
import { applyConversion, keysOf, volumeIds, type Conversion } from '../core/reservations.ts';
import { addResources, containsResources, fromMesosResources, isEmptyResources, subtractResources, type Resources } from '../core/resources.ts';
import { isTerminalState, type TaskInfo, type TaskReason, type TaskState } from '../protocol/mesos.ts';
import type { OfferOperation } from '../protocol/scheduler.ts';
import { lostOr } from './events.ts';
import { createdVolumeIds, planFrameworkOperation, RESOURCE_OPERATIONS } from './resource-operations.ts';
import type { AgentEntry, FrameworkEntry, MasterState, OfferEntry } from './state.ts';

export interface AcceptInput {
  offer_ids: { value: string }[];
  operations?: OfferOperation[];
}

export interface LaunchPlan {
  info: TaskInfo;
  role: string;
  resources: Resources;
}

/** A task answered with a master-generated status instead of being launched. */
export interface TaskRejection {
  taskId: string;
  agentId?: string;
  state: TaskState;
  reason: TaskReason;
  message: string;
}

export type AcceptPlan =
  | {
      kind: 'invalid-offers';
      error: string;
      /** The framework's own offers named in the call: removed, resources recovered without a filter. */
      ownOffers: OfferEntry[];
      rejections: TaskRejection[];
    }
  | {
      kind: 'ok';
      agent: AgentEntry;
      offers: OfferEntry[];
      launches: LaunchPlan[];
      rejections: TaskRejection[];
      /** Offered but unused, per allocation role: returned with a refusal filter. */
      unused: Map<string, Resources>;
      /** Operation types that were not applied (unsupported). */
      skippedOperations: string[];
      /** RESERVE / UNRESERVE / CREATE / DESTROY that passed validation, in order: applied to the agent's total. */
      conversions: Conversion[];
      /** Resource operations dropped as invalid (Mesos drops them and carries on). */
      operationErrors: string[];
    };

interface CandidateTask {
  taskId: string;
  agentId?: string;
  info?: TaskInfo;
  /** Set when the task cannot even be considered (e.g. LAUNCH_GROUP). */
  unsupported?: string;
}

function candidateTasks(operations: readonly OfferOperation[]): CandidateTask[] {
  const out: CandidateTask[] = [];
  for (const op of operations) {
    if (op.type === 'LAUNCH') {
      for (const info of op.launch?.task_infos ?? []) out.push({ taskId: info.task_id.value, agentId: info.agent_id.value, info });
    } else if (op.type === 'LAUNCH_GROUP') {
      const group = op.launch_group as { task_group?: { tasks?: unknown[] } } | undefined;
      for (const t of group?.task_group?.tasks ?? []) {
        const id = (t as { task_id?: { value?: unknown } } | null)?.task_id?.value;
        if (typeof id === 'string') out.push({ taskId: id, unsupported: 'LAUNCH_GROUP operations are not supported by this master' });
      }
    }
  }
  return out;
}

function validateOffers(state: MasterState, fw: FrameworkEntry, ids: readonly string[]): string | undefined {
  if (ids.length === 0) return 'No offers specified';
  const seen = new Set<string>();
  let agentId: string | undefined;
  let firstOffer: string | undefined;
  for (const id of ids) {
    if (seen.has(id)) return `Duplicate offer ${id} in offer list`;
    seen.add(id);
    const offer = state.offers.get(id);
    if (!offer) return `Offer ${id} is no longer valid`;
    if (offer.frameworkId !== fw.id) return `Offer ${id} has invalid framework ${offer.frameworkId} while framework ${fw.id} is expected`;
    if (agentId === undefined) {
      agentId = offer.agentId;
      firstOffer = id;
    } else if (offer.agentId !== agentId) {
      return `Aggregated offers must belong to one single agent. Offer ${id} uses agent ${offer.agentId} and offer ${firstOffer} uses agent ${agentId}`;
    }
    const agent = state.agents.get(offer.agentId);
    if (!agent || agent.status !== 'registered') return `Agent ${offer.agentId} is not available`;
  }
  return undefined;
}

/** Mesos's task validation (the parts that apply to Corral), against the remaining offered pool. */
function validateTask(
  fw: FrameworkEntry,
  info: TaskInfo,
  agentId: string,
  pools: Map<string, Resources>,
  launchedIds: Set<string>,
): { error: string } | { role: string; resources: Resources } {
  const id = info.task_id.value;
  const existing = fw.tasks.get(id);
  if (launchedIds.has(id) || (existing && !isTerminalState(existing.state)) || fw.unreachableTasks.has(id))
    return { error: `Task has duplicate ID: ${id}` };
  if (info.agent_id.value !== agentId) return { error: `Task uses invalid agent: ${info.agent_id.value} (offers are on agent ${agentId})` };
  if ((info.command === undefined) === (info.executor === undefined))
    return { error: 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present' };
  let resources: Resources;
  try {
    resources = fromMesosResources(info.resources ?? [], 'resources');
    if (info.executor?.resources) resources = addResources(resources, fromMesosResources(info.executor.resources, 'executor.resources'));
  } catch (e) {
    return { error: `Task has invalid resources: ${(e as Error).message}` };
  }
  const roles = new Set<string>();
  for (const r of [...(info.resources ?? []), ...(info.executor?.resources ?? [])]) if (r.allocation_info?.role !== undefined) roles.add(r.allocation_info.role);
  if (roles.size > 1) return { error: `Task's resources are allocated to more than one role: ${[...roles].join(', ')}` };
  let role: string | undefined;
  if (roles.size === 1) {
    role = [...roles][0]!;
    if (!pools.has(role)) return { error: `Task's resources are allocated to role '${role}', which was not offered` };
  } else if (pools.size === 1) {
    role = [...pools.keys()][0]!;
  } else {
    for (const [r, pool] of pools) if (containsResources(pool, resources)) (role ??= r);
    role ??= [...pools.keys()][0]!;
  }
  const pool = pools.get(role)!;
  if (!containsResources(pool, resources)) return { error: `Task uses more resources than available in the accepted offers (role '${role}')` };
  // A persistent volume is used whole (Mesos never splits one between tasks).
  for (const k of keysOf(resources)) {
    if (isPlainKey(k) || !k.includes('#')) continue;
    if (resources.scalars[k] !== pool.scalars[k]) return { error: `Task must use the whole persistent volume ${k} (${pool.scalars[k]} offered, ${resources.scalars[k]} asked)` };
  }
  return { role, resources };
}

export function planAccept(state: MasterState, fw: FrameworkEntry, accept: AcceptInput): AcceptPlan {
  const ids = accept.offer_ids.map((o) => o.value);
  const operations = accept.operations ?? [];
  const candidates = candidateTasks(operations);
  const offerError = validateOffers(state, fw, ids);
  if (offerError !== undefined) {
    const own: OfferEntry[] = [];
    for (const id of new Set(ids)) {
      const o = state.offers.get(id);
      if (o && o.frameworkId === fw.id) own.push(o);
    }
    return {
      kind: 'invalid-offers',
      error: offerError,
      ownOffers: own,
      rejections: candidates.map((c) => ({
        taskId: c.taskId,
        agentId: c.agentId,
        state: lostOr(fw, 'TASK_DROPPED'),
        reason: 'REASON_INVALID_OFFERS',
        message: `Task launched with invalid offers: ${offerError}`,
      })),
    };
  }

  const offers = ids.map((id) => state.offers.get(id)!);
  const agent = state.agents.get(offers[0]!.agentId)!;
  const pools = new Map<string, Resources>();
  for (const o of offers) {
    const cur = pools.get(o.role);
    pools.set(o.role, cur ? addResources(cur, o.resources) : o.resources);
  }

  const launches: LaunchPlan[] = [];
  const rejections: TaskRejection[] = [];
  const launchedIds = new Set<string>();
  const conversions: Conversion[] = [];
  const operationErrors: string[] = [];
  const volumes = volumeIds(agent.total);
  const launchTasks = (tasks: readonly CandidateTask[]) => {
    for (const c of tasks) {
      const reject = (message: string) =>
        rejections.push({ taskId: c.taskId, agentId: c.agentId, state: 'TASK_ERROR', reason: 'REASON_TASK_INVALID', message });
      if (c.unsupported !== undefined || !c.info) {
        reject(c.unsupported ?? 'unsupported operation');
        continue;
      }
      const v = validateTask(fw, c.info, agent.id, pools, launchedIds);
      if ('error' in v) {
        reject(v.error);
        continue;
      }
      pools.set(v.role, subtractResources(pools.get(v.role)!, v.resources));
      launchedIds.add(c.taskId);
      launches.push({ info: c.info, role: v.role, resources: v.resources });
    }
  };
  for (const op of operations) {
    if (op.type === 'LAUNCH' || op.type === 'LAUNCH_GROUP') {
      launchTasks(candidateTasks([op]));
      continue;
    }
    if (!RESOURCE_OPERATIONS.has(op.type)) continue;
    try {
      const planned = planFrameworkOperation({ roles: fw.roles, principal: fw.info.principal }, op, volumes);
      const pool = pools.get(planned.role);
      if (!pool) throw new Error(`no resources of role '${planned.role}' were offered`);
      pools.set(planned.role, applyConversion(pool, planned.conversion, 'the accepted offers'));
      conversions.push(planned.conversion);
      for (const id of createdVolumeIds(planned)) volumes.add(id);
    } catch (e) {
      operationErrors.push(`${op.type}: ${(e as Error).message}`);
    }
  }

  const unused = new Map<string, Resources>();
  for (const [role, r] of pools) if (!isEmptyResources(r)) unused.set(role, r);
  const skippedOperations = operations
    .filter((op) => op.type !== 'LAUNCH' && op.type !== 'LAUNCH_GROUP' && !RESOURCE_OPERATIONS.has(op.type))
    .map((op) => op.type);
  return { kind: 'ok', agent, offers, launches, rejections, unused, skippedOperations, conversions, operationErrors };
}
