// Ports, agent side: the master's accounting never gives one port to two tasks (and only offers this agent's
// ports); should a RUN_TASK still name a port a live task of this agent holds (a master bug, a stale
// message), the agent refuses it instead of letting two tasks race for the port. Pure.
import type { TaskInfo } from '../../protocol/mesos.ts';
import { taskPorts } from '../task-env.ts';

/** Compact "31000-31002,31005" rendering of a sorted port list. */
export function formatPorts(ports: number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Why the task may not have its ports, or undefined. `running`: the other live tasks of this agent. */
export function portsProblem(task: TaskInfo, running: Iterable<{ taskId: string; info: TaskInfo }>): string | undefined {
  const ports = taskPorts(task);
  if (!ports.length) return undefined;
  const mine = new Set(ports);
  for (const other of running) {
    const clash = taskPorts(other.info).filter((p) => mine.has(p));
    if (clash.length) return `Task uses ports [${formatPorts(clash)}] that task '${other.taskId}' already uses on this agent`;
  }
  return undefined;
}
