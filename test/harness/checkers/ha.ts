// Invariant 5, "never two leaders acting": no effect of a deposed leader lands anywhere. Judged from
// what each party recorded by itself, never from what the leaders say about themselves:
//
// - the store (the etcd history replayed from revision 1, ha-evidence.ts): who led at every revision
//   is a fact of the election keys (the live key with the lowest create revision leads). Every
//   registry write must land while a master leads — the fence makes a deposed leader's write fail, so
//   a write in a leaderless gap is an unfenced one —, the MasterInfo record (`/corral/registry/master`,
//   the one record that names its writer) must name the master leading at that revision, and the
//   orchestrator's writes must land while an orchestrator leads. With `stable` (a scenario where no
//   agent and no framework ever really goes away: leader faults only) the registry must also never
//   record an agent unreachable nor remove an agent or a framework: those are exactly the writes a
//   deposed term's stale timers (missed pings, failover timeouts) would make;
// - the agents' own logs: every master an agent (re-)registered with led at some revision, and an
//   agent never goes back to an older term (registering with it is what would let it obey it: agents
//   refuse commands from any master id but the one they registered with);
// - the observer framework: every offer names its master (`<master id>-O<n>`); it must come from a
//   master that led, from the master the observer was subscribed to when it arrived, and never from
//   an older term than an offer before it;
// - the processes' own claims: a master or orchestrator that printed `elected` must have led in the
//   store, as often as it says;
// - the tasks (the agents' journals): the long tasks the scenario watches keep their run, their pid,
//   and get no KILL and no terminal update (tasksDisturbed).
import type { TaskStatus } from '../../../src/protocol/mesos.ts';
import type { JournalTail } from '../evidence.ts';
import type { AgentRegistration, HistoryEvent } from '../ha-evidence.ts';
import { isTerminal } from './updates.ts';

export const MASTER_ELECTION_PREFIX = '/corral/master/election/';
export const ORCHESTRATOR_ELECTION_PREFIX = '/corral/orchestrator/election/';
export const REGISTRY_PREFIX = '/corral/registry/';
export const ORCHESTRATOR_PREFIX = '/corral/orchestrator/';

export interface ElectionTerm {
  key: string;
  /** The candidate's id (a master id; an orchestrator instance id). */
  id: string;
  url: string;
  created: number;
  deleted?: number;
  /** Revisions during which this key led: [from, to). */
  ledFrom?: number;
  ledTo?: number;
}

/** Replays an election prefix: every candidacy, and when it led. */
export class ElectionReplay {
  readonly terms = new Map<string, ElectionTerm>();
  private readonly live = new Map<string, ElectionTerm>();
  leader?: ElectionTerm;

  constructor(readonly prefix: string) {}

  /** Applies one event (in revision order); returns true when it touched the election. */
  apply(ev: HistoryEvent): boolean {
    if (!ev.key.startsWith(this.prefix)) return false;
    if (ev.type === 'put') {
      if (!this.live.has(ev.key)) {
        let rec: { id?: string; url?: string } = {};
        try {
          rec = JSON.parse(ev.value ?? '{}');
        } catch {
          // a malformed candidacy never leads (leader.ts skips it)
        }
        if (rec.id) {
          const t: ElectionTerm = { key: `${ev.key}@${ev.createRevision ?? ev.revision}`, id: rec.id, url: rec.url ?? '', created: ev.createRevision ?? ev.revision };
          this.terms.set(t.key, t);
          this.live.set(ev.key, t);
        }
      }
    } else {
      const t = this.live.get(ev.key);
      if (t) {
        t.deleted = ev.revision;
        this.live.delete(ev.key);
      }
    }
    let next: ElectionTerm | undefined;
    for (const t of this.live.values()) if (!next || t.created < next.created) next = t;
    if (next !== this.leader) {
      if (this.leader) this.leader.ledTo = ev.revision;
      if (next) next.ledFrom = ev.revision;
      this.leader = next;
    }
    return true;
  }

  /** Terms that led at some revision, by id. */
  ledById(): Map<string, ElectionTerm[]> {
    const m = new Map<string, ElectionTerm[]>();
    for (const t of this.terms.values()) if (t.ledFrom !== undefined) (m.get(t.id) ?? m.set(t.id, []).get(t.id)!).push(t);
    return m;
  }
}

