// The recovery-timeout watchdog of one agent work dir:  node src/agent/watchdog.mjs <work dir>
//
// Mesos's executors kill themselves when their agent does not come back within --recovery_timeout, so that the
// tasks of a dead agent do not run forever unsupervised. Corral's tasks have no executor: this process, started
// (or re-used) by the agent, does it for them. While the agent lives it only sleeps. Once the agent is gone
// (its process died, or it stopped leaving its tasks running) and no new agent took the work dir over within
// the timeout, it kills every task process group of the work dir (SIGTERM, SIGKILL after the task's grace
// period), leaves a `recovery_timeout` marker next to each run's exit status (a later agent reports
// TASK_FAILED / REASON_EXECUTOR_REREGISTRATION_TIMEOUT from it), logs to watchdog/watchdog.log and exits. It also
// exits when the agent is gone and no task is left, when the agent stopped after killing its tasks, and when
// the work dir disappears.
//
// It never signals anything but task wrappers of its own work dir — argv `/bin/sh -c <script> corral-task
// <work>/meta/…/exit_status …` (see launcher.ts and orphans.ts) — re-checked (pid, start time, argv) right
// before each signal, and their process groups. Plain node, no tsx and no dependencies: it stays light.
import fs from 'node:fs';
import path from 'node:path';
import { decide, formatDuration, parseAgentRecord, recoveryTimeoutMessage } from './recovery-timeout-policy.mjs';

const WRAPPER_NAME = 'corral-task';
const DEFAULT_GRACE_MS = 3000;
/** Bounds the kill phase whatever a task's kill policy says. */
const MAX_GRACE_MS = 5 * 60_000;
const LOG_ROTATE_BYTES = 1 << 20;

const workDir = process.argv[2];
if (!workDir || !path.isAbsolute(workDir)) {
  process.stderr.write('usage: node watchdog.mjs <absolute agent work dir>\n');
  process.exit(2);
}
const dir = path.join(workDir, 'watchdog');
const files = {
  agent: path.join(dir, 'agent.json'),
  heartbeat: path.join(dir, 'heartbeat'),
  pid: path.join(dir, 'watchdog.json'),
  log: path.join(dir, 'watchdog.log'),
};
const metaPrefix = path.join(workDir, 'meta') + path.sep;

// ------------------------------------------------------------------ /proc

/** state, pgrp and start time from /proc/<pid>/stat (the command name may contain spaces and parentheses). */
function procStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
    return { state: f[0], pgrp: Number(f[2]), startTime: f[19] };
  } catch {
    return undefined;
  }
}

