// The agent's half of the recovery-timeout watchdog (the other half is watchdog.mjs, a detached process per
// work dir that outlives the agent). The agent records which process is the agent of its work dir
// (watchdog/agent.json), touches watchdog/heartbeat while it runs so that the watchdog knows when a crashed
// agent went away, makes sure one watchdog watches the work dir (re-using a live one), and says on the way out
// whether its tasks were left running (the watchdog keeps counting) or killed (the watchdog exits).
// On start it also tells whether the previous agent stayed away longer than its recovery timeout, so that the
// agent kills the leftovers itself when the watchdog could not (it was killed too).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock, type TimerHandle } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import { WATCHDOG_AGENT_FILE, WATCHDOG_HEARTBEAT_FILE, WATCHDOG_PID_FILE, watchdogDir } from './paths.ts';
import { isSameLiveProcess, listProcesses, processStartTime } from './proc.ts';
import { decide, formatDuration, parseAgentRecord, type AgentRecord } from './recovery-timeout-policy.mjs';

export const WATCHDOG_SCRIPT = fileURLToPath(new URL('./watchdog.mjs', import.meta.url));

/** How the agent leaves: `stopped` after killing its tasks (the watchdog has nothing left to do), `closed` leaving them running. */
export type AgentExit = 'stopped' | 'closed';

export interface RecoveryTimeoutGuard {
  /** Set when the previous agent of this work dir stayed away longer than its recovery timeout. */
  readonly previousTimedOut?: { timeoutMs: number; goneSince: number };
  /** The watchdog process of this work dir, if one runs. */
  readonly watchdog?: { pid: number; reused: boolean };
  /** Resolves when the watchdog has nothing more to do in the work dir ('stopped': it has exited, bounded wait). */
  stop(how: AgentExit): Promise<void>;
}

export interface GuardOptions {
  workDir: string;
  timeoutMs: number;
  log: Logger;
  /**
   * Real time by default, whatever clock drives the agent: the watchdog is another process, on real time, and
   * the record and heartbeat are what the agent tells it.
   */
  clock?: Clock;
}

/** Heartbeat period: fine enough that "gone since the last heartbeat" is close to the real death. */
export const heartbeatIntervalMs = (timeoutMs: number): number => Math.min(1000, Math.max(100, Math.floor(timeoutMs / 10)));

export function guardWorkDir(opts: GuardOptions): RecoveryTimeoutGuard {
  const { workDir, log } = opts;
  const clock = opts.clock ?? systemClock;
  const dir = watchdogDir(workDir);
  fs.mkdirSync(dir, { recursive: true });
  const recordFile = path.join(dir, WATCHDOG_AGENT_FILE);
  const heartbeatFile = path.join(dir, WATCHDOG_HEARTBEAT_FILE);

  // --- what the previous agent left
  const previous = parseAgentRecord(readJson(recordFile));
  let previousTimedOut: RecoveryTimeoutGuard['previousTimedOut'];
  if (previous) {
    const alive = previous.state === 'running' && isSameLiveProcess(previous.pid, previous.start_time);
    if (alive) log.warn('another agent process seems to use this work dir', { pid: previous.pid });
    const d = decide({ now: clock.now(), record: previous, heartbeatMs: mtimeMs(heartbeatFile), agentAlive: alive, tasksLeft: 1 });
    if (d.action === 'kill') previousTimedOut = { timeoutMs: d.timeoutMs, goneSince: d.goneSince };
  }

  // --- take the work dir over
  const startTime = processStartTime(process.pid);
  const record: AgentRecord = {
    pid: process.pid,
    ...(startTime ? { start_time: startTime } : {}),
    timeout_ms: opts.timeoutMs,
    started_at: clock.now(),
    state: 'running',
  };
  writeRecord(recordFile, record);
  const touch = (): void => touchFile(heartbeatFile, clock.now());
  touch();
  let timer: TimerHandle | undefined = clock.setInterval(touch, heartbeatIntervalMs(opts.timeoutMs));
  const watchdog = ensureWatchdog(workDir, log);
  if (watchdog) log.debug('recovery-timeout watchdog', { pid: watchdog.pid, reused: watchdog.reused, timeout: formatDuration(opts.timeoutMs) });

  return {
    ...(previousTimedOut ? { previousTimedOut } : {}),
    ...(watchdog ? { watchdog } : {}),
    async stop(how) {
      if (!timer) return;
      timer.cancel();
      timer = undefined;
      touch();
      // Only while the record is still ours: a newer agent of this work dir may have taken over.
      const current = parseAgentRecord(readJson(recordFile));
      if (current && (current.pid !== record.pid || current.started_at !== record.started_at)) return;
      writeRecord(recordFile, { ...record, state: how, closed_at: clock.now() });
      // With the tasks gone the watchdog leaves: wake it and wait, so that nothing writes in the work dir
      // after close() (whoever stopped the agent may remove the directory next).
      if (how === 'stopped' && watchdog) await untilGone(watchdog.pid, WATCHDOG_EXIT_WAIT_MS);
    },
  };
}

