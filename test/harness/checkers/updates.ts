// Invariant 1: no acknowledged status update is lost, and updates per task arrive in order.
//
// Judged against the agents' own journals (JournalTail): the agent journals every update it generates, in
// order, and an ACK record when the framework's acknowledgement reaches it. Mesos's status-update manager
// delivers a task's updates one at a time, in order, each until acknowledged; so:
//  - an ACK in a journal must be for an update the framework was delivered (nobody acks for it);
//  - every update journaled before an acknowledged one must have been delivered (nothing skipped);
//  - first deliveries of a task's agent updates follow journal order, and a uuid always carries one state;
//  - a terminal update is not delivered again after the master accepted its acknowledgement;
//  - once a task was delivered a terminal state, no non-terminal state follows (no resurrection).
// For the orchestrator (whose acknowledgements the test cannot see directly) the same is judged on its
// Marathon event stream: its status_update_event for a task is published once the update is durable,
// before the acknowledgement, so the acknowledged journal states must appear there, in order (except a
// terminal update of an instance it had already expunged while unreachable: acknowledged as unknown).
import type { TaskStatus } from '../../../src/protocol/mesos.ts';
import type { JournalTail, RunEvidence } from '../evidence.ts';
import type { SseEvent } from '../http.ts';
import type { Delivery } from '../observer.ts';

