// Operator endpoints for reservations and persistent volumes, as Mesos's:
//   POST /master/reserve          slaveId=<id>&resources=<JSON array of reserved Resources>
//   POST /master/unreserve        slaveId=<id>&resources=<JSON array>
//   POST /master/create-volumes   slaveId=<id>&volumes=<JSON array of volume Resources>
//   POST /master/destroy-volumes  slaveId=<id>&volumes=<JSON array>
// (form-encoded body; the query string works too), answering 202 Accepted once validated and
// applied on the master; and the v1 operator calls RESERVE_RESOURCES, UNRESERVE_RESOURCES,
// CREATE_VOLUMES, DESTROY_VOLUMES (`{agent_id: {value}, resources | volumes}`), also 202.
// Errors are text/plain: 400 for bad input or an unknown agent, 409 when the resources are not free.
import type { Reply, RequestContext, Router } from '../http/server.ts';
import type { ResourceOperation } from '../core/reservations.ts';
import { ValidationError } from '../protocol/errors.ts';
import type { MasterContext } from './context.ts';
import { parseForm } from './http-util.ts';
import { operatorOperation } from './operations.ts';

const ACCEPTED: Reply = { status: 202 };

const ENDPOINTS: { path: string; type: ResourceOperation; param: 'resources' | 'volumes' }[] = [
  { path: 'reserve', type: 'RESERVE', param: 'resources' },
  { path: 'unreserve', type: 'UNRESERVE', param: 'resources' },
  { path: 'create-volumes', type: 'CREATE', param: 'volumes' },
  { path: 'destroy-volumes', type: 'DESTROY', param: 'volumes' },
];

async function formReply(ctx: MasterContext, rc: RequestContext, type: ResourceOperation, param: 'resources' | 'volumes'): Promise<Reply> {
  const form = parseForm((await rc.raw()).toString('utf8'));
  const get = (name: string) => form.get(name) ?? rc.query.get(name);
  const agentId = get('slaveId');
  if (!agentId) throw new ValidationError("Missing 'slaveId' query parameter in the request body", 'slaveId');
  const raw = get(param);
  if (!raw) throw new ValidationError(`Missing '${param}' query parameter in the request body`, param);
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch (e) {
    throw new ValidationError(`Error in parsing '${param}' query parameter in the request body: ${(e as Error).message}`, param);
  }
  operatorOperation(ctx, agentId, type, list, param);
  return ACCEPTED;
}

export function registerReservationRoutes(router: Router, ctx: MasterContext): void {
  for (const e of ENDPOINTS) {
    const handler = (rc: RequestContext) => formReply(ctx, rc, e.type, e.param);
    router.on('POST', `/master/${e.path}`, handler, 'text');
    router.on('POST', `/${e.path}`, handler, 'text');
  }
}

const V1_CALLS: Record<string, { type: ResourceOperation; field: string; list: 'resources' | 'volumes' }> = {
  RESERVE_RESOURCES: { type: 'RESERVE', field: 'reserve_resources', list: 'resources' },
  UNRESERVE_RESOURCES: { type: 'UNRESERVE', field: 'unreserve_resources', list: 'resources' },
  CREATE_VOLUMES: { type: 'CREATE', field: 'create_volumes', list: 'volumes' },
  DESTROY_VOLUMES: { type: 'DESTROY', field: 'destroy_volumes', list: 'volumes' },
};

export const isV1ResourceCall = (type: string): boolean => Object.hasOwn(V1_CALLS, type);

/** A v1 operator RESERVE_RESOURCES / UNRESERVE_RESOURCES / CREATE_VOLUMES / DESTROY_VOLUMES call. */
export function v1ResourceCall(ctx: MasterContext, call: Record<string, unknown> & { type: string }): Reply {
  const spec = V1_CALLS[call.type]!;
  const payload = call[spec.field] as { agent_id?: { value?: unknown }; resources?: unknown; volumes?: unknown } | undefined;
  const agentId = payload?.agent_id?.value;
  if (typeof agentId !== 'string' || agentId === '')
    throw new ValidationError(`Failed to validate master::Call: Expecting '${spec.field}.agent_id' to be present`, `${spec.field}.agent_id`);
  operatorOperation(ctx, agentId, spec.type, payload![spec.list], `${spec.field}.${spec.list}`);
  return ACCEPTED;
}
