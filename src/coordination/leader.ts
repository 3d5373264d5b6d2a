// Who leads: the read side of leader election (etcd's election recipe), shared by the candidates
// (src/coordination/election.ts) and by everything that only needs to find the leader (agents,
// scheduler clients, the CLI, orchestrator followers).
//
// Layout, for an election named by its prefix P (e.g. MASTER_ELECTION = '/corral/master/election/'):
//   P<lease id>  → JSON LeaderRecord, put with the candidate's lease
// Every candidate keeps one key; the leader is the candidate whose key has the lowest create revision
// (it was there first). A candidate whose process dies loses its lease and its key vanishes after the
// TTL, so the next one in line leads. The leader's key and its revision are also its fencing token:
// a write made conditional on them fails once the leader has lost its lease.
import { z } from 'zod';
import type { KeyValue, Store, WatchHandle } from '../store/store.ts';

export const MASTER_ELECTION = '/corral/master/election/';
export const ORCHESTRATOR_ELECTION = '/corral/orchestrator/election/';

export const LeaderRecord = z.object({
  /** The candidate's own id (the master id, the orchestrator instance id). */
  id: z.string().min(1),
  /** Base URL clients use, e.g. http://127.0.0.1:5050. */
  url: z.string().min(1),
  /** Free-form extra data (the master puts its MasterInfo here). */
  info: z.record(z.string(), z.unknown()).optional(),
});
export type LeaderRecord = z.infer<typeof LeaderRecord>;

export interface Leader extends LeaderRecord {
  /** The election key: the leader's fencing key. */
  key: string;
  /** Its (create = mod) revision: the fencing revision. */
  revision: number;
}

/** The leader among a prefix's keys, or undefined when none is valid. Malformed keys are skipped. */
export function leaderAmong(kvs: readonly KeyValue[]): Leader | undefined {
  let best: Leader | undefined;
  let bestCreate = Infinity;
  for (const kv of kvs) {
    if (kv.createRevision >= bestCreate) continue;
    let parsed;
    try {
      parsed = LeaderRecord.safeParse(JSON.parse(kv.value));
    } catch {
      continue;
    }
    if (!parsed.success) continue;
    best = { ...parsed.data, key: kv.key, revision: kv.revision };
    bestCreate = kv.createRevision;
  }
  return best;
}

export async function currentLeader(store: Store, prefix: string): Promise<Leader | undefined> {
  return leaderAmong(await store.range(prefix));
}

/**
 * Calls onChange with the current leader (or undefined) now and whenever it changes, in order and
 * without gaps: the watch starts at the revision the initial read was made at.
 */
export async function watchLeader(store: Store, prefix: string, onChange: (leader: Leader | undefined) => void): Promise<WatchHandle> {
  const snap = await store.snapshot(prefix);
  const kvs = new Map(snap.kvs.map((kv) => [kv.key, kv]));
  let last = leaderAmong(snap.kvs);
  onChange(last);
  return store.watch(
    prefix,
    (ev) => {
      if (ev.type === 'put') kvs.set(ev.kv.key, ev.kv);
      else kvs.delete(ev.key);
      const next = leaderAmong([...kvs.values()]);
      if (next?.key === last?.key && next?.revision === last?.revision) return;
      last = next;
      onChange(next);
    },
    { fromRevision: snap.revision + 1 },
  );
}
