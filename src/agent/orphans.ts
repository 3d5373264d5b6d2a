// Task processes that recovery finds but cannot attribute, and recover=cleanup's sweep.
import path from 'node:path';
import type { Logger } from '../runtime/log.ts';
import { WRAPPER_NAME } from './launcher.ts';
import { EXIT_STATUS_FILE, metaRoot } from './paths.ts';
import { isSameLiveProcess, listProcesses, signalGroup } from './proc.ts';
import { replayJournal, type RecoveredFramework } from './recovery.ts';

/** Exit-status paths of the runs a checkpoint accounts for. */
export const knownExitPaths = (frameworks: RecoveredFramework[]): Set<string> =>
  new Set(frameworks.flatMap((f) => f.runs.map((r) => path.join(r.metaDir, EXIT_STATUS_FILE))));

/**
 * Kills task wrappers of this work dir that no checkpoint accounts for (a crash between spawn and the
 * task.json rename). Wrappers are recognised by argv: sh -c <script> corral-task <exit-status path> ...
 * (watchdog.mjs, which cannot import this module, applies the same rule: change both together.)
 */
export function killOrphans(workDir: string, known: Set<string>, log: Logger): number {
  const prefix = metaRoot(workDir) + path.sep;
  let n = 0;
  for (const p of listProcesses()) {
    const exitPath = p.args[4];
    if (p.args[3] !== WRAPPER_NAME || !exitPath?.startsWith(prefix) || known.has(exitPath) || p.pid === process.pid) continue;
    log.warn('killing an orphaned task process that no checkpoint accounts for', { pid: p.pid, exit_status: exitPath });
    if (signalGroup(p.pid, 'SIGKILL')) n++;
  }
  return n;
}

/** recover=cleanup: kills whatever tasks of this work dir still run. */
export function killAllRecovered(workDir: string, frameworks: RecoveredFramework[], log: Logger): number {
  let n = killOrphans(workDir, new Set(), log);
  for (const rf of frameworks) {
    for (const rr of rf.runs) {
      const pid = replayJournal(rr.records).pid;
      if (pid && isSameLiveProcess(pid.pid, pid.startTime) && signalGroup(pid.pid, 'SIGKILL')) n++;
    }
  }
  return n;
}