function isLive(pid, startTime) {
  const st = procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function pids() {
  try {
    return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
  } catch {
    return [];
  }
}

const isWrapper = (args) => args[1] === '-c' && args[3] === WRAPPER_NAME && typeof args[4] === 'string' && args[4].startsWith(metaPrefix);
const isPeer = (args) => path.basename(args[1] ?? '') === 'watchdog.mjs' && args[2] === workDir;

/** The live task wrappers of this work dir, with what identifies them. */
function wrappers() {
  const out = [];
  for (const pid of pids()) {
    const args = cmdline(pid);
    if (!isWrapper(args)) continue;
    const st = procStat(pid);
    if (st && st.state !== 'Z' && st.state !== 'X') out.push({ pid, startTime: st.startTime, exitPath: args[4], pgrp: st.pgrp });
  }
  return out;
}

/** Still the same wrapper (not a reused pid)? */
const stillWrapper = (w) => isLive(w.pid, w.startTime) && cmdline(w.pid)[4] === w.exitPath;

/** Whether any process is still in process group `pgid`. */
function groupAlive(pgid) {
  return pids().some((p) => {
    const st = procStat(p);
    return st !== undefined && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X';
  });
}

/**
 * Signals a wrapper's process group. While the wrapper lives its identity is checked; once it is gone the group
 * id cannot have been reused as long as one of its members lives, so leftovers of the task are reached too.
 */
function signalTask(w, signal) {
  const leader = w.pgrp === w.pid;
  if (!stillWrapper(w) && !(leader && groupAlive(w.pid))) return false;
  try {
    process.kill(leader ? -w.pid : w.pid, signal);
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ files

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function mtimeMs(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

let tempCounter = 0;
function writeAtomic(file, text) {
  const tmp = `${file}.tmp.${process.pid}.${++tempCounter}`;
  try {
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, file);
    return true;
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
}

function log(msg, fields = {}) {
  try {
    fs.appendFileSync(files.log, JSON.stringify({ time: new Date().toISOString(), pid: process.pid, msg, ...fields }) + '\n');
  } catch {
    // the work dir is gone: nobody to tell
  }
}

/** The task's kill grace period from its checkpointed TaskInfo (as the agent would use it). */
function graceOf(runDir) {
  const ns = readJson(path.join(runDir, 'task.json'))?.task?.kill_policy?.grace_period?.nanoseconds;
  const ms = typeof ns === 'number' && Number.isFinite(ns) ? ns / 1e6 : Number(ns) / 1e6;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_GRACE_MS) : DEFAULT_GRACE_MS;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// SIGUSR2 from an agent that just stopped: look again now instead of at the next poll, so that the agent's
// close() can wait for this process to be gone before anyone removes the work dir.
let wake = () => {};
process.on('SIGUSR2', () => wake());
const nap = (ms) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
const pollMs = (timeoutMs) => Math.min(1000, Math.max(50, Math.floor(timeoutMs / 10)));

// ------------------------------------------------------------------ the kill

/** A new agent process (not the one of `previous`, if any) runs on this work dir. */
function agentBack(previous) {
  const r = parseAgentRecord(readJson(files.agent));
  if (r === undefined || r.state !== 'running' || !isLive(r.pid, r.start_time)) return false;
  return previous === undefined || r.pid !== previous.pid || r.started_at !== previous.started_at;
}

async function killTasks(targets, record, d) {
  const timeout = formatDuration(d.timeoutMs);
  log('the agent did not come back within the recovery timeout: killing its tasks', {
    timeout,
    agent_pid: record.pid,
    agent_gone_since: new Date(d.goneSince).toISOString(),
    tasks: targets.length,
  });
  const now = Date.now();
  const marker = JSON.stringify({ reason: 'recovery_timeout', timeout_ms: d.timeoutMs, agent_gone_since: d.goneSince, killed_at: now, by: 'watchdog' });
  const killing = [];
  for (const w of targets) {
    if (agentBack(record)) {
      log('an agent took this work dir over at the deadline: leaving it the remaining tasks');
      break;
    }
    const runDir = path.dirname(w.exitPath);
    // Before the signal, so that a later agent learns why even if this process dies half-way.
    const markerFile = path.join(runDir, 'recovery_timeout');
    writeAtomic(markerFile, marker);
    if (!signalTask(w, 'SIGTERM')) {
      fs.rmSync(markerFile, { force: true }); // it ended by itself meanwhile: its own exit status tells how
      continue;
    }
    killing.push({ ...w, killAt: now + graceOf(runDir), sigkilled: false });
    log('SIGTERM', { task_pid: w.pid, run: runDir });
  }
  const deadline = Date.now() + Math.max(0, ...killing.map((k) => k.killAt - now)) + 2000;
  while (Date.now() < deadline) {
    const left = killing.filter((k) => (k.sigkilled ? groupAlive(k.pid) : stillWrapper(k)));
    if (left.length === 0) break;
    for (const k of left) {
      if (!k.sigkilled && Date.now() >= k.killAt && signalTask(k, 'SIGKILL')) {
        k.sigkilled = true;
        log('SIGKILL after the grace period', { task_pid: k.pid });
      }
    }
    await sleep(50);
  }
  // A task's children that survived the TERM (their wrapper has exited) go with the group.
  for (const k of killing) if (k.pgrp === k.pid && groupAlive(k.pid) && signalTask(k, 'SIGKILL')) log('SIGKILL to what was left of the task', { task_pid: k.pid });
  log(recoveryTimeoutMessage(d.timeoutMs), { task_pids: killing.map((k) => k.pid) });
}

// ------------------------------------------------------------------ main

async function main() {
  const self = { pid: process.pid, start_time: procStat(process.pid)?.startTime };
  // One watchdog per work dir: of two started concurrently, the younger leaves.
  const older = pids()
    .filter((p) => p !== self.pid && isPeer(cmdline(p)))
    .map((p) => ({ pid: p, startTime: procStat(p)?.startTime }))
    .find((o) => o.startTime !== undefined && isLive(o.pid, o.startTime) && (BigInt(o.startTime) < BigInt(self.start_time ?? '0') || (o.startTime === self.start_time && o.pid < self.pid)));
  if (!fs.existsSync(dir)) return;
  if (older) return log('another watchdog already watches this work dir; leaving', { other: older.pid });
  try {
    if (fs.statSync(files.log).size > LOG_ROTATE_BYTES) fs.renameSync(files.log, files.log + '.1');
  } catch {
    // no log yet
  }
  if (!writeAtomic(files.pid, JSON.stringify(self))) return;
  log('watching the agent of this work dir', { work_dir: workDir });

  let announced = false;
  // Runs while the agent lives (like the agent itself); once it is gone, at most its timeout (plus one poll) more.
  for (;;) {
    if (!fs.existsSync(dir)) return; // the work dir was removed
    if (readJson(files.pid)?.pid !== self.pid) return log('another watchdog took over this work dir; exiting');
    const record = parseAgentRecord(readJson(files.agent));
    const agentAlive = record !== undefined && isLive(record.pid, record.start_time);
    const gone = record !== undefined && !(record.state === 'running' && agentAlive);
    const tasks = gone ? wrappers() : [];
    const d = decide({ now: Date.now(), record, heartbeatMs: mtimeMs(files.heartbeat), agentAlive, tasksLeft: tasks.length });
    if (d.action === 'exit' || d.action === 'kill') {
      if (d.action === 'kill') await killTasks(tasks, record, d);
      // Leave, unless an agent took the work dir over meanwhile: it may have found this watchdog alive and
      // counts on it. The pid file goes first, so that an agent starting from now on starts a new watchdog
      // (which finds this one gone: it only ever starts after this process has checked and left).
      if (readJson(files.pid)?.pid === self.pid) fs.rmSync(files.pid, { force: true });
      if (!agentBack(record)) return log(`exiting: ${d.action === 'kill' ? 'the recovery timeout expired and the tasks were killed' : d.why}`);
      if (!writeAtomic(files.pid, JSON.stringify(self))) return;
      log('an agent took this work dir over: staying');
      announced = false;
      continue;
    }
    if (gone && !announced) {
      announced = true;
      log('the agent is gone: its tasks are killed at the deadline unless an agent takes this work dir over', {
        agent_pid: record.pid,
        tasks: tasks.length,
        deadline: d.deadline === undefined ? undefined : new Date(d.deadline).toISOString(),
      });
    } else if (!gone && announced) {
      announced = false;
      log('an agent took this work dir over', { agent_pid: record?.pid });
    }
    await nap(pollMs(record.timeout_ms));
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    log('watchdog failed', { error: e instanceof Error ? e.stack : String(e) });
    process.exit(1);
  },
);
