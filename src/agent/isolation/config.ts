// The agent's --isolation flag (Mesos's names) and which isolators this machine can actually run. Pure.
import { z } from 'zod';
import { UnavailableError, ValidationError } from '../../protocol/errors.ts';
import { validCgroupsRoot } from './cgroups.ts';
import { availableControllers, type CgroupLayout } from './mountinfo.ts';

export const ISOLATORS = ['cgroups/cpu', 'cgroups/mem', 'cgroups/pids', 'namespaces/pid', 'disk/du'] as const;
export type IsolatorName = (typeof ISOLATORS)[number];

/**
 * Used when --isolation is not given, each only where it can work (root, controllers mounted). namespaces/pid
 * is not in it yet: a task in its own pid namespace sees its own pids ($$ is 1 or 2), which tools and tests
 * that record a task's pid for the host rely on; ask for it explicitly.
 */
export const DEFAULT_ISOLATION: readonly IsolatorName[] = ['cgroups/cpu', 'cgroups/mem', 'cgroups/pids'];

/** Mesos names that mean "no isolation, usage only" here, and old names. */
const ALIASES: Record<string, IsolatorName | null> = {
  'posix/cpu': null,
  'posix/mem': null,
  'filesystem/posix': null,
  'posix/disk': 'disk/du',
};

export const DEFAULT_CGROUPS_ROOT = 'corral';
export const DEFAULT_DISK_WATCH_INTERVAL_MS = 15_000;
export const DEFAULT_USER = 'nobody';

const IsolationList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .pipe(
    z.array(
      z.string().refine((n) => (ISOLATORS as readonly string[]).includes(n) || n in ALIASES, {
        error: (iss) => `unknown isolator '${String(iss.input)}' (known: ${[...ISOLATORS, ...Object.keys(ALIASES)].join(', ')})`,
      }),
    ),
  );

/** Parses an --isolation value; throws ValidationError naming the unknown isolator. */
export function parseIsolation(text: string): IsolatorName[] {
  const r = IsolationList.safeParse(text);
  if (!r.success) throw new ValidationError(r.error.issues[0]?.message ?? 'invalid isolation list', 'isolation');
  const out = new Set<IsolatorName>();
  for (const n of r.data) {
    const name = n in ALIASES ? ALIASES[n] : (n as IsolatorName);
    if (name) out.add(name);
  }
  return [...out];
}

/** What this machine offers, as probed by the agent at start. */
export interface IsolationEnvironment {
  /** The agent runs as root (effective uid 0). */
  root: boolean;
  /** The detected cgroup layout, or why there is none usable. */
  cgroups: CgroupLayout | { error: string };
  /** Absolute path of util-linux unshare, if found. */
  unshare?: string;
  /** Absolute path of du, if found. */
  du?: string;
}

export interface IsolationPlan {
  enabled: Set<IsolatorName>;
  /** Isolators of the default set left out, with why (logged once at start). */
  skipped: { name: IsolatorName; why: string }[];
}

const CGROUP_CONTROLLER: Partial<Record<IsolatorName, 'cpu' | 'memory' | 'pids'>> = {
  'cgroups/cpu': 'cpu',
  'cgroups/mem': 'memory',
  'cgroups/pids': 'pids',
};

/** Why an isolator cannot run here, or undefined when it can. */
export function unavailableReason(name: IsolatorName, env: IsolationEnvironment): string | undefined {
  const controller = CGROUP_CONTROLLER[name];
  if (controller) {
    if (!env.root) return 'cgroups need the agent to run as root';
    if ('error' in env.cgroups) return env.cgroups.error;
    if (!availableControllers(env.cgroups).has(controller)) return `the ${controller} controller is not available (cgroup v${env.cgroups.version})`;
    return undefined;
  }
  if (name === 'namespaces/pid') {
    if (!env.root) return 'pid namespaces need the agent to run as root';
    if (!env.unshare) return "util-linux 'unshare' is not on PATH";
    return undefined;
  }
  if (name === 'disk/du') return env.du ? undefined : "'du' is not on PATH";
  return 'unknown isolator';
}

/**
 * The isolators to run. `requested` undefined: the default set, each where possible (the rest reported in
 * `skipped`). An explicit request for an isolator that cannot work here is refused (UnavailableError).
 * `diskQuota`: --enforce-container-disk-quota, which needs disk/du and so adds it.
 */
export function planIsolation(requested: IsolatorName[] | undefined, env: IsolationEnvironment, o: { diskQuota?: boolean } = {}): IsolationPlan {
  const explicit = requested !== undefined;
  const names = new Set<IsolatorName>(requested ?? DEFAULT_ISOLATION);
  if (o.diskQuota) names.add('disk/du');
  const enabled = new Set<IsolatorName>();
  const skipped: IsolationPlan['skipped'] = [];
  for (const name of names) {
    const why = unavailableReason(name, env);
    if (!why) enabled.add(name);
    else if (explicit || (name === 'disk/du' && o.diskQuota))
      throw new UnavailableError(`isolator ${name} cannot run on this machine: ${why}`, { isolator: name });
    else skipped.push({ name, why });
  }
  return { enabled, skipped };
}

export function checkCgroupsRoot(root: string): string {
  if (!validCgroupsRoot(root)) throw new ValidationError(`'${root}' is not a valid cgroup name (letters, digits, '.', '_', '-', nested with '/')`, 'cgroups_root');
  return root;
}