export const TERMINAL_STATES = new Set([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);
export const isTerminal = (s: string): boolean => TERMINAL_STATES.has(s);

const isReconciliation = (s: TaskStatus): boolean => !s.uuid && s.reason === 'REASON_RECONCILIATION';

export interface FrameworkLog {
  frameworkId: string;
  deliveries: readonly Delivery[];
  /** uuid → delivery count when the master accepted the framework's acknowledgement. */
  ackedAt: ReadonlyMap<string, number>;
}

/** Uuid-level check of one framework's deliveries against the journals. Returns violations (empty = ok). */
export function checkStatusUpdates(fw: FrameworkLog, journals: JournalTail): string[] {
  journals.scan();
  const problems: string[] = [];
  const mine = fw.deliveries;
  const taskIds = new Set(mine.map((d) => d.status.task_id.value));
  for (const run of journals.runs.values()) if (run.frameworkId === fw.frameworkId) taskIds.add(run.taskId);

  for (const taskId of taskIds) {
    const delivered = mine.filter((d) => d.status.task_id.value === taskId);
    const deliveredUuids = new Map<string, Delivery>();
    const stateOfUuid = new Map<string, string>();
    for (const d of delivered) {
      const u = d.status.uuid;
      if (!u) continue;
      const prev = stateOfUuid.get(u);
      if (prev !== undefined && prev !== d.status.state) problems.push(`${taskId}: #${d.seq} uuid ${u} was ${prev}, now ${d.status.state}`);
      stateOfUuid.set(u, d.status.state);
      if (!deliveredUuids.has(u)) deliveredUuids.set(u, d);
      const ackedAt = fw.ackedAt.get(u);
      if (isTerminal(d.status.state) && ackedAt !== undefined && d.seq > ackedAt)
        problems.push(`${taskId}: #${d.seq} ${d.status.state} (uuid ${u}) delivered again after its acknowledgement was accepted (at #${ackedAt})`);
    }

    const runs = journals.runsOf(taskId, fw.frameworkId);
    for (const run of runs) problems.push(...checkRun(run, journals, deliveredUuids));

    // Order across the journal: the first delivery of each journaled uuid must follow journal order.
    for (const run of runs) {
      const order = journals.updatesOf(run).map((s) => s.uuid);
      let last = -1;
      let lastUuid = '';
      for (const d of delivered) {
        const u = d.status.uuid;
        if (!u || deliveredUuids.get(u) !== d) continue;
        const idx = order.indexOf(u);
        if (idx < 0) continue;
        if (idx < last) problems.push(`${taskId}: update ${u} (${d.status.state}, journal #${idx}) first delivered after ${lastUuid} (journal #${last}): out of order`);
        if (idx > last) {
          last = idx;
          lastUuid = u;
        }
      }
    }

    // No resurrection after a terminal state (reconciliation answers included: they report state).
    let terminalAt: Delivery | undefined;
    for (const d of delivered) {
      if (terminalAt && !isTerminal(d.status.state) && d.status.state !== 'TASK_UNKNOWN')
        problems.push(
          `${taskId}: #${d.seq} ${d.status.state} (${d.status.source ?? ''} ${d.status.reason ?? ''}) after terminal #${terminalAt.seq} ${terminalAt.status.state}`,
        );
      if (!terminalAt && isTerminal(d.status.state) && !isReconciliation(d.status)) terminalAt = d;
    }
  }
  return problems;
}

function checkRun(run: RunEvidence, journals: JournalTail, delivered: ReadonlyMap<string, Delivery>): string[] {
  const problems: string[] = [];
  const updates = journals.updatesOf(run);
  const acked = journals.ackedUuids(run);
  const where = `${run.taskId} (agent ${run.agentId} on h${run.host})`;
  for (const u of acked) if (!delivered.has(u)) problems.push(`${where}: the agent journaled an ACK for ${u}, an update the framework was never delivered`);
  let lastAcked = -1;
  updates.forEach((s, i) => {
    if (s.uuid && acked.has(s.uuid)) lastAcked = i;
  });
  for (let i = 0; i < lastAcked; i++) {
    const s = updates[i]!;
    if (s.uuid && !delivered.has(s.uuid))
      problems.push(`${where}: update ${s.state} (${s.uuid}) was never delivered although a later update (journal #${lastAcked}) was acknowledged: lost`);
  }
  return problems;
}

/**
 * Journaled updates not yet acknowledged, on runs of agents listed as alive. After convergence this must
 * drain (the status-update manager retries until acknowledged): poll it empty with a deadline.
 */
export function unacknowledgedUpdates(journals: JournalTail, frameworkId: string, liveHosts: ReadonlySet<number>): string[] {
  journals.scan();
  const out: string[] = [];
  for (const run of journals.runs.values()) {
    if (run.frameworkId !== frameworkId || !liveHosts.has(run.host) || run.goneAt !== undefined) continue;
    const acked = journals.ackedUuids(run);
    for (const s of journals.updatesOf(run)) if (s.uuid && !acked.has(s.uuid)) out.push(`${run.taskId} ${s.state} ${s.uuid} on h${run.host}`);
  }
  return out;
}

/** Collapses consecutive repeats: [A, A, B, A] → [A, B, A]. */
function collapse(xs: string[]): string[] {
  return xs.filter((x, i) => i === 0 || xs[i - 1] !== x);
}

/** Is `sub` a subsequence of `seq`? */
function isSubsequence(sub: string[], seq: string[]): boolean {
  let j = 0;
  for (const x of seq) if (j < sub.length && sub[j] === x) j++;
  return j === sub.length;
}

/**
 * The orchestrator's view, from its /v2/events status_update_events: for each of its tasks, the states
 * the agents journaled and saw acknowledged must appear in its events in the same order, and no
 * non-terminal state may follow a terminal one.
 */
export function checkMarathonStatusEvents(
  events: readonly SseEvent[],
  journals: JournalTail,
  frameworkId: string,
  /** Task ids the orchestrator still tracks (its API), to recognise instances it expunged. */
  tracked: ReadonlySet<string>,
): string[] {
  journals.scan();
  const problems: string[] = [];
  const byTask = new Map<string, string[]>();
  for (const e of events) {
    if (e.type !== 'status_update_event') continue;
    const id = e.data?.taskId as string | undefined;
    if (!id) continue;
    (byTask.get(id) ?? byTask.set(id, []).get(id)!).push(e.data.taskStatus as string);
  }
  const taskIds = new Set(byTask.keys());
  for (const run of journals.runs.values()) if (run.frameworkId === frameworkId) taskIds.add(run.taskId);
  for (const taskId of taskIds) {
    const seen = byTask.get(taskId) ?? [];
    const t = seen.findIndex(isTerminal);
    if (t >= 0) {
      const after = seen.slice(t + 1).filter((s) => !isTerminal(s));
      if (after.length) problems.push(`${taskId}: orchestrator events show ${after.join(',')} after terminal ${seen[t]}`);
    }
    for (const run of journals.runsOf(taskId, frameworkId)) {
      const acked = journals.ackedUuids(run);
      let ackedStates = collapse(journals.updatesOf(run).filter((s) => s.uuid && acked.has(s.uuid)).map((s) => s.state));
      // An instance expunged while unreachable (unreachableStrategy.expungeAfterSeconds) is forgotten: a
      // terminal update its agent sends later is acknowledged as unknown, with no event. Only that trailing
      // terminal state may be missing, and only for an instance the orchestrator no longer tracks.
      if (!tracked.has(taskId) && seen.at(-1) === 'TASK_UNREACHABLE' && ackedStates.length && isTerminal(ackedStates.at(-1)!))
        ackedStates = ackedStates.slice(0, -1);
      if (!isSubsequence(ackedStates, collapse(seen)))
        problems.push(
          `${taskId} (h${run.host}): acknowledged agent updates ${JSON.stringify(ackedStates)} are not all in the orchestrator's events, in order: ${JSON.stringify(seen)}`,
        );
    }
  }
  return problems;
}
