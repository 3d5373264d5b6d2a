// Public surface of the store package.
export * from './store.ts';
export { BackendStore, DEFAULT_HISTORY_LIMIT, type Backend, type StoreOptions } from './core.ts';
export { createMemoryStore } from './memory.ts';
export { openEmbeddedStore, DB_FILE, LOCK_FILE } from './embedded.ts';
// Types only: etcd.ts loads the etcd3/gRPC client (~100 ms), so openStore() imports it when a URL names etcd.
export type { EtcdStore, EtcdStoreOptions } from './etcd.ts';
export { openStore, parseStoreSpec, type StoreSpec } from './open.ts';