export interface StoreVerdict {
  masters: ElectionReplay;
  orchestrators: ElectionReplay;
  violations: string[];
  /** Registry writes judged, orchestrator writes judged. */
  registryWrites: number;
  orchestratorWrites: number;
}

/**
 * The store history's verdict. `from` limits the judgement to writes at or after that revision (the
 * scenario's setup — the first registrations — precedes it); `stable` as described above.
 */
export function checkStoreHistory(history: readonly HistoryEvent[], opts: { from?: number; stable?: boolean } = {}): StoreVerdict {
  const masters = new ElectionReplay(MASTER_ELECTION_PREFIX);
  const orchestrators = new ElectionReplay(ORCHESTRATOR_ELECTION_PREFIX);
  const violations: string[] = [];
  let registryWrites = 0;
  let orchestratorWrites = 0;
  const from = opts.from ?? 0;
  for (const ev of [...history].sort((a, b) => a.revision - b.revision)) {
    if (masters.apply(ev) || orchestrators.apply(ev)) continue;
    const judged = ev.revision >= from;
    if (ev.key.startsWith(REGISTRY_PREFIX)) {
      if (!judged) continue;
      registryWrites++;
      const what = `registry ${ev.type} of ${ev.key} at revision ${ev.revision}`;
      const leader = masters.leader;
      if (!leader) {
        violations.push(`${what} landed while no master led (an unfenced write)`);
        continue;
      }
      if (ev.key === `${REGISTRY_PREFIX}master` && ev.type === 'put') {
        let id: string | undefined;
        try {
          id = JSON.parse(ev.value ?? '{}')?.master_info?.id;
        } catch {
          // judged below
        }
        if (id !== leader.id) violations.push(`${what} names master ${id} while ${leader.id} led: written by a master that did not lead`);
      }
      if (opts.stable) {
        if (ev.type === 'delete') violations.push(`${what}: an agent or framework was removed although none went away (a deposed term's stale decision?)`);
        else if (ev.key.startsWith(`${REGISTRY_PREFIX}agents/`)) {
          let rec: { unreachable_time?: number } = {};
          try {
            rec = JSON.parse(ev.value ?? '{}');
          } catch {
            violations.push(`${what}: not JSON`);
          }
          if (rec.unreachable_time !== undefined)
            violations.push(`${what} marks the agent unreachable although every agent stayed up (a deposed term's missed pings?), ${leader.id} leading`);
        }
      }
    } else if (ev.key.startsWith(ORCHESTRATOR_PREFIX)) {
      if (!judged) continue;
      orchestratorWrites++;
      if (!orchestrators.leader) violations.push(`orchestrator ${ev.type} of ${ev.key} at revision ${ev.revision} landed while no orchestrator led (an unfenced write)`);
    }
  }
  return { masters, orchestrators, violations, registryWrites, orchestratorWrites };
}

