// Validation of RESERVE / UNRESERVE / CREATE / DESTROY requests, from a framework's ACCEPT
// (Offer.Operation) or from an operator (/master/reserve …, v1 RESERVE_RESOURCES …), as Mesos's
// `validation::operation::validate`. Pure: turns a request into a Conversion (core/reservations.ts)
// or throws ValidationError; the callers apply it to an offer pool or an agent.
import { z } from 'zod';
import { fromMesosResources, type MesosResource, type Resources } from '../core/resources.ts';
import {
  createConversion,
  destroyConversion,
  keysOf,
  reservationRoles,
  reserveConversion,
  unreserveConversion,
  volumeIds,
  type Conversion,
  type ResourceOperation,
} from '../core/reservations.ts';
import { parseKey } from '../core/resource-keys.ts';
import { ValidationError } from '../protocol/errors.ts';
import { Resource } from '../protocol/mesos.ts';
import type { OfferOperation } from '../protocol/scheduler.ts';
import { parseOrThrow } from '../protocol/validate.ts';

export const RESOURCE_OPERATIONS: ReadonlySet<string> = new Set<ResourceOperation>(['RESERVE', 'UNRESERVE', 'CREATE', 'DESTROY']);

export interface PlannedOperation {
  type: ResourceOperation;
  /** The role every resource of the operation is reserved for. */
  role: string;
  resources: Resources;
  conversion: Conversion;
}

/** The wire resources of an Offer.Operation (`reserve.resources`, `create.volumes`, …). */
export function offerOperationResources(op: OfferOperation): { type: ResourceOperation; list: unknown; path: string } {
  const o = op as Record<string, { resources?: unknown; volumes?: unknown } | undefined>;
  switch (op.type) {
    case 'RESERVE':
      return { type: 'RESERVE', list: o.reserve?.resources, path: 'reserve.resources' };
    case 'UNRESERVE':
      return { type: 'UNRESERVE', list: o.unreserve?.resources, path: 'unreserve.resources' };
    case 'CREATE':
      return { type: 'CREATE', list: o.create?.volumes, path: 'create.volumes' };
    case 'DESTROY':
      return { type: 'DESTROY', list: o.destroy?.volumes, path: 'destroy.volumes' };
    default:
      throw new ValidationError(`${op.type} is not a resource operation`, 'type');
  }
}

/**
 * Parses and checks one operation against the agent's existing volumes ("role/id").
 * Every resource must be reserved for one and the same role.
 */
export function planOperation(type: ResourceOperation, list: unknown, path: string, existingVolumes: ReadonlySet<string>): PlannedOperation {
  if (!Array.isArray(list) || list.length === 0) throw new ValidationError(`${type} needs a non-empty list of resources`, path);
  const wire = parseOrThrow(z.array(Resource), list, path) as MesosResource[];
  const resources = fromMesosResources(wire, path);
  const conversion =
    type === 'RESERVE'
      ? reserveConversion(resources, path)
      : type === 'UNRESERVE'
        ? unreserveConversion(resources, path)
        : type === 'CREATE'
          ? createConversion(resources, existingVolumes, path)
          : destroyConversion(resources, path);
  const roles = reservationRoles(resources);
  if (roles.size !== 1) throw new ValidationError(`${type} resources must all be reserved for one role (got ${[...roles].join(', ') || 'none'})`, path);
  return { type, role: [...roles][0]!, resources, conversion };
}

/**
 * A framework's operation (Mesos: reservation role among the framework's roles and equal to the
 * allocation role; with a framework principal, reservations and volumes must carry that principal).
 */
export function planFrameworkOperation(
  fw: { roles: readonly string[]; principal?: string },
  op: OfferOperation,
  existingVolumes: ReadonlySet<string>,
): PlannedOperation {
  const { type, list, path } = offerOperationResources(op);
  const planned = planOperation(type, list, path, existingVolumes);
  if (!fw.roles.includes(planned.role))
    throw new ValidationError(`${type} for role '${planned.role}', which the framework is not subscribed to (${fw.roles.join(', ')})`, path);
  for (const r of list as MesosResource[]) {
    const allocated = r.allocation_info?.role;
    if (allocated !== undefined && allocated !== planned.role)
      throw new ValidationError(`resources allocated to role '${allocated}' cannot be reserved for role '${planned.role}'`, path);
  }
  if (fw.principal !== undefined) {
    for (const k of keysOf(planned.resources)) {
      const key = parseKey(k);
      if (type === 'RESERVE' && key.reservation?.principal !== fw.principal)
        throw new ValidationError(`reservation principal '${key.reservation?.principal ?? ''}' does not match the framework's principal '${fw.principal}'`, path);
      if (type === 'CREATE' && key.volume?.principal !== fw.principal)
        throw new ValidationError(`volume principal '${key.volume?.principal ?? ''}' does not match the framework's principal '${fw.principal}'`, path);
    }
  }
  return planned;
}

/** Volumes an operation adds (CREATE), for the uniqueness check of later operations in the same call. */
export function createdVolumeIds(p: PlannedOperation): Set<string> {
  return p.type === 'CREATE' ? volumeIds(p.resources) : new Set();
}