const WATCHDOG_EXIT_WAIT_MS = 2000;

async function untilGone(pid: number, timeoutMs: number): Promise<void> {
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + timeoutMs;
  while (isSameLiveProcess(pid, undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/**
 * The work dir's watchdog, by its pid file (pid + start time + argv, so a stale file naming a reused pid is not
 * mistaken for it). A watchdog removes the file before it decides to leave, and one started while another is
 * still starting up (no file yet) leaves by itself (the younger of two leaves): so the file alone decides.
 */
export function findWatchdog(workDir: string): number | undefined {
  const pidFile = readJson(path.join(watchdogDir(workDir), WATCHDOG_PID_FILE)) as { pid?: unknown; start_time?: unknown } | undefined;
  if (!pidFile || typeof pidFile.pid !== 'number' || (pidFile.start_time !== undefined && typeof pidFile.start_time !== 'string')) return undefined;
  return isSameLiveProcess(pidFile.pid, pidFile.start_time) && isWatchdogOf(readCmdline(pidFile.pid), workDir) ? pidFile.pid : undefined;
}

/** Every live watchdog process of `workDir` (normally at most one). */
export function watchdogPids(workDir: string): number[] {
  return listProcesses()
    .filter((p) => isWatchdogOf(p.args, workDir) && isSameLiveProcess(p.pid, undefined))
    .map((p) => p.pid);
}

/** argv of a watchdog: node <…/watchdog.mjs> <work dir> (watchdog.mjs applies the same rule to its peers). */
const isWatchdogOf = (args: string[], workDir: string): boolean => path.basename(args[1] ?? '') === 'watchdog.mjs' && args[2] === workDir;

function ensureWatchdog(workDir: string, log: Logger): { pid: number; reused: boolean } | undefined {
  const live = findWatchdog(workDir);
  if (live !== undefined) return { pid: live, reused: true };
  try {
    // Detached (own session, so a Ctrl-C to the agent's terminal does not reach it), no inherited stdio (it must
    // not hold a supervisor's pipes open), cwd / (it must not pin a work dir being removed), plain node (no
    // tsx loader in its argv or env).
    const child = spawn(process.execPath, [WATCHDOG_SCRIPT, workDir], {
      detached: true,
      stdio: 'ignore',
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    child.on('error', (e) => log.warn('the recovery-timeout watchdog failed to start', { error: e.message }));
    child.unref();
    return child.pid === undefined ? undefined : { pid: child.pid, reused: false };
  } catch (e) {
    log.warn('the recovery-timeout watchdog failed to start', { error: (e as Error).message });
    return undefined;
  }
}

function readCmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function mtimeMs(file: string): number | undefined {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

let tempCounter = 0;

/** temp + rename, no fsync: the record matters after an agent crash (the page cache survives it), not a reboot. */
function writeRecord(file: string, record: AgentRecord): void {
  const tmp = `${file}.tmp.${process.pid}.${++tempCounter}`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(record));
    fs.renameSync(tmp, file);
  } catch {
    // The work dir is gone (removed under a running agent): there is nothing left to watch.
    fs.rmSync(tmp, { force: true });
  }
}

/** Sets the heartbeat's mtime; recreates the file if it was removed, but never its directory. */
function touchFile(file: string, nowMs: number): void {
  const t = nowMs / 1000;
  try {
    fs.utimesSync(file, t, t);
  } catch {
    try {
      fs.writeFileSync(file, '');
      fs.utimesSync(file, t, t);
    } catch {
      // the work dir is gone
    }
  }
}
