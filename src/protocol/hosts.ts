// Wildcard bind addresses: a server bound to one listens everywhere, but the address itself names no
// host a client could reach, so it must never be advertised (or followed) as-is.
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

export const isWildcardHost = (host: string): boolean => WILDCARDS.has(host);

/** The loopback address of the same family: what this machine can use to reach a wildcard-bound server. */
export const loopbackFor = (host: string): string => (host === '::' || host === '[::]' ? '::1' : '127.0.0.1');
