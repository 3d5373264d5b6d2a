// Which agent, and which path on it, a master /files request means (pure over the master state).
// Mesos's master serves /files with paths naming the agent's sandbox; here the agent is found from
//   - `agent_id`, or
//   - the path itself: real or virtual sandbox paths contain `slaves/<agent id>/frameworks/…`, or
//   - `task_id` (+ `framework_id` when ids repeat across frameworks): then `path` is relative to the
//     task's latest sandbox run (`stdout`, `stderr`, `''` for the sandbox itself).
// A path with a `..` segment is refused (400) before anything is forwarded; the agent confines the rest.
import { isTerminalState } from '../protocol/mesos.ts';
import { NotFoundError, UnavailableError, ValidationError } from '../protocol/errors.ts';
import { allTasks } from './render.ts';
import type { AgentEntry, MasterState } from './state.ts';

export interface FilesTarget {
  agent: AgentEntry;
  /** The path to ask the agent for. */
  path: string;
}

function checkPath(path: string, param = 'path'): void {
  if (path.includes('\0')) throw new ValidationError('contains a NUL byte', param);
  if (path.split('/').includes('..')) throw new ValidationError(`${JSON.stringify(path)} may not contain '..'`, param);
}

/** `.../slaves/<id>/frameworks/...` → id. */
export function agentIdInPath(path: string): string | undefined {
  const segs = path.split('/').filter(Boolean);
  for (let i = 0; i + 2 < segs.length; i++) if (segs[i] === 'slaves' && segs[i + 2] === 'frameworks') return segs[i + 1];
  return undefined;
}

function taskTarget(state: MasterState, taskId: string, frameworkId: string | null, rel: string): { agentId: string; path: string } {
  const matches = allTasks(state).filter((t) => t.taskId === taskId && (!frameworkId || t.frameworkId === frameworkId));
  if (!matches.length) throw new NotFoundError(`no task ${taskId}${frameworkId ? ` of framework ${frameworkId}` : ''} is known to this master`);
  // An id reused across frameworks: the live copy, else the newest.
  const t = matches.find((x) => !isTerminalState(x.state)) ?? matches.at(-1)!;
  if (rel.startsWith('/')) throw new ValidationError('with task_id, path is relative to the task sandbox (e.g. stdout)', 'path');
  const sandbox = `/slaves/${t.agentId}/frameworks/${t.frameworkId}/executors/${t.executorId ?? t.taskId}/runs/latest`;
  return { agentId: t.agentId, path: rel ? `${sandbox}/${rel.replace(/^\.\/+/, '')}` : sandbox };
}

export function filesTarget(state: MasterState, q: URLSearchParams): FilesTarget {
  const taskId = q.get('task_id');
  const raw = q.get('path') ?? (taskId ? '' : null);
  if (raw === null || (raw === '' && !taskId)) throw new ValidationError("missing 'path' query parameter", 'path');
  checkPath(raw);
  let agentId = q.get('agent_id') ?? undefined;
  let path = raw;
  if (taskId) {
    const t = taskTarget(state, taskId, q.get('framework_id'), raw);
    if (agentId && agentId !== t.agentId) throw new ValidationError(`task ${taskId} is on agent ${t.agentId}, not ${agentId}`, 'agent_id');
    agentId = t.agentId;
    path = t.path;
  }
  agentId ??= agentIdInPath(path);
  if (!agentId) throw new ValidationError('say which agent: agent_id=…, task_id=…, or a sandbox path under slaves/<agent id>/', 'path');
  const agent = state.agents.get(agentId);
  if (!agent) throw new NotFoundError(`no agent ${agentId} is known to this master`);
  if (agent.status === 'unreachable') throw new UnavailableError(`agent ${agentId} is unreachable; its files cannot be read now`, { agent_id: agentId });
  return { agent, path };
}
