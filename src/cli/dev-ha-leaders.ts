// Who leads, as etcd says: the supervisor of `corral dev --ha` watches the masters' and the
// orchestrators' elections (coordination/leader.ts) in the cluster's etcd, so that it reports a leader
// change the moment the election key moves — not when some poll happens to notice.
import { MASTER_ELECTION, ORCHESTRATOR_ELECTION, watchLeader } from '../coordination/leader.ts';
import type { Logger } from '../runtime/log.ts';
import type { Store, WatchHandle } from '../store/index.ts';

export type LeaderRole = 'master' | 'orchestrator';

export interface LeaderWatch {
  /** The current leader's URL per role (undefined: none). */
  current(role: LeaderRole): string | undefined;
  close(): Promise<void>;
}

/** host:port of a URL, for matching an election record with a child (the record's URL may differ in form). */
export function hostPort(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export async function watchLeaders(
  etcdUrl: string,
  opts: { log: Logger; roles: LeaderRole[]; onChange: (role: LeaderRole, url: string | undefined) => void },
): Promise<LeaderWatch> {
  const { openStore } = await import('../store/open.ts');
  const store: Store = await openStore(etcdUrl, { logger: opts.log });
  const current = new Map<LeaderRole, string | undefined>();
  const handles: WatchHandle[] = [];
  try {
    for (const role of opts.roles) {
      handles.push(
        await watchLeader(store, role === 'master' ? MASTER_ELECTION : ORCHESTRATOR_ELECTION, (leader) => {
          const url = leader?.url;
          if (current.has(role) && current.get(role) === url) return;
          current.set(role, url);
          opts.onChange(role, url);
        }),
      );
    }
  } catch (e) {
    for (const h of handles) h.cancel();
    await store.close().catch(() => {});
    throw e;
  }
  return {
    current: (role) => current.get(role),
    async close() {
      for (const h of handles.splice(0)) h.cancel();
      await store.close();
    },
  };
}
