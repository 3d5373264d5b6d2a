// Mesos v1 core messages as JSON (field names and enum strings as Mesos's v1
// protos render them). Schemas validate input; the inferred types are used
// throughout. Fields Corral carries but does not interpret stay loose.
import { z } from 'zod';
import { finiteNumber, nonNegativeInt, nonNegativeNumber } from './validate.ts';

/** Mesos's common::validation::validateID: non-empty, ≤ 255, no '/', NUL or whitespace, not '.'/'..'. */
export const idValue = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .refine((s) => s !== '.' && s !== '..', { message: "must not be '.' or '..'" })
  .refine((s) => !/[\/\\\0\s]/.test(s), { message: 'must not contain slashes, NUL or whitespace' });

export const ID = z.object({ value: idValue });
export type ID = z.infer<typeof ID>;

export const TASK_STATES = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_UNREACHABLE',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
] as const;
export const TaskState = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskState>;

const TERMINAL = new Set<TaskState>([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);
/** protobuf::isTerminalState as the master uses it. */
export const isTerminalState = (s: TaskState): boolean => TERMINAL.has(s);

/** States only partition-aware frameworks see; others get TASK_LOST instead. */
export const PARTITION_AWARE_ONLY = new Set<TaskState>([
  'TASK_DROPPED',
  'TASK_UNREACHABLE',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
]);

export const TaskSource = z.enum(['SOURCE_MASTER', 'SOURCE_AGENT', 'SOURCE_EXECUTOR']);
export type TaskSource = z.infer<typeof TaskSource>;

export const TaskReason = z.enum([
  'REASON_COMMAND_EXECUTOR_FAILED',
  'REASON_CONTAINER_LAUNCH_FAILED',
  'REASON_CONTAINER_LIMITATION',
  'REASON_CONTAINER_LIMITATION_DISK',
  'REASON_CONTAINER_LIMITATION_MEMORY',
  'REASON_CONTAINER_PREEMPTED',
  'REASON_CONTAINER_UPDATE_FAILED',
  'REASON_MAX_COMPLETION_TIME_REACHED',
  'REASON_EXECUTOR_REGISTRATION_TIMEOUT',
  'REASON_EXECUTOR_REREGISTRATION_TIMEOUT',
  'REASON_EXECUTOR_TERMINATED',
  'REASON_EXECUTOR_UNREGISTERED',
  'REASON_FRAMEWORK_REMOVED',
  'REASON_GC_ERROR',
  'REASON_INVALID_FRAMEWORKID',
  'REASON_INVALID_OFFERS',
  'REASON_IO_SWITCHBOARD_EXITED',
  'REASON_MASTER_DISCONNECTED',
  'REASON_RECONCILIATION',
  'REASON_RESOURCES_UNKNOWN',
  'REASON_AGENT_DISCONNECTED',
  'REASON_AGENT_DRAINING',
  'REASON_AGENT_REMOVED',
  'REASON_AGENT_REMOVED_BY_OPERATOR',
  'REASON_AGENT_REREGISTERED',
  'REASON_AGENT_RESTARTED',
  'REASON_AGENT_UNKNOWN',
  'REASON_TASK_KILLED_DURING_LAUNCH',
  'REASON_TASK_CHECK_STATUS_UPDATED',
  'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
  'REASON_TASK_GROUP_INVALID',
  'REASON_TASK_GROUP_UNAUTHORIZED',
  'REASON_TASK_INVALID',
  'REASON_TASK_UNAUTHORIZED',
  'REASON_TASK_UNKNOWN',
]);
export type TaskReason = z.infer<typeof TaskReason>;

export const Range = z.object({ begin: nonNegativeInt, end: nonNegativeInt }).refine((r) => r.end >= r.begin, {
  message: 'range end must not be before begin',
});

export const ReservationInfo = z.looseObject({
  type: z.enum(['STATIC', 'DYNAMIC']).optional(),
  role: z.string().optional(),
  principal: z.string().optional(),
  labels: z.looseObject({}).optional(),
});

/** Resource.DiskInfo: a persistent volume is `disk` with `persistence` + `volume` (Corral has no disk sources). */
export const DiskInfo = z.looseObject({
  persistence: z.looseObject({ id: z.string().min(1), principal: z.string().optional() }).optional(),
  volume: z.looseObject({ container_path: z.string().min(1), mode: z.enum(['RW', 'RO']).default('RW') }).optional(),
  source: z.unknown().optional(),
});

export const Resource = z.looseObject({
  name: z.string().min(1, 'must not be empty'),
  type: z.enum(['SCALAR', 'RANGES', 'SET']),
  scalar: z.object({ value: nonNegativeNumber }).optional(),
  ranges: z.object({ range: z.array(Range) }).optional(),
  set: z.object({ item: z.array(z.string()) }).optional(),
  role: z.string().optional(),
  allocation_info: z.object({ role: z.string() }).optional(),
  /** Pre-refinement dynamic reservation (with a non-`*` role). */
  reservation: ReservationInfo.partial().optional(),
  /** Post-refinement reservation stack; Corral accepts one level (src/core/resources.ts checks the rest). */
  reservations: z.array(ReservationInfo).optional(),
  disk: DiskInfo.optional(),
}).superRefine((r, ctx) => {
  const need = r.type === 'SCALAR' ? 'scalar' : r.type === 'RANGES' ? 'ranges' : 'set';
  if (r[need] === undefined) ctx.addIssue({ code: 'custom', message: `${r.type} resource needs "${need}"`, path: [need] });
});
export type Resource = z.infer<typeof Resource>;

export const Attribute = z.object({
  name: z.string().min(1),
  type: z.enum(['SCALAR', 'RANGES', 'SET', 'TEXT']),
  scalar: z.object({ value: finiteNumber }).optional(),
  ranges: z.object({ range: z.array(Range) }).optional(),
  set: z.object({ item: z.array(z.string()) }).optional(),
  text: z.object({ value: z.string() }).optional(),
});
export type Attribute = z.infer<typeof Attribute>;

export const Label = z.object({ key: z.string(), value: z.string().optional() });
export const Labels = z.object({ labels: z.array(Label).optional() });
export type Labels = z.infer<typeof Labels>;

export const DurationInfo = z.object({ nanoseconds: finiteNumber });

export const EnvironmentVariable = z.object({
  name: z.string().min(1),
  type: z.enum(['UNKNOWN', 'VALUE', 'SECRET']).optional(),
  value: z.string().optional(),
  secret: z.unknown().optional(),
});

export const CommandURI = z.looseObject({
  value: z.string().min(1),
  executable: z.boolean().optional(),
  extract: z.boolean().optional(),
  cache: z.boolean().optional(),
  output_file: z.string().optional(),
});

export const CommandInfo = z.object({
  uris: z.array(CommandURI).optional(),
  environment: z.object({ variables: z.array(EnvironmentVariable).optional() }).optional(),
  shell: z.boolean().optional(),
  value: z.string().optional(),
  arguments: z.array(z.string()).optional(),
  user: z.string().optional(),
});
export type CommandInfo = z.infer<typeof CommandInfo>;

export const KillPolicy = z.object({ grace_period: DurationInfo.optional() });
export type KillPolicy = z.infer<typeof KillPolicy>;

export const ExecutorInfo = z.looseObject({
  type: z.enum(['UNKNOWN', 'DEFAULT', 'CUSTOM']).optional(),
  executor_id: ID,
  framework_id: ID.optional(),
  command: CommandInfo.optional(),
  resources: z.array(Resource).optional(),
  name: z.string().optional(),
});

export const TaskInfo = z.looseObject({
  name: z.string(),
  task_id: ID,
  agent_id: ID,
  resources: z.array(Resource).default([]),
  executor: ExecutorInfo.optional(),
  command: CommandInfo.optional(),
  container: z.looseObject({}).optional(),
  health_check: z.looseObject({}).optional(),
  check: z.looseObject({}).optional(),
  kill_policy: KillPolicy.optional(),
  data: z.string().optional(),
  labels: Labels.optional(),
  discovery: z.looseObject({}).optional(),
  max_completion_time: DurationInfo.optional(),
  limits: z.record(z.string(), z.unknown()).optional(),
});
export type TaskInfo = z.infer<typeof TaskInfo>;

export const FRAMEWORK_CAPABILITIES = [
  'UNKNOWN',
  'REVOCABLE_RESOURCES',
  'TASK_KILLING_STATE',
  'GPU_RESOURCES',
  'SHARED_RESOURCES',
  'PARTITION_AWARE',
  'MULTI_ROLE',
  'RESERVATION_REFINEMENT',
  'REGION_AWARE',
] as const;

const roleName = z
  .string()
  .refine((r) => r === '*' || r.split('/').every((c) => c !== '' && c !== '.' && c !== '..' && !c.startsWith('-') && !/[\s\b]/.test(c)), {
    message: 'invalid role name',
  });

export const FrameworkInfo = z.looseObject({
  user: z.string(),
  name: z.string(),
  id: ID.optional(),
  failover_timeout: nonNegativeNumber.optional(),
  checkpoint: z.boolean().optional(),
  role: roleName.optional(),
  roles: z.array(roleName).optional(),
  hostname: z.string().optional(),
  principal: z.string().optional(),
  webui_url: z.string().optional(),
  capabilities: z.array(z.object({ type: z.enum(FRAMEWORK_CAPABILITIES) })).optional(),
  labels: Labels.optional(),
  offer_filters: z
    .record(
      z.string(),
      z.object({
        min_allocatable_resources: z
          .object({
            quantities: z
              .array(z.object({ quantities: z.record(z.string(), z.object({ value: nonNegativeNumber })).optional() }))
              .optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});
export type FrameworkInfo = z.infer<typeof FrameworkInfo>;

export const Filters = z.object({ refuse_seconds: finiteNumber.optional() });

export const TaskStatus = z.looseObject({
  task_id: ID,
  state: TaskState,
  message: z.string().optional(),
  source: TaskSource.optional(),
  reason: TaskReason.optional(),
  data: z.string().optional(),
  agent_id: ID.optional(),
  executor_id: ID.optional(),
  timestamp: finiteNumber.optional(),
  uuid: z.string().optional(),
  healthy: z.boolean().optional(),
  labels: Labels.optional(),
  container_status: z.looseObject({}).optional(),
  unreachable_time: z.object({ nanoseconds: finiteNumber }).optional(),
});
export type TaskStatus = z.infer<typeof TaskStatus>;

export interface Offer {
  id: ID;
  framework_id: ID;
  agent_id: ID;
  hostname: string;
  url?: { scheme: string; address: { hostname: string; ip?: string; port: number }; path?: string };
  resources: Resource[];
  attributes?: Attribute[];
  executor_ids?: ID[];
  allocation_info?: { role: string };
}

export interface MasterInfo {
  id: string;
  ip: number;
  port: number;
  pid: string;
  hostname: string;
  version: string;
  address: { hostname: string; ip: string; port: number };
}

export interface AgentInfo {
  id?: ID;
  hostname: string;
  port: number;
  resources: Resource[];
  attributes: Attribute[];
}

/** Task as the master and agent report it (Mesos's `Task` message). */
export interface Task {
  name: string;
  task_id: ID;
  framework_id: ID;
  executor_id?: ID;
  agent_id: ID;
  state: TaskState;
  resources: Resource[];
  statuses: TaskStatus[];
  status_update_state?: TaskState;
  status_update_uuid?: string;
  labels?: Labels;
  discovery?: Record<string, unknown>;
  container?: Record<string, unknown>;
  health_check?: Record<string, unknown>;
  kill_policy?: KillPolicy;
  user?: string;
}

/** Parses Mesos's `--attributes` text: `rack:r1;zone:a;cores:8;slots:[1-4];tags:{a,b}`. */
export function parseAttributeString(text: string): Attribute[] {
  const out: Attribute[] = [];
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const idx = part.indexOf(':');
    if (idx <= 0) throw new Error(`attribute ${JSON.stringify(part)}: expected name:value`);
    const name = part.slice(0, idx).trim();
    const value = part.slice(idx + 1).trim();
    if (/^\[.*\]$/.test(value)) {
      const range = value
        .slice(1, -1)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => {
          const m = /^(\d+)-(\d+)$/.exec(s);
          if (!m) throw new Error(`attribute ${name}: invalid range ${s}`);
          return { begin: Number(m[1]), end: Number(m[2]) };
        });
      out.push({ name, type: 'RANGES', ranges: { range } });
    } else if (/^\{.*\}$/.test(value)) {
      out.push({ name, type: 'SET', set: { item: value.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean) } });
    } else if (value !== '' && Number.isFinite(Number(value))) {
      out.push({ name, type: 'SCALAR', scalar: { value: Number(value) } });
    } else {
      out.push({ name, type: 'TEXT', text: { value } });
    }
  }
  return out;
}

/** Legacy state JSON renders attributes as a flat object. */
export function attributesToLegacy(attrs: readonly Attribute[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const a of attrs) {
    if (a.type === 'TEXT') out[a.name] = a.text?.value ?? '';
    else if (a.type === 'SCALAR') out[a.name] = a.scalar?.value ?? 0;
    else if (a.type === 'RANGES') out[a.name] = '[' + (a.ranges?.range ?? []).map((r) => `${r.begin}-${r.end}`).join(', ') + ']';
    else out[a.name] = '{' + (a.set?.item ?? []).join(', ') + '}';
  }
  return out;
}

export const nowSeconds = (ms: number): number => ms / 1000;
