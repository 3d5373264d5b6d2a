// One attempt of a health check: HTTP GET, TCP connect, or a command in the task's sandbox. A probe never
// rejects: it resolves healthy or not, with a message saying why. Aborting (the attempt timed out) makes it
// resolve promptly as a failure; a command is SIGKILLed with its process group first, so the next attempt
// never overlaps a stuck one.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheckTarget } from './health-check.ts';
import { signalGroup } from './proc.ts';

export interface ProbeResult {
  healthy: boolean;
  message: string;
}

export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

const OUTPUT_TAIL_BYTES = 512;

export interface HttpProbeTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
  /** Healthy statuses; 200-399 when absent. */
  statuses?: number[];
}

const hostForUrl = (h: string): string => (h.includes(':') ? `[${h}]` : h);

export function httpProbe(t: HttpProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
  const url = `${t.scheme}://${hostForUrl(t.host)}:${t.port}${t.path}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => {
      req.destroy();
      done({ healthy: false, message: `HTTP health check failed: ${url} did not respond in time` });
    };
    const lib = t.scheme === 'https' ? https : http;
    const req = lib.request(url, {
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'corral-health-check', connection: 'close' },
      ...(t.scheme === 'https' ? { rejectUnauthorized: false } : {}),
    });
    req.on('response', (res) => {
      const code = res.statusCode ?? 0;
      res.destroy();
      req.destroy();
      const ok = t.statuses ? t.statuses.includes(code) : code >= 200 && code < 400;
      done(ok ? { healthy: true, message: `HTTP ${code}` } : { healthy: false, message: `HTTP health check failed: unexpected HTTP response code ${code} from ${url}` });
    });
    req.on('error', (e) => done({ healthy: false, message: `HTTP health check failed: ${url}: ${e.message}` }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

export function tcpProbe(t: { host: string; port: number }, signal: AbortSignal): Promise<ProbeResult> {
  const where = `${hostForUrl(t.host)}:${t.port}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = () => done({ healthy: false, message: `TCP health check failed: connecting to ${where} timed out` });
    const socket = net.connect({ host: t.host, port: t.port });
    socket.once('connect', () => done({ healthy: true, message: `connected to ${where}` }));
    socket.once('error', (e) => done({ healthy: false, message: `TCP health check failed: ${where}: ${e.message}` }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface CommandProbeTarget {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
}

export function commandProbe(t: CommandProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ healthy: false, message: 'COMMAND health check failed: aborted' });
    let output = '';
    let timedOut = false;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(t.argv[0]!, t.argv.slice(1), {
        cwd: t.cwd,
        env: t.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        ...(t.uid !== undefined ? { uid: t.uid } : {}),
        ...(t.gid !== undefined ? { gid: t.gid } : {}),
      });
    } catch (e) {
      return resolve({ healthy: false, message: `COMMAND health check failed: cannot run the command: ${(e as Error).message}` });
    }
    const collect = (d: Buffer) => {
      output = (output + d.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const onAbort = () => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    };
    const finish = (r: ProbeResult) => {
      signal.removeEventListener('abort', onAbort);
      // Whatever the command left behind holding our pipes must not keep this agent busy.
      child.stdout!.destroy();
      child.stderr!.destroy();
      resolve(r);
    };
    child.once('error', (e) => finish({ healthy: false, message: `COMMAND health check failed: cannot run the command: ${e.message}` }));
    child.once('exit', (code, sig) => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL'); // reap stragglers of the check
      const tail = output.trim() ? `: ${output.trim()}` : '';
      if (timedOut) return finish({ healthy: false, message: 'COMMAND health check failed: the command did not return in time; killed it' });
      if (code === 0) return finish({ healthy: true, message: 'Command exited with status 0' });
      finish({ healthy: false, message: `COMMAND health check failed: ${sig ? `command terminated with signal ${sig}` : `command returned ${code}`}${tail}` });
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface ProbeContext {
  /** The task's sandbox. */
  cwd: string;
  /** The task's environment. */
  env: Record<string, string>;
  uid?: number;
  gid?: number;
}

/** The probe for a health check target, bound to its task. */
export function probeFor(target: HealthCheckTarget, ctx: ProbeContext): Probe {
  switch (target.type) {
    case 'HTTP':
      return (signal) => httpProbe(target, signal);
    case 'TCP':
      return (signal) => tcpProbe(target, signal);
    case 'COMMAND': {
      const argv = target.shell ? ['/bin/sh', '-c', target.value] : [target.value, ...target.arguments.slice(1)];
      const env = { ...ctx.env, ...target.environment };
      return (signal) => commandProbe({ argv, cwd: ctx.cwd, env, uid: ctx.uid, gid: ctx.gid }, signal);
    }
  }
}
