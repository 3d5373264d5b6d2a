// Public surface of the store package.
export * from './store.ts';
export { BackendStore, type Backend, type StoreOptions } from './core.ts';
export { createMemoryStore } from './memory.ts';
export { openEmbeddedStore, DB_FILE, LOCK_FILE } from './embedded.ts';
