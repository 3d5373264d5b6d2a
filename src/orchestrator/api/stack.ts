// The orchestrator runtime plus its Marathon API in one call — what
// `corral orchestrator` runs, and what `corral dev` can embed. The caller owns
// the store (opened before, closed after close()). One instance, no election: several instances
// sharing an etcd store use ha-stack.ts instead (one leads, the others proxy to it).
import type { Logger } from '../../runtime/log.ts';
import { silentLogger } from '../../runtime/log.ts';
import type { Store } from '../../store/store.ts';
import { startOrchestrator, type OrchestratorOptions } from '../index.ts';
import type { OrchestratorService } from '../service.ts';
import { startOrchestratorServer } from './server.ts';

export interface OrchestratorStackOptions extends Omit<OrchestratorOptions, 'store' | 'log'> {
  store: Store;
  /** API bind address (default 127.0.0.1) and port (default 8080; 0 = any free port). */
  host?: string;
  port?: number;
  log?: Logger;
}

export interface OrchestratorStack {
  /** The Marathon API base URL. */
  url: string;
  port: number;
  service: OrchestratorService;
  /** Closes the API (event streams included), then stops the runtime. Does not close the store. */
  close(): Promise<void>;
}

export async function startOrchestratorStack(opts: OrchestratorStackOptions): Promise<OrchestratorStack> {
  const { store, host, port, log = silentLogger, ...runtimeOpts } = opts;
  const service = await startOrchestrator({ ...runtimeOpts, store, log: log.child('runtime') });
  let server;
  try {
    server = await startOrchestratorServer({ service, host, port, log: log.child('api') });
  } catch (e) {
    await service.close().catch(() => {});
    throw e;
  }
  const api = server;
  return {
    url: api.url,
    port: api.port,
    service,
    async close() {
      let first: unknown;
      await api.close().catch((e: unknown) => (first ??= e));
      await service.close().catch((e: unknown) => (first ??= e));
      if (first) throw first;
    },
  };
}
