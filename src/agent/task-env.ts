// The environment and argv a command task runs with (Mesos's command executor + Marathon's PORT* variables).
import type { TaskInfo } from '../protocol/mesos.ts';

/** Agent environment variables passed on to tasks (the rest of the agent's environment stays private). */
const INHERITED = ['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'HOME', 'USER', 'LOGNAME', 'SHELL'];
const MAX_PORT_VARS = 10_000;

/** The host ports a task was given, in the order of its `ports` resources. */
export function taskPorts(task: TaskInfo): number[] {
  const out: number[] = [];
  for (const r of task.resources ?? []) {
    if (r.name !== 'ports' || r.type !== 'RANGES') continue;
    for (const range of r.ranges?.range ?? []) {
      for (let p = range.begin; p <= range.end && out.length < MAX_PORT_VARS; p++) out.push(p);
    }
  }
  return out;
}

export interface TaskEnvInput {
  task: TaskInfo;
  frameworkId: string;
  agentId: string;
  executorId: string;
  containerId: string;
  sandbox: string;
  /** host:port of the agent. */
  agentEndpoint: string;
  hostname: string;
  gpus: number[];
  user?: { name: string; home: string };
  base?: NodeJS.ProcessEnv;
  /** Agent-provided variables (STATSD_UDP_*) that the task's own variables may override. */
  extra?: Record<string, string>;
}

export function buildTaskEnv(i: TaskEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  const base = i.base ?? process.env;
  for (const k of INHERITED) {
    const v = base[k];
    if (v !== undefined) env[k] = v;
  }
  for (const k of Object.keys(base)) if (k.startsWith('LC_') && base[k] !== undefined) env[k] = base[k]!;
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  if (i.user) {
    env.USER = i.user.name;
    env.LOGNAME = i.user.name;
    env.HOME = i.user.home;
  }
  Object.assign(env, {
    MESOS_SANDBOX: i.sandbox,
    MESOS_DIRECTORY: i.sandbox,
    MESOS_TASK_ID: i.task.task_id.value,
    MESOS_FRAMEWORK_ID: i.frameworkId,
    MESOS_AGENT_ID: i.agentId,
    MESOS_SLAVE_ID: i.agentId,
    MESOS_EXECUTOR_ID: i.executorId,
    MESOS_CONTAINER_NAME: `mesos-${i.containerId}`,
    MESOS_AGENT_ENDPOINT: i.agentEndpoint,
    HOST: i.hostname,
  });
  const ports = taskPorts(i.task);
  if (ports.length) {
    env.PORTS = ports.join(',');
    env.PORT = String(ports[0]);
    ports.forEach((p, n) => {
      env[`PORT${n}`] = String(p);
      env[`PORT_${p}`] = String(p);
    });
  }
  if (i.gpus.length) {
    env.CUDA_VISIBLE_DEVICES = i.gpus.join(',');
    env.NVIDIA_VISIBLE_DEVICES = i.gpus.join(',');
  }
  Object.assign(env, i.extra);
  for (const v of i.task.command?.environment?.variables ?? []) if (v.value !== undefined) env[v.name] = v.value;
  return env;
}

/** The command to run: shell=true → /bin/sh -c value; shell=false → value with arguments[1..] (arguments[0] is argv[0]). */
export function taskArgv(task: TaskInfo): string[] {
  const cmd = task.command!;
  if (cmd.shell ?? true) return ['/bin/sh', '-c', cmd.value!];
  return [cmd.value!, ...(cmd.arguments ?? []).slice(1)];
}

/** Number of GPUs a task asks for. */
export function taskGpuCount(task: TaskInfo): number {
  let n = 0;
  for (const r of task.resources ?? []) if (r.name === 'gpus' && r.type === 'SCALAR') n += r.scalar?.value ?? 0;
  return Math.ceil(n);
}
