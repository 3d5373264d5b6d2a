// Service ports (marathon.md §3.1 portDefinitions): a port definition declared with `port: 0`
// gets a service port from [10000, 20000) (Marathon's --local_port_min/max), unique across all
// apps; an app keeps the service ports it had (its previous in-range ports are reused, in order,
// before any fresh one: Marathon's AssignDynamicServiceLogic), so re-deploying a definition with
// `port: 0` is not a config change. A non-zero declared port is kept as it is and must not be
// used by another app (422 at `/portDefinitions(i)/port`). Pure: no I/O.
import { CorralError } from '../protocol/errors.ts';
import type { AppDefinition } from './service.ts';

export const SERVICE_PORT_MIN = 10_000;
/** Exclusive. */
export const SERVICE_PORT_MAX = 20_000;

export interface PortViolation {
  path: string;
  errors: string[];
}

/** The service ports an app holds (non-zero portDefinitions ports). */
export function servicePortsOf(app: AppDefinition | undefined): number[] {
  return (app?.portDefinitions ?? []).map((p) => p.port ?? 0).filter((p) => p > 0);
}

const declared = (app: AppDefinition): number[] => (app.portDefinitions ?? []).map((p) => p.port ?? 0);
const samePorts = (a: AppDefinition | undefined, b: AppDefinition): boolean => {
  if (!a) return false;
  const x = declared(a);
  const y = declared(b);
  return x.length === y.length && x.every((p, i) => p === y[i]);
};

/**
 * Assigns service ports in `target` (the complete desired app set) given the `current` apps.
 * Returns the target with definitions copied where a port was assigned (others are the same
 * objects), or the violations (non-zero ports another app holds, range exhausted). Apps whose
 * declared ports did not change are never reported (a conflict that predates the change is not
 * the change's fault); with `trusted` (a revert) nothing is reported at all.
 */
export function assignServicePorts(
  current: ReadonlyMap<string, AppDefinition>,
  target: ReadonlyMap<string, AppDefinition>,
  opts: { trusted?: boolean } = {},
): { apps: Map<string, AppDefinition>; violations: Map<string, PortViolation[]> } {
  const out = new Map(target);
  const violations = new Map<string, PortViolation[]>();
  // Who holds which port: every non-zero port of the target (declared or kept), then the current
  // apps' (a port of an app being removed is not handed out in the same change).
  const holders = new Map<number, Set<string>>();
  const hold = (port: number, appId: string) => {
    let s = holders.get(port);
    if (!s) holders.set(port, (s = new Set()));
    s.add(appId);
  };
  for (const a of target.values()) for (const p of servicePortsOf(a)) hold(p, a.id);
  for (const a of current.values()) if (!target.has(a.id)) for (const p of servicePortsOf(a)) hold(p, a.id);
  const heldByOther = (port: number, appId: string) => [...(holders.get(port) ?? [])].some((id) => id !== appId);

  // 1. Conflicts of declared non-zero ports (changed apps only).
  if (!opts.trusted) {
    for (const a of [...target.values()].sort((x, y) => x.id.localeCompare(y.id))) {
      if (samePorts(current.get(a.id), a)) continue;
      const list: PortViolation[] = [];
      declared(a).forEach((port, i) => {
        if (port <= 0) return;
        const others = [...(holders.get(port) ?? [])].filter((id) => id !== a.id).sort();
        if (others.length) list.push({ path: `/portDefinitions(${i})/port`, errors: [`Requested service port ${port} conflicts with a service port of app ${others.join(', ')}`] });
      });
      if (list.length) violations.set(a.id, list);
    }
    if (violations.size) return { apps: out, violations };
  }

  // 2. Port 0 → a service port: the app's previous ones first, then the lowest free one. The
  //    previous ports are reserved for their app first, whatever order the apps are handled in.
  for (const a of target.values()) {
    if (!declared(a).includes(0)) continue;
    for (const p of servicePortsOf(current.get(a.id))) if (!heldByOther(p, a.id)) hold(p, a.id);
  }
  let cursor = SERVICE_PORT_MIN;
  const nextFree = (): number | undefined => {
    for (; cursor < SERVICE_PORT_MAX; cursor++) if (!holders.has(cursor)) return cursor++;
    return undefined;
  };
  for (const a of [...target.values()].sort((x, y) => x.id.localeCompare(y.id))) {
    const ports = declared(a);
    if (!ports.includes(0)) continue;
    const own = new Set(ports);
    const reuse = servicePortsOf(current.get(a.id)).filter((p) => p >= SERVICE_PORT_MIN && p < SERVICE_PORT_MAX && !own.has(p) && !heldByOther(p, a.id));
    const list: PortViolation[] = [];
    const defs = (a.portDefinitions ?? []).map((pd, i) => {
      if ((pd.port ?? 0) !== 0) return pd;
      const port = reuse.shift() ?? nextFree();
      if (port === undefined) {
        list.push({ path: `/portDefinitions(${i})/port`, errors: [`All service ports in [${SERVICE_PORT_MIN}, ${SERVICE_PORT_MAX}) are in use`] });
        return pd;
      }
      hold(port, a.id);
      return { ...pd, port };
    });
    if (list.length) violations.set(a.id, list);
    else out.set(a.id, { ...a, portDefinitions: defs });
  }
  return { apps: out, violations };
}

/** The 422 for port violations (Marathon's validation shape; app paths prefixed when several). */
export function portViolationError(violations: Map<string, PortViolation[]>): CorralError {
  const many = violations.size > 1;
  const details = [...violations].flatMap(([appId, list]) => list.map((v) => ({ path: many ? `${appId}${v.path}` : v.path, errors: v.errors })));
  const first = details[0]!;
  return new CorralError('UNPROCESSABLE', `${first.path}: ${first.errors[0]}`, { details });
}
