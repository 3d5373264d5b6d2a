// Free TCP ports for processes that must be told their port before they start (etcd members, the
// children of `corral dev --ha --port 0`): the kernel picks one, we release it and hand it on. Another
// process may take it in between, so callers that can should bind port 0 themselves instead.
import { createServer } from 'node:net';

/** A port that was free on `host` a moment ago. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('the kernel gave no port'))));
    });
  });
}

/** `n` distinct ports that were free on `host` a moment ago (bounded: gives up after 10·n tries). */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < n; tries++) {
    if (tries >= 10 * n) throw new Error(`could not find ${n} distinct free ports on ${host}`);
    ports.add(await freePort(host));
  }
  return [...ports];
}
