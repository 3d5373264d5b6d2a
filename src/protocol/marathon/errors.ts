// Marathon's error bodies (marathon.md §2). Every error the Marathon wire layer
// raises is a MarathonError: a CorralError whose `body` is exactly the JSON
// Marathon answers with, so the HTTP adapter only has to write `status` + `body`.
import { CorralError, type ErrorCode } from '../errors.ts';

/** A path into the request body as segments: field names and array indices. */
export type ViolationPath = readonly (string | number)[];

/** One entry of a 422 body's `details`. */
export interface Violation {
  path: string;
  errors: string[];
}

export interface MarathonErrorBody {
  message: string;
  [key: string]: unknown;
}

/**
 * Marathon's path rendering: field segments as `/name`, array indices appended as `(i)`,
 * whole-object errors as `/` — e.g. `/healthChecks(0)/portIndex`, `/apps(0)/id`, `/constraints(1)`.
 */
export function renderViolationPath(path: ViolationPath): string {
  if (path.length === 0) return '/';
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `(${seg})` : `/${seg}`;
  return out.startsWith('/') ? out : `/${out}`;
}

/** Collects every violation of a request (Marathon reports all of them at once). */
export class Violations {
  private readonly byPath = new Map<string, string[]>();

  add(path: ViolationPath, message: string): void {
    const key = renderViolationPath(path);
    const list = this.byPath.get(key);
    if (!list) this.byPath.set(key, [message]);
    else if (!list.includes(message)) list.push(message);
  }

  get isEmpty(): boolean {
    return this.byPath.size === 0;
  }

  get size(): number {
    return this.byPath.size;
  }

  list(): Violation[] {
    return [...this.byPath].map(([path, errors]) => ({ path, errors: [...errors] }));
  }

  /** Throws a MarathonValidationError when anything was collected. */
  throwIfAny(): void {
    if (!this.isEmpty) throw new MarathonValidationError(this.list());
  }
}

/** A CorralError carrying the exact Marathon response body. */
export class MarathonError extends CorralError {
  constructor(
    code: ErrorCode,
    readonly body: MarathonErrorBody,
  ) {
    super(code, body.message, { ...body });
  }
}

/** 422 `{"message":"Object is not valid","details":[{path, errors}]}`. */
export class MarathonValidationError extends MarathonError {
  constructor(readonly violations: Violation[]) {
    super('UNPROCESSABLE', { message: 'Object is not valid', details: violations });
  }
}

/** 400 `{"message":"Invalid JSON","details":"<parser message>"}` — only for unparsable bodies. */
export function invalidJsonError(parserMessage: string): MarathonError {
  return new MarathonError('BAD_REQUEST', { message: 'Invalid JSON', details: parserMessage });
}

/** JSON.parse that fails with Marathon's 400 Invalid JSON body. An empty body is invalid too. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidJsonError(text.trim() === '' ? 'No content to map due to end-of-input' : (err as Error).message);
  }
}

const notFound = (message: string) => new MarathonError('NOT_FOUND', { message });
const inVersion = (version?: string) => (version === undefined ? '' : ` in version ${version}`);

export const appNotFound = (id: string, version?: string) => notFound(`App '${id}' does not exist${inVersion(version)}`);
export const podNotFound = (id: string, version?: string) => notFound(`Pod '${id}' does not exist${inVersion(version)}`);
export const groupNotFound = (id: string, version?: string) => notFound(`Group '${id}' does not exist${inVersion(version)}`);
export const pathNotFound = (id: string) => notFound(`Path '${id}' does not exist`);
export const taskNotFound = (taskId: string) => notFound(`Task '${taskId}' does not exist`);
export const deploymentNotFound = (id: string) => notFound(`DeploymentPlan ${id} does not exist`);
export const queueAppNotFound = (appId: string) => notFound(`Application ${appId} not found in tasks queue.`);
export const noLeader = () => notFound('There is no leader');

/** 409 for POST /v2/apps of an existing app. */
export const appAlreadyExists = (id: string) => new MarathonError('CONFLICT', { message: `An app with id [${id}] already exists.` });
/** 409 for POST /v2/groups of an existing group. */
export const groupAlreadyExists = (id: string) =>
  new MarathonError('CONFLICT', { message: `Group ${id} is already created. Use PUT to change this group.` });
/** 409 for POST /v2/groups where an app has that path. */
export const appPathExists = (id: string) => new MarathonError('CONFLICT', { message: `An app with the path ${id} already exists.` });

/** 409 when running deployments lock an affected app/pod and force is false. */
export function lockedByDeployments(deploymentIds: readonly string[]): MarathonError {
  return new MarathonError('CONFLICT', {
    message: `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${deploymentIds[0] ?? ''}'.`,
    deployments: deploymentIds.map((id) => ({ id })),
  });
}

/** 403 when --max_running_deployments is reached. */
export const tooManyDeployments = (max: number) =>
  new MarathonError('FORBIDDEN', {
    message: `Max number (${max}) of running deployments is achieved. Wait for existing deployments to complete or cancel one using force=true parameter. You can increase max deployment number by using --max_running_deployments parameter but be aware that it can degrade the performance of Marathon.`,
  });

export const badRequest = (message: string) => new MarathonError('BAD_REQUEST', { message });
export const scaleAndWipe = () => badRequest('You cannot use scale and wipe at the same time.');
export const invalidTaskId = (taskId: string, reason = 'unknown task id format') =>
  badRequest(`Invalid task id '${taskId}'. [${reason}]`);
/** 422 with a bare message (Marathon's IllegalArgumentException mapping). */
export const unprocessable = (message: string) => new MarathonError('UNPROCESSABLE', { message });
/** Marathon's quirk: unknown routes answer 500 `{"message":"URI not found"}`. */
export const uriNotFound = () => new MarathonError('INTERNAL', { message: 'URI not found' });

/**
 * Status + JSON body for any error thrown while serving a Marathon request: MarathonErrors
 * answer their own body; other CorralErrors `{message}` (plus `deployments` when their details
 * carry a deployment list, e.g. the orchestrator's LockedError); anything else is a 500.
 */
export function errorResponse(err: unknown): { status: number; body: MarathonErrorBody } {
  if (err instanceof MarathonError) return { status: err.status, body: err.body };
  if (err instanceof CorralError) {
    const body: MarathonErrorBody = { message: err.message };
    const deployments = err.details.deployments;
    if (Array.isArray(deployments)) body.deployments = deployments;
    return { status: err.status, body };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { message } };
}
