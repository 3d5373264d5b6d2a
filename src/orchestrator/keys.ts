// Store layout of the orchestrator. App ids contain slashes, so they are URI-encoded into one
// key segment (prefix ranges then never mix `/a` with `/a/b` or `/ab`).
export const ROOT = '/corral/orchestrator';
const enc = (appId: string) => encodeURIComponent(appId);
export const dec = (seg: string) => decodeURIComponent(seg);

export const keys = {
  frameworkId: `${ROOT}/framework-id`,
  appsPrefix: `${ROOT}/apps/`,
  app: (appId: string) => `${ROOT}/apps/${enc(appId)}`,
  versionsPrefix: (appId: string) => `${ROOT}/versions/${enc(appId)}/`,
  version: (appId: string, version: string) => `${ROOT}/versions/${enc(appId)}/${version}`,
  instancesPrefix: `${ROOT}/instances/`,
  appInstancesPrefix: (appId: string) => `${ROOT}/instances/${enc(appId)}/`,
  instance: (appId: string, instanceId: string) => `${ROOT}/instances/${enc(appId)}/${instanceId}`,
  failuresPrefix: `${ROOT}/failures/`,
  failure: (appId: string) => `${ROOT}/failures/${enc(appId)}`,
  deploymentsPrefix: `${ROOT}/deployments/`,
  deployment: (id: string) => `${ROOT}/deployments/${id}`,
  rootVersionsPrefix: `${ROOT}/root-versions/`,
  rootVersion: (version: string) => `${ROOT}/root-versions/${version}`,
  groupsPrefix: `${ROOT}/groups/`,
  group: (groupId: string) => `${ROOT}/groups/${enc(groupId)}`,
};

/** The app id encoded in an instance key (`…/instances/<enc appId>/<instanceId>`). */
export function appIdOfInstanceKey(key: string): string {
  const rest = key.slice(keys.instancesPrefix.length);
  return dec(rest.slice(0, rest.indexOf('/')));
}
