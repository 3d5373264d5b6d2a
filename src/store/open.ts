// One string names a store, so every command takes the same --store flag:
//   etcd://host:port[,host:port...]  an etcd cluster (the endpoints of its members)
//   memory:                          a fresh in-memory store (tests, throwaway clusters)
//   anything else                    a directory for the embedded SQLite store
import { ValidationError } from '../protocol/errors.ts';
import type { StoreOptions } from './core.ts';
import { openEmbeddedStore } from './embedded.ts';
import type { EtcdStoreOptions } from './etcd.ts';
import { createMemoryStore } from './memory.ts';
import type { Store } from './store.ts';

export type StoreSpec =
  | { kind: 'etcd'; endpoints: string[] }
  | { kind: 'memory' }
  | { kind: 'embedded'; dir: string };

const ETCD = 'etcd://';

/** Parses a store spec without opening anything; ValidationError for a malformed etcd URL. */
export function parseStoreSpec(spec: string): StoreSpec {
  if (typeof spec !== 'string' || spec.length === 0) throw new ValidationError('must be a non-empty string', 'store');
  if (spec === 'memory:') return { kind: 'memory' };
  if (!spec.startsWith(ETCD)) return { kind: 'embedded', dir: spec };
  const rest = spec.slice(ETCD.length).replace(/\/$/, '');
  if (rest === '') throw new ValidationError(`${spec}: names no endpoint (etcd://host:port[,host:port...])`, 'store');
  const endpoints = rest.split(',').map((hostPort, i) => {
    // host:port, where host may be a bracketed IPv6 address.
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\[\]@?#\s]+):(\d+)$/.exec(hostPort);
    if (!m) {
      throw new ValidationError(`${spec}: endpoint ${i + 1} (${JSON.stringify(hostPort)}) is not host:port`, 'store');
    }
    const port = Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ValidationError(`${spec}: endpoint ${i + 1} has port ${m[2]}, not 1-65535`, 'store');
    }
    return `http://${m[1]}:${port}`;
  });
  return { kind: 'etcd', endpoints };
}

/** Opens the store a spec names (see parseStoreSpec). */
export async function openStore(spec: string, opts: StoreOptions & EtcdStoreOptions = {}): Promise<Store> {
  const parsed = parseStoreSpec(spec);
  switch (parsed.kind) {
    case 'etcd': {
      const { openEtcdStore } = await import('./etcd.ts'); // the gRPC client loads only when needed
      return openEtcdStore(parsed.endpoints, opts);
    }
    case 'memory':
      return createMemoryStore(opts);
    case 'embedded':
      return openEmbeddedStore(parsed.dir, opts);
  }
}
