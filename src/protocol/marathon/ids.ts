// Marathon timestamps and instance/task ids (marathon.md §4).
import { fromSafeId, safeId } from './pathid.ts';

/** `yyyy-MM-ddTHH:mm:ss.SSSZ` — always milliseconds and `Z` (marathon-python parses `%Y-%m-%dT%H:%M:%S.%fZ`). */
export function marathonTimestamp(ms: number | Date): string {
  const t = typeof ms === 'number' ? ms : ms.getTime();
  if (!Number.isFinite(t)) throw new RangeError(`invalid timestamp ${String(ms)}`);
  return new Date(t).toISOString();
}

/** Epoch ms of an ISO-8601 date-time (any offset, optional fraction); undefined when not one. */
export function parseMarathonTimestamp(s: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/.test(s)) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A string or epoch-ms timestamp in Marathon's rendering (strings that are not timestamps pass through). */
export function toMarathonTimestamp(t: string | number | Date): string {
  if (typeof t !== 'string') return marathonTimestamp(t);
  const ms = parseMarathonTimestamp(t);
  return ms === undefined ? t : marathonTimestamp(ms);
}

export const INSTANCE_PREFIX = 'instance-';
const INSTANCE_RE = /^(.+)\.(instance-|marathon-)([^.]+)$/;
const TASK_RE = /^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)\.(\d+)$/;
const TASK_NO_INCARNATION_RE = /^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)$/;
const LEGACY_TASK_RE = /^(.+)[._]([^_.]+)$/;

/** `<safeId>.instance-<uuid>` */
export const newInstanceId = (appId: string, uuid: string): string => `${safeId(appId)}.${INSTANCE_PREFIX}${uuid}`;

/** `<instanceId>._app.<incarnation>` (incarnation 1 for the first launch). */
export const taskIdOf = (instanceId: string, incarnation = 1): string => `${instanceId}._app.${incarnation}`;

export interface ParsedInstanceId {
  appId: string;
  instanceId: string;
  uuid: string;
}

export interface ParsedTaskId extends ParsedInstanceId {
  /** `_app` for apps, the container name for pods; undefined for legacy ids. */
  containerName?: string;
  /** Present for `<instanceId>.<container>.<n>` ids. */
  incarnation?: number;
  legacy: boolean;
}

/** Parses `<safeId>.instance-<uuid>` / `<safeId>.marathon-<uuid>`; undefined when not an instance id. */
export function parseInstanceId(id: string): ParsedInstanceId | undefined {
  const m = INSTANCE_RE.exec(id);
  if (!m) return undefined;
  return { appId: fromSafeId(m[1]!), instanceId: id, uuid: m[3]! };
}

/**
 * Parses a task id of any Marathon generation: `<instanceId>._app.<n>`, `<instanceId>._app`
 * (or `.<container>`), and legacy `<safeId>.<uuid>` (whose instance id is `<safeId>.marathon-<uuid>`).
 * Undefined when the id matches none.
 */
export function parseTaskId(taskId: string): ParsedTaskId | undefined {
  let m = TASK_RE.exec(taskId);
  if (m) {
    const instanceId = `${m[1]}.${m[2]}${m[3]}`;
    return { appId: fromSafeId(m[1]!), instanceId, uuid: m[3]!, containerName: m[4]!, incarnation: Number(m[5]), legacy: false };
  }
  m = TASK_NO_INCARNATION_RE.exec(taskId);
  if (m) {
    const instanceId = `${m[1]}.${m[2]}${m[3]}`;
    return { appId: fromSafeId(m[1]!), instanceId, uuid: m[3]!, containerName: m[4]!, legacy: false };
  }
  if (INSTANCE_RE.test(taskId)) return undefined; // an instance id, not a task id
  m = LEGACY_TASK_RE.exec(taskId);
  if (m) return { appId: fromSafeId(m[1]!), instanceId: `${m[1]}.marathon-${m[2]}`, uuid: m[2]!, legacy: true };
  return undefined;
}

/** Accepts a task id or an instance id (what DELETE …/tasks/{id} and POST /v2/tasks/delete take). */
export function parseTaskOrInstanceId(id: string): ParsedInstanceId | undefined {
  const inst = parseInstanceId(id);
  if (inst) return inst;
  const task = parseTaskId(id);
  return task && { appId: task.appId, instanceId: task.instanceId, uuid: task.uuid };
}
