// Mesos v1 scheduler API: Call (framework → master) and Event (master → framework).
import { z } from 'zod';
import {
  FrameworkInfo,
  Filters,
  ID,
  KillPolicy,
  Resource,
  TaskInfo,
  type MasterInfo,
  type Offer,
  type TaskStatus,
} from './mesos.ts';
import { ValidationError } from './errors.ts';
import { parseOrThrow } from './validate.ts';

export const CALL_TYPES = [
  'UNKNOWN',
  'SUBSCRIBE',
  'TEARDOWN',
  'ACCEPT',
  'DECLINE',
  'ACCEPT_INVERSE_OFFERS',
  'DECLINE_INVERSE_OFFERS',
  'REVIVE',
  'KILL',
  'SHUTDOWN',
  'ACKNOWLEDGE',
  'ACKNOWLEDGE_OPERATION_STATUS',
  'RECONCILE',
  'RECONCILE_OPERATIONS',
  'MESSAGE',
  'REQUEST',
  'SUPPRESS',
  'UPDATE_FRAMEWORK',
] as const;
export type CallType = (typeof CALL_TYPES)[number];

export const OfferOperation = z.looseObject({
  type: z.enum([
    'UNKNOWN',
    'LAUNCH',
    'LAUNCH_GROUP',
    'RESERVE',
    'UNRESERVE',
    'CREATE',
    'DESTROY',
    'GROW_VOLUME',
    'SHRINK_VOLUME',
    'CREATE_DISK',
    'DESTROY_DISK',
  ]),
  id: ID.optional(),
  launch: z.object({ task_infos: z.array(TaskInfo) }).optional(),
  launch_group: z.looseObject({}).optional(),
});
export type OfferOperation = z.infer<typeof OfferOperation>;

const rolesPayload = z.object({ roles: z.array(z.string()).optional(), role: z.string().optional() });

export const Call = z.object({
  framework_id: ID.optional(),
  type: z.enum(CALL_TYPES),
  subscribe: z
    .object({
      framework_info: FrameworkInfo,
      suppressed_roles: z.array(z.string()).optional(),
      offer_constraints: z.looseObject({}).optional(),
    })
    .optional(),
  accept: z.object({ offer_ids: z.array(ID), operations: z.array(OfferOperation).optional(), filters: Filters.optional() }).optional(),
  decline: z.object({ offer_ids: z.array(ID), filters: Filters.optional() }).optional(),
  accept_inverse_offers: z.looseObject({}).optional(),
  decline_inverse_offers: z.looseObject({}).optional(),
  revive: rolesPayload.optional(),
  suppress: rolesPayload.optional(),
  kill: z.object({ task_id: ID, agent_id: ID.optional(), kill_policy: KillPolicy.optional() }).optional(),
  shutdown: z.object({ executor_id: ID, agent_id: ID }).optional(),
  acknowledge: z.object({ agent_id: ID, task_id: ID, uuid: z.string().min(1) }).optional(),
  acknowledge_operation_status: z.looseObject({}).optional(),
  reconcile: z.object({ tasks: z.array(z.object({ task_id: ID, agent_id: ID.optional() })).optional() }).optional(),
  reconcile_operations: z.looseObject({}).optional(),
  message: z.object({ agent_id: ID, executor_id: ID, data: z.string() }).optional(),
  request: z.object({ requests: z.array(z.object({ agent_id: ID.optional(), resources: z.array(Resource).optional() })).optional() }).optional(),
  update_framework: z
    .object({ framework_info: FrameworkInfo, suppressed_roles: z.array(z.string()).optional(), offer_constraints: z.looseObject({}).optional() })
    .optional(),
});
export type Call = z.infer<typeof Call>;

/** Sub-message each call type requires (snake_case of the type, as Mesos names it). */
const REQUIRED_PAYLOAD: Partial<Record<CallType, keyof Call>> = {
  SUBSCRIBE: 'subscribe',
  ACCEPT: 'accept',
  DECLINE: 'decline',
  KILL: 'kill',
  SHUTDOWN: 'shutdown',
  ACKNOWLEDGE: 'acknowledge',
  MESSAGE: 'message',
  UPDATE_FRAMEWORK: 'update_framework',
  RECONCILE: 'reconcile',
};

/** Parses and validates a scheduler Call the way Mesos's `validation::scheduler::call::validate` does. */
export function parseCall(body: unknown): Call {
  const call = parseOrThrow(Call, body, 'call');
  const need = REQUIRED_PAYLOAD[call.type];
  if (need && call[need] === undefined) {
    // RECONCILE with no payload is an implicit reconciliation in practice; accept it.
    if (call.type === 'RECONCILE') return { ...call, reconcile: { tasks: [] } };
    throw new ValidationError(`expecting '${need}' to be present`, `call.${need}`);
  }
  if (call.type !== 'SUBSCRIBE' && call.type !== 'UNKNOWN' && !call.framework_id)
    throw new ValidationError("expecting 'framework_id' to be present", 'call.framework_id');
  if (call.type === 'SUBSCRIBE') {
    const fi = call.subscribe!.framework_info;
    if (call.framework_id && fi.id && call.framework_id.value !== fi.id.value)
      throw new ValidationError("'framework_id' differs from 'subscribe.framework_info.id'", 'call.framework_id');
    if (fi.roles && fi.roles.length && !(fi.capabilities ?? []).some((c) => c.type === 'MULTI_ROLE'))
      throw new ValidationError("'roles' requires the MULTI_ROLE capability", 'call.subscribe.framework_info.roles');
    if (fi.roles && fi.roles.length && fi.role !== undefined)
      throw new ValidationError("'role' and 'roles' are mutually exclusive", 'call.subscribe.framework_info.role');
  }
  return call;
}

export type Event =
  | { type: 'SUBSCRIBED'; subscribed: { framework_id: ID; heartbeat_interval_seconds: number; master_info?: MasterInfo } }
  | { type: 'OFFERS'; offers: { offers: Offer[] } }
  | { type: 'RESCIND'; rescind: { offer_id: ID } }
  | { type: 'UPDATE'; update: { status: TaskStatus } }
  | { type: 'MESSAGE'; message: { agent_id: ID; executor_id: ID; data: string } }
  | { type: 'FAILURE'; failure: { agent_id?: ID; executor_id?: ID; status?: number } }
  | { type: 'ERROR'; error: { message: string } }
  | { type: 'HEARTBEAT' };
