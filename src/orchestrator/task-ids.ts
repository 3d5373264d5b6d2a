// Marathon instance and task ids (marathon.md §4):
//   safe id      /prod/web → prod_web
//   instance id  <safeId>.instance-<uuid>
//   task id      <instanceId>._app.<incarnation>
export const safeId = (appId: string): string => appId.replace(/^\//, '').replace(/\//g, '_');
export const newInstanceIdFor = (appId: string, uuid: string): string => `${safeId(appId)}.instance-${uuid}`;
export const taskIdFor = (instanceId: string, incarnation = 1): string => `${instanceId}._app.${incarnation}`;

const TASK_RE = /^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)\.(\d+)$/;
const INSTANCE_RE = /^(.+)\.(instance-|marathon-)([^.]+)$/;
const LEGACY_RE = /^(.+)[._]([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** Best-effort app id of a task or instance id ('/' + safeId with '_' → '/'). */
export function appIdOfTask(id: string): string | undefined {
  const m = TASK_RE.exec(id) ?? INSTANCE_RE.exec(id) ?? LEGACY_RE.exec(id);
  return m ? '/' + m[1]!.replace(/_/g, '/') : undefined;
}

/** The instance id inside a task id (the id itself when it is an instance id). */
export function instanceIdOfTask(id: string): string | undefined {
  const m = TASK_RE.exec(id);
  if (m) return `${m[1]}.${m[2]}${m[3]}`;
  return INSTANCE_RE.test(id) ? id : undefined;
}
