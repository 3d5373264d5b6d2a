// The registrar's metrics without touching the registry: the registry's store, wrapped. Reads time
// registrar/state_fetch_ms, commits time registrar/state_store_ms and count in registrar/queued_operations
// while in flight, and the bytes of every entry read or written under the registry prefix make
// registrar/registry_size_bytes.
import type { KeyValue, Store } from '../store/store.ts';
import type { MasterMetrics } from './metrics.ts';
import { REGISTRY_PREFIX } from './registry.ts';

export function registrarStore(store: Store, metrics: MasterMetrics, prefix = REGISTRY_PREFIX): Store {
  const size = (key: string, value: string) => Buffer.byteLength(key) + Buffer.byteLength(value);
  const range = async (p: string): Promise<KeyValue[]> => {
    const started = performance.now();
    const kvs = await store.range(p);
    metrics.stateFetch.record(performance.now() - started);
    if (p.startsWith(prefix)) {
      // A fresh read replaces what an earlier term knew of these entries.
      for (const k of [...metrics.registryEntries.keys()]) if (k.startsWith(p)) metrics.registryEntries.delete(k);
      for (const kv of kvs) metrics.registryEntries.set(kv.key, size(kv.key, kv.value));
    }
    return kvs;
  };
  const commit: Store['commit'] = async (conditions, ops) => {
    metrics.registrarQueued++;
    const started = performance.now();
    try {
      const revision = await store.commit(conditions, ops);
      metrics.stateStore.record(performance.now() - started);
      for (const op of ops) {
        if (!op.key.startsWith(prefix)) continue;
        if (op.type === 'put') metrics.registryEntries.set(op.key, size(op.key, op.value));
        else if (op.type === 'delete') metrics.registryEntries.delete(op.key);
      }
      return revision;
    } finally {
      metrics.registrarQueued--;
    }
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'range') return range;
      if (prop === 'commit') return commit;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
