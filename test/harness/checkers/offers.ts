// Invariant 3: the master never offers resources of a task that is still running.
//
// The audit runs for every offer the observer receives, while the offer is still held (so nothing else
// can be launched on the offered resources meanwhile), against two references:
//  - reality: the task processes alive on the offer's host right now (pids from the agents' journals,
//    resources from their task.json) — offered ports must not be theirs, and offered cpus/mem must fit
//    beside them in the agent's total;
//  - the master's own books (/master/state): offered ports must not belong to a task it lists on that
//    agent, and used + offered must not exceed the agent's total.
// A task that ends between the offer and the audit only makes the audit more lenient, never wrong.
import type { Offer, Resource } from '../../../src/protocol/mesos.ts';
import type { JournalTail } from '../evidence.ts';
import { getJson } from '../http.ts';
import { portsOf, scalarOf } from '../observer.ts';
import { isTerminal } from './updates.ts';

export interface OfferAuditDeps {
  masterLocal: string;
  journals: JournalTail;
  /** Lab host of an offer's agent (by id or advertised hostname; undefined: unknown agent → a violation). */
  hostOf: (offer: Offer) => number | undefined;
  /** Total resources each agent was started with, by host: cpus, mem. */
  totals: (host: number) => { cpus: number; mem: number };
}

const EPS = 1e-6;

/** Parses a legacy ports string "[31000-31002, 31005-31005]". */
export function parseLegacyPorts(s: unknown): number[] {
  if (typeof s !== 'string') return [];
  const out: number[] = [];
  for (const m of s.matchAll(/(\d+)-(\d+)/g)) for (let p = Number(m[1]); p <= Number(m[2]); p++) out.push(p);
  return out;
}

export function createOfferAudit(deps: OfferAuditDeps): (offer: Offer) => Promise<string[]> {
  return async (offer) => {
    const problems: string[] = [];
    const agentId = offer.agent_id.value;
    const host = deps.hostOf(offer);
    const offered = { ports: portsOf(offer.resources), cpus: scalarOf(offer.resources, 'cpus'), mem: scalarOf(offer.resources, 'mem') };
    const tag = `offer ${offer.id.value} on ${agentId}`;
    if (host === undefined) return [`${tag}: the agent is not one the lab started`];

    // Reality.
    const live = deps.journals.liveRuns().filter((r) => r.host === host);
    let usedCpus = 0;
    let usedMem = 0;
    for (const r of live) {
      usedCpus += scalarOf(r.resources as Resource[], 'cpus');
      usedMem += scalarOf(r.resources as Resource[], 'mem');
      const clash = portsOf(r.resources as Resource[]).filter((p) => offered.ports.includes(p));
      if (clash.length) problems.push(`${tag} offers port(s) ${clash.join(',')} of task ${r.taskId}, whose process ${r.pid} is alive`);
    }
    const total = deps.totals(host);
    if (offered.cpus + usedCpus > total.cpus + EPS)
      problems.push(`${tag} offers ${offered.cpus} cpus while live tasks use ${usedCpus.toFixed(2)} of ${total.cpus} (${live.map((r) => r.taskId).join(', ')})`);
    if (offered.mem + usedMem > total.mem + EPS) problems.push(`${tag} offers ${offered.mem} MB while live tasks use ${usedMem} of ${total.mem}`);

    // The master's books.
    try {
      const st = await getJson(`${deps.masterLocal}/master/state`, 2000);
      const slave = (st.slaves ?? []).find((s: any) => s.id === agentId);
      if (slave) {
        const used = slave.used_resources ?? {};
        const offeredAll = slave.offered_resources ?? {};
        const tot = slave.resources ?? {};
        if ((used.cpus ?? 0) + (offeredAll.cpus ?? 0) > (tot.cpus ?? 0) + EPS)
          problems.push(`${tag}: master books used ${used.cpus} + offered ${offeredAll.cpus} cpus > total ${tot.cpus}`);
      }
      for (const fw of st.frameworks ?? []) {
        for (const t of [...(fw.tasks ?? []), ...(fw.unreachable_tasks ?? [])]) {
          if (t.slave_id !== agentId || isTerminal(t.state)) continue;
          const clash = parseLegacyPorts(t.resources?.ports).filter((p) => offered.ports.includes(p));
          if (clash.length) problems.push(`${tag} offers port(s) ${clash.join(',')} the master itself lists for ${t.state} task ${t.id}`);
        }
      }
    } catch (e) {
      // The master being slow is not an invariant violation; reality was still checked.
      void e;
    }
    return problems;
  };
}