/** Each `elected` claim of a process must be a term that led in the store, as many times as claimed. */
export function checkElectedClaims(replay: ElectionReplay, claims: readonly { id: string; who: string }[], what: string): string[] {
  const led = replay.ledById();
  const count = new Map<string, number>();
  const out: string[] = [];
  for (const c of claims) {
    const n = (count.get(c.id) ?? 0) + 1;
    count.set(c.id, n);
    const terms = led.get(c.id)?.length ?? 0;
    if (n > terms) out.push(`${c.who} said it was elected ${what} ${c.id}${n > 1 ? ` (claim #${n})` : ''}, but the store shows ${terms} term(s) led by that id`);
  }
  return out;
}

/** Agents only (re-)register with masters that led, and never go back to an older term. */
export function checkAgentTerms(replay: ElectionReplay, byAgent: ReadonlyMap<string, readonly AgentRegistration[]>): string[] {
  const led = replay.ledById();
  const out: string[] = [];
  for (const [who, regs] of byAgent) {
    let newest: ElectionTerm | undefined;
    for (const r of regs) {
      const terms = led.get(r.masterId);
      if (!terms) {
        out.push(`${who} registered with master ${r.masterId} at ${new Date(r.ts).toISOString()}, which never led`);
        continue;
      }
      const t = terms[terms.length - 1]!;
      if (newest && t.created < newest.created)
        out.push(`${who} went back to master ${r.masterId} (term of revision ${t.created}) at ${new Date(r.ts).toISOString()} after registering with ${newest.id} (revision ${newest.created}): it would obey a deposed master`);
      if (!newest || t.created > newest.created) newest = t;
    }
  }
  return out;
}

export interface OfferRecord {
  at: number;
  offerId: string;
}

export interface SubscriptionRecord {
  at: number;
  masterId: string;
}

/** `<master id>-O<n>` → the master id. */
export function offerMaster(offerId: string): string {
  const i = offerId.lastIndexOf('-O');
  return i > 0 ? offerId.slice(0, i) : '';
}

/**
 * Offers the observer received: from masters that led, from the one it was subscribed to at the time,
 * never from an older term than an earlier offer's.
 */
export function checkOffers(replay: ElectionReplay, offers: readonly OfferRecord[], subscriptions: readonly SubscriptionRecord[]): string[] {
  const led = replay.ledById();
  const out: string[] = [];
  let newest: ElectionTerm | undefined;
  const subs = [...subscriptions].sort((a, b) => a.at - b.at);
  for (const o of [...offers].sort((a, b) => a.at - b.at)) {
    const id = offerMaster(o.offerId);
    const terms = led.get(id);
    if (!terms) {
      out.push(`offer ${o.offerId} came from master ${id || '?'}, which never led`);
      continue;
    }
    const t = terms[terms.length - 1]!;
    let sub: SubscriptionRecord | undefined;
    for (const s of subs) if (s.at <= o.at) sub = s;
    if (sub && sub.masterId !== id) out.push(`offer ${o.offerId} from master ${id} arrived at ${new Date(o.at).toISOString()} while the observer was subscribed to ${sub.masterId}`);
    if (newest && t.created < newest.created) out.push(`offer ${o.offerId} from the older term of ${id} after offers from ${newest.id}`);
    if (!newest || t.created > newest.created) newest = t;
  }
  return out;
}

export interface WatchedTask {
  taskId: string;
  frameworkId: string;
  containerId: string;
  pid: number;
}

/** The long tasks' runs as they are now (one per task), to compare against later. */
export function snapshotTasks(journals: JournalTail, taskIds: readonly string[], frameworkOf: (taskId: string) => string | undefined = () => undefined): WatchedTask[] {
  journals.scan();
  return taskIds.map((taskId) => {
    const runs = journals.runsOf(taskId, frameworkOf(taskId)).filter((r) => journals.alive(r));
    if (runs.length !== 1) throw new Error(`${taskId}: ${runs.length} live runs, want exactly 1 to watch`);
    const r = runs[0]!;
    return { taskId, frameworkId: r.frameworkId, containerId: r.containerId, pid: r.pid! };
  });
}

/**
 * Tasks a leader failover disturbed: a watched task whose process changed or died, that got a second
 * run, a KILL record, a terminal update in its journal, or a terminal update delivered to the observer.
 * Returns one line per disturbed task (empty: none).
 */
export function tasksDisturbed(journals: JournalTail, watched: readonly WatchedTask[], delivered: readonly { status: TaskStatus }[] = []): string[] {
  journals.scan();
  const out: string[] = [];
  for (const w of watched) {
    const runs = journals.runsOf(w.taskId, w.frameworkId);
    const why: string[] = [];
    if (runs.length !== 1) why.push(`${runs.length} runs`);
    const run = runs.find((r) => r.containerId === w.containerId);
    if (!run) why.push('its run is gone');
    else {
      if (run.pid !== w.pid) why.push(`pid ${w.pid} → ${run.pid}`);
      if (!journals.alive(run)) why.push(`process ${run.pid} is dead`);
      if (run.records.some((r) => r.type === 'KILL')) why.push('a KILL was journaled');
      const terminal = journals.updatesOf(run).filter((s) => isTerminal(s.state));
      if (terminal.length) why.push(`journaled ${terminal.map((s) => s.state).join(',')}`);
    }
    const seen = delivered.filter((d) => d.status.task_id.value === w.taskId && isTerminal(d.status.state));
    if (seen.length) why.push(`delivered ${seen.map((d) => d.status.state).join(',')}`);
    if (why.length) out.push(`${w.taskId}: ${why.join('; ')}`);
  }
  return out;
}
