// Mesos's v1 HealthCheck message (TaskInfo.health_check), validated and normalised for the agent's health
// checker: defaults filled in (delay 15 s, interval 10 s, timeout 20 s, 3 consecutive failures, grace 10 s),
// seconds turned into milliseconds, the probe target resolved. Validation follows Mesos's
// `validation::healthCheck` (type required, the matching sub-message present, http scheme and path).
import { z } from 'zod';
import { CommandInfo } from '../protocol/mesos.ts';
import { formatPath, nonNegativeInt, nonNegativeNumber } from '../protocol/validate.ts';

export const HEALTH_CHECK_DEFAULTS = {
  delay_seconds: 15,
  interval_seconds: 10,
  timeout_seconds: 20,
  consecutive_failures: 3,
  grace_period_seconds: 10,
} as const;

const Protocol = z.enum(['IPv4', 'IPv6']);
const Port = nonNegativeInt.refine((n) => n >= 1 && n <= 65535, { message: 'must be a port number (1-65535)' });
const HttpStatus = nonNegativeInt.refine((n) => n >= 100 && n <= 599, { message: 'must be an HTTP status code (100-599)' });

export const MesosHealthCheck = z
  .looseObject({
    type: z.enum(['UNKNOWN', 'COMMAND', 'HTTP', 'TCP']).optional(),
    delay_seconds: nonNegativeNumber.optional(),
    interval_seconds: nonNegativeNumber.optional(),
    timeout_seconds: nonNegativeNumber.optional(),
    consecutive_failures: nonNegativeInt.optional(),
    grace_period_seconds: nonNegativeNumber.optional(),
    command: CommandInfo.optional(),
    http: z
      .looseObject({
        protocol: Protocol.optional(),
        scheme: z.string().optional(),
        port: Port,
        path: z.string().optional(),
        statuses: z.array(HttpStatus).optional(),
      })
      .optional(),
    tcp: z.looseObject({ protocol: Protocol.optional(), port: Port }).optional(),
  })
  .superRefine((hc, ctx) => {
    const fail = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (hc.type === undefined) return fail(['type'], "HealthCheck must specify 'type'");
    if (hc.type === 'UNKNOWN') return fail(['type'], "HealthCheck 'type' must not be UNKNOWN");
    if (hc.type === 'COMMAND') {
      if (!hc.command) return fail(['command'], "Expecting 'command' to be set for COMMAND health check");
      if (hc.command.value === undefined || hc.command.value === '')
        return fail(['command', 'value'], `Command health check must contain ${hc.command.shell === false ? "'executable path'" : "'shell command'"}`);
      for (const [i, v] of (hc.command.environment?.variables ?? []).entries()) {
        if (v.type === 'SECRET') return fail(['command', 'environment', 'variables', i], 'secret environment variables are not supported');
        if (v.value === undefined) return fail(['command', 'environment', 'variables', i, 'value'], 'value is not set');
      }
      if ((hc.command.uris ?? []).length > 0) return fail(['command', 'uris'], 'fetching URIs for a health check is not supported');
    }
    if (hc.type === 'HTTP') {
      if (!hc.http) return fail(['http'], "Expecting 'http' to be set for HTTP health check");
      if (hc.http.scheme !== undefined && hc.http.scheme !== 'http' && hc.http.scheme !== 'https')
        return fail(['http', 'scheme'], `Unsupported HTTP health check scheme: '${hc.http.scheme}'`);
      if (hc.http.path !== undefined && hc.http.path !== '' && !hc.http.path.startsWith('/'))
        return fail(['http', 'path'], `The path '${hc.http.path}' of HTTP health check must start with '/'`);
    }
    if (hc.type === 'TCP' && !hc.tcp) return fail(['tcp'], "Expecting 'tcp' to be set for TCP health check");
  });
export type MesosHealthCheck = z.infer<typeof MesosHealthCheck>;

export type HealthCheckTarget =
  | { type: 'COMMAND'; shell: boolean; value: string; arguments: string[]; environment: Record<string, string> }
  | { type: 'HTTP'; scheme: 'http' | 'https'; host: string; port: number; path: string; statuses?: number[] }
  | { type: 'TCP'; host: string; port: number };

export interface HealthCheckConfig {
  target: HealthCheckTarget;
  delayMs: number;
  intervalMs: number;
  /** 0: no timeout (as in Mesos). */
  timeoutMs: number;
  consecutiveFailures: number;
  gracePeriodMs: number;
}

const loopback = (protocol: 'IPv4' | 'IPv6' | undefined): string => (protocol === 'IPv6' ? '::1' : '127.0.0.1');

/** Parses TaskInfo.health_check; the error names the offending field ("health_check.http.port: ..."). */
export function parseHealthCheck(raw: unknown): { config: HealthCheckConfig } | { error: string } {
  const r = MesosHealthCheck.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return { error: `${formatPath('health_check', issue.path as PropertyKey[])}: ${issue.message}` };
  }
  const hc = r.data;
  let target: HealthCheckTarget;
  if (hc.type === 'COMMAND') {
    const cmd = hc.command!;
    const environment: Record<string, string> = {};
    for (const v of cmd.environment?.variables ?? []) environment[v.name] = v.value!;
    target = { type: 'COMMAND', shell: cmd.shell ?? true, value: cmd.value!, arguments: cmd.arguments ?? [], environment };
  } else if (hc.type === 'HTTP') {
    const h = hc.http!;
    target = {
      type: 'HTTP',
      scheme: (h.scheme as 'http' | 'https' | undefined) ?? 'http',
      host: loopback(h.protocol),
      port: h.port,
      path: h.path || '/',
      ...(h.statuses && h.statuses.length ? { statuses: h.statuses } : {}),
    };
  } else {
    target = { type: 'TCP', host: loopback(hc.tcp!.protocol), port: hc.tcp!.port };
  }
  const s = (v: number | undefined, d: number): number => Math.round((v ?? d) * 1000);
  return {
    config: {
      target,
      delayMs: s(hc.delay_seconds, HEALTH_CHECK_DEFAULTS.delay_seconds),
      intervalMs: s(hc.interval_seconds, HEALTH_CHECK_DEFAULTS.interval_seconds),
      timeoutMs: s(hc.timeout_seconds, HEALTH_CHECK_DEFAULTS.timeout_seconds),
      consecutiveFailures: hc.consecutive_failures ?? HEALTH_CHECK_DEFAULTS.consecutive_failures,
      gracePeriodMs: s(hc.grace_period_seconds, HEALTH_CHECK_DEFAULTS.grace_period_seconds),
    },
  };
}
